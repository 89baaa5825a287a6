"""What the benches that run a whole control plane share: a block of bot ports and `basis serve`."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.devnet import ROOT


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_block(size: int) -> int:
    """The first port of `size` free loopback ports below the kernel's ephemeral range (32768 and
    up), so an outgoing connection cannot take a bot's port between choosing and binding it."""
    for base in range(20000, 32768 - size, size):
        if all(_port_free(base + i) for i in range(size)):
            return base
    raise RuntimeError(f"no block of {size} free loopback ports below 32768 for the bots")


def start_control_plane(
    argv: list[str], env: dict[str, str], log: Path, port: int, *, new_session: bool = False
) -> subprocess.Popen[bytes]:
    """Start the control plane (`argv`) and wait until `/health` answers on `port`."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=new_session
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the control plane exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).is_success:
                return process
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the control plane did not answer /health")
