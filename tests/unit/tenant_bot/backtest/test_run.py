"""The backtest runs the live bot's own decision code over history; its static mode is the net-carry
formula, computed here independently from the raw files."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

import tenant_bot.backtest.run as backtest_run
import tenant_bot.bot
import tenant_bot.decision
import tenant_bot.trader
from shared.market_history import load_history
from tenant_bot.backtest.run import Backtest, BacktestConfig
from tests.support.history import HISTORY_DIR
from tests.support.synthetic_history import write_history

TAKER, ASGARD_OPEN = D("0.00035"), D("0.0015")  # the study's schedule (data README)


def _net_carry(leverage: D) -> D:
    """½·[L·(funding APR + supply APY) − (L−1)·borrow APY] − the round trip's fees, per year, from the
    raw files: hourly funding × 8760, daily yields in percent, over the funding window's days."""
    funding = [
        D(r["fundingRate"])
        for r in json.loads((HISTORY_DIR / "hyperliquid_sol_funding_hourly.json").read_text())
    ]
    days = D(len(funding)) / 24
    funding_apr = sum(funding) / len(funding) * 8760

    def mean_pct(name: str, key: str) -> D:
        rows = json.loads((HISTORY_DIR / name).read_text())
        kept = [D(str(r[key])) for r in rows if "2024-12-31" <= r["timestamp"][:10] <= "2025-08-30"]
        return sum(kept) / len(kept) / 100

    supply = mean_pct("kamino_sol_supply_daily.json", "apyBase")
    borrow = mean_pct("kamino_usdc_borrow_daily.json", "apyBaseBorrow")
    fees = leverage / 2 * (2 * TAKER + ASGARD_OPEN) * 365 / days
    return leverage / 2 * (funding_apr + supply) - (leverage - 1) / 2 * borrow - fees


@pytest.mark.parametrize("leverage", [D(2), D(3), D(4)])
def test_static_mode_matches_the_net_carry_formula_within_a_tenth_of_a_point(leverage: D) -> None:
    result = Backtest(load_history(HISTORY_DIR), BacktestConfig(leverage=leverage, static=True)).run()
    assert abs(result.annualised - _net_carry(leverage)) < D("0.001")
    assert result.liquidations == 0 and result.hours_out == 0
    wf = result.waterfall()
    assert abs(wf["price"]) < D("0.01")  # nothing moved but the carry
    assert sum(wf.values()) == result.net_usd


def test_the_backtest_calls_the_live_bots_own_functions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The very function objects the live bot and its trader call.
    assert backtest_run.decide is tenant_bot.decision.decide is tenant_bot.bot.decide
    assert backtest_run.plan_open is tenant_bot.decision.plan_open is tenant_bot.trader.plan_open
    calls: list[Any] = []
    real = tenant_bot.decision.decide

    def spy(*args: Any) -> Any:
        decision = real(*args)
        calls.append(decision)
        return decision

    monkeypatch.setattr(backtest_run, "decide", spy)
    history = load_history(write_history(tmp_path / "h", [("100", "101", "99", "100")] * 2))
    result = Backtest(history, BacktestConfig(leverage=D(3))).run()
    assert len(calls) == result.hours == 48  # one decision per hourly step
    assert calls[0].enter and result.count("opens") == 1  # the bot's entry decision opened it


def test_a_jump_past_the_shorts_liquidation_is_a_liquidation_then_a_halt_and_the_rest_closed(
    tmp_path: Path,
) -> None:
    # Day 1 flat at $100; day 2 (an up day: low first, at hour 8, then the high at hour 16) rises from
    # $100 to $400 between hours 8 and 16, $37.50 an hour: +37.5 % in one step, past the 3x short's
    # liquidation at about +32 %, before any breaker can act.
    candles = [("100", "100", "100", "100"), ("100", "400", "100", "100"), ("100", "100", "100", "100")]
    history = load_history(write_history(tmp_path / "h", candles))
    result = Backtest(history, BacktestConfig(leverage=D(3))).run()
    assert result.count("hyperliquid_liquidations") >= 1 and result.count("asgard_liquidations") == 0
    first = result.events[:4]
    assert [e.kind for e in first] == ["open", "liquidation", "halt", "close"]
    assert (first[1].at.day, first[1].at.hour) == (2, 9) and first[1].at == first[2].at == first[3].at
    assert "Hyperliquid short liquidated at $137.50" in first[1].text
    assert "Hyperliquid holds a SOL short of 0" in first[2].text  # the live reconcile's sentence
    assert result.waterfall()["liquidation"] < 0
    assert sum(result.waterfall().values()) == result.net_usd


def test_a_slow_rise_is_reduced_by_the_breakers_before_liquidation(tmp_path: Path) -> None:
    # +40 % over 8 hours (5 % an hour): the short's breakers act hour by hour.
    candles = [("100", "100", "100", "100"), ("100", "140", "100", "140"), ("140", "140", "140", "140")]
    result = Backtest(
        load_history(write_history(tmp_path / "h", candles)), BacktestConfig(leverage=D(3))
    ).run()
    assert result.liquidations == 0
    reductions = [e for e in result.events if e.kind == "reduce"]
    assert reductions and "from liquidation, below the reduce threshold 10%" in reductions[0].text


def test_at_2x_the_bot_is_never_liquidated_over_the_recorded_window() -> None:
    result = Backtest(load_history(HISTORY_DIR), BacktestConfig(leverage=D(2))).run()
    assert result.liquidations == 0
    assert sum(result.waterfall().values()) == result.net_usd
    assert result.count("opens") >= 1


def test_a_run_keeps_the_risk_engines_events_out_of_the_log(tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    # A day up 45 %: the short nears liquidation and the breakers act; none of it reaches the log
    # of the process that ran the backtest (a bot's API runs it for its dashboard).
    folder = write_history(tmp_path / "h", [("100", "101", "99", "100"), ("100", "150", "99", "145")])
    with capture_logs() as logs:
        result = Backtest(load_history(folder), BacktestConfig(leverage=D(4))).run()
    assert {e.kind for e in result.events} & {"reduce", "close", "liquidation"}
    assert [entry for entry in logs if entry["event"] == "risk_event"] == []
