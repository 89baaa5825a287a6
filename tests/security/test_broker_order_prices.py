"""The signing broker signed Hyperliquid orders at any price and any size. A compromised bot could have
an order signed at an absurd limit price (within the venue's own 80% band) that crosses a colluding
counterparty's resting order, handing it the difference out of the user's account. Replayed against a
real `basis serve` (process runtime, SQLite) on a real devnet, with the bot's own tenant token, straight
at `POST /internal/sign`: such orders must be refused (403 with a sentence, no signature); the bot's own
hedge and exit orders must still be signed and fill; with the venue unreadable by the broker, exits and
cancels must still be signed (and the venue must accept them) while orders that open exposure are not.

The broker keeps the venue's marks 0.5 s here (BASIS_CP_BROKER_MARK_MAX_AGE_SECONDS), so the outage
test need not wait out the default few seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from hyperliquid.utils.signing import sign_l1_action

from tenant_bot.signing.broker import BrokerSigner
from tenant_bot.strategy.sizing import marketable_limit
from tenant_bot.venues.hyperliquid import HyperliquidClient, OrderOutcome, OrderState, cloid_for
from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.devnet import DevnetProcess, start_devnet

pytestmark = pytest.mark.devnet

SOL = 5  # SOL-PERP's asset id, on mainnet and on the devnet
MARK_AGE_S = 0.5
# The bot's own bands (tenant_bot/execution/config.py): hedges 50 bps from the mid, exits 150.
HEDGE_BPS, EXIT_BPS = 50, 150


# ---------------------------------------------------------------------- the venue
def info(dn: DevnetProcess, body: dict[str, Any]) -> Any:
    r = httpx.post(dn.url("hyperliquid") + "/info", json=body, timeout=10)
    r.raise_for_status()
    return r.json()


def sol_mark(dn: DevnetProcess) -> Decimal:
    _meta, contexts = info(dn, {"type": "metaAndAssetCtxs"})
    return Decimal(contexts[SOL]["markPx"])


def sol_position(dn: DevnetProcess, user: str) -> Decimal:
    state = info(dn, {"type": "clearinghouseState", "user": user})
    sizes = [Decimal(p["position"]["szi"]) for p in state["assetPositions"] if p["position"]["coin"] == "SOL"]
    return sizes[0] if sizes else Decimal(0)


def price(value: Decimal) -> str:
    """A price the venue takes for SOL: at most 5 significant figures and 4 decimals, written as the
    SDKs write it (no trailing zero: the venue hashes the normalized form, so "150.50" signed as it
    is recovers to another signer)."""
    text = str(value.quantize(Decimal("0.01")))
    return text.rstrip("0").rstrip(".")


def ioc(px: str, size: str, *, buy: bool, reduce_only: bool = False, tif: str = "Ioc") -> dict[str, Any]:
    order = {"a": SOL, "b": buy, "p": px, "s": size, "r": reduce_only, "t": {"limit": {"tif": tif}}}
    return {"type": "order", "orders": [order], "grouping": "na"}


def l1_body(action: dict[str, Any]) -> dict[str, Any]:
    payload = {"action": action, "nonce": int(time.time() * 1000), "vaultAddress": None, "expiresAfter": None}
    return {"kind": "hyperliquid_l1", "payload": payload}


class Colluder:
    """The attacker's own Hyperliquid account (its own key, no broker): rests the order to be crossed."""

    def __init__(self, dn: DevnetProcess) -> None:
        self.dn = dn
        self.account = Account.create()
        dn.faucet("hyperliquid", "USDC", self.account.address, "2000")

    def send(self, action: dict[str, Any]) -> Any:
        nonce = int(time.time() * 1000)
        signature = sign_l1_action(self.account, action, None, nonce, None, False)
        envelope = {"action": action, "nonce": nonce, "signature": signature, "vaultAddress": None}
        r = httpx.post(self.dn.url("hyperliquid") + "/exchange", json=envelope, timeout=10)
        r.raise_for_status()
        return r.json()

    def open_orders(self) -> list[dict[str, Any]]:
        return list(info(self.dn, {"type": "openOrders", "user": self.account.address}))


