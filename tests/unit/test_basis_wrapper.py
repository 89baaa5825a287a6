"""`./basis`, the repository's wrapper of `.venv/bin/basis`: the operator runs the CLI without typing the
virtualenv's path, from any folder, and is told to run `make venv` when there is none.

Each test copies the script into a folder of its own, with or without a `.venv/bin/basis` there (a link
to the `basis` of the interpreter running the tests), so it checks the script itself, whatever state
this checkout's own `.venv` is in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = Path(sys.executable).parent / "basis"


def _checkout(tmp_path: Path, *, venv: bool) -> Path:
    """A folder like a checkout: the wrapper, and a `.venv/bin/basis` when `venv`."""
    root = tmp_path / "checkout"
    root.mkdir()
    shutil.copy2(ROOT / "basis", root / "basis")
    if venv:
        (root / ".venv" / "bin").mkdir(parents=True)
        (root / ".venv" / "bin" / "basis").symlink_to(INSTALLED)
    return root


def _run(command: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(command), "tenants", "--help"], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_the_wrapper_is_executable_in_the_repository() -> None:
    assert os.access(ROOT / "basis", os.X_OK)


def test_the_wrapper_runs_the_virtualenvs_basis_from_any_folder(tmp_path: Path) -> None:
    root = _checkout(tmp_path, venv=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = _run(root / "basis", elsewhere)
    assert out.returncode == 0, out.stderr
    assert "Tenants: one bot each." in out.stdout
    # Linked from a folder on PATH, it still finds the checkout it belongs to.
    (elsewhere / "basis").symlink_to(root / "basis")
    out = _run(elsewhere / "basis", tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Tenants: one bot each." in out.stdout


def test_without_a_virtualenv_the_wrapper_says_to_run_make_venv(tmp_path: Path) -> None:
    root = _checkout(tmp_path, venv=False)
    out = _run(root / "basis", tmp_path)
    assert out.returncode == 127
    assert out.stdout == ""
    assert f"{root}/.venv/bin/basis is missing: run `make venv` in {root} first" in out.stderr
