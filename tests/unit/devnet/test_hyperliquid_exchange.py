"""The Hyperliquid emulator in process: signed actions through /exchange's handler, read back via /info.

Payloads are signed with the official SDK's signing functions; the clock is a simulated clock
whose wall-clock part stands still, so simulated time moves only when a test advances it.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import eth_account
import pytest
from eth_account.signers.local import LocalAccount
from hyperliquid.utils import signing

from devnet.clock import SimClock
from devnet.config import DevnetConfig
from devnet.faults import FaultBook
from devnet.hyperliquid import HyperliquidExchange, actions, errors, rules
from devnet.hyperliquid.info import InfoService
from devnet.market import HOUR_MS, MarketSimulator

SOL = 5
D = Decimal


class Venue:
    def __init__(self, *, seed: int = 7, mainnet: bool = False) -> None:
        self.real = time.time()
        self.clock = SimClock(1.0, real=lambda: self.real)
        self.market = MarketSimulator(seed, self.clock)
        self.faults = FaultBook(seed, self.clock)
        config = DevnetConfig(seed=seed, speed=1.0, hyperliquid_mainnet=mainnet)
        self.ex = HyperliquidExchange(config, self.clock, self.market, self.faults)
        self.info_service = InfoService(self.ex)
        self._nonce = int(self.real * 1000)

    def nonce(self) -> int:
        self._nonce += 1
        return self._nonce

    def wallet(self, usdc: str | None = "1000") -> LocalAccount:
        wallet = eth_account.Account.create()
        if usdc is not None:
            self.ex.credit_usdc(wallet.address, D(usdc), reason="test")
        return wallet

    def send(self, body: dict[str, Any]) -> dict[str, Any]:
        return actions.handle(self.ex, json.dumps(body).encode())

    def l1(
        self,
        wallet: LocalAccount,
        action: dict[str, Any],
        *,
        nonce: int | None = None,
        mainnet: bool = False,
        vault: str | None = None,
        expires: int | None = None,
        sent: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        nonce = nonce or self.nonce()
        signature = signing.sign_l1_action(wallet, action, vault, nonce, expires, mainnet)
        body = {
            "action": sent or action,
            "nonce": nonce,
            "signature": signature,
            "vaultAddress": vault,
            "expiresAfter": expires,
        }
        return self.send(body)

    def user_signed(
        self,
        wallet: LocalAccount,
        action: dict[str, Any],
        sign: Any,
        *,
        mainnet: bool = False,
        nonce: int | None = None,
    ) -> dict[str, Any]:
        signature = sign(wallet, action, mainnet)
        stamp = action.get("nonce", action.get("time"))
        body = {
            "action": action,
            "nonce": nonce or stamp,
            "signature": signature,
            "vaultAddress": None,
            "expiresAfter": None,
        }
        return self.send(body)

    def info(self, body: dict[str, Any]) -> Any:
        return json.loads(self.info_service.handle(json.dumps(body).encode()))

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.market.advance()

    def state(self, wallet: LocalAccount) -> dict[str, Any]:
        return self.info({"type": "clearinghouseState", "user": wallet.address})

    def position(self, wallet: LocalAccount) -> dict[str, Any] | None:
        positions = self.state(wallet)["assetPositions"]
        return positions[0]["position"] if positions else None

    def best(self, bids: bool) -> Decimal:
        book = self.info({"type": "l2Book", "coin": "SOL"})
        return D(book["levels"][0 if bids else 1][0]["px"])


def order(
    is_buy: bool,
    px: str,
    sz: str,
    tif: str = "Gtc",
    *,
    reduce_only: bool = False,
    cloid: str | None = None,
    asset: int = SOL,
) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "a": asset,
        "b": is_buy,
        "p": px,
        "s": sz,
        "r": reduce_only,
        "t": {"limit": {"tif": tif}},
    }
    if cloid is not None:
        wire["c"] = cloid
    return {"type": "order", "orders": [wire], "grouping": "na"}


def grid(px: Decimal) -> str:
    """A SOL price on the venue's grid (5 significant figures, at most 4 decimals)."""
    return str(rules.round_price(px, 2, up=False))