# ---------------------------------------------------------------------- the control plane
@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    dn = start_devnet(seed=61, speed=1.0)
    root = Path(tmp_path_factory.mktemp("broker-prices"))
    cp = ControlPlane(dn, root, overrides={"broker_mark_max_age_seconds": MARK_AGE_S})
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()
        dn.stop()


@pytest.fixture(scope="module")
def victim(plane: ControlPlane) -> SignedIn:
    """A signed-in user with USDC on Hyperliquid, whose bot is compromised (its token is used)."""
    user = plane.sign_in("victim")
    plane.dn.faucet("hyperliquid", "USDC", user.evm_address, "3000")
    return user


def refused(plane: ControlPlane, user: SignedIn, body: dict[str, Any]) -> str:
    r = plane.sign_as(user, body)
    assert r.status_code == 403, r.text
    assert set(r.json()) == {"detail"}  # a sentence, no signature
    return str(r.json()["detail"])


def signed(plane: ControlPlane, user: SignedIn, body: dict[str, Any]) -> None:
    r = plane.sign_as(user, body)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"r", "s", "v"}


async def _with_bot_client(plane: ControlPlane, user: SignedIn, body: Any) -> Any:
    """Run `body(hl)` with the bot's own Hyperliquid client and broker signer (its token, no key)."""
    signer = BrokerSigner(
        plane.internal_url, user.tenant_id, user.token, user.solana_address, user.evm_address
    )
    try:
        async with HyperliquidClient(plane.dn.url("hyperliquid"), signer) as hl:
            return await body(hl)
    finally:
        await signer.aclose()


async def _bots_order(hl: HyperliquidClient, *, buy: bool, size: str, bps: int, attempt: int) -> OrderOutcome:
    """An order as the bot's perp leg makes one: an IOC at the edge of its band from the mid; its sells
    open the hedge, its buys are exits (reduce-only)."""
    mid = (await hl.mids())["SOL"]
    markets = await hl.markets()
    limit = marketable_limit(mid, buy, bps, markets["SOL"].sz_decimals)
    return await hl.place_ioc(
        "SOL", buy, Decimal(size), limit, cloid=cloid_for("prices", "bot", attempt), reduce_only=buy
    )


# ---------------------------------------------------------------------- the attack
def test_orders_far_from_the_mark_or_too_large_are_refused_and_the_bots_own_orders_still_fill(
    plane: ControlPlane, victim: SignedIn
) -> None:
    dn = plane.dn
    colluder = Colluder(dn)
    mark = sol_mark(dn)
    # The colluder rests an ask 50% above the mark: within the venue's own band (80% from the oracle),
    # so the venue would take the victim's order that crosses it.
    ask = price(mark * Decimal("1.5"))
    rested = colluder.send(ioc(ask, "2", buy=False, tif="Gtc"))
    assert rested.get("status") == "ok", rested
    assert "resting" in rested["response"]["data"]["statuses"][0], rested

    # The compromised bot asks for the order that crosses it, and for its mirror image and an exit as
    # absurd: each refused with how far from the mark it is.
    detail = refused(plane, victim, l1_body(ioc(ask, "2", buy=True)))
    assert f"buys perp 5 at {ask} USD" in detail and "bps above its mark" in detail, detail
    assert "at most 300 bps beyond the mark" in detail
    bid = price(mark * Decimal("0.6"))
    assert "bps below its mark" in refused(plane, victim, l1_body(ioc(bid, "2", buy=False)))
    assert "bps above its mark" in refused(plane, victim, l1_body(ioc(ask, "2", buy=True, reduce_only=True)))
    # At the mark but worth more than an order that opens exposure may be (250,000 USD by default).
    too_big = str((Decimal(260_000) / mark).quantize(Decimal("0.01")))
    assert "more than the 250000 USD" in refused(plane, victim, l1_body(ioc(price(mark), too_big, buy=False)))
    # Nothing reached the venue: the colluder's ask still rests whole, the victim holds nothing.
    assert [(Decimal(o["limitPx"]), Decimal(o["sz"])) for o in colluder.open_orders()] == [(Decimal(ask), 2)]
    assert sol_position(dn, victim.evm_address) == 0

    # The bot's own orders, as its perp leg makes them: a hedge (sell, 50 bps from the mid) and the
    # exit that buys it back (reduce-only, 150 bps): signed by the broker and filled on the venue.
    async def hedge_and_exit(hl: HyperliquidClient) -> tuple[OrderOutcome, Decimal, OrderOutcome]:
        await hl.update_leverage("SOL", 3, cross=True)
        hedge = await _bots_order(hl, buy=False, size="0.5", bps=HEDGE_BPS, attempt=1)
        held = sol_position(dn, victim.evm_address)
        exit_ = await _bots_order(hl, buy=True, size="0.5", bps=EXIT_BPS, attempt=2)
        return hedge, held, exit_

    hedge, held, exit_ = asyncio.run(_with_bot_client(plane, victim, hedge_and_exit))
    assert hedge.state is OrderState.FILLED and hedge.filled_size == Decimal("0.5"), hedge
    assert held == Decimal("-0.5")
    assert exit_.state is OrderState.FILLED and exit_.filled_size == Decimal("0.5"), exit_
    assert sol_position(dn, victim.evm_address) == 0
    # Every signature above was the broker's, and its refusals are logged with their reason.
    assert "bps above its mark" in plane.logs()


