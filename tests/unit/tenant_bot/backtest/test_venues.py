"""The simulated venues apply the venues' rules: figures computed by hand in each test."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from shared.market_history import Candle, candle_price
from shared.rates import HOUR, Apy, FundingRate
from tenant_bot.backtest.venues import Ledger, SimAsgard, SimHyperliquid


def _short(balance: str = "1000", size: str = "10", px: str = "200") -> SimHyperliquid:
    hl = SimHyperliquid(Ledger(), taker_fee=D("0.00035"), balance=D(balance))
    hl.sell(D(size), D(px))
    return hl


def test_hourly_funding_is_paid_on_the_shorts_notional_and_a_positive_rate_pays_the_short() -> None:
    hl = _short()
    # Fee of the fill: 10 SOL × $200 × 0.035 % = $0.70.
    assert hl.balance == D("999.30") and hl.ledger.fees == D("-0.70")
    # 10 SOL at a $210 mark is $2,100 of notional; 0.0000125 of it is $0.02625, received.
    assert hl.settle_funding(FundingRate.hourly("0.0000125"), D(210)) == D("0.02625")
    # A negative rate: the short pays 0.0001 × $2,000 = $0.20.
    assert hl.settle_funding(FundingRate.hourly("-0.0001"), D(200)) == D("-0.2")
    assert hl.balance == D("999.12625") and hl.ledger.funding == D("-0.17375")
    # A rate quoted over 8 hours is paid per hour at an eighth of it.
    assert hl.settle_funding(FundingRate.every("0.0008", 8).per(HOUR), D(200)) == D("0.2")


def test_the_short_is_liquidated_at_maintenance_margin_and_loses_what_was_left() -> None:
    hl = SimHyperliquid(Ledger(), taker_fee=D(0), balance=D(1000))
    hl.sell(D(10), D(200))
    # balance + size·(entry − p) = 2.5 %·size·p  →  p = (1000 + 2000) / (10 × 1.025) = 292.68…
    liq = hl.liquidation_px()
    assert liq is not None and abs(liq - D("292.6829268")) < D("0.0000001")
    assert not hl.liquidate_if_due(D("292.6"))
    assert hl.size == 10
    # At $293 the account holds 1000 − 930 = $70, below the $73.25 maintenance margin: liquidated,
    # and the backstop keeps the $70.
    assert hl.liquidate_if_due(D(293))
    assert (hl.size, hl.balance, hl.ledger.liquidation) == (0, 0, D(-70))
    assert hl.ledger.counts == {"hyperliquid_liquidations": 1}


def test_buying_back_realises_the_price_move() -> None:
    hl = _short()
    hl.buy(D(4), D(150))  # 4 × (200 − 150) = $200 gained, fee 4 × 150 × 0.035 % = $0.21
    assert hl.size == 6 and hl.balance == D("999.30") + 200 - D("0.21")


def test_asgard_health_factor_open_fee_and_liquidation_at_the_right_price() -> None:
    led = Ledger()
    a = SimAsgard(led, open_fee=D("0.0015"), gas_per_tx=D("0.01"), wallet=D(1000))
    a.open(D(1000), D(15), D(200))  # 3x: $3,000 of SOL on $1,000
    # Open fee 0.15 % × $3,000 = $4.50 from the deposit: debt = 3000 − 995.50.
    assert (a.deposit, a.debt, led.fees) == (D("995.50"), D("2004.50"), D("-4.50"))
    assert a.wallet == D("-0.01") and led.bridge_and_gas == D("-0.01")
    # hf = 1 − 2004.5 / (3000 × 0.85) = 0.213921…
    assert abs(a.health_factor(D(200)) - D("0.2139215686")) < D("0.0000000001")
    # Liquidated when hf ≤ 0: at or below 2004.5 / (15 × 0.85) = 157.2157…
    assert abs(a.liquidation_px() - D("157.2156862745")) < D("0.0000000001")  # type: ignore[operator]
    assert not a.liquidate_if_due(D("157.22"))
    assert a.liquidate_if_due(D("157.2"))
    # The debt is repaid from the SOL with a 1 % penalty (2004.5 × 1.01 = 2024.545); the rest comes back.
    assert led.liquidation == D("-20.045")
    assert a.wallet == D("-0.01") + 15 * D("157.2") - D("2024.545")
    assert not a.is_open and led.counts == {"asgard_liquidations": 1}


def test_a_day_of_interest_on_supply_and_borrow() -> None:
    led = Ledger()
    a = SimAsgard(led, open_fee=D(0), gas_per_tx=D(0), wallet=D(1000))
    a.open(D(1000), D(15), D(200))
    a.accrue_day(Apy(D("0.10")), Apy(D("0.05")), D(200))
    grow_supply = D("1.10") ** (D(1) / 365)
    grow_borrow = D("1.05") ** (D(1) / 365)
    assert a.tokens == 15 * grow_supply and a.debt == 2000 * grow_borrow
    assert led.supply == (a.tokens - 15) * 200 and abs(led.supply - D("0.7837")) < D("0.001")
    assert led.borrow == -(a.debt - 2000) and abs(led.borrow + D("0.2674")) < D("0.001")


def test_a_reduction_deleverages_as_the_live_bot_and_restores_health() -> None:
    # 15 SOL at 200 on a 1,000 deposit, 2,000 borrowed; at 180: value 2,700, equity 700, leverage
    # 3.857; a 25 % reduction deleverages to 3.857 × 0.75 = 2.89 (two decimals, down): 700 × 2.89 /
    # 180 SOL kept, the 3.7611 SOL sold (677 USD) repay debt, the equity stays in the position.
    a = SimAsgard(Ledger(), open_fee=D(0), gas_per_tx=D(0), wallet=D(1000))
    a.open(D(1000), D(15), D(200))
    assert abs(a.health_factor(D(180)) - (1 - D(2000) / (D(2700) * D("0.85")))) < D("1e-20")
    a.reduce(D("0.25"), D(180))
    assert abs(a.tokens - D(2023) / 180) < D("1e-20") and abs(a.debt - 1323) < D("1e-20")
    assert abs(a.tokens * 180 - a.debt - 700) < D("1e-20") and abs(a.wallet) < D("1e-20")
    assert abs(a.health_factor(D(180)) - (1 - D(1323) / (D(2023) * D("0.85")))) < D("1e-20")
    assert a.health_factor(D(180)) > D("0.23")  # from 0.1285


def test_a_long_with_no_debt_is_reduced_by_a_partial_close() -> None:
    a = SimAsgard(Ledger(), open_fee=D(0), gas_per_tx=D(0), wallet=D(1000))
    a.open(D(1000), D(5), D(200))
    a.reduce(D("0.25"), D(180))
    assert a.tokens == D("3.75") and a.debt == 0 and a.wallet == D("1.25") * 180


def test_each_day_visits_its_high_and_low() -> None:
    up = Candle(date(2025, 1, 1), open=D(100), high=D(120), low=D(90), close=D(110))
    assert [candle_price(up, h) for h in (0, 4, 8, 12, 16, 20)] == [
        D(100),
        D(95),
        D(90),
        D(105),
        D(120),
        D(115),
    ]
    down = Candle(date(2025, 1, 2), open=D(100), high=D(120), low=D(90), close=D(95))
    assert [candle_price(down, h) for h in (0, 8, 16, 23)] == [D(100), D(120), D(90), D(95) - D(5) / 8]