def status(answer: dict[str, Any]) -> Any:
    assert answer["status"] == "ok", answer
    return answer["response"]["data"]["statuses"][0]


def filled(answer: dict[str, Any]) -> dict[str, Any]:
    outcome = status(answer)
    assert "filled" in outcome, outcome
    return outcome["filled"]


def resting(answer: dict[str, Any]) -> int:
    outcome = status(answer)
    assert "resting" in outcome, outcome
    return int(outcome["resting"]["oid"])


def cloid(n: int) -> str:
    return f"{n:#034x}"


@pytest.fixture
def venue() -> Venue:
    return Venue()


# ---------------------------------------------------------------------- signatures and nonces
def test_unknown_signer_is_named_in_the_refusal(venue: Venue) -> None:
    stranger = venue.wallet(usdc=None)
    answer = venue.l1(stranger, order(True, "100", "1"))
    assert answer == {
        "status": "err",
        "response": f"User or API Wallet {stranger.address.lower()} does not exist.",
    }


def test_a_tampered_action_recovers_another_address(venue: Venue) -> None:
    trader = venue.wallet()
    signed = order(True, "100", "1")
    tampered = order(True, "100", "2")
    answer = venue.l1(trader, signed, sent=tampered)
    assert answer["status"] == "err"
    assert answer["response"].startswith("User or API Wallet 0x")
    assert trader.address.lower() not in answer["response"]


def test_the_venue_hashes_the_canonical_form(venue: Venue) -> None:
    """Trailing zeros and uppercase hex in the sent JSON do not change what was signed."""
    trader = venue.wallet()
    signed = order(True, "100.5", "1", cloid=cloid(9))
    sent = order(True, "100.50", "1.0", cloid=cloid(9).upper().replace("0X", "0x"))
    assert "resting" in status(venue.l1(trader, signed, sent=sent))
    found = venue.info({"type": "orderStatus", "user": trader.address, "oid": cloid(9)})
    assert found["order"]["order"]["limitPx"] == "100.5"


def test_network_of_the_signature_must_match(venue: Venue) -> None:
    trader = venue.wallet()
    answer = venue.l1(trader, order(True, "100", "1"), mainnet=True)
    assert (
        answer["response"].startswith("User or API Wallet")
        and trader.address.lower() not in answer["response"]
    )
    transfer = {"type": "usdClassTransfer", "amount": "10", "toPerp": False, "nonce": venue.nonce()}
    answer = venue.user_signed(trader, transfer, signing.sign_usd_class_transfer_action, mainnet=True)
    assert answer["response"].startswith("Must deposit before performing actions. User: 0x")
    assert trader.address.lower() not in answer["response"]
    # A devnet configured as mainnet takes mainnet signatures.
    mainnet = Venue(mainnet=True)
    other = mainnet.wallet()
    assert "resting" in status(mainnet.l1(other, order(True, "100", "1"), mainnet=True))


def test_nonces_are_single_use_and_fresh(venue: Venue) -> None:
    trader = venue.wallet()
    nonce = venue.nonce()
    assert "resting" in status(venue.l1(trader, order(True, "100", "1"), nonce=nonce))
    again = venue.l1(trader, order(True, "101", "1"), nonce=nonce)
    assert again == {"status": "err", "response": f"Invalid nonce: duplicate nonce {nonce}"}
    stale = nonce - 3 * 24 * 3600 * 1000
    assert venue.l1(trader, order(True, "101", "1"), nonce=stale)["response"].startswith(
        "Invalid nonce: nonce too low"
    )
    ahead = nonce + 2 * 24 * 3600 * 1000
    assert venue.l1(trader, order(True, "101", "1"), nonce=ahead)["response"].startswith(
        "Invalid nonce: nonce too high"
    )
    # Freshness is wall-clock: simulated days passing change nothing.
    venue.advance(3 * 24 * 3600)
    assert "resting" in status(venue.l1(trader, order(True, "100", "1"), nonce=venue.nonce()))


