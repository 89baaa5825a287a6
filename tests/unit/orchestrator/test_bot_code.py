"""Which folders a bot running as a user of its own imports from, and which one of them (or above them)
other users cannot use: on folders made for the test, whatever runs it (the mode bits are only read).
A control plane run as root that names the folder: tests/integration/orchestrator/test_bot_code_access.py."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from orchestrator.runtimes.base import BotSpec
from orchestrator.runtimes.bot_code import ClosedFolder, bot_code_folders, closed_folder
from orchestrator.runtimes.process import BotIsolationError, ProcessRuntime
from tests.support.privileges import bot_data_root


@pytest.fixture
def open_base() -> Iterator[Path]:
    """A folder every user may cross and read (pytest's own temporary folders are 0700)."""
    base = Path(tempfile.mkdtemp(prefix="basis-bot-code-"))
    base.chmod(0o755)
    yield base
    for folder, dirs, _files in os.walk(base):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
    shutil.rmtree(base)


def tree(base: Path, *parts: str, mode: int = 0o755) -> Path:
    folder = base.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    for made in [folder, *folder.parents]:
        if made == base:
            break
        made.chmod(0o755)
    folder.chmod(mode)
    return folder


def test_folders_every_user_can_read_and_cross_pass(open_base: Path) -> None:
    lib = tree(open_base, "python", "lib", "python3.11")
    site = tree(open_base, "venv", "lib", "site-packages")
    assert closed_folder([lib, site]) is None


def test_the_first_folder_on_the_way_that_others_cannot_cross_is_named(open_base: Path) -> None:
    lib = tree(open_base, "home", "python", "lib")
    (open_base / "home").chmod(0o700)  # a 0700 home holding the interpreter (pyenv under /root)
    (open_base / "home" / "python").chmod(0o700)
    found = closed_folder([lib])
    assert found == ClosedFolder(open_base / "home", "x", lib)
    sentence = found.sentence()
    assert sentence.startswith(f"{open_base / 'home'} cannot be crossed by other users (fix: chmod o+x")
    assert f"import Python from {lib}" in sentence
    # Crossing is all it takes above the folder: listing stays closed.
    (open_base / "home").chmod(0o711)
    (open_base / "home" / "python").chmod(0o701)
    assert closed_folder([lib]) is None


def test_the_folder_itself_must_be_readable_as_imports_list_it(open_base: Path) -> None:
    fine = tree(open_base, "fine")
    crossed_only = tree(open_base, "site-packages", mode=0o711)
    found = closed_folder([fine, crossed_only])
    assert found == ClosedFolder(crossed_only, "rx", crossed_only)
    assert f"chmod -R o+rX {crossed_only}" in found.sentence()
    assert closed_folder([tree(open_base, "listed-only", mode=0o744)]) == ClosedFolder(
        open_base / "listed-only", "rx", open_base / "listed-only"
    )


def test_a_folder_reached_through_a_link_is_checked_where_the_link_leads(open_base: Path) -> None:
    hidden = tree(open_base, "private", "python")
    (open_base / "private").chmod(0o700)
    link = open_base / "python"
    link.symlink_to(hidden)
    assert closed_folder([link]) == ClosedFolder(open_base / "private", "x", link)


def test_the_folders_are_the_search_path_without_the_working_directory_then_the_packages(
    open_base: Path,
) -> None:
    lib = tree(open_base, "lib")
    file = open_base / "lib.zip"
    file.write_bytes(b"")
    path = [str(lib), "", "relative/dir", str(open_base / "missing"), str(file), str(lib)]
    folders = bot_code_folders(path, packages=("tenant_bot", "shared", "no_such_package_here"))
    import shared
    import tenant_bot

    assert folders == [lib, Path(tenant_bot.__path__[0]), Path(shared.__path__[0])]
    # By default, this interpreter's own path (the bots run the same one), without its first entry (the
    # script's folder or the working directory, which `python -P` leaves out), and the bot's packages.
    default = bot_code_folders()
    assert Path(tenant_bot.__path__[0]) in default
    assert all(str(f) in sys.path[1:] or f.name in ("tenant_bot", "shared", "migrations") for f in default)


def test_the_process_runtime_refuses_bots_outside_the_devnet_and_warns_once_on_it(
    monkeypatch: pytest.MonkeyPatch, open_base: Path
) -> None:
    closed = ClosedFolder(open_base / "home", "x", open_base / "home" / "lib")
    monkeypatch.setattr("orchestrator.runtimes.process.closed_bot_code", lambda: closed)
    spec = BotSpec("t-1", "0.1.0", 30000, open_base, env={}, uid=1_900_000_001)
    strict = ProcessRuntime(bot_data_root(), bot_users=True, refuse_closed_code=True)
    with pytest.raises(BotIsolationError, match=f"^{closed.folder} cannot be crossed by other users"):
        strict._user(spec)
    strict.spare = True
    strict.warm()  # no spare either: no bot may start
    assert strict._spare is None
    devnet = ProcessRuntime(bot_data_root(), bot_users=True)
    with capture_logs() as logs:
        assert devnet._user(spec) == 1_900_000_001
        assert devnet._user(spec) == 1_900_000_001
    said = [e for e in logs if e["log_level"] == "warning" and str(closed.folder) in e["event"]]
    assert len(said) == 1, logs
    # Without root the bots are this user and import nothing after a drop: nothing to check.
    monkeypatch.setattr("orchestrator.runtimes.process.closed_bot_code", lambda: pytest.fail("checked"))
    assert ProcessRuntime(open_base / "tenants", bot_users=False)._user(spec) is None
