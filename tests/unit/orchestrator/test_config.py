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


def test_secrets_required_outside_the_devnet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("orchestrator.config.can_switch_users", lambda: True)  # as root
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


def test_bots_never_share_a_user_or_the_hosts_network_outside_the_devnet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = {"server_secret": SecretStr("s" * 32), "privy_app_secret": SecretStr("p" * 32)}
    monkeypatch.setattr("orchestrator.config.can_switch_users", lambda: False)  # not root
    with pytest.raises(
        ValidationError, match=r"Unix user of its own .* needs root: run the control plane as root"
    ):
        ControlPlaneSettings(_env_file=None, network="mainnet", **secrets)  # type: ignore[call-arg]
    # The docker runtime gives each bot its UID through the engine: no root needed here.
    assert ControlPlaneSettings(_env_file=None, network="mainnet", runtime="docker", **secrets)  # type: ignore[call-arg]
    # On the devnet a developer without root runs bots as their own user (with a warning).
    assert ControlPlaneSettings(_env_file=None).runtime == "process"  # type: ignore[call-arg]
    monkeypatch.setattr("orchestrator.config.can_switch_users", lambda: True)
    assert ControlPlaneSettings(_env_file=None, network="mainnet", **secrets)  # type: ignore[call-arg]

    with pytest.raises(ValidationError, match="for the loopback devnet only"):
        ControlPlaneSettings(  # type: ignore[call-arg]
            _env_file=None, network="testnet", runtime="docker", docker_host_network=True, **secrets
        )
    assert ControlPlaneSettings(_env_file=None, runtime="docker", docker_host_network=True)  # type: ignore[call-arg]


def test_the_uid_range_is_ordered_and_never_reaches_root() -> None:
    s = ControlPlaneSettings(_env_file=None)  # type: ignore[call-arg]
    assert 1_879_048_192 <= s.bot_uid_min <= s.bot_uid_max < 2_147_352_576
    with pytest.raises(ValidationError, match="bot_uid_min must not exceed bot_uid_max"):
        ControlPlaneSettings(_env_file=None, bot_uid_min=5000, bot_uid_max=4000)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ControlPlaneSettings(_env_file=None, bot_uid_min=0)  # type: ignore[call-arg]