def test_expires_after_and_vaults(venue: Venue) -> None:
    trader = venue.wallet()
    past = int(venue.real * 1000) - 1000
    assert venue.l1(trader, order(True, "100", "1"), expires=past) == {
        "status": "err",
        "response": "Action already expired",
    }
    assert "resting" in status(venue.l1(trader, order(True, "100", "1"), expires=past + 60_000))
    vault = "0x" + "ab" * 20
    assert (
        venue.l1(trader, order(True, "100", "1"), vault=vault)["response"] == f"Vault not registered: {vault}"
    )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"action": {"type": "order"}}',
        b'{"action": {"type": "nope"}, "nonce": 1, "signature": {"r": "0x1", "s": "0x1", "v": 27}}',
        b'{"action": {"type": "order", "orders": [], "grouping": "na"}, "nonce": -1, '
        b'"signature": {"r": "0x1", "s": "0x1", "v": 27}}',
        b'{"action": {"type": "order", "orders": [{"a": 5}], "grouping": "na"}, "nonce": 1, '
        b'"signature": {"r": "0x1", "s": "0x1", "v": 27}}',
        b'{"action": {"type": "cancel", "cancels": [{"a": true, "o": 1}]}, "nonce": 1, '
        b'"signature": {"r": "0x1", "s": "0x1", "v": 27}}',
        b'{"action": {"type": "withdraw3", "amount": 5}, "nonce": 1, '
        b'"signature": {"r": "0x1", "s": "0x1", "v": 27}}',
        b'{"action": {"type": "noop"}, "nonce": 1, "signature": {"r": "zz", "s": "0x1", "v": 27}}',
    ],
)
def test_unreadable_bodies_are_the_venues_422(venue: Venue, body: bytes) -> None:
    with pytest.raises(errors.Undeserializable):
        actions.handle(venue.ex, body)


def test_actions_the_devnet_does_not_emulate_are_refused_in_words(venue: Venue) -> None:
    answer = venue.send(
        {"action": {"type": "twapOrder"}, "nonce": 1, "signature": {"r": "0x1", "s": "0x1", "v": 27}}
    )
    assert answer["status"] == "err" and "twapOrder" in answer["response"]


# ---------------------------------------------------------------------- orders
def test_order_rule_errors_use_the_venues_texts(venue: Venue) -> None:
    trader = venue.wallet()
    cases = [
        (order(True, "150.123", "1"), "Price must be divisible by tick size. asset=5"),
        (order(True, "150", "0.001"), "Order has invalid size."),
        (order(True, "150", "0"), "Order has zero size."),
        (order(True, "abc", "1"), "Order has invalid price."),
        (order(True, "-5", "1"), "Order has invalid price."),
        (order(True, "100", "0.05"), "Order must have minimum value of $10. asset=5"),
        (order(True, "100", "5000"), "Insufficient margin to place order. asset=5"),
        (order(False, "100", "1", reduce_only=True), "Reduce only order would increase position. asset=5"),
        (
            order(True, "1000", "1"),
            "Order price cannot be more than 80% away from the reference price asset=5",
        ),
        (
            order(True, "100", "1", "Ioc"),
            "Order could not immediately match against any resting orders. asset=5",
        ),
        (order(True, "0.5", "100", asset=3), "Trading is halted."),
    ]
    for action, text in cases:
        assert status(venue.l1(trader, action)) == {"error": text}, action
    bid, ask = venue.best(True), venue.best(False)
    alo = status(venue.l1(trader, order(True, str(ask), "1", "Alo")))
    assert alo == {"error": f"Post only order would have immediately matched, bbo was {bid}@{ask}. asset=5"}


