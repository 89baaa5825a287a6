"""The API's backtests (tenant_bot/api/backtests.py): one run per settings, off the event loop,
kept, bounded, and a record that cannot be read said in a sentence."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from tenant_bot.api.backtests import QUEUED, Backtests, _Stopped
from tenant_bot.api.backtests import key_of as backtests_key
from tenant_bot.backtest.run import BacktestConfig
from tenant_bot.errors import Refused
from tests.support.synthetic_history import write_history

DAYS = [("100", "102", "98", "101")] * 3


async def _until_done(backtests: Backtests, config: BacktestConfig) -> None:
    for _ in range(600):
        if backtests.ask(config).state != "computing":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the run did not finish")


async def test_a_run_is_computed_once_then_kept(tmp_path: Path) -> None:
    backtests = Backtests(write_history(tmp_path / "h", DAYS, funding="0.0001"))
    config = BacktestConfig(leverage=Decimal(3))
    first = backtests.ask(config)
    assert first.state == "computing" and first.finished is None
    await _until_done(backtests, config)
    done = backtests.ask(config)
    assert done.state == "done" and done.finished is not None and done.progress == 1
    assert done.finished.figures["leverage"] == "3" and "series" not in done.finished.figures
    assert done.finished.chart_svg.startswith("<svg")
    # The same settings written otherwise are the same run; another leverage is another.
    assert backtests.ask(BacktestConfig(leverage=Decimal("3.0"))).finished is done.finished
    assert backtests.ask(BacktestConfig(leverage=Decimal("2.5"))).state == "computing"
    backtests.close()


async def test_more_than_queued_runs_at_once_are_refused_with_a_sentence(tmp_path: Path) -> None:
    backtests = Backtests(write_history(tmp_path / "h", DAYS))
    for i in range(QUEUED):
        assert backtests.ask(BacktestConfig(leverage=Decimal(2) + Decimal(i) / 10)).state == "computing"
    with pytest.raises(Refused, match=f"{QUEUED} backtests are already running"):
        backtests.ask(BacktestConfig(leverage=Decimal(4)))
    backtests.close()


async def test_an_unreadable_record_is_a_failure_with_a_sentence(tmp_path: Path) -> None:
    backtests = Backtests(tmp_path / "missing")
    config = BacktestConfig(leverage=Decimal(3))
    await _until_done(backtests, config)
    answer = backtests.ask(config)
    assert answer.state == "failed"
    assert answer.error is not None and "the recorded history cannot be read" in answer.error
    backtests.close()


async def test_closing_stops_a_running_run_at_its_next_progress_report(tmp_path: Path) -> None:
    backtests = Backtests(write_history(tmp_path / "h", DAYS * 20))
    config = BacktestConfig(leverage=Decimal(3))
    assert backtests.ask(config).state == "computing"
    future = backtests._running[backtests_key(config)]
    backtests.close()
    with pytest.raises((_Stopped, asyncio.CancelledError)):  # stopped, or dropped before it began
        await future
    with pytest.raises(Refused, match="the bot is stopping"):
        backtests.ask(config)
