"""Asgard emulator economics: quotes, health factor, liquidation, interest indices, market helpers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from devnet.asgard.interest import InterestIndices, step_factor
from devnet.asgard.markets import balance_key, bank_address, long_max_leverage
from devnet.asgard.quotes import (
    LIQUIDATION_PENALTY,
    OPEN_FEE_RATE,
    health_factor,
    leverage_of,
    liquidate,
    liquidation_price,
    quote_close,
    quote_open,
    swap_impact,
)
from devnet.market import STEP_MS
from shared.assets import Asset, Protocol

D = Decimal


@pytest.mark.parametrize(("leverage", "lt"), [(D(2), D("0.85")), (D(3), D("0.85")), (D(4), D("0.82"))])
def test_health_factor_at_open_is_the_price_drop_to_liquidation(leverage: Decimal, lt: Decimal) -> None:
    q = quote_open(D(150), 1, D(1000), D(1), leverage)
    hf = health_factor(q.token_a * q.price, q.debt_usd, lt)
    ideal = (1 - (leverage - 1) / (leverage * lt)) * 100
    # Fees and price impact make the position slightly weaker than the ideal.
    assert ideal - D("0.5") < hf < ideal
    # Falling by hf percent puts the position exactly at the liquidation price.
    p_liq = liquidation_price(q.token_a, q.debt_usd, lt)
    assert abs(q.price * (1 - hf / 100) - p_liq) < D("0.0001")


def test_open_with_usdc_collateral_swaps_the_notional_less_the_fee() -> None:
    q = quote_open(D(100), 1, D(1000), D(1), D(3))
    assert q.notional_usd == D(3000)
    assert q.debt_usd == D(2000)
    assert q.fee_usd == D(3000) * OPEN_FEE_RATE
    assert q.swap_in_usd == D(3000) - q.fee_usd
    assert q.execution_price == D(100) * (1 + swap_impact(q.swap_in_usd))
    assert q.token_a == q.swap_in_usd / q.execution_price
    assert q.deposit_a == 0


def test_open_with_token_a_collateral_keeps_the_deposit_and_swaps_the_debt() -> None:
    q = quote_open(D(100), 0, D(10), D(100), D(2))
    assert q.collateral_usd == D(1000)
    assert q.deposit_a == D(10)
    assert q.swap_in_usd == D(1000) - D(2000) * OPEN_FEE_RATE
    assert D(19.9) < q.token_a < D(20)


def test_swap_impact_grows_with_size() -> None:
    assert swap_impact(D(0)) == D("0.0002")
    assert swap_impact(D(100_000)) == D("0.0003")
    assert swap_impact(D(1_000_000)) > swap_impact(D(100_000))


def test_close_in_usdc_pays_the_equity_less_impact() -> None:
    q = quote_close(D(150), D(20), D(2000), receive_token_a=False)
    gross = D(20) * D(150)
    assert q.payout_usdc == gross * (1 - q.impact) - D(2000)
    assert q.payout_a == 0 and q.sold_a == D(20)


def test_close_in_token_a_sells_only_the_debt() -> None:
    q = quote_close(D(100), D(30), D(2000), receive_token_a=True)
    assert q.payout_usdc == 0
    assert q.sold_a * D(100) * (1 - q.impact) == pytest.approx(D(2000))
    assert q.payout_a == D(30) - q.sold_a


def test_partial_close_keeps_leverage() -> None:
    a, d, p = D(20), D(2000), D(150)
    q = quote_close(p, a, d, receive_token_a=False, fraction=D("0.5"))
    assert q.sold_a == D(10) and q.debt_repaid == D(1000)
    before = leverage_of(a * p, d)
    after = leverage_of((a - q.sold_a) * p, d - q.debt_repaid)
    assert before == after


def test_liquidation_seizes_debt_plus_penalty_and_returns_the_rest() -> None:
    out = liquidate(D(100), D(40), D(3000))
    assert out.seized_a == D(3000) * (1 + LIQUIDATION_PENALTY) / D(100)
    assert out.residual_a == D(40) - out.seized_a
    assert out.bad_debt_usd == 0
    assert out.penalty_usd == pytest.approx(D(150))


def test_insolvent_liquidation_seizes_everything_and_books_bad_debt() -> None:
    out = liquidate(D(70), D(40), D(3000))
    assert out.seized_a == D(40) and out.residual_a == 0
    assert out.bad_debt_usd == pytest.approx(D(3000) - D(2800) / (1 + LIQUIDATION_PENALTY))


def test_health_factor_without_debt_is_100_and_underwater_is_negative() -> None:
    assert health_factor(D(100), D(0), D("0.8")) == 100
    assert health_factor(D(100), D(90), D("0.8")) < 0


@pytest.mark.parametrize(("ltv", "expected"), [(0.74, "3.84"), (0.78, "4.54"), (0.76, "4.16"), (0.5, "2.00")])
def test_long_max_leverage_is_one_over_one_minus_ltv_rounded_down(ltv: float, expected: str) -> None:
    assert long_max_leverage(ltv) == Decimal(expected)


def test_interest_index_compounds_to_the_apy() -> None:
    idx = InterestIndices()
    key = (Protocol.KAMINO, Asset.SOL)
    days = 30
    # Compounded by one multiplication per simulated minute, as the venue does.
    for _ in range(days * 24 * 3600 * 1000 // STEP_MS):
        idx.accrue(key, 0.05, 0.08)
    assert float(idx.supply(key)) == pytest.approx(1.05 ** (days / 365), rel=1e-9)
    assert float(idx.borrow(key)) == pytest.approx(1.08 ** (days / 365), rel=1e-9)
    assert step_factor(0.08) > step_factor(0.05) > 1
    assert idx.supply((Protocol.DRIFT, Asset.SOL)) == 1


def test_bank_addresses_are_real_where_known_and_distinct() -> None:
    assert bank_address(Protocol.KAMINO, Asset.SOL) == "d4A2prbA2whesmvHaL88BH6Ewn5N4bTSU2Ze8P6Bc4Q"
    # Drift's spot market accounts come from Drift's own seeds.
    assert bank_address(Protocol.DRIFT, Asset.USDC) == "6gMq3mRCKf8aP3ttTyYhuijVZ2LGi14oDsBbkgubfLB3"
    assert bank_address(Protocol.DRIFT, Asset.SOL) == "3x85u7SWkmmr7YQGYhtjARgxwegTLJgkSLRprfXod6rh"
    assert balance_key(Protocol.DRIFT, Asset.SOL) == "1"
    assert balance_key(Protocol.KAMINO, Asset.USDC) == bank_address(Protocol.KAMINO, Asset.USDC)
    banks = {bank_address(p, a) for p in Protocol for a in (Asset.SOL, Asset.JITOSOL, Asset.MSOL, Asset.USDC)}
    assert len(banks) == 16
