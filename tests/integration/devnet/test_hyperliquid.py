"""The Hyperliquid emulator over real HTTP, driven by the official hyperliquid-python-sdk, unpatched.

A devnet process runs only the Hyperliquid service (`--only hyperliquid`) at real-time speed;
tests move simulated time through the admin API. Every test trades with fresh wallets funded by
the admin faucet. Tests that change the market or inject faults start devnets of their own.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import eth_account
import httpx
import pytest
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils import signing
from hyperliquid.utils.error import ServerError
from hyperliquid.utils.types import Cloid

from shared.assets import Asset, Chain, token
from tests.support.devnet import DevnetProcess, start_devnet

pytestmark = pytest.mark.devnet

D = Decimal
SOL = 5
UNREADABLE = "Failed to deserialize the JSON body into the target type"


@pytest.fixture(scope="module")
def dn() -> Iterator[DevnetProcess]:
    process = start_devnet(only=["hyperliquid"], speed=1.0)
    yield process
    process.stop()


class Trader:
    """A funded wallet with the SDK's clients pointed at the devnet."""

    def __init__(self, dn: DevnetProcess, usdc: str | None = "1000") -> None:
        self.dn = dn
        self.url = dn.url("hyperliquid")
        self.wallet: LocalAccount = eth_account.Account.create()
        self.address = self.wallet.address
        if usdc is not None:
            dn.faucet("hyperliquid", "USDC", self.address, usdc)
        self.info = Info(self.url, skip_ws=True)
        self.exchange = Exchange(self.wallet, self.url)

    def state(self) -> dict[str, Any]:
        return self.info.user_state(self.address)

    def position(self) -> dict[str, Any] | None:
        positions = self.state()["assetPositions"]
        return positions[0]["position"] if positions else None

    def post_exchange(self, body: dict[str, Any]) -> dict[str, Any]:
        r = httpx.post(self.url + "/exchange", json=body, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()


def first_status(answer: dict[str, Any]) -> Any:
    assert answer["status"] == "ok", answer
    return answer["response"]["data"]["statuses"][0]


def book(info: Info) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    levels = info.l2_snapshot("SOL")["levels"]
    return levels[0], levels[1]


def signed_order(wallet: LocalAccount, px: str, sz: str, nonce: int) -> dict[str, Any]:
    action = {
        "type": "order",
        "orders": [{"a": SOL, "b": True, "p": px, "s": sz, "r": False, "t": {"limit": {"tif": "Gtc"}}}],
        "grouping": "na",
    }
    signature = signing.sign_l1_action(wallet, action, None, nonce, None, False)
    return {
        "action": action,
        "nonce": nonce,
        "signature": signature,
        "vaultAddress": None,
        "expiresAfter": None,
    }


# ---------------------------------------------------------------------- market data
def test_markets_read_like_the_venue(dn: DevnetProcess) -> None:
    info = Info(dn.url("hyperliquid"), skip_ws=True)  # calls spotMeta and meta at construction
    assert info.name_to_asset("SOL") == SOL and info.asset_to_sz_decimals[SOL] == 2
    meta = info.meta()
    names = [a["name"] for a in meta["universe"]]
    assert names[:6] == ["BTC", "ETH", "ATOM", "MATIC", "DYDX", "SOL"]
    assert meta["universe"][3].get("isDelisted") is True
    assert meta["universe"][SOL]["maxLeverage"] == 20

    universe, ctxs = info.meta_and_asset_ctxs()
    assert len(ctxs) == len(universe["universe"])
    sol = ctxs[SOL]
    for key in (
        "funding",
        "openInterest",
        "prevDayPx",
        "dayNtlVlm",
        "premium",
        "oraclePx",
        "markPx",
        "midPx",
        "impactPxs",
        "dayBaseVlm",
    ):
        assert isinstance(sol[key], (str, list)), key
    assert abs(D(sol["markPx"]) / D(sol["oraclePx"]) - 1) < D("0.01")

    bids, asks = book(info)
    assert len(bids) == len(asks) == 20
    assert [D(b["px"]) for b in bids] == sorted((D(b["px"]) for b in bids), reverse=True)
    assert [D(a["px"]) for a in asks] == sorted(D(a["px"]) for a in asks)
    mid = D(info.all_mids()["SOL"])
    assert D(bids[0]["px"]) < mid < D(asks[0]["px"])
    assert "MATIC" not in info.all_mids()

    now = int(time.time() * 1000)
    history = info.funding_history("SOL", now - 10 * 24 * 3600 * 1000)
    assert 0 < len(history) <= 500
    times = [h["time"] for h in history]
    assert times == sorted(times)
    assert all(3_590_000 < b - a < 3_610_000 for a, b in itertools.pairwise(times))
    later = info.funding_history("SOL", times[-1])
    assert later[0]["time"] == times[-1]

    predicted = dict(info.post("/info", {"type": "predictedFundings"}))
    venues = dict(predicted["SOL"])
    assert venues["HlPerp"]["fundingIntervalHours"] == 1
    assert venues["BinPerp"]["fundingIntervalHours"] == venues["BybitPerp"]["fundingIntervalHours"] == 8
    assert venues["HlPerp"]["nextFundingTime"] % 3_600_000 == 0


def test_unreadable_bodies_get_the_venues_422(dn: DevnetProcess) -> None:
    url = dn.url("hyperliquid")
    for path, body in (
        ("/info", {"type": "nope"}),
        ("/info", {"type": "clearinghouseState"}),
        ("/exchange", {"action": {"type": "order"}}),
    ):
        r = httpx.post(url + path, json=body, timeout=10)
        assert (r.status_code, r.text) == (422, UNREADABLE)


# ---------------------------------------------------------------------- orders
def test_gtc_rests_shows_in_the_book_and_cancels(dn: DevnetProcess) -> None:
    t = Trader(dn)
    bids, _ = book(t.info)
    px = float(D(bids[0]["px"]) - D("0.05"))
    placed = first_status(t.exchange.order("SOL", True, 1.5, px, {"limit": {"tif": "Gtc"}}))
    assert "resting" in placed, (px, placed)  # seen once as something else: say what, if again
    oid = placed["resting"]["oid"]
    (open_order,) = t.info.open_orders(t.address)
    assert open_order["oid"] == oid and open_order["side"] == "B" and open_order["sz"] == "1.5"
    level = next(b for b in book(t.info)[0] if D(b["px"]) == D(str(px)))
    assert D(level["sz"]) >= D("1.5")
    assert first_status(t.exchange.cancel("SOL", oid)) == "success"
    assert t.info.open_orders(t.address) == []
    again = first_status(t.exchange.cancel("SOL", oid))
    assert again == {"error": "Order was never placed, already canceled, or filled. asset=5"}

    cloid = Cloid.from_int(424242)
    placed = first_status(t.exchange.order("SOL", True, 1.0, px, {"limit": {"tif": "Gtc"}}, cloid=cloid))
    assert placed["resting"]["cloid"] == cloid.to_raw()
    assert t.info.query_order_by_cloid(t.address, cloid)["order"]["status"] == "open"
    assert first_status(t.exchange.cancel_by_cloid("SOL", cloid)) == "success"
    status = t.info.query_order_by_cloid(t.address, cloid)
    assert status["order"]["status"] == "canceled" and status["order"]["order"]["cloid"] == cloid.to_raw()


def test_market_orders_fill_and_show_in_fills_and_positions(dn: DevnetProcess) -> None:
    t = Trader(dn)
    opened = first_status(t.exchange.market_open("SOL", False, 2.0))["filled"]
    assert opened["totalSz"] == "2.0"
    mid = D(t.info.all_mids()["SOL"])
    assert abs(D(opened["avgPx"]) / mid - 1) < D("0.002")

    fill = t.info.user_fills(t.address)[0]
    assert (fill["coin"], fill["side"], fill["dir"], fill["crossed"]) == ("SOL", "A", "Open Short", True)
    assert fill["oid"] == opened["oid"] and fill["feeToken"] == "USDC" and fill["startPosition"] == "0.0"
    assert D(fill["fee"]) == (D(fill["px"]) * D(fill["sz"]) * D("0.00045")).quantize(D("0.000001"))
    assert isinstance(fill["tid"], int) and len(fill["hash"]) == 66

    pos = t.position()
    assert pos is not None and pos["szi"] == "-2.0" and pos["leverage"] == {"type": "cross", "value": 20}
    mark = D(pos["positionValue"]) / 2
    assert D(pos["unrealizedPnl"]) == (-2 * (mark - D(pos["entryPx"]))).quantize(D("0.000001"))
    state = t.state()
    assert D(state["crossMaintenanceMarginUsed"]) == (D(pos["positionValue"]) / 40).quantize(D("0.000001"))
    assert D(state["marginSummary"]["accountValue"]) < D(1000)  # the fee was paid
    assert isinstance(state["time"], int)

    closed = first_status(t.exchange.market_close("SOL"))["filled"]
    assert closed["totalSz"] == "2.0"
    assert t.position() is None
    last = t.info.user_fills(t.address)[0]
    assert last["dir"] == "Close Short" and last["startPosition"] == "-2.0" and "closedPnl" in last


# ---------------------------------------------------------------------- refusals
def test_refusals_carry_the_venues_messages(dn: DevnetProcess) -> None:
    t = Trader(dn)
    bids, asks = book(t.info)
    bid = D(bids[0]["px"])
    order = t.exchange.order
    gtc = {"limit": {"tif": "Gtc"}}
    assert first_status(order("SOL", True, 1.0, float(bid) + 0.001, gtc)) == {
        "error": "Price must be divisible by tick size. asset=5"
    }
    assert first_status(order("SOL", True, 1.234, float(bid), gtc)) == {"error": "Order has invalid size."}
    assert first_status(order("SOL", True, 0.05, float(bid), gtc)) == {
        "error": "Order must have minimum value of $10. asset=5"
    }
    assert first_status(order("SOL", True, 1000.0, float(bid), gtc)) == {
        "error": "Insufficient margin to place order. asset=5"
    }
    assert first_status(
        order("SOL", False, 1.0, float(bid), {"limit": {"tif": "Ioc"}}, reduce_only=True)
    ) == {"error": "Reduce only order would increase position. asset=5"}
    far = float((bid * D("0.9")).quantize(D("0.01")))
    assert first_status(order("SOL", True, 1.0, far, {"limit": {"tif": "Ioc"}})) == {
        "error": "Order could not immediately match against any resting orders. asset=5"
    }
    alo = first_status(order("SOL", True, 1.0, float(asks[0]["px"]), {"limit": {"tif": "Alo"}}))
    assert alo["error"].startswith("Post only order would have immediately matched, bbo was ")
    assert t.exchange.update_leverage(21, "SOL") == {"status": "err", "response": "Invalid leverage value"}


def test_tampered_signature_and_reused_nonce(dn: DevnetProcess) -> None:
    t = Trader(dn)
    nonce = int(time.time() * 1000)
    body = signed_order(t.wallet, "100", "1", nonce)
    tampered = {**body, "action": signed_order(t.wallet, "100", "2", nonce)["action"]}
    answer = t.post_exchange(tampered)
    assert answer["status"] == "err"
    assert answer["response"].startswith("User or API Wallet 0x") and answer["response"].endswith(
        " does not exist."
    )
    assert t.address.lower() not in answer["response"]

    assert "resting" in first_status(t.post_exchange(body))
    assert t.post_exchange(body) == {"status": "err", "response": f"Invalid nonce: duplicate nonce {nonce}"}
    other = signed_order(t.wallet, "101", "1", nonce)
    assert t.post_exchange(other) == {"status": "err", "response": f"Invalid nonce: duplicate nonce {nonce}"}
    assert len(t.info.open_orders(t.address)) == 1

    unfunded = Trader(dn, usdc=None)
    answer = unfunded.exchange.market_open("SOL", True, 1.0)
    assert answer == {
        "status": "err",
        "response": f"User or API Wallet {unfunded.address.lower()} does not exist.",
    }


# ---------------------------------------------------------------------- margin modes and transfers
def test_isolated_vs_cross_margin_and_leverage(dn: DevnetProcess) -> None:
    cross, isolated = Trader(dn), Trader(dn)
    assert cross.exchange.update_leverage(4, "SOL") == {"status": "ok", "response": {"type": "default"}}
    assert isolated.exchange.update_leverage(4, "SOL", is_cross=False)["status"] == "ok"
    for t in (cross, isolated):
        first_status(t.exchange.market_open("SOL", True, 3.0))
    c, i = cross.position(), isolated.position()
    assert c is not None and i is not None
    assert c["leverage"] == {"type": "cross", "value": 4}
    assert i["leverage"]["type"] == "isolated" and i["leverage"]["value"] == 4
    margin = (D(i["entryPx"]) * 3 / 4).quantize(D("0.000001"))
    assert D(i["leverage"]["rawUsd"]) == margin - 3 * D(i["entryPx"])
    assert D(i["marginUsed"]) == margin + D(i["unrealizedPnl"])
    assert D(c["marginUsed"]) == (D(c["positionValue"]) / 4).quantize(D("0.000001"))
    # The isolated margin left the cross account; the cross position's margin did not.
    assert D(isolated.state()["crossMarginSummary"]["accountValue"]) < D(1000) - margin + 1
    assert D(cross.state()["crossMarginSummary"]["accountValue"]) > D(990)
    assert isolated.exchange.update_leverage(4, "SOL", is_cross=True) == {
        "status": "err",
        "response": "Cannot switch leverage type with open position.",
    }
    assert isolated.exchange.update_isolated_margin(10, "SOL")["status"] == "ok"
    assert D(isolated.position()["marginUsed"]) > D(i["marginUsed"]) + 9  # type: ignore[index]


def test_reduce_only_closes_no_more_than_the_position(dn: DevnetProcess) -> None:
    t = Trader(dn)
    first_status(t.exchange.market_open("SOL", True, 1.0))
    bid = D(book(t.info)[0][0]["px"])
    px = float((bid * D("0.99")).quantize(D("0.01")))
    answer = t.exchange.order("SOL", False, 3.0, px, {"limit": {"tif": "Ioc"}}, reduce_only=True)
    assert first_status(answer)["filled"]["totalSz"] == "1.0"
    assert t.position() is None


def test_usd_class_transfer_and_withdraw(dn: DevnetProcess) -> None:
    t = Trader(dn, "100")
    assert t.exchange.usd_class_transfer(40.0, to_perp=False) == {
        "status": "ok",
        "response": {"type": "default"},
    }
    spot = t.info.spot_user_state(t.address)
    assert spot["balances"][0]["coin"] == "USDC" and D(spot["balances"][0]["total"]) == 40
    assert D(t.state()["withdrawable"]) == 60
    assert t.exchange.usd_class_transfer(15.0, to_perp=True)["status"] == "ok"
    assert D(t.state()["withdrawable"]) == 75
    assert t.exchange.usd_class_transfer(500.0, to_perp=False) == {
        "status": "err",
        "response": "Insufficient balance for withdrawal.",
    }
    destination = eth_account.Account.create().address
    assert t.exchange.withdraw_from_bridge(20.0, destination)["status"] == "ok"
    assert D(t.state()["withdrawable"]) == 55


def test_an_approved_agent_trades_for_its_master(dn: DevnetProcess) -> None:
    master = Trader(dn)
    answer, agent_key = master.exchange.approve_agent("bot")
    assert answer == {"status": "ok", "response": {"type": "default"}}
    agent = eth_account.Account.from_key(agent_key)
    extra = master.info.post("/info", {"type": "extraAgents", "user": master.address})
    assert extra[0]["name"] == "bot" and extra[0]["address"] == agent.address.lower()
    as_agent = Exchange(agent, master.url, account_address=master.address)
    first_status(as_agent.market_open("SOL", False, 1.0))
    pos = master.position()
    assert pos is not None and pos["szi"] == "-1.0"
    # Agents sign trading actions only: money movements are attributed to the agent's own address.
    refused = as_agent.withdraw_from_bridge(5.0, master.address)
    assert refused == {
        "status": "err",
        "response": f"Must deposit before performing actions. User: {agent.address.lower()}",
    }


def test_user_signed_action_for_the_other_network_is_refused(dn: DevnetProcess) -> None:
    t = Trader(dn, "100")
    nonce = int(time.time() * 1000)
    action = {"type": "usdClassTransfer", "amount": "10", "toPerp": False, "nonce": nonce}
    signature = signing.sign_usd_class_transfer_action(t.wallet, action, True)  # signed for Mainnet
    answer = t.post_exchange(
        {"action": action, "nonce": nonce, "signature": signature, "vaultAddress": None, "expiresAfter": None}
    )
    assert answer["status"] == "err" and answer["response"].startswith(
        "Must deposit before performing actions."
    )
    assert D(t.state()["withdrawable"]) == 100


# ---------------------------------------------------------------------- funding
def test_hourly_funding_payment_equals_the_formula(dn: DevnetProcess) -> None:
    t = Trader(dn)
    first_status(t.exchange.market_open("SOL", False, 4.0))
    sim_ms = dn.state()["clock"]["sim_ms"]
    to_next_hour = 3_600_000 - sim_ms % 3_600_000
    dn.advance(seconds=to_next_hour / 1000 + 1)
    # Steps are one simulated minute apart: the oracle price now shown is the settlement's.
    oracle = D(t.info.meta_and_asset_ctxs()[1][SOL]["oraclePx"])
    records = t.info.user_funding_history(t.address, sim_ms)
    assert len(records) == 1
    record = records[0]
    delta = record["delta"]
    assert delta["type"] == "funding" and delta["coin"] == "SOL" and delta["szi"] == "-4.0"
    rate = D(delta["fundingRate"])
    usdc = D(delta["usdc"])
    assert usdc == (-D(delta["szi"]) * oracle * rate).quantize(D("0.000001"))
    assert (usdc > 0) == (rate > 0)  # a short receives when the rate is positive
    assert record["time"] // 3_600_000 * 3_600_000 == sim_ms + to_next_hour
    history = t.info.funding_history("SOL", record["time"])
    assert D(history[0]["fundingRate"]) == rate
    cum = t.position()["cumFunding"]  # type: ignore[index]
    assert D(cum["sinceOpen"]) == -usdc
    settled = dn.state()["hyperliquid"]["last_funding"]
    assert D(settled["oracle_px"]["SOL"]) == oracle and D(settled["rates"]["SOL"]) == rate


# ---------------------------------------------------------------------- scenarios and faults
def test_flash_crash_liquidates_an_over_levered_long(devnet_factory: Any) -> None:
    dn = devnet_factory(only=["hyperliquid"], speed=1.0)
    levered, modest = Trader(dn), Trader(dn)
    first_status(levered.exchange.market_open("SOL", True, 100.0))  # about 15x on 1000 USDC
    first_status(modest.exchange.market_open("SOL", True, 4.0))  # under 1x
    assert levered.position()["liquidationPx"] is not None  # type: ignore[index]
    dn.scenario("flash_crash", drop=0.3)
    dn.advance(seconds=20 * 60)
    assert levered.position() is None
    liquidation = levered.info.user_fills(levered.address)[0]
    assert liquidation["liquidation"]["liquidatedUser"] == levered.address.lower()
    assert liquidation["dir"] == "Close Long" and D(liquidation["closedPnl"]) < 0
    assert D(levered.state()["marginSummary"]["accountValue"]) < 900
    survivor = modest.position()
    assert survivor is not None and survivor["szi"] == "4.0"
    assert D(survivor["unrealizedPnl"]) < 0


def test_dropped_answer_leaves_an_order_to_find_by_cloid(devnet_factory: Any) -> None:
    dn = devnet_factory(only=["hyperliquid"], speed=1.0)
    t = Trader(dn)
    cloid = Cloid.from_int(99)
    px = float(D(book(t.info)[0][0]["px"]) - D("0.1"))
    dn.faults("hyperliquid", drop_rate=1.0)
    with pytest.raises(ServerError) as lost:
        t.exchange.order("SOL", True, 1.0, px, {"limit": {"tif": "Gtc"}}, cloid=cloid)
    assert lost.value.status_code == 504
    dn.faults("hyperliquid", clear=True)
    found = t.info.query_order_by_cloid(t.address, cloid)
    assert found["status"] == "order" and found["order"]["status"] == "open"
    assert found["order"]["order"]["cloid"] == cloid.to_raw()
    assert [o["cloid"] for o in t.info.open_orders(t.address)] == [cloid.to_raw()]


def test_partial_fill_fault_fills_part_of_an_ioc_and_cancels_the_rest(devnet_factory: Any) -> None:
    dn = devnet_factory(only=["hyperliquid"], speed=1.0)
    t = Trader(dn)
    dn.faults("hyperliquid", ioc_fill_fraction=0.4)
    cloid = Cloid.from_int(4040)
    mid = D(t.info.all_mids()["SOL"])
    px = float((mid * D("0.99")).quantize(D("0.01")))
    answer = first_status(t.exchange.order("SOL", False, 1.0, px, {"limit": {"tif": "Ioc"}}, cloid=cloid))
    # The venue's answer for a partial IOC: filled, with totalSz below the size sent.
    assert answer["filled"]["totalSz"] == "0.4", answer
    assert t.info.query_order_by_cloid(t.address, cloid)["order"]["status"] == "canceled"
    assert D(t.position()["szi"]) == D("-0.4")
    assert sum(D(f["sz"]) for f in t.info.user_fills(t.address) if f.get("cloid") == cloid.to_raw()) == D(
        "0.4"
    )
    # Exits are not thinned: a reduce-only IOC fills in full.
    closed = first_status(t.exchange.market_close("SOL"))
    assert closed["filled"]["totalSz"] == "0.4"
    # A share that rounds to nothing is "could not immediately match".
    dn.faults("hyperliquid", ioc_fill_fraction=0.0)
    refused = first_status(t.exchange.order("SOL", False, 1.0, px, {"limit": {"tif": "Ioc"}}))
    assert "could not immediately match" in refused["error"], refused
    assert t.position() is None


def test_withdrawal_arrives_on_arbitrum_less_the_fee(devnet_factory: Any) -> None:
    dn = devnet_factory(only=["hyperliquid", "arbitrum"], speed=1.0)
    t = Trader(dn, "100")
    destination = eth_account.Account.create().address
    answer = t.exchange.withdraw_from_bridge(20.0, destination)
    assert answer == {"status": "ok", "response": {"type": "default"}}
    usdc = token(Asset.USDC, Chain.ARBITRUM).address
    call = {"to": usdc, "data": "0x70a08231" + encode(["address"], [destination]).hex()}
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call, "latest"]}
    balance = int(httpx.post(dn.url("arbitrum"), json=body, timeout=10).json()["result"], 16)
    assert balance == 19_000_000  # 20 USDC less the 1 USDC fee, in 6-decimal units
    assert D(t.state()["withdrawable"]) == 80


def test_reject_orders_fault_refuses_new_risk_but_not_exits(devnet_factory: Any) -> None:
    dn = devnet_factory(only=["hyperliquid"], speed=1.0)
    t = Trader(dn)
    assert first_status(t.exchange.market_open("SOL", False, 1.0))["filled"]
    dn.faults("hyperliquid", reject_orders=True)
    refused = first_status(t.exchange.market_open("SOL", False, 1.0))
    assert refused == {"error": "Insufficient margin to place order. asset=5"}
    closed = first_status(t.exchange.market_close("SOL"))
    assert closed["filled"]["totalSz"] == "1.0"
    assert t.position() is None