def test_with_the_venue_unreadable_exits_and_cancels_are_signed_and_opening_orders_are_not(
    plane: ControlPlane, victim: SignedIn
) -> None:
    dn = plane.dn

    async def open_short(hl: HyperliquidClient) -> OrderOutcome:
        return await _bots_order(hl, buy=False, size="0.3", bps=HEDGE_BPS, attempt=3)

    assert asyncio.run(_with_bot_client(plane, victim, open_short)).state is OrderState.FILLED
    assert sol_position(dn, victim.evm_address) == Decimal("-0.3")
    mark = sol_mark(dn)
    exit_cloid = cloid_for("prices", "exit", 1)

    async def during_the_outage(hl: HyperliquidClient) -> tuple[str, Any]:
        mid = (await hl.mids())["SOL"]
        await hl.markets()  # the client's market list, read while the venue answers
        dn.admin("POST", "/faults", json={"venue": "hyperliquid", "error_rate": 1.0})
        try:
            await asyncio.sleep(MARK_AGE_S * 2)  # the broker's last marks are too old now
            # The venue cannot be read: the exit is signed (the bot's own code path)...
            limit = marketable_limit(mid, True, EXIT_BPS, 2)
            body = await hl.sign_order("SOL", True, Decimal("0.3"), limit, cloid=exit_cloid, reduce_only=True)
            # ... a cancel too, and an order that would open exposure is refused with the reason.
            signed(
                plane,
                victim,
                l1_body({"type": "cancelByCloid", "cancels": [{"asset": SOL, "cloid": exit_cloid}]}),
            )
            detail = refused(plane, victim, l1_body(ioc(price(mark), "0.1", buy=False)))
            return body, detail
        finally:
            dn.admin("POST", "/faults", json={"venue": "hyperliquid", "clear": True})

    async def send_exit(hl: HyperliquidClient, body: str) -> OrderOutcome:
        await hl.markets()
        return await hl.send_order(body, exit_cloid)

    body, detail = asyncio.run(_with_bot_client(plane, victim, during_the_outage))
    assert "may open exposure on perp 5" in detail and "cannot be read" in detail, detail
    assert "HTTP 500" in detail and "only reduce-only orders and cancels are signed" in detail
    # The venue back: the exit signed during the outage is a valid signature, and it fills.
    outcome = asyncio.run(_with_bot_client(plane, victim, lambda hl: send_exit(hl, body)))
    assert outcome.state is OrderState.FILLED and outcome.filled_size == Decimal("0.3"), outcome
    assert sol_position(dn, victim.evm_address) == 0
    # And the broker reads the venue again: orders that open exposure are signed once more.
    time.sleep(MARK_AGE_S * 2)  # the scenario: past the mark age, so the broker must read afresh
    signed(plane, victim, l1_body(ioc(price(sol_mark(dn)), "0.1", buy=False)))
