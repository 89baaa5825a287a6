"""The lock by which the process runtime knows its bots.

Each bot holds a POSIX write lock (`fcntl`, F_SETLK) on its tenant's lock file for its whole life; the
runtime asks the kernel who holds it (F_GETLK answers the holder's pid). The kernel drops the lock when
the process ends, however it ends, so a held lock is a live bot and a second bot of the same tenant
cannot take it. The file lives in the runtime's own folder, which no bot can open: the runtime hands
each bot an open descriptor of its own tenant's file (`LOCK_FD_ENV`), or the spare opens it while it is
still root.

A POSIX lock belongs to the process and ends when the process closes any descriptor of the file: the
bot keeps the one it was given (not inherited by its children) and never opens the file otherwise.
"""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path

# The descriptor number of the lock file a bot inherits from the process runtime.
LOCK_FD_ENV = "BASIS_RUNTIME_LOCK_FD"
# struct flock on Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid.
_FLOCK = "hhxxxxqqixxxx"


class LockHeld(Exception):
    """Another process holds the lock: another bot of this tenant runs."""


def hold(fd: int) -> None:
    """Take the write lock on `fd` for the life of this process (`LockHeld` if another process has it)."""
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        raise LockHeld("another process holds this bot's lock") from None
    os.set_inheritable(fd, False)


def hold_inherited() -> bool:
    """Take the lock whose descriptor the runtime passed in `LOCK_FD_ENV`, if it passed one."""
    value = os.environ.pop(LOCK_FD_ENV, None)
    if value is None:
        return False
    hold(int(value))
    return True


def holder(path: Path) -> int | None:
    """The pid of the process holding the write lock on `path`, or None when nobody does."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        l_type, _whence, _start, _length, pid = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))
    finally:
        # This process never holds these locks, so closing its descriptor releases nobody's.
        os.close(fd)
    return None if l_type == fcntl.F_UNLCK or pid <= 0 else pid