def test_a_rejected_order_with_a_cloid_can_be_looked_up(venue: Venue) -> None:
    trader = venue.wallet()
    assert "error" in status(venue.l1(trader, order(True, "100", "1", "Ioc", cloid=cloid(3))))
    found = venue.info({"type": "orderStatus", "user": trader.address, "oid": cloid(3)})
    assert found["status"] == "order" and found["order"]["status"] == "iocCancelRejected"
    assert venue.info({"type": "orderStatus", "user": trader.address, "oid": cloid(4)}) == {
        "status": "unknownOid"
    }


def test_ioc_taker_fill_fields_and_fee(venue: Venue) -> None:
    trader = venue.wallet()
    ask = venue.best(False)
    filled = status(venue.l1(trader, order(True, str(ask), "2", "Ioc", cloid=cloid(1))))["filled"]
    assert filled["totalSz"] == "2.0" and D(filled["avgPx"]) == ask and filled["cloid"] == cloid(1)
    fill = venue.info({"type": "userFills", "user": trader.address})[0]
    assert fill["coin"] == "SOL" and fill["side"] == "B" and fill["dir"] == "Open Long"
    assert fill["crossed"] is True and fill["feeToken"] == "USDC" and fill["cloid"] == cloid(1)
    assert D(fill["fee"]) == (ask * 2 * D("0.00045")).quantize(D("0.000001"))
    assert fill["startPosition"] == "0.0" and fill["oid"] == filled["oid"]
    assert fill["time"] == venue.clock.now_ms() and fill["hash"].startswith("0x") and len(fill["hash"]) == 66
    pos = venue.position(trader)
    assert pos is not None and pos["szi"] == "2.0" and D(pos["entryPx"]) == ask


def test_two_users_trade_with_each_other(venue: Venue) -> None:
    maker, taker = venue.wallet(), venue.wallet()
    price = venue.best(True)  # joining the best bid: users' orders fill first at a price
    assert "resting" in status(venue.l1(maker, order(True, str(price), "3")))
    filled(venue.l1(taker, order(False, str(price), "3", "Ioc")))
    maker_fill = venue.info({"type": "userFills", "user": maker.address})[0]
    taker_fill = venue.info({"type": "userFills", "user": taker.address})[0]
    assert maker_fill["tid"] == taker_fill["tid"] and maker_fill["px"] == taker_fill["px"] == str(price)
    assert maker_fill["crossed"] is False and taker_fill["crossed"] is True
    assert D(maker_fill["fee"]) == (price * 3 * D("0.00015")).quantize(D("0.000001"))
    assert venue.info({"type": "openOrders", "user": maker.address}) == []


def test_resting_order_fills_as_maker_when_the_market_crosses_it(venue: Venue) -> None:
    trader = venue.wallet()
    px = venue.best(True) - D("0.05")
    oid = status(venue.l1(trader, order(True, str(px), "1", cloid=cloid(5))))["resting"]["oid"]
    assert any(D(lv["px"]) == px for lv in venue.info({"type": "l2Book", "coin": "SOL"})["levels"][0])
    venue.market.set_scenario("flash_crash", {"drop": 0.2})
    venue.advance(15 * 60)
    found = venue.info({"type": "orderStatus", "user": trader.address, "oid": oid})
    assert found["order"]["status"] == "filled"
    fill = venue.info({"type": "userFills", "user": trader.address})[0]
    assert D(fill["px"]) == px and fill["crossed"] is False and fill["cloid"] == cloid(5)
    assert D(fill["fee"]) == (px * D("0.00015")).quantize(D("0.000001"))
    assert fill["time"] % 60_000 == 0  # filled at a simulated step


