"""Hyperliquid's limits and the answers about them, over real HTTP, against the venue's 1,200 weight.

REST weight per IP (1,200 a minute; 2, 20 or 60 per /info request, plus 1 per 20 or 60 items
answered; 1 + floor(batch/40) per /exchange request; HTTP 429 `null` past it), the request allowance
per address (userRateLimit), the nonce rule, and the /info answers the bot relies on that the
devnet did not have (userFees, candleSnapshot, historicalOrders, portfolio).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import eth_account
import httpx
import pytest
from hyperliquid.exchange import Exchange
from hyperliquid.utils import signing

from tests.support.devnet import VENUE_HYPERLIQUID_WEIGHT, DevnetProcess, start_devnet

pytestmark = pytest.mark.devnet

DAY_MS = 24 * 3600 * 1000


@pytest.fixture
def venue_limit() -> Iterator[DevnetProcess]:
    """A devnet with the venue's own limit, for one test: every test gets a fresh minute."""
    process = start_devnet(only=["hyperliquid"], speed=1.0, hyperliquid_weight=VENUE_HYPERLIQUID_WEIGHT)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def dn() -> Iterator[DevnetProcess]:
    process = start_devnet(only=["hyperliquid"], speed=1.0)
    yield process
    process.stop()


def info(dn: DevnetProcess, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(dn.url("hyperliquid") + "/info", json=body, timeout=10)


def test_rest_weight_per_ip_is_the_venues(venue_limit: DevnetProcess) -> None:
    dn = venue_limit
    dn.advance(hours=3)  # 180 one-minute candles to answer
    candles = info(dn, {"type": "candleSnapshot", "req": {"coin": "SOL", "interval": "1m", "startTime": 0}})
    assert candles.status_code == 200 and len(candles.json()) >= 180
    items = len(candles.json())
    spent = 20 + items // 60  # 20, plus 1 per 60 candles answered
    for _ in range(57):  # "all other documented info requests": 20 each
        assert info(dn, {"type": "meta"}).status_code == 200
    spent += 57 * 20
    assert 1200 - 60 < spent <= 1200 - 20
    # userRole weighs 60: refused, and a refused request costs nothing.
    r = info(dn, {"type": "userRole", "user": "0x" + "11" * 20})
    assert r.status_code == 429 and r.content == b"null"
    # allMids weighs 2: exactly what is left fits, one more does not.
    while spent + 2 <= 1200:
        assert info(dn, {"type": "allMids"}).status_code == 200
        spent += 2
    refused = info(dn, {"type": "allMids"})
    assert refused.status_code == 429
    assert refused.content == b"null" and refused.headers["content-type"].startswith("application/json")
    # /exchange shares the budget (1 for an action without a batch), and is refused before it is read.
    exchange = dn.url("hyperliquid") + "/exchange"
    first = httpx.post(exchange, json={"action": {"type": "noop"}}, timeout=10)
    assert first.status_code == (422 if spent == 1199 else 429)  # an unsigned body, when admitted
    assert httpx.post(exchange, json={"action": {"type": "noop"}}, timeout=10).status_code == 429


def test_a_batched_action_weighs_one_more_per_40(devnet_factory: Any) -> None:
    # A budget of 3: a batch of 80 orders weighs 1 + 80 // 40 = 3, then nothing is left.
    dn = devnet_factory(only=["hyperliquid"], speed=1.0, hyperliquid_weight=3)
    url = dn.url("hyperliquid") + "/exchange"
    order = {"a": 5, "b": True, "p": "100", "s": "1", "r": False, "t": {"limit": {"tif": "Gtc"}}}
    batch = {"action": {"type": "order", "orders": [order] * 120, "grouping": "na"}, "nonce": 1}
    assert httpx.post(url, json=batch, timeout=10).status_code == 429  # 1 + 120 // 40 = 4 > 3
    batch["action"]["orders"] = [order] * 80
    assert httpx.post(url, json=batch, timeout=10).status_code != 429  # 3: admitted (then refused)
    assert httpx.post(url, json={"action": {"type": "noop"}}, timeout=10).status_code == 429


class Wallet:
    def __init__(self, dn: DevnetProcess, usdc: str = "1000") -> None:
        self.dn = dn
        self.wallet = eth_account.Account.create()
        self.address = self.wallet.address.lower()
        dn.faucet("hyperliquid", "USDC", self.address, usdc)
        self.exchange = Exchange(self.wallet, dn.url("hyperliquid"))

    def info(self, kind: str, **fields: Any) -> Any:
        r = info(self.dn, {"type": kind, "user": self.address, **fields})
        assert r.status_code == 200, r.text
        return r.json()


def test_user_rate_limit_counts_actions_against_volume(dn: DevnetProcess) -> None:
    w = Wallet(dn)
    before = w.info("userRateLimit")
    assert before == {"cumVlm": "0.0", "nRequestsUsed": 0, "nRequestsCap": 10000, "nRequestsSurplus": 0}
    assert w.exchange.market_open("SOL", False, 1.0)["status"] == "ok"
    w.exchange.update_leverage(3, "SOL")
    after = w.info("userRateLimit")
    volume = Decimal(after["cumVlm"])
    assert volume > 100  # about 150 USDC of SOL sold
    assert after["nRequestsUsed"] == 2
    assert after["nRequestsCap"] == 10000 + int(volume)


def test_user_fees_report_the_rates_fills_pay(dn: DevnetProcess) -> None:
    w = Wallet(dn)
    fees = w.info("userFees")
    assert (fees["userCrossRate"], fees["userAddRate"]) == ("0.00045", "0.00015")
    assert fees["feeSchedule"]["cross"] == "0.00045" and len(fees["dailyUserVlm"]) == 15
    # A discounted account (as a tier, staking or a referral makes it): userFees and fills agree.
    r = dn.admin(
        "POST", "/hyperliquid/fees", json={"address": w.address, "taker": "0.0003", "maker": "0.0001"}
    )
    assert r.status_code == 200, r.text
    assert w.info("userFees")["userCrossRate"] == "0.0003"
    w.exchange.market_open("SOL", False, 1.0)
    fills = w.info("userFills")
    notional = sum(Decimal(f["px"]) * Decimal(f["sz"]) for f in fills)
    for f in fills:
        assert abs(Decimal(f["fee"]) - Decimal(f["px"]) * Decimal(f["sz"]) * Decimal("0.0003")) <= Decimal(
            "1e-6"
        )
    today = w.info("userFees")["dailyUserVlm"][-1]
    assert Decimal(today["userCross"]) == notional.quantize(Decimal("1e-6"))
    bad = dn.admin("POST", "/hyperliquid/fees", json={"address": w.address, "taker": "0.5", "maker": "0"})
    assert bad.status_code == 422


def test_history_answers(dn: DevnetProcess) -> None:
    w = Wallet(dn)
    w.exchange.order("SOL", True, 1.0, 50.0, {"limit": {"tif": "Gtc"}})
    w.exchange.market_open("SOL", False, 1.0)
    orders = w.info("historicalOrders")
    assert [o["status"] for o in orders] == ["filled", "open"]  # newest first
    assert orders[1]["order"]["limitPx"] == "50.0" and orders[1]["order"]["orderType"] == "Limit"
    dn.advance(hours=2)
    periods = w.info("portfolio")
    assert [p[0] for p in periods] == [
        "day",
        "week",
        "month",
        "allTime",
        "perpDay",
        "perpWeek",
        "perpMonth",
        "perpAllTime",
    ]
    day = periods[0][1]
    assert len(day["accountValueHistory"]) >= 3  # two hourly samples and now
    assert Decimal(day["accountValueHistory"][-1][1]) > 900 and Decimal(day["vlm"]) > 100
    candles = info(
        dn, {"type": "candleSnapshot", "req": {"coin": "SOL", "interval": "1h", "startTime": 0}}
    ).json()
    assert candles and all(
        c["s"] == "SOL" and c["i"] == "1h" and c["T"] == c["t"] + 3_599_999 for c in candles
    )
    assert all(Decimal(c["l"]) <= Decimal(c["o"]) <= Decimal(c["h"]) for c in candles)
    assert sum(c["n"] for c in candles) >= 1  # the trade above


def noop(w: Wallet, nonce: int) -> dict[str, Any]:
    action = {"type": "noop"}
    signature = signing.sign_l1_action(w.wallet, action, None, nonce, None, False)
    body = {"action": action, "nonce": nonce, "signature": signature, "vaultAddress": None}
    r = httpx.post(w.dn.url("hyperliquid") + "/exchange", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_nonces_follow_the_venues_rule(dn: DevnetProcess) -> None:
    w = Wallet(dn)
    now = int(time.time() * 1000)
    # Within (T − 2 days, T + 1 day) of the venue's clock, never reused.
    assert noop(w, now - 2 * DAY_MS + 60_000) == {"status": "ok", "response": {"type": "default"}}
    low = noop(w, now - 2 * DAY_MS - 60_000)
    assert low["status"] == "err" and low["response"].startswith(
        f"Invalid nonce: nonce too low {now - 2 * DAY_MS - 60_000} < "
    )
    high = noop(w, now + DAY_MS + 60_000)
    assert high["status"] == "err" and high["response"].startswith("Invalid nonce: nonce too high")
    # The 100 highest are kept: once 100 are, a nonce must be above the smallest of them.
    base = now - 10_000
    for i in range(1, 101):
        assert noop(w, base + i)["status"] == "ok"
    assert noop(w, base + 1) == {"status": "err", "response": f"Invalid nonce: duplicate nonce {base + 1}"}
    assert noop(w, base) == {"status": "err", "response": f"Invalid nonce: nonce too low {base} < {base + 1}"}
    assert noop(w, base + 101)["status"] == "ok"  # now base + 1 is forgotten, and below the smallest
    assert noop(w, base + 1)["response"] == f"Invalid nonce: nonce too low {base + 1} < {base + 2}"
