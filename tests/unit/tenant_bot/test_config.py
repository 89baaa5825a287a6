"""Bot settings: devnet defaults on loopback need nothing; anything else needs a server secret."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from tenant_bot.config import DEVNET_SERVER_SECRET, BotSettings


def test_devnet_defaults_need_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BASIS_NETWORK", "BASIS_SERVER_SECRET", "BASIS_LEVERAGE"):
        monkeypatch.delenv(name, raising=False)
    s = BotSettings(_env_file=None)  # type: ignore[call-arg]
    assert s.network == "devnet" and s.leverage == Decimal(3)
    assert s.server_secret_value().get_secret_value()


def test_mainnet_without_a_server_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="BASIS_SERVER_SECRET is required"):
        BotSettings(network="mainnet", _env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize("leverage", ["1.5", "4.5"])
def test_leverage_outside_2_to_4_is_refused(leverage: str) -> None:
    with pytest.raises(ValidationError):
        BotSettings(leverage=Decimal(leverage), _env_file=None)  # type: ignore[call-arg]


def test_secrets_do_not_print() -> None:
    s = BotSettings(server_secret="very-secret-value", _env_file=None)  # type: ignore[arg-type,call-arg]
    assert "very-secret-value" not in repr(s) and "very-secret-value" not in str(s.model_dump())


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"hyperliquid_url": "https://api.hyperliquid.xyz"}, "BASIS_HYPERLIQUID_URL"),
        ({"asgard_url": "http://10.0.0.7/margin-trading"}, "BASIS_ASGARD_URL"),
        ({"solana_rpc_url": "http://192.168.1.9:8899"}, "BASIS_SOLANA_RPC_URL"),
        ({"arbitrum_rpc_url": "https://arb1.example.com"}, "BASIS_ARBITRUM_RPC_URL"),
        ({"api_host": "0.0.0.0"}, "BASIS_API_HOST"),
    ],
)
def test_the_public_default_secret_is_refused_off_loopback(values: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError, match="BASIS_SERVER_SECRET must be set") as info:
        BotSettings(_env_file=None, **values)  # type: ignore[arg-type, call-arg]
    assert named in str(info.value)
    with pytest.raises(ValidationError, match="built-in devnet secret is public"):
        BotSettings(_env_file=None, server_secret=DEVNET_SERVER_SECRET, **values)  # type: ignore[arg-type, call-arg]
    own = BotSettings(_env_file=None, server_secret="x" * 40, **values)  # type: ignore[arg-type, call-arg]
    assert own.api_token_value() is not None  # derived from a secret nobody else knows


def test_the_default_secret_and_its_token_are_fine_on_loopback() -> None:
    s = BotSettings(_env_file=None, api_host="::1", hyperliquid_url="http://localhost:3001")  # type: ignore[call-arg]
    assert s.not_on_loopback() == [] and s.api_token_value() is not None


def test_the_gateway_is_optional_an_http_url_and_sent_the_api_token() -> None:
    assert BotSettings(_env_file=None).gateway_url is None  # type: ignore[call-arg]
    assert BotSettings(_env_file=None, gateway_url="").gateway_url is None  # type: ignore[call-arg]
    url = "http://127.0.0.1:8001/gateway/v1"
    assert BotSettings(_env_file=None, gateway_url=url).not_on_loopback() == []  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="BASIS_GATEWAY_URL must be an http"):
        BotSettings(_env_file=None, server_secret="x" * 40, gateway_url="127.0.0.1:8001")  # type: ignore[call-arg]
    # The token goes to the gateway: off loopback, the public devnet secret (whence the token) is refused.
    with pytest.raises(ValidationError, match="BASIS_GATEWAY_URL"):
        BotSettings(_env_file=None, gateway_url="http://10.0.0.7:8001/gateway/v1")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="needs BASIS_API_TOKEN"):
        BotSettings(_env_file=None, network="mainnet", server_secret="x" * 40, gateway_url=url)  # type: ignore[call-arg]


def test_direct_reads_are_spaced_by_a_positive_interval() -> None:
    assert BotSettings(_env_file=None).direct_read_seconds == 60  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        BotSettings(_env_file=None, direct_read_seconds=0)  # type: ignore[call-arg]
