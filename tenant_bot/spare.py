"""A spare bot: a process that has already imported what `basis-bot serve` needs and waits for its
tenant, so a new user's bot skips the second of imports a cold start costs.

The process runtime of the control plane starts it (`python -m tenant_bot.spare`) with a marker, a
spare id and room in its environment, then writes one JSON line to its stdin: the bot's environment,
its folder and its log file. The spare takes them on and runs `serve` as a fresh bot would. An empty
stdin (the control plane is gone) ends it.

The environment block the kernel shows in `/proc/<pid>/environ` is the one the process was started
with; changing `os.environ` does not change it. The runtime identifies its bots by that block, so the
spare writes the bot's environment over it, in the room it was given (as setproctitle does for argv).
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import sys
from typing import Any

# What `serve` imports on its way to answering /health with the broker signer (a local signer's
# libraries stay lazy: only operator-made tenants use them, and they cost memory in every bot).
PRELOAD = (
    "tenant_bot.main",
    "tenant_bot.config",
    "tenant_bot.bot",
    "tenant_bot.api",
    "tenant_bot.api.routes.balances",
    "tenant_bot.api.routes.control",
    "tenant_bot.api.routes.events",
    "tenant_bot.api.routes.health",
    "tenant_bot.api.routes.pages",
    "tenant_bot.api.routes.positions",
    "tenant_bot.api.routes.rates",
    "tenant_bot.api.routes.settings",
    "tenant_bot.signing.broker",
    "tenant_bot.notifications",
    "tenant_bot.storage.models",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.schema",
    "uvicorn",
    "uvicorn.loops.auto",
    "uvicorn.protocols.http.auto",
    "uvicorn.lifespan.off",
)


def _environ_block() -> tuple[int, int]:
    """(start, end) addresses of this process's initial environment block (fields 50 and 51 of
    /proc/self/stat, counted from 1; the fields after the command name start at field 3)."""
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[50 - 3]), int(fields[51 - 3])


def take_environment(env: dict[str, str]) -> None:
    """Make `env` this process's environment, in `os.environ` and in the block /proc shows."""
    block = b"".join(f"{k}={v}".encode() + b"\0" for k, v in env.items())
    start, end = _environ_block()
    if len(block) > end - start:
        raise ValueError(f"the environment needs {len(block)} bytes, the spare has room for {end - start}")
    # Unset first: libc's environ then points at nothing in the block we overwrite.
    os.environ.clear()
    ctypes.memmove(start, block + b"\0" * (end - start - len(block)), end - start)
    os.environ.update(env)


def become(order: dict[str, Any]) -> None:
    """Turn into the bot the order describes: its folder, its log as stdout/stderr, its environment."""
    os.chdir(order["cwd"])
    log = os.open(order["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    take_environment(order["env"])


def main() -> int:
    for name in PRELOAD:
        importlib.import_module(name)
    line = sys.stdin.buffer.readline()
    if not line.strip():
        return 0  # the control plane closed our stdin: no tenant is coming
    become(json.loads(line))
    from tenant_bot.main import main as bot_main

    sys.argv = ["basis-bot", "serve"]
    bot_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