def test_cancel_by_oid_and_by_cloid(venue: Venue) -> None:
    trader = venue.wallet()
    oid = status(venue.l1(trader, order(True, "140", "1")))["resting"]["oid"]
    resting(venue.l1(trader, order(True, "141", "1", cloid=cloid(77))))
    assert len(venue.info({"type": "openOrders", "user": trader.address})) == 2
    wrong_asset = venue.l1(trader, {"type": "cancel", "cancels": [{"a": 0, "o": oid}]})
    assert status(wrong_asset) == {"error": "Order was never placed, already canceled, or filled. asset=0"}
    assert status(venue.l1(trader, {"type": "cancel", "cancels": [{"a": SOL, "o": oid}]})) == "success"
    by_cloid = {"type": "cancelByCloid", "cancels": [{"asset": SOL, "cloid": cloid(77)}]}
    assert status(venue.l1(trader, by_cloid)) == "success"
    assert status(venue.l1(trader, by_cloid)) == {
        "error": "Order was never placed, already canceled, or filled. asset=5"
    }
    assert venue.info({"type": "openOrders", "user": trader.address}) == []
    assert (
        venue.info({"type": "orderStatus", "user": trader.address, "oid": oid})["order"]["status"]
        == "canceled"
    )


def test_reduce_only_is_cut_to_the_position(venue: Venue) -> None:
    trader = venue.wallet()
    filled(venue.l1(trader, order(True, str(venue.best(False)), "1", "Ioc")))
    bid = venue.best(True)
    closed = status(venue.l1(trader, order(False, grid(bid * D("0.99")), "5", "Ioc", reduce_only=True)))
    assert closed["filled"]["totalSz"] == "1.0"
    assert venue.position(trader) is None
    fill = venue.info({"type": "userFills", "user": trader.address})[0]
    assert fill["dir"] == "Close Long" and fill["startPosition"] == "1.0"


def test_resting_orders_hold_margin(venue: Venue) -> None:
    trader = venue.wallet("100")
    # 100 USDC at 20x buys 2000 USDC of notional: a 12-SOL bid at 140 needs 84.
    assert "resting" in status(venue.l1(trader, order(True, "140", "12")))
    assert status(venue.l1(trader, order(True, "140", "12"))) == {
        "error": "Insufficient margin to place order. asset=5"
    }


# ---------------------------------------------------------------------- leverage and margin modes
def test_update_leverage_rules(venue: Venue) -> None:
    trader = venue.wallet()

    def leverage(value: int, is_cross: bool = True) -> dict[str, Any]:
        return venue.l1(
            trader, {"type": "updateLeverage", "asset": SOL, "isCross": is_cross, "leverage": value}
        )

    assert leverage(21) == {"status": "err", "response": "Invalid leverage value"}
    assert leverage(0) == {"status": "err", "response": "Invalid leverage value"}
    assert leverage(3) == {"status": "ok", "response": {"type": "default"}}
    data = venue.info({"type": "activeAssetData", "user": trader.address, "coin": "SOL"})
    assert data["leverage"] == {"type": "cross", "value": 3}
    filled(venue.l1(trader, order(False, str(venue.best(True)), "2", "Ioc")))
    pos = venue.position(trader)
    assert pos is not None and pos["leverage"] == {"type": "cross", "value": 3}
    assert D(pos["marginUsed"]) == D(pos["positionValue"]) / 3
    assert leverage(5, is_cross=False) == {
        "status": "err",
        "response": "Cannot switch leverage type with open position.",
    }
    assert leverage(10) == {"status": "ok", "response": {"type": "default"}}


