"""`basis-bot` refuses bad input with a sentence and exit code 2, before touching anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenant_bot.main import app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["open", "--capital", "abc"], "--capital must be a number"),
        (["open", "--capital", "-5"], "--capital must be a positive number"),
        (["open", "--capital", "100", "--leverage", "NaN"], "--leverage must be a positive number"),
    ],
)
def test_bad_numbers_exit_2(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASIS_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "bot.sqlite3").exists()


def test_invalid_settings_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASIS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BASIS_LEVERAGE", "9")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert "invalid settings: leverage" in result.output


def test_status_of_a_new_bot_is_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASIS_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert '"positions": []' in result.output
