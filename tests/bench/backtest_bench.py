"""Backtest figures: the whole recorded window at hourly steps, per leverage (issue 15: ≤ 10 s)."""

from __future__ import annotations

from decimal import Decimal

from shared.logging import configure_logging
from shared.market_history import load_history
from tenant_bot.backtest.run import Backtest, BacktestConfig
from tests.bench.results import Figure
from tests.support.history import HISTORY_DIR

TARGET_S = 10.0


def backtest_figures() -> list[Figure]:
    configure_logging("warning")
    history = load_history(HISTORY_DIR)
    figures = []
    for lev in (Decimal(2), Decimal(3), Decimal(4)):
        result = Backtest(history, BacktestConfig(leverage=lev)).run()
        figures.append(
            Figure(
                "backtest",
                f"whole window, hourly, {lev}x",
                result.seconds,
                "s",
                f"≤ {TARGET_S:g} s",
                result.seconds <= TARGET_S,
                note=f"{result.hours} steps; {result.annualised * 100:+.2f} % a year, "
                f"{result.liquidations} liquidation(s)",
            )
        )
    return figures


BENCHES = [backtest_figures]
