"""A spare bot: a process that has already imported what `basis-bot serve` needs and waits for its
tenant, so a new user's bot skips the second of imports a cold start costs.

The process runtime of the control plane starts it (`python -P -m tenant_bot.spare`) with no secret
in its environment (it knows no tenant yet), as root when the control plane is root, then writes one
JSON line to its stdin: the bot's environment, its folder, its log and lock files, and the user id to
run as. The spare opens the log and takes the lock (files of the runtime's own folder), drops to the
tenant's user (`shared/process_hardening.drop_privileges`: no groups, group, user, in that order),
and only then enters the tenant's folder and takes the environment; then it runs `serve` as a fresh
bot would. An empty stdin (the control plane is gone) ends it.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from shared.process_hardening import drop_privileges, harden_process
from shared.runtime_lock import LockHeld, hold


def become(order: dict[str, Any]) -> None:
    """Turn into the bot the order describes: its log as stdout/stderr, its lock, its user, then its
    folder and its environment."""
    flags = os.O_NOFOLLOW | os.O_CLOEXEC
    log = os.open(order["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT | flags, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    # Kept open for the life of the process: closing it would release the lock.
    lock = os.open(order["lock"], os.O_RDWR | os.O_CREAT | flags, 0o600)
    hold(lock)
    folder = os.open(order["cwd"], os.O_RDONLY | os.O_DIRECTORY | flags)
    if order.get("uid") is not None:
        drop_privileges(int(order["uid"]))
    os.fchdir(folder)
    os.close(folder)
    os.environ.clear()
    os.environ.update(order["env"])


def main() -> int:
    harden_process()
    from tenant_bot.main import preload

    preload(None)
    line = sys.stdin.buffer.readline()
    if not line.strip():
        return 0  # the control plane closed our stdin: no tenant is coming
    order = json.loads(line)
    preload(order["env"])  # what this bot's settings need beyond the common imports, while root
    try:
        become(order)
    except LockHeld:
        print("error: another bot of this tenant runs (it holds the tenant's lock)", file=sys.stderr)
        return 1
    from tenant_bot.main import main as bot_main

    sys.argv = ["basis-bot", "serve"]
    bot_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
