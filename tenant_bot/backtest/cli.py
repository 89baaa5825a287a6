"""`python -m tenant_bot.backtest` (what `basis backtest` and `make backtest` run).

    --data DIR          the recorded history (four files, see `history`); required
    --leverage L        2 to 4; repeat it or give a list (2,3,4, the default)
    --capital USD       capital, half on each venue (default 10000)
    --from / --to DATE  the first and last UTC day to replay (default: the whole window)
    --static            no price path: the net carry held at the first price (the ceiling)
    --min-net-apy F     the entry threshold (default the bot's own, 0.05)
    --json PATH         every figure, the events and the daily series as JSON
    --svg PATH          the chart

Exit codes: 0 done, 2 bad arguments or unreadable data (one sentence on stderr, no trace).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TextIO

from shared.logging import configure_logging
from shared.market_history import HistoryError, load_history
from tenant_bot.backtest.report import svg, table, to_json
from tenant_bot.backtest.run import Backtest, BacktestConfig, Result
from tenant_bot.strategy.opportunity import check_leverage

DEFAULT_LEVERAGES = (Decimal(2), Decimal(3), Decimal(4))
BAR = 30


class UsageError(ValueError):
    pass


def _decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UsageError(f"{what} must be a number, got {text!r}") from None
    if not value.is_finite():
        raise UsageError(f"{what} must be a finite number, got {text!r}")
    return value


def _leverages(values: Sequence[str] | None) -> tuple[Decimal, ...]:
    if not values:
        return DEFAULT_LEVERAGES
    out = []
    for text in (part for value in values for part in value.split(",")):
        try:
            out.append(check_leverage(_decimal(text.strip(), "the leverage")))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return tuple(dict.fromkeys(out))


def _day(text: str | None, what: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{what} must be a date as YYYY-MM-DD, got {text!r}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="basis backtest",
        description="Replay recorded market history through the bot's own decision code.",
    )
    p.add_argument("--data", required=True, help="folder of recorded history")
    p.add_argument("--leverage", action="append", help="2 to 4; repeat or list (default 2,3,4)")
    p.add_argument("--capital", default="10000", help="USD, half on each venue (default 10000)")
    p.add_argument("--from", dest="start", help="first UTC day, YYYY-MM-DD")
    p.add_argument("--to", dest="end", help="last UTC day, YYYY-MM-DD")
    p.add_argument("--static", action="store_true", help="no price path: the net carry (the ceiling)")
    p.add_argument("--min-net-apy", help="entry threshold, a fraction (default the bot's 0.05)")
    p.add_argument("--json", dest="json_path", help="write the figures as JSON here")
    p.add_argument("--svg", dest="svg_path", help="write the chart here")
    return p


class ProgressBar:
    """A bar on a terminal (nothing otherwise): one line per leverage, redrawn in place."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream, self.label = stream, label
        self.on = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.on:
            return
        filled = BAR * done // total
        end = "\n" if done == total else ""
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (BAR - filled)}] {100 * done // total:3d} %{end}"
        )
        self.stream.flush()


def _write(path: Path, text: str, out: TextIO) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    out.write(f"wrote {path}\n")


def run(argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse has said why
        return int(exc.code or 0)
    try:
        leverages = _leverages(args.leverage)
        capital = _decimal(args.capital, "the capital")
        if capital < 100:
            raise UsageError(f"the capital must be at least $100, got {capital}")
        start, end = _day(args.start, "--from"), _day(args.end, "--to")
        history = load_history(args.data).window(start, end)
        extra = {}
        if args.min_net_apy is not None:
            extra["min_entry_net_apy"] = _decimal(args.min_net_apy, "--min-net-apy")
        results: list[Result] = []
        for lev in leverages:
            config = BacktestConfig(leverage=lev, capital_usd=capital, static=args.static, **extra)
            results.append(Backtest(history, config, ProgressBar(err, f"{lev}x")).run())
        out.write(table(results) + "\n")
        if args.json_path:
            _write(Path(args.json_path), json.dumps(to_json(results), indent=1), out)
        if args.svg_path:
            _write(Path(args.svg_path), svg(results), out)
    except (UsageError, HistoryError) as exc:
        err.write(f"error: {exc}\n")
        return 2
    except OSError as exc:
        err.write(f"error: cannot write the output: {exc}\n")
        return 2
    return 0


def main() -> None:
    configure_logging("warning")  # the risk engine's events are in the results, not the terminal
    sys.exit(run())
