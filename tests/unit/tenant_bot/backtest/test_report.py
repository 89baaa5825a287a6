"""The table, the JSON and the chart say what the run did; the progress bar shows on a terminal only."""

from __future__ import annotations

import io
import json
from decimal import Decimal as D
from pathlib import Path
from xml.etree import ElementTree

from shared.market_history import load_history
from tenant_bot.backtest.cli import ProgressBar
from tenant_bot.backtest.report import STUDY_ROWS, svg, table, to_json
from tenant_bot.backtest.run import Backtest, BacktestConfig, Result
from tests.support.synthetic_history import write_history

SVG = "{http://www.w3.org/2000/svg}"


def _results(tmp_path: Path) -> list[Result]:
    candles = [("100", "100", "100", "100"), ("100", "140", "100", "140"), ("140", "141", "139", "140")]
    history = load_history(write_history(tmp_path / "h", candles))
    return [Backtest(history, BacktestConfig(leverage=D(lev))).run() for lev in (2, 3)]


def test_table_json_and_chart_agree_with_the_run(tmp_path: Path) -> None:
    results = _results(tmp_path)
    text = table(results)
    assert "2x" in text and "3x" in text
    for r in results:
        assert f"{r.annualised * 100:+.2f} %" in text
    for label in STUDY_ROWS:  # the study beside, with its window said
        assert label in text
    assert "longer than this data" in text
    runs = to_json(results)["runs"]
    for run, r in zip(runs, results, strict=True):
        assert sum(D(v) for v in run["waterfall_usd"].values()) == D(run["net_usd"]) == r.net_usd
        assert len(run["events"]) == len(r.events) and run["counts"] == r.ledger.counts
    json.dumps(runs)  # plain JSON
    root = ElementTree.fromstring(svg(results))
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert sum("reduce:" in t for t in titles) == sum(r.count("reductions") for r in results) > 0
    assert {"total", "Solana leg", "Hyperliquid leg", "SOL price"} <= set(titles)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_on_a_terminal_and_nowhere_else() -> None:
    tty = _Tty()
    bar = ProgressBar(tty, "3x")
    bar(50, 100)
    bar(100, 100)
    assert tty.getvalue() == "\r3x [" + "#" * 15 + "." * 15 + "]  50 %" + "\r3x [" + "#" * 30 + "] 100 %\n"
    pipe = io.StringIO()
    ProgressBar(pipe, "3x")(100, 100)
    assert pipe.getvalue() == ""
