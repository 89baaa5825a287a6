"""Control-plane settings: devnet defaults, secrets required elsewhere, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from orchestrator.config import ControlPlaneSettings


def test_devnet_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    s = ControlPlaneSettings(_env_file=None)  # type: ignore[call-arg]
    assert s.database_url == "sqlite:///var/control/control.sqlite3"
    assert (s.host, s.port, s.data_root) == ("127.0.0.1", 8000, Path("var/tenants"))
    assert s.privy_auth_url == s.privy_api_url == "http://127.0.0.1:3003"
    assert s.server_secret_value().get_secret_value()


def test_environment_uses_the_cp_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASIS_CP_PORT", "8123")
    monkeypatch.setenv("BASIS_PORT", "9999")
    monkeypatch.setenv("BASIS_CP_BOT_ENV", '{"BASIS_TICK_SECONDS": "1"}')
    s = ControlPlaneSettings(_env_file=None)  # type: ignore[call-arg]
    assert s.port == 8123 and s.bot_env == {"BASIS_TICK_SECONDS": "1"}


def test_secrets_required_outside_the_devnet() -> None:
    with pytest.raises(ValidationError, match="SERVER_SECRET"):
        ControlPlaneSettings(_env_file=None, network="mainnet")  # type: ignore[call-arg]
    s = ControlPlaneSettings(
        _env_file=None,  # type: ignore[call-arg]
        network="mainnet",
        server_secret=SecretStr("s" * 32),
        privy_app_secret=SecretStr("p" * 32),
    )
    assert "s" * 32 not in repr(s) and "p" * 32 not in repr(s)


def test_port_range_must_be_ordered() -> None:
    with pytest.raises(ValidationError):
        ControlPlaneSettings(_env_file=None, bot_port_min=19000, bot_port_max=18000)  # type: ignore[call-arg]
