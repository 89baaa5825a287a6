"""Control-plane settings: devnet defaults, secrets required elsewhere (or off loopback), never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from orchestrator.config import DEVNET_SERVER_SECRET, ControlPlaneSettings


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


def _cp(**values: object) -> ControlPlaneSettings:
    return ControlPlaneSettings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"hyperliquid_url": "https://api.hyperliquid.xyz"}, "BASIS_CP_HYPERLIQUID_URL"),
        ({"privy_auth_url": "https://auth.privy.io"}, "BASIS_CP_PRIVY_AUTH_URL"),
        ({"privy_api_url": "https://api.privy.io"}, "BASIS_CP_PRIVY_API_URL"),
        ({"asgard_url": "http://10.0.0.7/margin-trading"}, "BASIS_CP_ASGARD_URL"),
        ({"solana_rpc_url": "http://192.168.1.9:8899"}, "BASIS_CP_SOLANA_RPC_URL"),
        ({"arbitrum_rpc_url": "https://arb1.example.com"}, "BASIS_CP_ARBITRUM_RPC_URL"),
        ({"broker_url": "http://172.17.0.1:8000"}, "BASIS_CP_BROKER_URL"),
        ({"gateway_url": "http://10.0.0.5:8001/gateway/v1"}, "BASIS_CP_GATEWAY_URL"),
        ({"database_url": "postgresql+psycopg://b:b@db.internal/basis"}, "BASIS_CP_DATABASE_URL"),
        ({"host": "0.0.0.0"}, "BASIS_CP_HOST"),
        ({"host": "::"}, "BASIS_CP_HOST"),
        ({"host": "10.0.0.5"}, "BASIS_CP_HOST"),
        ({"broker_host": "172.17.0.1"}, "BASIS_CP_BROKER_HOST"),  # the signing broker's listener
        ({"public_url": "https://basis.example.com"}, "BASIS_CP_PUBLIC_URL"),
        ({"trusted_proxies": ["10.0.0.2"]}, "BASIS_CP_TRUSTED_PROXIES"),
        ({"allowed_hosts": ["basis.internal"]}, "BASIS_CP_ALLOWED_HOSTS"),
        ({"bot_env": {"BASIS_HYPERLIQUID_URL": "https://api.hyperliquid.xyz"}}, "BASIS_HYPERLIQUID_URL"),
    ],
)
def test_the_public_default_secret_is_refused_off_loopback(values: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError, match="BASIS_CP_SERVER_SECRET must be set") as info:
        _cp(network="devnet", **values)
    assert named in str(info.value)
    # The same with the devnet secret written out: it is just as public.
    with pytest.raises(ValidationError, match="built-in devnet secret is public"):
        _cp(network="devnet", server_secret=SecretStr(DEVNET_SERVER_SECRET), **values)
    # A secret of one's own is what it takes.
    assert _cp(network="devnet", server_secret=SecretStr("x" * 40), **values).network == "devnet"


def test_the_default_secret_is_fine_with_everything_on_loopback() -> None:
    s = _cp(
        host="localhost",
        hyperliquid_url="http://127.0.0.1:3001",
        privy_auth_url="http://[::1]:3003",
        database_url="postgresql+psycopg://basis:basis@127.0.0.1:5432/postgres",
        trusted_proxies=["127.0.0.1"],
        allowed_hosts=["localhost"],
    )
    assert s.not_on_loopback() == [] and s.server_secret_value().get_secret_value() == DEVNET_SERVER_SECRET
    assert _cp(database_url="postgresql+psycopg:///basis?host=/run/postgresql").not_on_loopback() == []


def test_deployment_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="not an IP address or network"):
        _cp(trusted_proxies=["proxy.internal"])
    with pytest.raises(ValidationError, match="must not have a path"):
        _cp(public_url="https://basis.example.com/app")
    with pytest.raises(ValidationError, match="http:// or https://"):
        _cp(public_url="basis.example.com")
    s = _cp(
        server_secret=SecretStr("x" * 40),
        public_url="https://Basis.Example.com/",
        broker_url="http://172.17.0.1:8000",
        allowed_hosts=["Basis.Internal."],
        host="10.0.0.5",
    )
    assert s.public_url == "https://Basis.Example.com" and s.cookies_always_secure()
    assert s.accepted_hosts() == {"basis.example.com", "172.17.0.1", "basis.internal", "10.0.0.5"}
    assert (
        not _cp().cookies_always_secure()
        and _cp(host="0.0.0.0", server_secret=SecretStr("x" * 40)).accepted_hosts() == set()
    )


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


def test_bots_are_told_the_gateway_only_when_it_is_on_and_for_them() -> None:
    on = ControlPlaneSettings(_env_file=None, broker_port=8123)  # type: ignore[call-arg]
    assert on.gateway_url_value() == "http://127.0.0.1:8123/gateway/v1"
    for off in ({"gateway_enabled": False}, {"gateway_for_bots": False}):
        s = ControlPlaneSettings(_env_file=None, broker_port=8123, **off)  # type: ignore[arg-type]
        assert s.gateway_url_value() is None, off


def test_bots_may_be_told_a_gateway_served_elsewhere() -> None:
    s = ControlPlaneSettings(_env_file=None, broker_port=8123, gateway_url="http://127.0.0.1:9001/gw/")  # type: ignore[call-arg]
    assert s.gateway_url_value() == "http://127.0.0.1:9001/gw"
    assert s.broker_url_value() == "http://127.0.0.1:8123"  # signing stays with the broker
    off = ControlPlaneSettings(_env_file=None, gateway_url="http://127.0.0.1:9001", gateway_for_bots=False)  # type: ignore[call-arg]
    assert off.gateway_url_value() is None
    with pytest.raises(ValidationError, match="http:// or https://"):
        ControlPlaneSettings(_env_file=None, gateway_url="127.0.0.1:9001")  # type: ignore[call-arg]
