"""Hyperliquid answers checked against a maintained third-party SDK's response schemas.

`tests/support/hl_schemas/` holds a Node package pinning `@nktkas/hyperliquid` (its valibot
schemas) and `check.mjs`, which validates answers given on stdin. `make venv` / `make test` install
it with `npm ci` when npm exists. Without Node (or before the install) the tests that need it skip
with the reason, unless `BASIS_REQUIRE_NODE=1` (set by CI), where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent / "hl_schemas"
REQUIRE_ENV = "BASIS_REQUIRE_NODE"


def node_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes"}


def require_schemas() -> str:
    """The node executable, with the schema package installed; otherwise skip (or fail under CI)."""
    node = shutil.which("node")
    if node is None:
        reason = "no Node.js (install Debian's `nodejs` and `npm`); the SDK schema check needs it"
    elif not (HERE / "node_modules" / "@nktkas" / "hyperliquid").is_dir():
        reason = f"the SDK schemas are not installed: run `make venv` (npm ci in {HERE})"
    else:
        return node
    if node_required():
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def check_answers(answers: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """One verdict per (info type, answer): {"type", "ok", "issues", "unknown"} (see check.mjs)."""
    node = require_schemas()
    payload = json.dumps([{"type": kind, "answer": answer} for kind, answer in answers])
    done = subprocess.run(
        [node, "check.mjs"], cwd=HERE, input=payload, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    verdicts: list[dict[str, Any]] = json.loads(done.stdout)
    return verdicts
