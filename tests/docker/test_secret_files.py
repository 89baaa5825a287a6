"""Secrets as files (`BASIS_<NAME>_FILE`), as the docker runtime hands them to a bot. No engine needed."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.runtimes.docker import _secret_tar
from tenant_bot.config import BotSettings


def test_the_bot_reads_its_secrets_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "api_token").write_text("token-from-a-file\n")
    (tmp_path / "server_secret").write_text("secret-from-a-file")
    monkeypatch.setenv("BASIS_API_TOKEN_FILE", str(tmp_path / "api_token"))
    monkeypatch.setenv("BASIS_SERVER_SECRET_FILE", str(tmp_path / "server_secret"))
    monkeypatch.delenv("BASIS_API_TOKEN", raising=False)
    monkeypatch.delenv("BASIS_SERVER_SECRET", raising=False)
    settings = BotSettings(_env_file=None)
    assert settings.api_token is not None and settings.api_token.get_secret_value() == "token-from-a-file"
    assert settings.server_secret_value().get_secret_value() == "secret-from-a-file"
    assert "token-from-a-file" not in repr(settings)


def test_a_value_set_directly_wins_and_an_unreadable_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "api_token").write_text("from-file")
    monkeypatch.setenv("BASIS_API_TOKEN_FILE", str(tmp_path / "api_token"))
    monkeypatch.setenv("BASIS_API_TOKEN", "from-env")
    assert BotSettings(_env_file=None).api_token.get_secret_value() == "from-env"  # type: ignore[union-attr]

    monkeypatch.delenv("BASIS_API_TOKEN")
    monkeypatch.setenv("BASIS_API_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValidationError, match="BASIS_API_TOKEN_FILE names a file that cannot be read"):
        BotSettings(_env_file=None)


def test_the_secret_archive_holds_0400_files_of_the_bot_user() -> None:
    uid = 1_900_000_123  # the tenant's own user (beyond what the old tar headers hold)
    with tarfile.open(fileobj=io.BytesIO(_secret_tar({"api_token": "t0k"}, uid)), mode="r") as tar:
        folder, token = tar.getmembers()
        assert (folder.name, folder.isdir(), folder.mode, folder.uid) == (".secrets", True, 0o500, uid)
        assert (token.name, token.mode, token.uid, token.gid) == (".secrets/api_token", 0o400, uid, uid)
        extracted = tar.extractfile(token)
        assert extracted is not None and extracted.read() == b"t0k"
