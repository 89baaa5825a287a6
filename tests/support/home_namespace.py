"""Run a control plane outside the devnet on a machine whose Python lies under a 0700 /root (pyenv).

Outside the devnet the process runtime refuses to start bots that, once their own users, could not read
the Python they import (orchestrator/runtimes/bot_code.py): here /root cannot be crossed by others.
Rather than change the machine (`chmod o+x /root`), `crossable_root()` gives the control plane (and
so its bots) a mount namespace of its own in which /root is a 0711 tmpfs holding only /root/.pyenv,
bind-mounted from the real one. Nothing changes outside that namespace; it ends with its processes.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.runtimes.bot_code import closed_bot_code

_CLONE_NEWNS = 0x20000
_MS_BIND, _MS_MOVE, _MS_REC, _MS_PRIVATE = 0x1000, 0x2000, 0x4000, 1 << 18
_PYENV = Path("/root/.pyenv")


def crossable_root() -> Callable[[], None] | None:
    """None when bots can read their code as things are; else a `preexec_fn` giving the child the
    namespace described above. Skips when the closed folder is another than /root."""
    closed = closed_bot_code()
    if closed is None:
        return None
    if closed.folder != Path("/root") or not _PYENV.is_dir():
        pytest.skip(f"bots could not read their code outside the devnet: {closed.sentence()}")
    libc = ctypes.CDLL(None, use_errno=True)
    stage = tempfile.mkdtemp(prefix="basis-pyenv-")  # empty outside the namespace
    atexit.register(os.rmdir, stage)

    def mount(source: str, target: str, kind: str | None, flags: int, data: str | None) -> None:
        raw = [None if v is None else v.encode() for v in (source, target, kind, data)]
        if libc.mount(raw[0], raw[1], raw[2], flags, raw[3]) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"mount {target}: {os.strerror(errno)}")

    def enter() -> None:
        if libc.unshare(_CLONE_NEWNS) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"unshare: {os.strerror(errno)}")
        mount("none", "/", None, _MS_REC | _MS_PRIVATE, None)  # nothing here reaches the host
        mount(str(_PYENV), stage, None, _MS_BIND | _MS_REC, None)
        mount("tmpfs", "/root", "tmpfs", 0, "mode=0711")
        os.mkdir(_PYENV)
        mount(stage, str(_PYENV), None, _MS_MOVE, None)

    return enter
