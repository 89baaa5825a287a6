from __future__ import annotations

from decimal import Decimal as D

import pytest

from shared.assets import Asset, Protocol
from shared.rates import Apy, FundingRate
from tenant_bot.strategy.opportunity import FeeModel, best_opportunity, decompose, table
from tenant_bot.strategy.rates import LendingRate

from .snapshots import snapshot

# Funding 0.0000125/h → APR 0.0000125 × 8760 = 0.1095. Kamino SOL: supply 0.05, USDC borrow 0.07.
# Fees (defaults): round trip on notional = 2 × 0.00045 + 0.0015 + 0 + 4 × 2 bps = 0.0032.
FREE = FeeModel(hl_taker_fee=D(0), asgard_open_fee=D(0), asgard_close_fee=D(0), slippage_bps=D(0))


@pytest.mark.parametrize(
    ("leverage", "gross"),
    [
        # ½ × [2 × (0.1095 + 0.05) − 1 × 0.07] = ½ × (0.319 − 0.07) = 0.1245
        (2, D("0.1245")),
        # ½ × [3 × 0.1595 − 2 × 0.07] = ½ × (0.4785 − 0.14) = 0.16925
        (3, D("0.16925")),
        # ½ × [4 × 0.1595 − 3 × 0.07] = ½ × (0.638 − 0.21) = 0.214
        (4, D("0.214")),
    ],
)
def test_gross_apy_on_capital_by_leverage(leverage: int, gross: D) -> None:
    row = decompose(snapshot(), leverage, Protocol.KAMINO, Asset.SOL, FREE)
    assert row.gross_apy == gross
    assert row.net_apy == gross
    assert row.fees_apy == 0
    assert row.funding_apr == D("0.1095")
    assert row.supply_apy == D("0.05") and row.borrow_apy == D("0.07") and row.staking_apy == 0


def test_fees_are_amortised_over_the_holding_time() -> None:
    fees = FeeModel()  # 14 days
    assert fees.round_trip_on_notional() == D("0.0032")
    # at 3x the notional per leg is 1.5 × capital: 1.5 × 0.0032 = 0.0048 of capital
    assert fees.round_trip_on_capital(3) == D("0.0048")
    row = decompose(snapshot(), 3, Protocol.KAMINO, Asset.SOL, fees)
    # 0.0048 × 365 / 14 = 1.752 / 14
    assert row.fees_apy == D("1.752") / 14
    assert row.net_apy == D("0.16925") - D("1.752") / 14
    # break-even: 0.0048 of capital paid by 0.16925/yr of gross carry = 1.752 / 0.16925 ≈ 10.35 days
    assert row.break_even_days == D("1.752") / D("0.16925")
    assert D("10.35") < row.break_even_days < D("10.36")


def test_a_year_long_hold_pays_the_fees_once() -> None:
    fees = FeeModel(holding_days=D(365))
    row = decompose(snapshot(), 2, Protocol.KAMINO, Asset.SOL, fees)
    # at 2x the notional equals capital: fees 0.0032 of capital, once in the year
    assert row.fees_apy == D("0.0032")
    assert row.net_apy == D("0.1245") - D("0.0032")


def test_lst_adds_its_staking_yield() -> None:
    row = decompose(snapshot(), 3, Protocol.KAMINO, Asset.JITOSOL, FREE)
    # ½ × [3 × (0.1095 + 0.08 + 0.002) − 2 × 0.07] = ½ × (0.5745 − 0.14) = 0.21725
    assert row.gross_apy == D("0.21725")
    assert row.components["staking"] == D("1.5") * D("0.08")


def test_components_sum_to_the_net_apy() -> None:
    row = decompose(snapshot(), 3, Protocol.KAMINO, Asset.JITOSOL, FeeModel())
    assert set(row.components) == {"funding", "staking", "supply", "borrow", "fees"}
    assert sum(row.components.values()) == row.net_apy
    assert row.components["borrow"] == -D("0.07")  # (3 − 1) / 2 × 0.07
    assert row.components["fees"] == -row.fees_apy


def test_the_research_backtest_carry_without_funding() -> None:
    # venues.md §5: at 3x with lend 5.24 % and borrow 6.71 %, carry on the collateral (C/2) is
    # 15.72 − 13.42 = 2.3 %; on the whole capital that is half: 1.15 %.
    lending = (LendingRate(Protocol.KAMINO, Asset.SOL, Apy(D("0.0524")), Apy(D("0.0671")), None),)
    snap = snapshot(funding=FundingRate.hourly(0), lending=lending)
    row = decompose(snap, 3, Protocol.KAMINO, Asset.SOL, FREE)
    assert row.gross_apy == D("0.0115")


