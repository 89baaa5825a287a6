"""The HTTP front in process: the venue's 422, the drop fault, and no 500 whatever the body."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import eth_account
import pytest
from hyperliquid.utils import signing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from devnet.clock import SimClock
from devnet.config import DevnetConfig
from devnet.faults import FaultBook
from devnet.hyperliquid import HyperliquidExchange, create_app
from devnet.hyperliquid.wire import canonical_number

UNREADABLE = "Failed to deserialize the JSON body into the target type"


@pytest.fixture(scope="module")
def setup() -> tuple[TestClient, HyperliquidExchange]:
    from devnet.market import MarketSimulator

    clock = SimClock(1.0)
    market = MarketSimulator(7, clock)
    faults = FaultBook(7, clock)
    # These tests fuzz hundreds of bodies from one client: the REST weight limit is not their
    # subject (tests/integration/devnet/test_hyperliquid_limits.py is), so it is lifted here.
    config = DevnetConfig(speed=1.0, hyperliquid_weight_per_minute=10**9)
    ex = HyperliquidExchange(config, clock, market, faults)
    return TestClient(create_app(ex)), ex


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        b'{"type": "nope"}',
        b'{"type": "clearinghouseState"}',
        b'{"type": "clearinghouseState", "user": "0x12"}',
        b'{"type": "l2Book"}',
        b'{"type": "l2Book", "coin": "SOL", "nSigFigs": 9}',
        b'{"type": "fundingHistory", "coin": "SOL"}',
        b'{"type": "orderStatus", "user": "0x' + b"11" * 20 + b'", "oid": "7"}',
        b'{"type": "meta", "dex": "xyz"}',
    ],
)
def test_unreadable_info_bodies_get_the_venues_422(
    setup: tuple[TestClient, HyperliquidExchange], body: bytes
) -> None:
    client, _ = setup
    r = client.post("/info", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.text == UNREADABLE
    assert r.headers["content-type"].startswith("text/plain")


def test_reads_answer_json(setup: tuple[TestClient, HyperliquidExchange]) -> None:
    client, _ = setup
    r = client.post("/info", json={"type": "l2Book", "coin": "SOL"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["coin"] == "SOL"
    assert client.post("/info", json={"type": "l2Book", "coin": "NOPE"}).json() is None
    assert client.get("/info").status_code == 405


def test_drop_applies_the_action_and_loses_the_answer(setup: tuple[TestClient, HyperliquidExchange]) -> None:
    client, ex = setup
    wallet = eth_account.Account.create()
    ex.credit_usdc(wallet.address, Decimal(100), reason="test")
    cloid = "0x" + "0" * 31 + "9"
    action = {
        "type": "order",
        "orders": [
            {
                "a": 5,
                "b": True,
                "p": "120",
                "s": "0.5",
                "r": False,
                "t": {"limit": {"tif": "Gtc"}},
                "c": cloid,
            }
        ],
        "grouping": "na",
    }
    nonce = int(time.time() * 1000)
    body = {
        "action": action,
        "nonce": nonce,
        "signature": signing.sign_l1_action(wallet, action, None, nonce, None, False),
        "vaultAddress": None,
        "expiresAfter": None,
    }
    ex.faults.set("hyperliquid", drop_rate=1.0)
    try:
        r = client.post("/exchange", json=body)
    finally:
        ex.faults.clear("hyperliquid")
    assert r.status_code == 504 and r.content == b""
    found = client.post("/info", json={"type": "orderStatus", "user": wallet.address, "oid": cloid}).json()
    assert found["status"] == "order" and found["order"]["status"] == "open"
    # Sending it again is refused: the nonce was used, so a blind retry cannot double the order.
    again = client.post("/exchange", json=body).json()
    assert again == {"status": "err", "response": f"Invalid nonce: duplicate nonce {nonce}"}
    assert len(client.post("/info", json={"type": "openOrders", "user": wallet.address}).json()) == 1


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.text(max_size=12)
    | st.sampled_from(["0x" + "11" * 20, "0x" + "ab" * 16, "SOL", "150.1", "1e400", "-0", "Gtc"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=12,
)
info_types = st.sampled_from(
    [
        "meta",
        "metaAndAssetCtxs",
        "allMids",
        "l2Book",
        "clearinghouseState",
        "openOrders",
        "userFills",
        "fundingHistory",
        "userFunding",
        "predictedFundings",
        "orderStatus",
        "spotMeta",
        "spotClearinghouseState",
        "frontendOpenOrders",
        "activeAssetData",
        "userFillsByTime",
        "extraAgents",
        "userRole",
        "userRateLimit",
        "userFees",
        "candleSnapshot",
        "historicalOrders",
        "portfolio",
    ]
)
info_fields = st.fixed_dictionaries(
    {},
    optional={
        "user": json_values,
        "coin": json_values,
        "oid": json_values,
        "startTime": json_values,
        "endTime": json_values,
        "nSigFigs": json_values,
        "mantissa": json_values,
        "dex": json_values,
        "req": json_values,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=info_types, fields=info_fields)
def test_no_info_body_gives_a_500(
    setup: tuple[TestClient, HyperliquidExchange], kind: str, fields: dict[str, Any]
) -> None:
    client, _ = setup
    r = client.post("/info", content=json.dumps({"type": kind, **fields}))
    assert r.status_code in (200, 422), r.text


action_types = st.sampled_from(
    [
        "order",
        "cancel",
        "cancelByCloid",
        "updateLeverage",
        "updateIsolatedMargin",
        "noop",
        "usdClassTransfer",
        "withdraw3",
        "usdSend",
        "approveAgent",
        "twapOrder",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=action_types,
    action=st.dictionaries(
        st.sampled_from(
            [
                "orders",
                "grouping",
                "cancels",
                "asset",
                "isCross",
                "leverage",
                "ntli",
                "isBuy",
                "amount",
                "toPerp",
                "nonce",
                "time",
                "destination",
                "agentAddress",
                "agentName",
                "signatureChainId",
                "hyperliquidChain",
                "builder",
            ]
        ),
        json_values,
        max_size=6,
    ),
    envelope=st.dictionaries(
        st.sampled_from(["nonce", "signature", "vaultAddress", "expiresAfter"]), json_values, max_size=4
    ),
)
def test_no_exchange_body_gives_a_500(
    setup: tuple[TestClient, HyperliquidExchange], kind: str, action: dict[str, Any], envelope: dict[str, Any]
) -> None:
    client, _ = setup
    body = {
        "nonce": 1,
        "signature": {"r": "0x1", "s": "0x2", "v": 27},
        **envelope,
        "action": {"type": kind, **action},
    }
    r = client.post("/exchange", content=json.dumps(body))
    assert r.status_code in (200, 422), r.text
    if r.status_code == 200:
        assert r.json()["status"] in ("ok", "err")


numbers = st.sampled_from(
    [
        "0",
        "-0",
        "1e400",
        "1e-40",
        "0.00000001",
        "150",
        "150.12",
        "150.123",
        "149.9999",
        "1E+2",
        " 7 ",
        "nan",
        "inf",
        "",
        "12345678901234567890",
        "0.5",
        "3",
        "99999.5",
    ]
) | st.decimals(min_value=-1000, max_value=100000, allow_nan=False, allow_infinity=False, places=5).map(str)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    px=numbers,
    sz=numbers,
    is_buy=st.booleans(),
    reduce_only=st.booleans(),
    tif=st.sampled_from(["Gtc", "Ioc", "Alo"]),
    asset=st.sampled_from([0, 1, 2, 3, 4, 5, 6, 10_000]),
)
def test_signed_orders_with_odd_numbers_never_give_a_500(
    setup: tuple[TestClient, HyperliquidExchange],
    px: str,
    sz: str,
    is_buy: bool,
    reduce_only: bool,
    tif: str,
    asset: int,
) -> None:
    client, ex = setup
    wallet = _funded(ex)
    wire = {"a": asset, "b": is_buy, "p": px, "s": sz, "r": reduce_only, "t": {"limit": {"tif": tif}}}
    action = {"type": "order", "orders": [wire], "grouping": "na"}
    nonce = next(_nonces)
    body = {
        "action": action,
        "nonce": nonce,
        "signature": signing.sign_l1_action(wallet, action, None, nonce, None, False),
        "vaultAddress": None,
        "expiresAfter": None,
    }
    r = client.post("/exchange", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    if canonical_number(px) != px or canonical_number(sz) != sz:
        # The venue hashes numbers without trailing zeros or exponents: other bytes were signed.
        assert answer["status"] == "err" and answer["response"].startswith("User or API Wallet 0x"), answer
        return
    assert answer["status"] == "ok", answer
    (outcome,) = answer["response"]["data"]["statuses"]
    assert set(outcome) <= {"error", "filled", "resting"}


_wallets: list[Any] = []
_nonces = iter(range(int(time.time() * 1000), 2**62))


def _funded(ex: HyperliquidExchange) -> Any:
    if not _wallets:
        wallet = eth_account.Account.create()
        ex.credit_usdc(wallet.address, Decimal(1_000_000), reason="test")
        _wallets.append(wallet)
    return _wallets[0]
