"""What every Basis process does to itself at start, and how a bot becomes its tenant's Unix user.

- `harden_process()`: umask 077 (every file the process creates is 0600 and every folder 0700 unless
  it asks for less), not dumpable (`prctl(PR_SET_DUMPABLE, 0)`: no other process of the same user can
  read its `/proc/<pid>/environ` or `mem`, or attach a debugger; the kernel makes those files root's),
  and no core files (a core dump would write the process's secrets to disk). `basis` (every command,
  `serve` included), `basis-bot` and the spare bot call it first thing.
- `drop_privileges(uid)`: root becomes that user for good: no supplementary groups, group id = user id.
- `private_tree(folder)`: strip the group and other permission bits of a folder and everything in it,
  never following a symbolic link; given `owner`, also make everything that user's (root only).
- `hand_over(folder, uid)`: a bot's folder (an open descriptor) becomes that user's, all of it, and 0700.
"""

from __future__ import annotations

import ctypes
import os
import resource
import stat
from pathlib import Path

# The variable by which the process runtime tells a bot which user to become (`basis-bot serve`).
RUN_AS_ENV = "BASIS_RUN_AS_UID"

_PR_SET_DUMPABLE = 4
_PR_GET_DUMPABLE = 3


def _prctl(option: int, value: int = 0) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    result = int(libc.prctl(option, value, 0, 0, 0))
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return result


def set_not_dumpable() -> None:
    _prctl(_PR_SET_DUMPABLE, 0)


def is_dumpable() -> bool:
    return _prctl(_PR_GET_DUMPABLE) != 0


def harden_process() -> None:
    """umask 077, not dumpable, no core files. Idempotent; call it before anything else runs."""
    os.umask(0o077)
    set_not_dumpable()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def can_switch_users() -> bool:
    """Only root can run bots as users of their own."""
    return os.geteuid() == 0


def drop_privileges(uid: int, gid: int | None = None) -> None:
    """Become `uid` (group `gid`, by default the same number) for good, from root.

    setgroups([]) first, then the group, then the user: once the user is not root, the process could
    no longer change its groups. Checked afterwards (real, effective and saved ids; no way back to
    root), and not dumpable again (the kernel resets dumpability on an id change to its default).
    """
    gid = uid if gid is None else gid
    if uid == 0 or gid == 0:
        raise ValueError("a bot never runs as root")
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid) or os.getgroups():
        raise PermissionError(f"could not become user {uid}:{gid}")
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise PermissionError("the process could become root again after dropping its privileges")
    set_not_dumpable()


def private_tree(folder: Path | int, *, owner: int | None = None) -> None:
    """Strip group and other bits from `folder` (a path, or an open descriptor of it) and everything
    below it; with `owner`, also give each entry to that user and group (its id), symbolic links
    themselves included. Links are never followed and folders are walked by descriptor (`os.fwalk`),
    so a link or a folder swapped in meanwhile cannot turn this into a change elsewhere.

    A file that needs its mode changed is opened for the change: call this before the process opens
    any database in the folder (closing a descriptor drops the process's POSIX locks on that file)."""
    if isinstance(folder, int):
        top = os.dup(folder)
    else:
        top = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for _path, dirs, files, dir_fd in os.fwalk(".", dir_fd=top):
            _private_entry(dir_fd, owner)
            # A link to a folder is listed with the folders (and not walked into): it is an entry too.
            links = [name for name in dirs if _is_link(dir_fd, name)]
            for name in [*files, *links]:
                _private_file(dir_fd, name, owner)
    finally:
        os.close(top)


def hand_over(folder: int, uid: int) -> None:
    """Make a folder (an open descriptor) that user's (group the same) and 0700. When the folder is not
    theirs yet (new, an older version's, data taken back), everything in it is handed over and made
    private too, entry by entry (`private_tree`: links themselves, never what they point at); a folder
    already theirs holds only what they made, so it is not walked again. Root only."""
    info = os.fstat(folder)
    if (info.st_uid, info.st_gid) != (uid, uid):
        private_tree(folder, owner=uid)
    os.fchmod(folder, 0o700)


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False  # gone meanwhile


def _private_entry(fd: int, owner: int | None) -> None:
    if owner is not None:
        os.fchown(fd, owner, owner)
    mode = os.fstat(fd).st_mode
    if mode & 0o077:
        os.fchmod(fd, stat.S_IMODE(mode) & ~0o077)


def _private_file(dir_fd: int, name: str, owner: int | None) -> None:
    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if owner is not None:
        os.chown(name, owner, owner, dir_fd=dir_fd, follow_symlinks=False)
    if not stat.S_ISREG(info.st_mode) or not info.st_mode & 0o077:
        return  # a link, socket or fifo: its own mode says nothing about what it reaches
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return  # gone meanwhile, or unreadable even to its owner: nothing to tighten through it
    try:
        if os.fstat(fd).st_ino == info.st_ino:
            os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~0o077)
    finally:
        os.close(fd)