def test_isolated_margin_lifecycle(venue: Venue) -> None:
    trader = venue.wallet()
    assert (
        venue.l1(trader, {"type": "updateLeverage", "asset": SOL, "isCross": False, "leverage": 5})["status"]
        == "ok"
    )
    ask = venue.best(False)
    filled(venue.l1(trader, order(True, str(ask), "2", "Ioc")))
    pos = venue.position(trader)
    assert pos is not None
    margin = (ask * 2 / 5).quantize(D("0.000001"))
    assert pos["leverage"]["type"] == "isolated" and pos["leverage"]["value"] == 5
    assert D(pos["leverage"]["rawUsd"]) == margin - 2 * ask
    state = venue.state(trader)
    assert D(state["crossMarginSummary"]["accountValue"]) < D(1000) - margin + D("0.01")
    add = {"type": "updateIsolatedMargin", "asset": SOL, "isBuy": True, "ntli": 10_000_000}
    assert venue.l1(trader, add)["status"] == "ok"
    assert D(venue.position(trader)["marginUsed"]) == D(pos["marginUsed"]) + 10  # type: ignore[index]
    # Lowering isolated leverage moves more margin into the position from the balance.
    assert (
        venue.l1(trader, {"type": "updateLeverage", "asset": SOL, "isCross": False, "leverage": 2})["status"]
        == "ok"
    )
    after = venue.position(trader)
    assert after is not None and D(after["marginUsed"]) >= D(after["positionValue"]) / 2 - D("0.000001")
    cross = {"type": "updateIsolatedMargin", "asset": 0, "isBuy": True, "ntli": 1}
    assert venue.l1(trader, cross) == {"status": "err", "response": "Position does not use isolated margin."}


# ---------------------------------------------------------------------- funding and liquidation
def test_hourly_funding_pays_minus_szi_times_oracle_times_rate(venue: Venue) -> None:
    trader = venue.wallet()
    filled(venue.l1(trader, order(False, str(venue.best(True)), "3", "Ioc")))
    before = venue.ex.accounts[trader.address.lower()].balance
    to_hour = HOUR_MS - venue.clock.now_ms() % HOUR_MS
    venue.advance(to_hour / 1000 + 1)
    records = venue.info({"type": "userFunding", "user": trader.address, "startTime": 0})
    assert len(records) == 1
    delta = records[0]["delta"]
    settled = venue.ex.last_funding
    assert settled is not None
    oracle, rate = D(settled["oracle_px"]["SOL"]), D(settled["rates"]["SOL"])
    assert D(delta["fundingRate"]) == rate and delta["szi"] == "-3.0" and delta["coin"] == "SOL"
    usdc = D(delta["usdc"])
    assert usdc == (3 * oracle * rate).quantize(D("0.000001"))  # a short receives a positive rate
    assert (usdc > 0) == (rate > 0)
    assert venue.ex.accounts[trader.address.lower()].balance == before + usdc
    # The oracle price of the settlement is what metaAndAssetCtxs shows until the next step.
    assert D(venue.info({"type": "metaAndAssetCtxs"})[1][SOL]["oraclePx"]) == oracle
    history = venue.info({"type": "fundingHistory", "coin": "SOL", "startTime": records[0]["time"]})
    assert D(history[0]["fundingRate"]) == rate and history[0]["time"] == records[0]["time"]
    cum = venue.position(trader)["cumFunding"]  # type: ignore[index]
    assert D(cum["sinceOpen"]) == D(cum["allTime"]) == -usdc


def test_flash_crash_liquidates_the_over_levered_long_only(venue: Venue) -> None:
    levered, modest = venue.wallet(), venue.wallet()
    ask = venue.best(False)
    assert "filled" in status(venue.l1(levered, order(True, grid(ask * D("1.01")), "100", "Ioc")))  # ~15x
    assert "filled" in status(venue.l1(modest, order(True, grid(ask * D("1.01")), "4", "Ioc")))  # ~0.6x
    resting = status(venue.l1(levered, order(True, "120", "1")))
    assert "resting" in resting
    venue.market.set_scenario("flash_crash", {"drop": 0.3})
    venue.advance(15 * 60)
    assert venue.position(levered) is None
    fills = venue.info({"type": "userFills", "user": levered.address})
    liquidation = fills[0]
    assert liquidation["liquidation"]["liquidatedUser"] == levered.address.lower()
    assert liquidation["liquidation"]["method"] in ("market", "backstop")
    assert liquidation["dir"] == "Close Long" and D(liquidation["closedPnl"]) < 0
    status_of_rest = venue.info(
        {"type": "orderStatus", "user": levered.address, "oid": resting["resting"]["oid"]}
    )
    assert status_of_rest["order"]["status"] == "liquidatedCanceled"
    assert D(venue.state(levered)["marginSummary"]["accountValue"]) < 1000
    survivor = venue.position(modest)
    assert survivor is not None and survivor["szi"] == "4.0"
    assert all("liquidation" not in f for f in venue.info({"type": "userFills", "user": modest.address}))


