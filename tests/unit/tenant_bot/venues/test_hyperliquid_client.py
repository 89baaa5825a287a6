"""The client's write path against a scripted venue (httpx.MockTransport): signing, wire format,
and above all what it does when an answer is lost."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from eth_account import Account
from hyperliquid.utils import signing
from solders.keypair import Keypair

from shared.networks import NETWORKS
from shared.retry import OutcomeUnknown, RetriesExhausted, RetryPolicy
from tenant_bot.signing.local import LocalSigner
from tenant_bot.venues.hyperliquid import (
    HyperliquidClient,
    HyperliquidError,
    HyperliquidOutcomeUnknown,
    OrderState,
    cloid_for,
)

D = Decimal
FAST = RetryPolicy(attempts=4, base_delay=0.0, max_delay=0.0, jitter=0.0)
CLOID = cloid_for("exec-1", "short", 0)
META = {
    "universe": [
        {"szDecimals": 5, "name": "BTC", "maxLeverage": 40},
        {"szDecimals": 4, "name": "ETH", "maxLeverage": 25},
        {"szDecimals": 2, "name": "ATOM", "maxLeverage": 20},
        {"szDecimals": 1, "name": "MATIC", "maxLeverage": 20, "isDelisted": True},
        {"szDecimals": 1, "name": "DYDX", "maxLeverage": 20},
        {"szDecimals": 2, "name": "SOL", "maxLeverage": 20},
    ]
}
FILLED = {
    "status": "ok",
    "response": {
        "type": "order",
        "data": {"statuses": [{"filled": {"totalSz": "0.5", "avgPx": "150.02", "oid": 77, "cloid": CLOID}}]},
    },
}
UNKNOWN = {"status": "unknownOid"}
FOUND_FILLED = {
    "status": "order",
    "order": {
        "order": {"coin": "SOL", "oid": 77, "timestamp": 1000, "origSz": "0.5", "sz": "0.0", "cloid": CLOID},
        "status": "filled",
        "statusTimestamp": 1000,
    },
}
FILLS = [
    {
        "coin": "SOL",
        "px": "150.0",
        "sz": "0.2",
        "side": "A",
        "time": 1000,
        "closedPnl": "0.0",
        "oid": 77,
        "crossed": True,
        "fee": "0.01",
        "cloid": CLOID,
    },
    {
        "coin": "SOL",
        "px": "150.05",
        "sz": "0.3",
        "side": "A",
        "time": 1000,
        "closedPnl": "0.0",
        "oid": 77,
        "crossed": True,
        "fee": "0.01",
        "cloid": CLOID,
    },
    {
        "coin": "SOL",
        "px": "1.0",
        "sz": "9.0",
        "side": "B",
        "time": 1000,
        "closedPnl": "0.0",
        "oid": 78,
        "crossed": True,
        "fee": "0.01",
    },
]

Step = httpx.Response | Exception | dict[str, Any]


class Venue:
    """Answers /info from fixed data and /exchange from a script, recording every request."""

    def __init__(self, exchange: list[Step], order_status: list[dict[str, Any]] | None = None) -> None:
        self.exchange_script = list(exchange)
        self.order_status = list(order_status or [UNKNOWN])
        self.exchange_bodies: list[bytes] = []
        self.info_types: list[str] = []
        self.leverage = {"type": "cross", "value": 20}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path == "/info":
            kind = body["type"]
            self.info_types.append(kind)
            if kind == "meta":
                return httpx.Response(200, json=META)
            if kind == "orderStatus":
                answer = self.order_status.pop(0) if len(self.order_status) > 1 else self.order_status[0]
                return httpx.Response(200, json=answer)
            if kind == "userFillsByTime":
                return httpx.Response(200, json=FILLS)
            if kind == "activeAssetData":
                return httpx.Response(200, json={"leverage": self.leverage})
            return httpx.Response(422, text="Failed to deserialize the JSON body into the target type")
        assert request.url.path == "/exchange"
        self.exchange_bodies.append(request.content)
        step = self.exchange_script.pop(0)
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return httpx.Response(200, json=step)


def _client(venue: Callable[[httpx.Request], httpx.Response], *, mainnet: bool = False) -> HyperliquidClient:
    return _client_with(venue, mainnet=mainnet)


def _client_with(
    handler: Callable[[httpx.Request], httpx.Response], *, mainnet: bool = False
) -> HyperliquidClient:
    signer = LocalSigner(Keypair(), Account.create())
    return HyperliquidClient(
        "http://venue.test",
        signer,
        network=NETWORKS["mainnet" if mainnet else "devnet"],
        retry=FAST,
        transport=httpx.MockTransport(handler),
    )


def _duplicates_after_first(venue: Venue) -> Callable[[httpx.Request], httpx.Response]:
    """The venue as scripted for the first /exchange copy; later copies are duplicates (it landed)."""

    def call(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/exchange" and venue.exchange_bodies:
            venue.exchange_bodies.append(request.content)
            return httpx.Response(200, json=_dup(request.content))
        return venue(request)

    return call


async def _ioc(client: HyperliquidClient) -> Any:
    return await client.place_ioc("SOL", False, D("0.50"), D("148.50"), cloid=CLOID)


def _dup(nonce_body: bytes) -> dict[str, Any]:
    nonce = json.loads(nonce_body)["nonce"]
    return {"status": "err", "response": f"Invalid nonce: duplicate nonce {nonce}"}


# ---------------------------------------------------------------------- signing and wire format
@pytest.mark.parametrize("mainnet", [False, True])
async def test_order_is_signed_as_the_sdk_signs_and_recovers_to_the_signer(mainnet: bool) -> None:
    venue = Venue([FILLED])
    async with _client(venue, mainnet=mainnet) as client:
        outcome = await _ioc(client)
        address = client.address
    assert outcome.state is OrderState.FILLED and outcome.filled_size == D("0.5") and outcome.oid == 77
    sent = json.loads(venue.exchange_bodies[0])
    assert sent["action"] == {
        "type": "order",
        "orders": [
            {
                "a": 5,
                "b": False,
                "p": "148.5",
                "s": "0.5",
                "r": False,
                "t": {"limit": {"tif": "Ioc"}},
                "c": CLOID,
            }
        ],
        "grouping": "na",
    }
    assert sent["vaultAddress"] is None and sent["expiresAfter"] is None
    recovered = signing.recover_agent_or_user_from_l1_action(
        sent["action"], sent["signature"], None, sent["nonce"], None, mainnet
    )
    assert recovered == address
    other_network = signing.recover_agent_or_user_from_l1_action(
        sent["action"], sent["signature"], None, sent["nonce"], None, not mainnet
    )
    assert other_network != address


async def test_usd_class_transfer_is_user_signed_for_the_network() -> None:
    venue = Venue([{"status": "ok", "response": {"type": "default"}}])
    async with _client(venue) as client:
        await client.usd_class_transfer(D("100.50"), to_perp=True)
        address = client.address
    sent = json.loads(venue.exchange_bodies[0])
    action = sent["action"]
    assert action["amount"] == "100.5" and action["toPerp"] is True and action["nonce"] == sent["nonce"]
    assert action["hyperliquidChain"] == "Testnet"
    recovered = signing.recover_user_from_user_signed_action(
        copy.deepcopy(action),
        sent["signature"],
        signing.USD_CLASS_TRANSFER_SIGN_TYPES,
        "HyperliquidTransaction:UsdClassTransfer",
        False,
    )
    assert recovered == address


async def test_nonces_strictly_increase_even_within_one_millisecond() -> None:
    ok = {"status": "ok", "response": {"type": "default"}}
    venue = Venue([ok] * 5)
    async with _client(venue) as client:
        for _ in range(5):
            await client.update_leverage("SOL", 3, cross=True)
    nonces = [json.loads(b)["nonce"] for b in venue.exchange_bodies]
    assert nonces == sorted(set(nonces)) and len(nonces) == 5


async def test_unknown_coin_and_bad_cloid_are_refused_before_sending() -> None:
    venue = Venue([])
    async with _client(venue) as client:
        with pytest.raises(ValueError):
            await client.place_ioc("NOPE", True, D("1"), D("1"), cloid=CLOID)
        with pytest.raises(ValueError):
            await client.place_ioc("MATIC", True, D("1"), D("1"), cloid=CLOID)  # delisted
        with pytest.raises(ValueError):
            await client.place_ioc("SOL", True, D("1"), D("1"), cloid="0x1234")
    assert venue.exchange_bodies == []


async def test_a_read_only_client_cannot_write() -> None:
    client = HyperliquidClient("http://venue.test", transport=httpx.MockTransport(Venue([])))
    with pytest.raises(ValueError):
        _ = client.address
    with pytest.raises(ValueError):
        await client.update_leverage("SOL", 3, cross=True)
    await client.aclose()


# ---------------------------------------------------------------------- certain answers
async def test_ioc_without_liquidity_is_a_rejection_not_a_failure() -> None:
    text = "Order could not immediately match against any resting orders. asset=5"
    answer = {"status": "ok", "response": {"type": "order", "data": {"statuses": [{"error": text}]}}}
    venue = Venue([answer])
    async with _client(venue) as client:
        outcome = await _ioc(client)
    assert outcome.state is OrderState.REJECTED and outcome.filled_size == 0 and outcome.error == text
    assert outcome.cloid == CLOID and len(venue.exchange_bodies) == 1


async def test_a_refused_action_raises_with_the_venues_text() -> None:
    text = "User or API Wallet 0xabc does not exist."
    venue = Venue([{"status": "err", "response": text}])
    async with _client(venue) as client:
        with pytest.raises(HyperliquidError, match="does not exist"):
            await _ioc(client)
    assert len(venue.exchange_bodies) == 1


async def test_a_duplicate_nonce_on_a_first_send_is_a_plain_refusal() -> None:
    venue = Venue([{"status": "err", "response": "Invalid nonce: duplicate nonce 5"}])
    async with _client(venue) as client:
        with pytest.raises(HyperliquidError, match="duplicate nonce"):
            await _ioc(client)
    assert "orderStatus" not in venue.info_types


async def test_an_unreadable_body_422_is_certain() -> None:
    venue = Venue([httpx.Response(422, text="Failed to deserialize the JSON body into the target type")])
    async with _client(venue) as client:
        with pytest.raises(HyperliquidError, match="deserialize"):
            await _ioc(client)
    assert len(venue.exchange_bodies) == 1


# ---------------------------------------------------------------------- certainly not applied
async def test_connect_error_and_429_resend_the_same_body_without_asking() -> None:
    venue = Venue(
        [
            httpx.ConnectError("refused"),
            httpx.Response(429, headers={"retry-after": "0"}, text="slow"),
            FILLED,
        ]
    )
    async with _client(venue) as client:
        outcome = await _ioc(client)
    assert outcome.state is OrderState.FILLED
    assert len(venue.exchange_bodies) == 3 and len(set(venue.exchange_bodies)) == 1
    assert "orderStatus" not in venue.info_types


async def test_never_reaching_the_venue_is_not_an_unknown_outcome() -> None:
    venue = Venue([httpx.ConnectError("refused")] * 4)
    async with _client(venue) as client:
        with pytest.raises(RetriesExhausted):
            await _ioc(client)
    assert len(venue.exchange_bodies) == 4


# ---------------------------------------------------------------------- maybe applied
async def test_lost_answer_is_resolved_by_cloid_without_resending() -> None:
    venue = Venue([httpx.Response(504)], order_status=[FOUND_FILLED])
    async with _client(venue) as client:
        outcome = await _ioc(client)
    assert outcome.state is OrderState.FILLED and outcome.oid == 77 and outcome.cloid == CLOID
    assert outcome.filled_size == D("0.5")  # from the fills of oid 77 only
    assert outcome.avg_px == (D("0.2") * D("150.0") + D("0.3") * D("150.05")) / D("0.5")
    assert len(venue.exchange_bodies) == 1


async def test_timeout_then_not_found_resends_the_identical_body() -> None:
    venue = Venue([httpx.ReadTimeout("slow"), FILLED], order_status=[UNKNOWN])
    async with _client(venue) as client:
        outcome = await _ioc(client)
    assert outcome.state is OrderState.FILLED
    assert len(venue.exchange_bodies) == 2 and venue.exchange_bodies[0] == venue.exchange_bodies[1]
    assert venue.info_types.count("orderStatus") == 1


async def test_duplicate_nonce_after_a_lost_answer_means_it_landed_so_ask_again() -> None:
    venue = Venue([httpx.RemoteProtocolError("dropped")], order_status=[UNKNOWN, FOUND_FILLED])
    async with _client_with(_duplicates_after_first(venue)) as client:
        outcome = await _ioc(client)
    assert outcome.state is OrderState.FILLED and outcome.filled_size == D("0.5")
    assert len(venue.exchange_bodies) == 2 and venue.exchange_bodies[0] == venue.exchange_bodies[1]
    assert venue.info_types.count("orderStatus") == 2


async def test_out_of_attempts_raises_outcome_unknown_with_the_cloid() -> None:
    venue = Venue([httpx.Response(502)] * 4, order_status=[UNKNOWN])
    async with _client(venue) as client:
        with pytest.raises(HyperliquidOutcomeUnknown) as info:
            await _ioc(client)
    assert isinstance(info.value, OutcomeUnknown)
    assert info.value.cloid == CLOID and info.value.action == "order"
    assert info.value.nonce == json.loads(venue.exchange_bodies[0])["nonce"]
    assert CLOID in str(info.value)
    assert len(venue.exchange_bodies) == 4 and len(set(venue.exchange_bodies)) == 1


async def test_landed_but_invisible_is_unknown_not_guessed() -> None:
    venue = Venue([httpx.Response(504)], order_status=[UNKNOWN])
    async with _client_with(_duplicates_after_first(venue)) as client:
        with pytest.raises(HyperliquidOutcomeUnknown, match="landed"):
            await _ioc(client)
    assert len(venue.exchange_bodies) == 2


async def test_leverage_lost_answer_is_resolved_from_the_account() -> None:
    venue = Venue([httpx.Response(504)])
    venue.leverage = {"type": "isolated", "value": 3}
    async with _client(venue) as client:
        await client.update_leverage("SOL", 3, cross=False)
    assert len(venue.exchange_bodies) == 1 and "activeAssetData" in venue.info_types


async def test_transfer_that_landed_without_a_trace_is_unknown() -> None:
    venue = Venue([httpx.Response(504)])
    async with _client_with(_duplicates_after_first(venue)) as client:
        with pytest.raises(HyperliquidOutcomeUnknown) as info:
            await client.usd_class_transfer(D("10"), to_perp=True)
    assert info.value.cloid is None and info.value.action == "usdClassTransfer"
    assert len(venue.exchange_bodies) == 2 and venue.exchange_bodies[0] == venue.exchange_bodies[1]


async def test_cancel_lost_answer_reads_the_order() -> None:
    canceled = copy.deepcopy(FOUND_FILLED)
    canceled["order"]["status"] = "canceled"
    venue = Venue([httpx.ReadTimeout("slow")], order_status=[canceled])
    async with _client(venue) as client:
        assert await client.cancel_by_cloid("SOL", CLOID) is True
    venue = Venue([httpx.ReadTimeout("slow")], order_status=[UNKNOWN])
    async with _client(venue) as client:
        assert await client.cancel_by_cloid("SOL", CLOID) is False
    assert len(venue.exchange_bodies) == 1


# ---------------------------------------------------------------------- reads
def _paging_venue(rows: list[dict[str, Any]], seen: list[dict[str, Any]]) -> httpx.MockTransport:
    """/info that answers time ranges 500 rows at a time, as the venue does."""

    def call(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        end = body.get("endTime", 10**15)
        page = [r for r in rows if body["startTime"] <= r["time"] <= end][:500]
        return httpx.Response(200, json=page)

    return httpx.MockTransport(call)


async def test_funding_history_reads_every_page() -> None:
    hour = 3_600_000
    rows = [
        {"coin": "SOL", "fundingRate": f"0.0000{i % 10}", "premium": "0", "time": i * hour + 7}
        for i in range(1200)
    ]
    seen: list[dict[str, Any]] = []
    async with HyperliquidClient("http://venue.test", transport=_paging_venue(rows, seen)) as client:
        history = await client.funding_history("SOL", 0)
    assert [t for t, _ in history] == [r["time"] for r in rows]
    assert history[3][1].rate == D("0.00003") and history[3][1].per_hour == D("0.00003")
    assert len(seen) == 3 and seen[1]["startTime"] == rows[499]["time"] + 1


async def test_user_funding_pages_without_losing_coins_that_share_a_stamp() -> None:
    hour = 3_600_000
    rows = []
    for i in range(400):  # two coins settle at each stamp: 800 rows
        for coin in ("SOL", "BTC"):
            rows.append(
                {
                    "time": i * hour,
                    "hash": "0x0",
                    "delta": {
                        "type": "funding",
                        "coin": coin,
                        "usdc": "0.01",
                        "szi": "-1.0",
                        "fundingRate": "0.0000125",
                        "nSamples": None,
                    },
                }
            )
    seen: list[dict[str, Any]] = []
    transport = _paging_venue(rows, seen)
    async with HyperliquidClient("http://venue.test", address="0x" + "1" * 40, transport=transport) as client:
        payments = await client.user_funding(0)
    assert len(payments) == 800 and len({(p.time_ms, p.coin) for p in payments}) == 800
    assert all(body["user"] == "0x" + "1" * 40 for body in seen)


async def test_reads_retry_server_errors_and_refuse_unreadable_bodies() -> None:
    answers = [httpx.Response(503), httpx.Response(200, json={"SOL": "150.025", "BTC": "83757.5"})]

    def call(request: httpx.Request) -> httpx.Response:
        return answers.pop(0) if answers else httpx.Response(422, text="Failed to deserialize")

    async with HyperliquidClient(
        "http://venue.test", retry=FAST, transport=httpx.MockTransport(call)
    ) as client:
        assert await client.mids() == {"SOL": D("150.025"), "BTC": D("83757.5")}
        with pytest.raises(HyperliquidError, match="deserialize"):
            await client.user_state("0x" + "1" * 40)


# ---------------------------------------------------------------------- journaled bodies
async def test_a_journaled_body_is_sent_verbatim_and_a_resend_finds_the_order() -> None:
    venue = Venue([FILLED], order_status=[FOUND_FILLED])
    async with _client_with(_duplicates_after_first(venue)) as client:
        body = await client.sign_order("SOL", False, D("0.5"), D("148.5"), cloid=CLOID)
        assert venue.exchange_bodies == []  # signing sends nothing
        assert json.loads(body)["action"]["orders"][0]["c"] == CLOID
        first = await client.send_order(body, CLOID)
        # A restarted bot re-sends the journaled body: the venue refuses the duplicate nonce, and
        # the client reads the order back by its cloid instead of reporting a refusal.
        again = await client.send_order(body, CLOID)
        with pytest.raises(ValueError):
            await client.send_order(body, cloid_for("exec-1", "short", 1))
    assert first.state is OrderState.FILLED and again.state is OrderState.FILLED
    assert again.oid == first.oid == 77
    assert venue.exchange_bodies == [body.encode(), body.encode()]
