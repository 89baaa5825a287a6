"""Bot settings: devnet defaults need nothing; anything else needs a server secret."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from tenant_bot.config import BotSettings


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