def test_isolated_liquidation_costs_at_most_the_margin(venue: Venue) -> None:
    trader = venue.wallet()
    venue.l1(trader, {"type": "updateLeverage", "asset": SOL, "isCross": False, "leverage": 20})
    ask = venue.best(False)
    filled(venue.l1(trader, order(True, str(ask), "20", "Ioc")))
    margin = venue.ex.accounts[trader.address.lower()].positions["SOL"].margin
    balance = venue.ex.accounts[trader.address.lower()].balance
    venue.market.set_scenario("flash_crash", {"drop": 0.3})
    venue.advance(15 * 60)
    assert venue.position(trader) is None
    after = venue.ex.accounts[trader.address.lower()].balance
    assert balance <= after < balance + margin


# ---------------------------------------------------------------------- user-signed actions
def test_withdraw3_pays_out_net_of_the_fee(venue: Venue) -> None:
    paid: list[tuple[str, Decimal]] = []
    venue.ex.withdraw_handler = lambda destination, amount: paid.append((destination, amount))
    trader = venue.wallet("100")
    destination = eth_account.Account.create().address
    stamp = venue.nonce()
    action = {"type": "withdraw3", "destination": destination, "amount": "25.5", "time": stamp}
    assert venue.user_signed(trader, action, signing.sign_withdraw_from_bridge_action) == {
        "status": "ok",
        "response": {"type": "default"},
    }
    assert paid == [(destination.lower(), D("24.5"))]
    assert venue.state(trader)["withdrawable"] == "74.5"
    ledger = venue.info({"type": "userNonFundingLedgerUpdates", "user": trader.address, "startTime": 0})
    assert [e["delta"]["type"] for e in ledger] == ["deposit", "withdraw"]
    too_much = {"type": "withdraw3", "destination": destination, "amount": "80", "time": venue.nonce()}
    assert venue.user_signed(trader, too_much, signing.sign_withdraw_from_bridge_action) == {
        "status": "err",
        "response": "Insufficient balance for withdrawal.",
    }
    mismatched = {"type": "withdraw3", "destination": destination, "amount": "1.5", "time": venue.nonce()}
    answer = venue.user_signed(
        trader, mismatched, signing.sign_withdraw_from_bridge_action, nonce=venue.nonce()
    )
    assert answer["status"] == "err" and answer["response"].startswith("Invalid nonce")
    assert len(paid) == 1


def test_usd_class_transfer_moves_between_spot_and_perp(venue: Venue) -> None:
    trader = venue.wallet("100")

    def transfer(amount: str, to_perp: bool) -> dict[str, Any]:
        action = {"type": "usdClassTransfer", "amount": amount, "toPerp": to_perp, "nonce": venue.nonce()}
        return venue.user_signed(trader, action, signing.sign_usd_class_transfer_action)

    assert transfer("60.0", False)["status"] == "ok"
    spot = venue.info({"type": "spotClearinghouseState", "user": trader.address})
    assert spot["balances"] == [
        {"coin": "USDC", "token": 0, "total": "60.0", "hold": "0.0", "entryNtl": "0.0"}
    ]
    assert venue.state(trader)["withdrawable"] == "40.0"
    assert transfer("50", False) == {"status": "err", "response": "Insufficient balance for withdrawal."}
    assert transfer("61", True) == {"status": "err", "response": "Insufficient balance for token transfer."}
    assert transfer("25", True)["status"] == "ok"
    assert venue.state(trader)["withdrawable"] == "65.0"
    assert transfer("1 subaccount:0x" + "12" * 20, True)["status"] == "err"


