"""What the user's own settings would have done over the recorded window, for the dashboard.

`Backtests.ask(config)` answers at once: the finished run of these settings (kept, most recent
`KEPT` settings), or "computing" with how far the run has got. A run is the backtest's
(`tenant_bot.backtest.run.Backtest`: the bot's own `decide` and sizing over the history the bot
package ships, `tenant_bot.backtest.SHIPPED_HISTORY`), started on first ask in one worker thread,
off the event loop: it takes a few seconds of CPU, and one at a time is what a shared host can
spare. The figures are the backtest report's own JSON (`report.to_json`) and its SVG chart.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog

from shared.market_history import History, HistoryError, load_history
from tenant_bot.backtest import SHIPPED_HISTORY
from tenant_bot.backtest.report import svg, to_json
from tenant_bot.backtest.run import Backtest, BacktestConfig
from tenant_bot.errors import Refused

log = structlog.get_logger("basis.api.backtests")

KEPT = 16  # finished runs kept, one per settings asked (a run's JSON is tens of kB)
QUEUED = 4  # runs waiting or running at once; more is refused (each is seconds of CPU)

Key = tuple[str, str, str, str]


def key_of(config: BacktestConfig) -> Key:
    """What makes two runs the same: leverage, capital, entry threshold and risk thresholds."""
    return (
        str(config.leverage.normalize()),
        str(config.capital_usd.normalize()),
        str(config.min_entry_net_apy.normalize()),
        config.risk.model_dump_json(),
    )


class _Stopped(Exception):
    """The bot is stopping: the run ends here."""


@dataclass(frozen=True)
class Finished:
    """A run's figures (the report's JSON of one run, without its daily series) and its chart."""

    figures: dict[str, Any]
    chart_svg: str


@dataclass
class Answer:
    state: str  # "done", "computing" or "failed"
    finished: Finished | None = None
    progress: Decimal = Decimal(0)  # share of the window's hours run so far
    error: str | None = None


class Backtests:
    """Backtests of settings over the shipped record, one run per settings, cached."""

    def __init__(self, folder: Path = SHIPPED_HISTORY) -> None:
        self.folder = folder
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backtest")
        self._history: History | None = None
        self._lock = threading.Lock()  # the progress, written by the worker
        self._done: OrderedDict[Key, Finished] = OrderedDict()
        self._running: dict[Key, asyncio.Future[Finished]] = {}
        self._progress: dict[Key, Decimal] = {}
        self._failed: dict[Key, str] = {}
        self._closing = threading.Event()

    def ask(self, config: BacktestConfig) -> Answer:
        """The run of `config`: finished, or started now (or earlier) and computing; `Refused` when
        `QUEUED` runs of other settings are already waiting."""
        key = key_of(config)
        if key in self._done:
            self._done.move_to_end(key)
            return Answer("done", self._done[key], Decimal(1))
        if key in self._failed:
            return Answer("failed", error=self._failed[key])
        if key not in self._running:
            if self._closing.is_set():
                raise Refused("the bot is stopping; it runs no more backtests")
            if len(self._running) >= QUEUED:
                raise Refused(f"{QUEUED} backtests are already running; ask again when they finish")
            self._start(key, config)
        with self._lock:
            progress = self._progress.get(key, Decimal(0))
        return Answer("computing", progress=progress)

    def close(self) -> None:
        """Stop: queued runs are dropped and a running one stops at its next progress report, so a
        stopping bot does not wait seconds for a chart nobody will see."""
        self._closing.set()
        self._worker.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ internals
    def _start(self, key: Key, config: BacktestConfig) -> None:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._worker, self._run, key, config)
        self._running[key] = future
        future.add_done_callback(lambda f: self._finished(key, f))

    def _finished(self, key: Key, future: asyncio.Future[Finished]) -> None:
        self._running.pop(key, None)
        with self._lock:
            self._progress.pop(key, None)
        if future.cancelled() or isinstance(future.exception(), _Stopped):
            return
        exc = future.exception()
        if isinstance(exc, HistoryError):
            # The record is part of the bot package: a broken one will not mend by asking again.
            self._failed[key] = f"the recorded history cannot be read: {exc}"
            return
        if exc is not None:
            log.error("backtest failed", error=f"{type(exc).__name__}: {exc}")
            self._failed[key] = f"the backtest of these settings failed ({type(exc).__name__})"
            return
        self._done[key] = future.result()
        while len(self._done) > KEPT:
            self._done.popitem(last=False)

    def _run(self, key: Key, config: BacktestConfig) -> Finished:
        """In the worker thread: load the record once, run, keep the report's figures and chart."""
        if self._history is None:
            self._history = load_history(self.folder)

        def progress(done: int, total: int) -> None:
            if self._closing.is_set():
                raise _Stopped
            with self._lock:
                self._progress[key] = Decimal(done) / Decimal(total)

        result = Backtest(self._history, config, progress).run()
        figures = to_json([result])["runs"][0]
        figures.pop("series")  # the chart carries it
        return Finished(figures, svg([result]))
