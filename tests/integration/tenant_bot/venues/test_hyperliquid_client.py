"""HyperliquidClient against a real devnet process (Hyperliquid only), signing with a LocalSigner.

The module's devnet is its own (the faults test changes it); each test trades with a fresh,
faucet-funded keystore.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from eth_account import Account
from pydantic import SecretStr
from solders.keypair import Keypair

from shared.networks import NETWORKS
from shared.retry import OutcomeUnknown, RetryPolicy
from tenant_bot.signing.local import LocalSigner
from tenant_bot.venues.hyperliquid import (
    HyperliquidClient,
    HyperliquidError,
    HyperliquidOutcomeUnknown,
    OrderState,
    cloid_for,
)
from tests.support.devnet import DevnetProcess, start_devnet

pytestmark = pytest.mark.devnet

D = Decimal
HOUR = timedelta(hours=1)
SECRET = SecretStr("integration-test-server-secret-0123")


@pytest.fixture(scope="module")
def dn() -> Iterator[DevnetProcess]:
    process = start_devnet(only=["hyperliquid"], seed=11, speed=1.0)
    yield process
    process.stop()


@pytest.fixture
async def client(dn: DevnetProcess, tmp_path: Path) -> AsyncIterator[HyperliquidClient]:
    signer = LocalSigner.create(tmp_path / "keystore.json", "tenant-hl", SECRET)
    dn.faucet("hyperliquid", "USDC", signer.evm_address, "1000")
    async with HyperliquidClient(dn.url("hyperliquid"), signer) as c:
        yield c


def _px(value: Decimal) -> Decimal:
    """A valid SOL price: at most 5 significant figures and 2 decimals (szDecimals 2)."""
    places = min(2, 5 - (value.adjusted() + 1))
    return value.quantize(D(1).scaleb(-places))


async def _short(client: HyperliquidClient, size: str, tag: str) -> tuple[str, object]:
    book = await client.book("SOL")
    cloid = cloid_for(tag, "short", 0)
    outcome = await client.place_ioc("SOL", False, D(size), _px(book.bids[0].px * D("0.98")), cloid=cloid)
    return cloid, outcome


# ---------------------------------------------------------------------- reads
async def test_market_data(dn: DevnetProcess) -> None:
    async with HyperliquidClient(dn.url("hyperliquid")) as client:
        markets = await client.markets()
        assert markets["SOL"].asset == 5 and markets["SOL"].sz_decimals == 2
        assert "MATIC" not in markets and markets["DYDX"].asset == 4
        ctx = (await client.asset_contexts())["SOL"]
        assert ctx.funding.interval == HOUR and ctx.mark_px > 0 and ctx.oracle_px > 0
        book = await client.book("SOL")
        assert book.bids and book.asks and book.bids[0].px < book.asks[0].px
        assert [lv.px for lv in book.bids] == sorted((lv.px for lv in book.bids), reverse=True)
        assert [lv.px for lv in book.asks] == sorted(lv.px for lv in book.asks)
        mid = (await client.mids())["SOL"]
        assert book.bids[0].px / 2 < mid < book.asks[0].px * 2
        now = int(time.time() * 1000)
        history = await client.funding_history("SOL", now - 24 * 3_600_000)
        assert len(history) >= 20
        times = [t for t, _ in history]
        assert times == sorted(times) and all(
            b // 3_600_000 - a // 3_600_000 == 1 for a, b in pairwise(times)
        )
        assert all(rate.interval == HOUR for _, rate in history)
        predicted = await client.predicted_funding("SOL")
        assert predicted is not None and predicted.interval == HOUR
        assert await client.predicted_funding("NOPE") is None
        with pytest.raises(HyperliquidError):
            await client.book("NOPE")


# ---------------------------------------------------------------------- trading
async def test_short_fills_and_shows_everywhere_then_reduce_only_close(client: HyperliquidClient) -> None:
    await client.update_leverage("SOL", 3, cross=True)
    cloid, outcome = await _short(client, "0.5", "open-close")
    assert outcome.state is OrderState.FILLED and outcome.filled_size == D("0.5")  # type: ignore[attr-defined]
    assert outcome.cloid == cloid and outcome.oid is not None and outcome.avg_px > 0  # type: ignore[attr-defined]

    state = await client.user_state()
    position = state.positions["SOL"]
    assert position.size == D("-0.5") and position.leverage == 3 and position.is_cross
    assert state.account_value > 0 and state.total_margin_used > 0

    fills = [f for f in await client.user_fills() if f.cloid == cloid]
    assert sum(f.sz for f in fills) == D("0.5") and all(not f.is_buy and f.crossed for f in fills)

    by_cloid = await client.order_status(cloid)
    assert by_cloid.state is OrderState.FILLED and by_cloid.oid == outcome.oid  # type: ignore[attr-defined]
    assert by_cloid.filled_size == D("0.5")
    assert abs(by_cloid.avg_px - outcome.avg_px) < D("0.0001")  # type: ignore[operator, attr-defined]

    # Reduce-only larger than the position: cut to it, and the position is gone.
    book = await client.book("SOL")
    close_cloid = cloid_for("open-close", "close", 0)
    closed = await client.place_ioc(
        "SOL", True, D("1"), _px(book.asks[0].px * D("1.02")), cloid=close_cloid, reduce_only=True
    )
    assert closed.filled_size == D("0.5") and closed.state in (OrderState.FILLED, OrderState.PARTIALLY_FILLED)
    assert "SOL" not in (await client.user_state()).positions
    # Another reduce-only close now has nothing to reduce: a certain rejection, not an exception.
    again = await client.place_ioc(
        "SOL",
        True,
        D("1"),
        _px(book.asks[0].px * D("1.02")),
        cloid=cloid_for("open-close", "close", 1),
        reduce_only=True,
    )
    assert again.state is OrderState.REJECTED and again.filled_size == 0 and "Reduce only" in str(again.error)


async def test_ioc_without_liquidity_is_rejected_with_nothing_filled(client: HyperliquidClient) -> None:
    book = await client.book("SOL")
    cloid = cloid_for("no-liquidity", "long", 0)
    outcome = await client.place_ioc("SOL", True, D("1"), _px(book.bids[-1].px * D("0.9")), cloid=cloid)
    assert outcome.state is OrderState.REJECTED and outcome.filled_size == 0
    assert "could not immediately match" in str(outcome.error)
    assert (await client.order_status(cloid)).state is OrderState.REJECTED
    assert "SOL" not in (await client.user_state()).positions


async def test_unknown_cloid(client: HyperliquidClient) -> None:
    unknown = cloid_for("never", "placed", 0)
    assert await client.cancel_by_cloid("SOL", unknown) is False
    status = await client.order_status(unknown)
    assert status.state is OrderState.NOT_FOUND and status.filled_size == 0 and status.oid is None


async def test_isolated_leverage_is_visible_on_the_position(client: HyperliquidClient) -> None:
    await client.update_leverage("SOL", 5, cross=False)
    _, outcome = await _short(client, "0.2", "isolated")
    assert outcome.state is OrderState.FILLED  # type: ignore[attr-defined]
    position = (await client.user_state()).positions["SOL"]
    assert position.leverage == 5 and not position.is_cross
    with pytest.raises(HyperliquidError, match="Cannot switch leverage type"):
        await client.update_leverage("SOL", 5, cross=True)


async def test_usd_class_transfer_moves_between_spot_and_perp(client: HyperliquidClient) -> None:
    before = (await client.user_state()).withdrawable
    await client.usd_class_transfer(D("25.5"), to_perp=False)
    assert (await client.user_state()).withdrawable == before - D("25.5")
    await client.usd_class_transfer(D("25.5"), to_perp=True)
    assert (await client.user_state()).withdrawable == before
    with pytest.raises(HyperliquidError):
        await client.usd_class_transfer(D("5000"), to_perp=True)  # more than the spot balance


async def test_funding_is_paid_on_the_hour(dn: DevnetProcess, client: HyperliquidClient) -> None:
    _, outcome = await _short(client, "0.5", "funding")
    assert outcome.state is OrderState.FILLED  # type: ignore[attr-defined]
    start = (await client.user_state()).time_ms
    dn.advance(hours=1)
    payments = [p for p in await client.user_funding(start) if p.coin == "SOL"]
    assert len(payments) == 1
    payment = payments[0]
    assert payment.size == D("-0.5") and payment.rate.interval == HOUR and payment.usdc != 0
    # A short receives positive funding and pays negative funding.
    assert (payment.usdc > 0) == (payment.rate.rate > 0)
    position = (await client.user_state()).positions["SOL"]
    assert position.funding_since_open == -payment.usdc  # the venue reports what we paid


# ---------------------------------------------------------------------- failures
async def test_lost_answers_still_give_the_true_outcome_exactly_once(
    dn: DevnetProcess, client: HyperliquidClient
) -> None:
    dn.faults("hyperliquid", drop_rate=1.0)  # every /exchange is applied, its answer lost (504)
    try:
        await client.update_leverage("SOL", 2, cross=True)  # resolved from the account's state
        cloid, outcome = await _short(client, "0.3", "dropped")
        assert outcome.state is OrderState.FILLED and outcome.filled_size == D("0.3")  # type: ignore[attr-defined]
        assert outcome.cloid == cloid  # type: ignore[attr-defined]

        # Nothing identifies a transfer on the venue: the client says it does not know...
        withdrawable = (await client.user_state()).withdrawable
        with pytest.raises(HyperliquidOutcomeUnknown) as info:
            await client.usd_class_transfer(D("10"), to_perp=False)
        assert isinstance(info.value, OutcomeUnknown)
    finally:
        dn.faults("hyperliquid", drop_rate=0.0)
    state = await client.user_state()
    assert state.positions["SOL"].size == D("-0.3") and state.positions["SOL"].leverage == 2
    fills = [f for f in await client.user_fills() if f.cloid == cloid]
    assert sum(f.sz for f in fills) == D("0.3")
    # ...and the same signed body, sent several times, moved the money exactly once.
    assert state.withdrawable == withdrawable - D("10")


async def test_refusals_carry_the_venues_text(dn: DevnetProcess, tmp_path: Path) -> None:
    url = dn.url("hyperliquid")
    book_px = (await HyperliquidClient(url).book("SOL")).bids[0].px
    stranger = LocalSigner(Keypair(), Account.create())  # never deposited
    async with HyperliquidClient(url, stranger) as client:
        with pytest.raises(HyperliquidError, match="does not exist"):
            await client.place_ioc("SOL", False, D("1"), _px(book_px), cloid=cloid_for("x", "y", 0))

    funded = LocalSigner.create(tmp_path / "funded.json", "tenant-x", SECRET)
    dn.faucet("hyperliquid", "USDC", funded.evm_address, "100")
    # Signed for mainnet, sent to a testnet venue: the signature recovers to another address.
    async with HyperliquidClient(url, funded, network=NETWORKS["mainnet"]) as client:
        with pytest.raises(HyperliquidError, match="does not exist"):
            await client.update_leverage("SOL", 3, cross=True)
    # A signer that is not the account it claims to act for.
    async with HyperliquidClient(url, stranger, address=funded.evm_address) as client:
        with pytest.raises(HyperliquidError, match=stranger.evm_address.lower()):
            await client.update_leverage("SOL", 3, cross=True)
        assert (await client.user_state()).account_value == D("100")  # reads use the given address
    # The venue cannot read a non-address user: 422, certain.
    async with HyperliquidClient(url) as client:
        with pytest.raises(HyperliquidError):
            await client.user_state("not-an-address")


async def test_a_venue_failing_everything_gives_outcome_unknown_never_a_guess(
    dn: DevnetProcess, tmp_path: Path
) -> None:
    signer = LocalSigner.create(tmp_path / "keystore.json", "tenant-5xx", SECRET)
    dn.faucet("hyperliquid", "USDC", signer.evm_address, "1000")
    fast = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
    async with HyperliquidClient(dn.url("hyperliquid"), signer, retry=fast) as client:
        book = await client.book("SOL")
        await client.markets()
        cloid = cloid_for("all-5xx", "short", 0)
        dn.faults("hyperliquid", error_rate=1.0)  # HTTP 500 before the venue sees anything
        try:
            with pytest.raises(HyperliquidOutcomeUnknown) as info:
                await client.place_ioc("SOL", False, D("0.3"), _px(book.bids[0].px * D("0.98")), cloid=cloid)
        finally:
            dn.faults("hyperliquid", error_rate=0.0)
        assert info.value.cloid == cloid
        # Asked afterwards, the venue says what happened: nothing.
        assert (await client.order_status(cloid)).state is OrderState.NOT_FOUND
        assert "SOL" not in (await client.user_state()).positions


async def test_a_journaled_order_body_resent_after_a_restart_applies_once(client: HyperliquidClient) -> None:
    book = await client.book("SOL")
    cloid = cloid_for("journaled", "short", 0)
    body = await client.sign_order("SOL", False, D("0.4"), _px(book.bids[0].px * D("0.98")), cloid=cloid)
    first = await client.send_order(body, cloid)
    again = await client.send_order(body, cloid)  # what recovery does when unsure it was sent
    assert first.state is OrderState.FILLED and again.state is OrderState.FILLED
    assert again.oid == first.oid and again.filled_size == D("0.4")
    assert (await client.user_state()).positions["SOL"].size == D("-0.4")


async def test_the_fee_model_takes_the_accounts_rate_from_user_fees(
    dn: DevnetProcess, client: HyperliquidClient
) -> None:
    from tenant_bot.fees import BASE_TIER, VenueFees

    dn.faucet("hyperliquid", "USDC", client.address, "100")
    assert (await client.fee_rates()).taker == Decimal("0.00045")  # the base tier, as the venue says
    r = dn.admin(
        "POST", "/hyperliquid/fees", json={"address": client.address, "taker": "0.0003", "maker": "0"}
    )
    assert r.status_code == 200, r.text
    fees = VenueFees()
    assert fees.model.hl_taker_fee == Decimal("0.00045") and fees.source == BASE_TIER
    model = await fees.refresh(client)
    assert model.hl_taker_fee == Decimal("0.0003") and fees.source == "Hyperliquid userFees"
    assert model.round_trip_on_notional() < VenueFees().model.round_trip_on_notional()
    # A venue that cannot answer: the documented base tier, and the model says where it comes from.
    async with HyperliquidClient(
        "http://127.0.0.1:9", address=client.address, retry=RetryPolicy(attempts=1)
    ) as down:
        fallback = VenueFees()
        assert (await fallback.refresh(down)).hl_taker_fee == Decimal("0.00045")
        assert fallback.source == BASE_TIER


async def test_a_429_pauses_reads_instead_of_retrying_them(devnet_factory: object, tmp_path: Path) -> None:
    from tenant_bot.venues.hyperliquid import HyperliquidRateLimited

    # A budget of 40 weight: two metaAndAssetCtxs reads (20 each), then the venue answers 429.
    dn = devnet_factory(only=["hyperliquid"], speed=1.0, hyperliquid_weight=40)  # type: ignore[operator]
    async with HyperliquidClient(dn.url("hyperliquid")) as c:
        await c._info({"type": "meta"})
        await c._info({"type": "meta"})
        with pytest.raises(
            HyperliquidRateLimited, match=r"rate-limiting this host \(HTTP 429\); reads paused"
        ):
            await c.mids()
        # In the cool-down nothing is sent: the error says so, at once.
        started = time.monotonic()
        with pytest.raises(HyperliquidRateLimited, match="not sent"):
            await c.mids()
        assert time.monotonic() - started < 0.1
