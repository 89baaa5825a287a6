"""`BrokerSigner` against an HTTP stand-in for the broker (httpx's MockTransport): the request it
sends, how each answer maps onto what the execution engine handles, and that only failures to
connect are retried. The real broker is exercised in tests/integration/orchestrator/test_broker.py."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from shared.transaction_policy import TransactionRejected
from tenant_bot.config import BotSettings
from tenant_bot.risk.transaction_validator import TransactionRejected as BotTransactionRejected
from tenant_bot.signing import Signer
from tenant_bot.signing import broker as broker_module
from tenant_bot.signing.broker import BrokerError, BrokerSigner, BrokerUnavailable

TOKEN = "tenant-token-0123456789abcdef"
SOLANA = "9ghi1bqu3i2s369ZoEDbFPVzJLnEpypL4NaFwXF4gVG7"
EVM = "0x8e079305F6538093f91FBEB71c1F7E59233D08C3"


def _signer(handler: Any) -> BrokerSigner:
    return BrokerSigner(
        "http://broker.test/", "t-one", SecretStr(TOKEN), SOLANA, EVM, transport=httpx.MockTransport(handler)
    )


@pytest.fixture(autouse=True)
def _no_retry_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker_module, "CONNECT_RETRY_DELAYS", (0.0, 0.0, 0.0))


async def test_it_sends_the_payload_with_the_tenant_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        kind = json.loads(request.content)["kind"]
        answers = {
            "solana_message": {"signature": base64.b64encode(b"\x01" * 64).decode()},
            "typed_data": {"r": "0x1", "s": "0x2", "v": 27},
            "evm_transaction": {"raw_transaction": "0x02f8"},
        }
        return httpx.Response(200, json=answers[kind])

    signer = _signer(handler)
    assert isinstance(signer, Signer)
    assert await signer.sign_solana_message(b"message") == b"\x01" * 64
    assert await signer.sign_typed_data({"domain": {}}) == {"r": "0x1", "s": "0x2", "v": 27}
    assert await signer.sign_evm_transaction({"to": "0x"}) == b"\x02\xf8"
    await signer.aclose()
    first = seen[0]
    assert str(first.url) == "http://broker.test/internal/sign"
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert first.headers["x-basis-tenant"] == "t-one"
    body = json.loads(first.content)
    assert body == {
        "kind": "solana_message",
        "address": SOLANA,
        "payload": base64.b64encode(b"message").decode(),
    }
    assert [json.loads(r.content)["address"] for r in seen[1:]] == [EVM, EVM]
    assert TOKEN not in repr(signer)


async def test_an_l1_action_is_sent_as_the_action_for_the_broker_to_hash() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"r": "0x1", "s": "0x2", "v": 28})

    signer = _signer(handler)
    action = {"type": "updateLeverage", "asset": 5, "isCross": True, "leverage": 3}
    assert await signer.sign_hyperliquid_l1(action, 7, mainnet=True) == {"r": "0x1", "s": "0x2", "v": 28}
    await signer.aclose()
    # No phantom agent, no network: the broker computes both from its own view.
    assert seen == [
        {
            "kind": "hyperliquid_l1",
            "address": EVM,
            "payload": {"action": action, "nonce": 7, "vaultAddress": None, "expiresAfter": None},
        }
    ]


@pytest.mark.parametrize("status", [403, 413, 422])
async def test_a_refusal_is_a_transaction_rejection(status: int) -> None:
    signer = _signer(lambda _r: httpx.Response(status, json={"detail": "instruction 0 calls program X"}))
    with pytest.raises(TransactionRejected, match="instruction 0 calls program X"):
        await signer.sign_typed_data({})
    # The very class the execution engine catches for a local policy rejection.
    assert TransactionRejected is BotTransactionRejected


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_an_unavailable_broker_is_an_os_error_like_any_unreachable_venue(status: int) -> None:
    signer = _signer(lambda _r: httpx.Response(status, json={"detail": "Privy could not sign"}))
    with pytest.raises(BrokerUnavailable, match="Privy could not sign") as err:
        await signer.sign_evm_transaction({})
    assert isinstance(err.value, OSError)


async def test_a_refused_token_is_a_configuration_error() -> None:
    signer = _signer(lambda _r: httpx.Response(401, json={"detail": "This token is not the tenant's."}))
    with pytest.raises(BrokerError, match="does not accept this bot's token") as err:
        await signer.sign_typed_data({})
    assert not isinstance(err.value, BrokerUnavailable | TransactionRejected)


async def test_unreadable_answers_are_errors() -> None:
    for answer in ({"signature": "!!"}, {"signature": base64.b64encode(b"short").decode()}, {}):
        signer = _signer(lambda _r, a=answer: httpx.Response(200, json=a))
        with pytest.raises(BrokerError):
            await signer.sign_solana_message(b"m")
    signer = _signer(lambda _r: httpx.Response(200, content=b"<html>"))
    with pytest.raises(BrokerError):
        await signer.sign_typed_data({})


async def test_only_failures_to_connect_are_retried() -> None:
    calls = []

    def refuse_connection(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"r": "0x1", "s": "0x2", "v": 28})

    assert (await _signer(refuse_connection).sign_typed_data({}))["v"] == 28
    assert len(calls) == 3

    calls.clear()

    def never(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(BrokerUnavailable, match="cannot be reached"):
        await _signer(never).sign_typed_data({})
    assert len(calls) == 4  # the first try and three retries

    calls.clear()

    def lost(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ReadTimeout("no answer", request=request)

    with pytest.raises(BrokerUnavailable, match="did not answer"):
        await _signer(lost).sign_typed_data({})
    assert len(calls) == 1  # sent: never sent again from here


# ---------------------------------------------------------------------- settings
def _settings(**values: Any) -> BotSettings:
    return BotSettings(_env_file=None, **values)  # type: ignore[call-arg]


def test_the_local_signer_is_the_default() -> None:
    assert _settings().signer == "local"


def test_the_broker_signer_needs_its_url_addresses_and_token() -> None:
    good = {
        "signer": "broker",
        "broker_url": "http://127.0.0.1:8000",
        "solana_address": SOLANA,
        "evm_address": EVM,
        "api_token": SecretStr(TOKEN),
    }
    assert _settings(**good).signer == "broker"
    with pytest.raises(ValidationError, match="BASIS_BROKER_URL, BASIS_EVM_ADDRESS"):
        _settings(signer="broker", solana_address=SOLANA)
    with pytest.raises(ValidationError, match="not a Solana address"):
        _settings(**{**good, "solana_address": "0OIl"})
    with pytest.raises(ValidationError, match="not an EVM address"):
        _settings(**{**good, "evm_address": "0x12"})
    with pytest.raises(ValidationError, match="http"):
        _settings(**{**good, "broker_url": "ftp://x"})
    with pytest.raises(ValidationError, match="BASIS_API_TOKEN"):
        _settings(**{**good, "api_token": None, "network": "mainnet", "server_secret": SecretStr("s" * 32)})


def test_the_signer_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASIS_SIGNER", "broker")
    monkeypatch.setenv("BASIS_BROKER_URL", "http://127.0.0.1:8000")
    monkeypatch.setenv("BASIS_SOLANA_ADDRESS", SOLANA)
    monkeypatch.setenv("BASIS_EVM_ADDRESS", EVM)
    s = _settings()
    assert (s.signer, s.broker_url, s.solana_address, s.evm_address) == (
        "broker",
        "http://127.0.0.1:8000",
        SOLANA,
        EVM,
    )
    monkeypatch.setenv("BASIS_SIGNER", "remote")
    with pytest.raises(ValidationError):
        _settings()