def test_an_approved_agent_trades_for_its_master(venue: Venue) -> None:
    master = venue.wallet()
    agent = eth_account.Account.create()
    approve = {"type": "approveAgent", "agentAddress": agent.address, "agentName": "", "nonce": venue.nonce()}
    signature = signing.sign_agent(master, approve, False)
    del approve["agentName"]  # as the SDK sends an unnamed agent
    body = {
        "action": approve,
        "nonce": approve["nonce"],
        "signature": signature,
        "vaultAddress": None,
        "expiresAfter": None,
    }
    assert venue.send(body) == {"status": "ok", "response": {"type": "default"}}
    role = venue.info({"type": "userRole", "user": agent.address})
    assert role == {"role": "agent", "data": {"user": master.address.lower()}}
    filled(venue.l1(agent, order(False, str(venue.best(True)), "1", "Ioc")))
    pos = venue.position(master)
    assert pos is not None and pos["szi"] == "-1.0"
    # An agent cannot move money: user-signed actions are its own (empty) account's.
    withdraw = {"type": "withdraw3", "destination": agent.address, "amount": "5", "time": venue.nonce()}
    answer = venue.user_signed(agent, withdraw, signing.sign_withdraw_from_bridge_action)
    assert answer == {
        "status": "err",
        "response": f"Must deposit before performing actions. User: {agent.address.lower()}",
    }


def test_usd_send_credits_another_address(venue: Venue) -> None:
    sender = venue.wallet("50")
    receiver = eth_account.Account.create()
    action = {"type": "usdSend", "destination": receiver.address, "amount": "20", "time": venue.nonce()}
    assert venue.user_signed(sender, action, signing.sign_usd_transfer_action)["status"] == "ok"
    assert venue.state(receiver)["withdrawable"] == "20.0"
    assert venue.info({"type": "userRole", "user": receiver.address}) == {"role": "user"}


def test_snapshot_summarizes_state_as_json(venue: Venue) -> None:
    trader = venue.wallet()
    filled(venue.l1(trader, order(False, str(venue.best(True)), "1", "Ioc")))
    resting(venue.l1(trader, order(True, "140", "1")))
    venue.advance(HOUR_MS / 1000)
    snap = json.loads(json.dumps(venue.ex.snapshot()))
    assert snap["accounts"][trader.address.lower()]["positions"] == 1
    assert snap["positions"][0]["coin"] == "SOL" and snap["positions"][0]["szi"] == "-1.0"
    assert snap["resting_orders"][0]["limit_px"] == "140.0"
    assert (
        set(snap["last_funding"]) == {"time", "rates", "oracle_px"}
        and "SOL" in snap["last_funding"]["oracle_px"]
    )


def test_an_hour_reported_twice_is_paid_once(venue: Venue) -> None:
    """The market may be stepped from two threads; funding must still be paid once per hour."""
    trader = venue.wallet()
    filled(venue.l1(trader, order(False, str(venue.best(True)), "2", "Ioc")))
    hour = (venue.clock.now_ms() // HOUR_MS + 1) * HOUR_MS
    venue.ex._on_hour(hour + 7, {"SOL": 0.0001})
    venue.ex._on_hour(hour + 7, {"SOL": 0.0001})
    window = {"type": "userFunding", "user": trader.address, "startTime": 0, "endTime": hour + HOUR_MS}
    records = venue.info(window)
    assert len(records) == 1 and records[0]["delta"]["fundingRate"] == "0.0001"
    before = venue.ex.prices.quotes
    venue.ex._on_step(venue.ex.prices.step_ms)  # a step already seen changes nothing
    assert venue.ex.prices.quotes is before
