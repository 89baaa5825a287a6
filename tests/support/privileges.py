"""Root for the tests that need it (Unix users per tenant, network namespaces).

`.ci/run` runs as root and sets `BASIS_REQUIRE_ROOT=1`: there these tests must run, and fail if they
cannot. Elsewhere (a developer's laptop, not root) they skip with the reason.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

REQUIRE_ENV = "BASIS_REQUIRE_ROOT"


def require_root() -> bool:
    return os.environ.get(REQUIRE_ENV, "").lower() in ("1", "true", "yes")


def needs_root(what: str) -> None:
    """Skip (or, with BASIS_REQUIRE_ROOT=1, fail) unless this process runs as root.

    `what`: what the test checks, for the sentence ("bots run as Unix users of their own").
    """
    if os.geteuid() == 0:
        return
    reason = f"{what}: this needs root (run the tests as root, as CI does)"
    if require_root():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(reason)


_bot_roots: Path | None = None


def bot_data_root() -> Path:
    """A fresh data root for the process runtime that bots running as users of their own can reach.

    SQLite resolves a database's whole path, so a bot must be able to cross every folder above its own;
    pytest's temporary folders are 0700 (and pytest tightens its root again when another session finds
    it looser), so the data roots live in a folder of their own under the system's temporary folder,
    0711 (crossed, never listed), removed when the test process exits."""
    global _bot_roots
    if _bot_roots is None:
        _bot_roots = Path(tempfile.mkdtemp(prefix="basis-bot-roots-"))
        _bot_roots.chmod(0o711)
        atexit.register(shutil.rmtree, _bot_roots, True)
    root = _bot_roots / uuid.uuid4().hex[:12]
    root.mkdir(mode=0o711)
    return root / "tenants"
