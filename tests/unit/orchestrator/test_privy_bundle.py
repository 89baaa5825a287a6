"""The portal's bundle of Privy's browser SDK (orchestrator/web/static/privy-sdk.js) is committed, so
`make run`, the control-plane image and a pip install serve it without Node. These tests keep it honest:
rebuilt from the committed package-lock.json it is the same bytes, and it is the SDK the lock names."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.sdk_schemas import REQUIRE_ENV, node_required

ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT / "portal-sdk"
BUNDLE = ROOT / "orchestrator" / "web" / "static" / "privy-sdk.js"


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        reason = "no npm (install Debian's `nodejs` and `npm`); rebuilding the Privy SDK bundle needs it"
        if node_required():
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return npm


def test_the_bundle_is_the_locked_sdk_and_is_packaged() -> None:
    lock = json.loads((SOURCE / "package-lock.json").read_text())
    package = json.loads((SOURCE / "package.json").read_text())
    sdk = lock["packages"]["node_modules/@privy-io/js-sdk-core"]
    assert sdk["version"] == package["dependencies"]["@privy-io/js-sdk-core"]
    assert sdk["integrity"].startswith("sha512-")
    text = BUNDLE.read_text()
    assert f"js-sdk-core:{sdk['version']}" in text  # the SDK names itself so on every request
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"web/static/*.js"' in pyproject  # shipped in the wheel beside the page


def test_rebuilding_from_the_lockfile_gives_the_same_bytes(tmp_path: Path) -> None:
    npm = _npm()
    work = tmp_path / "portal-sdk"
    work.mkdir()
    out = tmp_path / "orchestrator" / "web" / "static"
    out.mkdir(parents=True)
    for name in ("package.json", "package-lock.json", "entry.js"):
        shutil.copy(SOURCE / name, work / name)
    for args in (["ci", "--no-audit", "--no-fund", "--loglevel=error"], ["run", "build"]):
        done = subprocess.run([npm, *args], cwd=work, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"npm {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    rebuilt = (out / "privy-sdk.js").read_bytes()
    assert rebuilt == BUNDLE.read_bytes(), (
        "orchestrator/web/static/privy-sdk.js is not what package-lock.json builds: "
        "run `make portal-sdk` and commit the result"
    )
