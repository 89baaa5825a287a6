"""Margin math: fills on positions, realized PnL, cross and isolated margin, liquidation price."""

from __future__ import annotations

from decimal import Decimal

from devnet.hyperliquid.clearinghouse import Account, LeverageSetting, apply_fill, margin_view, render_state
from devnet.hyperliquid.prices import Asset

SOL = Asset(5, "SOL", 2, 20, 54, False)
ETH = Asset(1, "ETH", 4, 25, 55, False)
ASSETS = {"SOL": SOL, "ETH": ETH}
D = Decimal


def funded(amount: str = "1000") -> Account:
    return Account("0x" + "ab" * 20, balance=D(amount))


def test_open_increase_close_and_flip() -> None:
    acct = funded()
    e = apply_fill(acct, SOL, False, D("150"), D("2"), D("0.135"))
    assert (e.direction, e.start_position, e.closed_pnl) == ("Open Short", D(0), D(0))
    e = apply_fill(acct, SOL, False, D("160"), D("2"), D(0))
    assert e.direction == "Open Short" and acct.positions["SOL"].entry_px == D("155")
    # Buying back 1 at 145 realizes (155 − 145) × 1 for a short.
    e = apply_fill(acct, SOL, True, D("145"), D("1"), D(0))
    assert (e.direction, e.closed_pnl) == ("Close Short", D("10"))
    assert acct.positions["SOL"].szi == D(-3)
    # Buying 5 closes the 3 left and opens a 2 long at the fill price.
    e = apply_fill(acct, SOL, True, D("150"), D("5"), D(0))
    assert (e.direction, e.closed_pnl) == ("Short > Long", D("15"))
    pos = acct.positions["SOL"]
    assert (pos.szi, pos.entry_px) == (D(2), D(150))
    assert acct.balance == D("1000") - D("0.135") + D("10") + D("15")
    e = apply_fill(acct, SOL, False, D("150"), D("2"), D(0))
    assert e.direction == "Close Long" and "SOL" not in acct.positions


def test_cross_summary_and_maintenance_margin() -> None:
    acct = funded()
    apply_fill(acct, SOL, False, D("150"), D("10"), D(0))  # 20x cross by default
    view = margin_view(acct, ASSETS, {"SOL": D("140"), "ETH": D("3000")})
    pv = view.positions[0]
    assert pv.unrealized == D("100")  # short 10 from 150 to 140
    assert view.cross_value == D("1100")
    assert view.cross_notional == D("1400")
    assert view.cross_margin_used == D("1400") / 20
    assert view.cross_maintenance == D("1400") / 40  # notional / (2 × max leverage)
    assert view.withdrawable == D("1100") - D("140")  # 10 % of notional exceeds the initial margin
    state = render_state(view, {}, 123)
    assert state["crossMaintenanceMarginUsed"] == "35.0"
    assert state["marginSummary"]["accountValue"] == "1100.0"
    # totalRawUsd = account value − Σ szi × mark: 1000 deposited + 1500 from selling 10 at 150.
    assert state["marginSummary"]["totalRawUsd"] == "2500.0"
    position = state["assetPositions"][0]["position"]
    assert position["szi"] == "-10.0" and position["leverage"] == {"type": "cross", "value": 20}
    assert position["returnOnEquity"] == "1.333333333"  # 100 / (1500 / 20)
    assert state["time"] == 123


def test_liquidation_price_is_where_equity_meets_maintenance() -> None:
    for is_buy in (True, False):
        acct = funded("500")
        apply_fill(acct, SOL, is_buy, D("150"), D("50"), D(0))
        apply_fill(acct, ETH, True, D("3000"), D("0.5"), D(0))
        marks = {"SOL": D("150"), "ETH": D("3000")}
        view = margin_view(acct, ASSETS, marks)
        sol = next(pv for pv in view.positions if pv.asset is SOL)
        assert sol.liquidation_px is not None
        at_liq = margin_view(acct, ASSETS, {**marks, "SOL": sol.liquidation_px})
        assert abs(at_liq.cross_value - at_liq.cross_maintenance) < D("0.000001")
        beyond = sol.liquidation_px * (D("0.99") if is_buy else D("1.01"))
        assert margin_view(acct, ASSETS, {**marks, "SOL": beyond}).liquidatable_cross()


def test_well_collateralized_long_has_no_liquidation_price() -> None:
    acct = funded("100000")
    apply_fill(acct, SOL, True, D("150"), D("1"), D(0))
    view = margin_view(acct, ASSETS, {"SOL": D("150"), "ETH": D("3000")})
    assert view.positions[0].liquidation_px is None
    assert render_state(view, {}, 0)["assetPositions"][0]["position"]["liquidationPx"] is None


def test_isolated_position_holds_its_own_margin() -> None:
    acct = funded()
    acct.leverage["SOL"] = LeverageSetting(False, 5)
    apply_fill(acct, SOL, True, D("150"), D("2"), D("0.135"))
    pos = acct.positions["SOL"]
    assert pos.margin == D("60")  # 300 / 5 moved out of the balance
    assert acct.balance == D("1000") - D("60") - D("0.135")
    view = margin_view(acct, ASSETS, {"SOL": D("140"), "ETH": D("3000")})
    pv = view.positions[0]
    assert pv.margin_used == D("40")  # equity: margin 60 + unrealized −20
    assert view.cross_value == acct.balance  # the isolated loss does not touch the cross account
    assert view.total_value == acct.balance + D("40")
    leverage = render_state(view, {}, 0)["assetPositions"][0]["position"]["leverage"]
    assert leverage == {"type": "isolated", "value": 5, "rawUsd": "-240.0"}  # margin − szi × entry
    # Liquidation when equity (60 + 2 × (p − 150)) meets 2 × p / 40.
    assert pv.liquidation_px is not None
    assert abs(D(60) + 2 * (pv.liquidation_px - 150) - 2 * pv.liquidation_px / 40) < D("1e-9")
    # Closing half releases half the margin and realizes the loss into the balance.
    before = acct.balance
    apply_fill(acct, SOL, False, D("140"), D("1"), D(0))
    assert pos.margin == D("30") and acct.balance == before + D("30") - D("10")


def test_funding_columns_count_paid_as_positive() -> None:
    acct = funded()
    apply_fill(acct, SOL, False, D("150"), D("1"), D(0))
    acct.positions["SOL"].funding_since_open = D("-0.5")  # the short received 0.5
    view = margin_view(acct, ASSETS, {"SOL": D("150"), "ETH": D("3000")})
    cum = render_state(view, {"SOL": D("-1.25")}, 0)["assetPositions"][0]["position"]["cumFunding"]
    assert cum == {"allTime": "-1.25", "sinceOpen": "-0.5", "sinceChange": "0.0"}
