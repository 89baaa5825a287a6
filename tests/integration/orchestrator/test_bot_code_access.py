"""A control plane run as root checks that the bots' users can read the code the bots import after they
become those users (`orchestrator/runtimes/bot_code.py`). Here a folder of the bots' module search path
(an absolute PYTHONPATH entry, which bots get too) lies below a 0700 folder, as an interpreter under a
0700 /root does: outside the devnet the `basis` CLI refuses to start a bot and names that folder with
its fix, and `basis doctor` fails on it; on the devnet the bot starts and one warning names it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.runtimes.process import ProcessRuntime
from tests.support.devnet import ROOT, DevnetProcess
from tests.support.privileges import needs_root
from tests.support.tenants import kill_all, settings_env, settings_for

pytestmark = pytest.mark.devnet


@pytest.fixture
def closed_folder() -> Iterator[Path]:
    """A 0700 folder (root's, like /root) holding a folder of Python code other users may read."""
    needs_root("bots run as users of their own, who must read the code they import late")
    closed = Path(tempfile.mkdtemp(prefix="basis-closed-"))  # 0700
    code = closed / "lib"
    code.mkdir(mode=0o755)
    (code / "late_module.py").write_text("VALUE = 1\n")
    (code / "late_module.py").chmod(0o644)
    yield closed
    shutil.rmtree(closed)


def basis(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_outside_the_devnet_bots_are_refused_and_doctor_fails_naming_the_closed_folder(
    devnet: DevnetProcess, tmp_path: Path, closed_folder: Path
) -> None:
    settings = settings_for(devnet, tmp_path, network="testnet", bot_spare=False)
    env = {**settings_env(settings), "PYTHONPATH": str(closed_folder / "lib")}
    expected = f"{closed_folder} cannot be crossed by other users (fix: chmod o+x {closed_folder}"
    try:
        out = basis(env, "tenants", "create", "t-closed", "--json")
        assert out.returncode != 0, out.stdout
        assert expected in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
        # Nothing was started: no bot of the tenant runs.
        assert ProcessRuntime(settings.data_root, bot_users=True)._find("t-closed") is None
        doctor = basis(env, "doctor", "--json")
        assert doctor.returncode == 1
        check = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "bot code")
        assert not check["ok"] and expected in check["detail"], check
    finally:
        kill_all(ProcessRuntime(settings.data_root))


def test_on_the_devnet_the_bot_starts_and_one_warning_names_the_closed_folder(
    devnet: DevnetProcess, tmp_path: Path, closed_folder: Path
) -> None:
    settings = settings_for(devnet, tmp_path, bot_spare=False)
    env = {**settings_env(settings), "PYTHONPATH": str(closed_folder / "lib")}
    try:
        out = basis(env, "tenants", "create", "t-devnet", "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["status"] == "running"  # stdout holds the JSON, and only it
        warnings = [line for line in out.stderr.splitlines() if f"{closed_folder} cannot be crossed" in line]
        assert len(warnings) == 1, out.stderr
        doctor = basis(env, "doctor", "--json")
        check = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "bot code")
        assert check["ok"] and check["detail"].startswith(f"warning: {closed_folder} cannot be crossed")
    finally:
        kill_all(ProcessRuntime(settings.data_root))
