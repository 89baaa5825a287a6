"""Run a control plane outside the devnet on a machine whose Python lies in a closed folder (pyenv
under a 0700 /root).

Outside the devnet the process runtime refuses to start bots that, once their own users, could not read
the Python they import (orchestrator/runtimes/bot_code.py). Rather than change the machine
(`chmod o+x /root`), `crossable_root()` gives the control plane (and so its bots) a mount namespace of
its own in which the closed folder is a 0711 tmpfs holding only what the bots need from it, each
bind-mounted from the real one at its own path: the interpreter's installation, the environment and
this checkout (when they lie beneath it). Nothing changes outside that namespace; it ends with its
processes.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.runtimes.bot_code import closed_bot_code
from tests.support.privileges import require_root
from tests.support.source import ROOT

_CLONE_NEWNS = 0x20000
_MS_BIND, _MS_MOVE, _MS_REC, _MS_PRIVATE = 0x1000, 0x2000, 0x4000, 1 << 18


def _kept(folder: Path) -> list[Path]:
    """The top folders under `folder` the bots need: the one holding each of the interpreter's
    installation, its environment and the checkout (a folder of its own directly under `folder`)."""
    kept: list[Path] = []
    for path in (Path(sys.base_prefix), Path(sys.prefix), ROOT):
        real = path.resolve()
        if real.is_relative_to(folder) and real != folder:
            top = folder / real.relative_to(folder).parts[0]
            if top not in kept:
                kept.append(top)
    return kept


def crossable_root() -> Callable[[], None] | None:
    """None when bots can read their code as things are; else a `preexec_fn` giving the child the
    namespace described above."""
    closed = closed_bot_code()
    if closed is None:
        return None
    kept = _kept(closed.folder)
    if not kept or not all(p.is_dir() for p in kept):
        reason = f"bots could not read their code outside the devnet: {closed.sentence()}"
        if require_root():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    libc = ctypes.CDLL(None, use_errno=True)
    stages = [tempfile.mkdtemp(prefix="basis-kept-") for _ in kept]  # empty outside the namespace
    for stage in stages:
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
        for path, stage in zip(kept, stages, strict=True):
            mount(str(path), stage, None, _MS_BIND | _MS_REC, None)
        mount("tmpfs", str(closed.folder), "tmpfs", 0, "mode=0711")
        for path, stage in zip(kept, stages, strict=True):
            os.mkdir(path)
            mount(stage, str(path), None, _MS_MOVE, None)

    return enter