def test_negative_carry_never_breaks_even() -> None:
    snap = snapshot(funding=FundingRate.hourly("-0.0000133865"))  # −11.7 % APR
    row = decompose(snap, 3, Protocol.KAMINO, Asset.SOL, FeeModel())
    assert row.gross_apy < 0
    assert row.break_even_days is None
    assert row.net_apy < row.gross_apy


@pytest.mark.parametrize("leverage", [D("1.99"), 1, 5, D("4.01")])
def test_leverage_outside_two_to_four_is_refused(leverage: D) -> None:
    with pytest.raises(ValueError, match=r"leverage must be between 2x and 4x"):
        decompose(snapshot(), leverage, Protocol.KAMINO, Asset.SOL, FREE)
    with pytest.raises(ValueError, match="leverage"):
        table(snapshot(), leverage, FREE)


def test_unknown_market_and_non_sol_collateral_are_refused() -> None:
    with pytest.raises(ValueError, match="no lending rate"):
        decompose(snapshot(), 3, Protocol.SOLEND, Asset.SOL, FREE)
    with pytest.raises(ValueError, match="SOL or an LST"):
        decompose(snapshot(), 3, Protocol.KAMINO, Asset.USDC, FREE)


def test_table_is_sorted_best_first_and_skips_markets_that_cannot_take_the_leverage() -> None:
    rows = table(snapshot(), 3, FREE)
    assert [(r.protocol, r.asset) for r in rows] == [
        (Protocol.KAMINO, Asset.JITOSOL),  # 0.21725
        (Protocol.MARGINFI, Asset.SOL),  # ½ × [3 × (0.1095 + 0.045) − 2 × 0.06] = 0.17175
        (Protocol.KAMINO, Asset.SOL),  # 0.16925
    ]
    nets = [r.net_apy for r in rows]
    assert nets == sorted(nets, reverse=True)
    # Kamino SOL allows at most 3.84x: gone at 4x.
    at_four = table(snapshot(), 4, FREE)
    assert (Protocol.KAMINO, Asset.SOL) not in [(r.protocol, r.asset) for r in at_four]
    assert len(at_four) == 2


def test_best_opportunity_respects_filters_and_capacity() -> None:
    snap = snapshot()
    best = best_opportunity(snap, 3, FREE)
    assert best is not None and (best.protocol, best.asset) == (Protocol.KAMINO, Asset.JITOSOL)

    sol_only = best_opportunity(snap, 3, FREE, allowed_assets={Asset.SOL})
    # marginfi: ½ × [3 × (0.1095 + 0.045) − 2 × 0.06] = ½ × (0.4635 − 0.12) = 0.17175 > Kamino's 0.16925
    assert sol_only is not None and sol_only.protocol is Protocol.MARGINFI
    assert sol_only.gross_apy == D("0.17175")

    big = best_opportunity(snap, 3, FREE, allowed_assets={Asset.SOL}, min_capacity_usd=D(100_000))
    assert big is not None and big.protocol is Protocol.KAMINO  # marginfi has only 50k

    none = best_opportunity(snap, 3, FREE, allowed_protocols={Protocol.DRIFT})
    assert none is None


def test_inactive_and_unreported_capacity_markets() -> None:
    lending = (
        LendingRate(Protocol.DRIFT, Asset.SOL, Apy(D("0.30")), Apy(D("0.01")), D(10**9), active=False),
        LendingRate(Protocol.SOLEND, Asset.SOL, Apy(D("0.06")), Apy(D("0.05")), None),
    )
    snap = snapshot(lending=lending)
    assert [r.protocol for r in table(snap, 3, FREE)] == [Protocol.SOLEND]
    best = best_opportunity(snap, 3, FREE)
    assert best is not None and best.protocol is Protocol.SOLEND and best.capacity_usd is None
    # a capacity requirement excludes a market that does not report one
    assert best_opportunity(snap, 3, FREE, min_capacity_usd=D(1)) is None


def test_fee_model_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="negative"):
        FeeModel(hl_taker_fee=D("-0.0001"))
    with pytest.raises(ValueError, match="holding_days"):
        FeeModel(holding_days=D(0))
