"""Root for the tests that need it (Unix users per tenant, network namespaces).

`.ci/run` runs as root and sets `BASIS_REQUIRE_ROOT=1`: there these tests must run, and fail if they
cannot. Elsewhere (a developer's laptop, not root) they skip with the reason.
"""

from __future__ import annotations

import os

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
