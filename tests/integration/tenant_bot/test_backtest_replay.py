"""One recorded day through both the backtest and a live bot on the devnet's replay of it: the same
decision at every hour (open, reduce, close, rebalance, or hold).

The day is 2025-01-18, SOL $219.51 → $271.18 → $262.20 (the day of the TRUMP token's launch). At the
bot's defaults (3x, entries above 5 % net APY) with $10,000 it is the one day of the record where a
one-day backtest from a flat start decides more than "open and hold": it opens at 00:00 (net APY
about 9 %), and at 15:00, with SOL near $264, the short is under 10 % from liquidation and the
Hyperliquid margin breaker reduces the position. A day where nothing changes would prove little.

The live bot is a real `basis-bot` on a real devnet replaying that day (`--history`), its simulated
clock held still (speed 0.001) and moved one hour at a time with `advance`; after each hour the bot
runs one tick (`basis-bot run --ticks 1`), which observes, decides and acts as always. Its decision
for the hour is the executions that tick started (read from its journal, `basis-bot status`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from shared.market_history import load_history
from tenant_bot.backtest.run import Backtest, BacktestConfig
from tests.support.bot import BotProcess
from tests.support.devnet import start_devnet
from tests.support.history import HISTORY_DIR

pytestmark = pytest.mark.devnet

DAY = date(2025, 1, 18)
CAPITAL = Decimal(10_000)
LEVERAGE = Decimal(3)
HOURS = 24
DECISIONS = ("open", "close", "reduce", "rebalance")


def backtest_decisions() -> list[set[str]]:
    """The backtest's decision at each hour of DAY, from a flat start with CAPITAL at LEVERAGE."""
    history = load_history(HISTORY_DIR).window(DAY, DAY)
    result = Backtest(history, BacktestConfig(leverage=LEVERAGE, capital_usd=CAPITAL)).run()
    hours: list[set[str]] = [set() for _ in range(HOURS)]
    for e in result.events:
        if e.kind in DECISIONS:
            hours[e.at.hour].add(e.kind)
    return hours


def test_the_backtest_and_a_live_bot_on_the_replay_decide_alike_hour_by_hour(tmp_path: Path) -> None:
    expected = backtest_decisions()
    # The day is chosen for its change of decision: it must still have one.
    assert expected[0] == {"open"} and {"reduce"} in expected[1:], expected

    dn = start_devnet(
        seed=41,
        speed=0.001,  # simulated time moves only with `advance`
        extra=[
            "--history",
            str(HISTORY_DIR),
            "--history-from",
            DAY.isoformat(),
            "--history-to",
            DAY.isoformat(),
        ],
    )
    try:
        bot = BotProcess(
            dn,
            tmp_path / "bot",
            env_extra={
                "BASIS_AUTO_ENTRY": "true",
                "BASIS_LEVERAGE": str(LEVERAGE),
                "BASIS_ENTRY_CAPITAL_USD": str(CAPITAL),
            },
        )
        bot.init()
        half = str(CAPITAL / 2)  # as the backtest starts: half the capital on each venue
        bot.fund(usdc_solana=half, usdc_hl=half, sol="2")
        assert dn.state()["market"]["replay"]["replaying"].startswith(f"{DAY.isoformat()}T00:00")

        # Past the hour's settlement stamp (up to 60 ms after it), still on its first minute's price.
        dn.advance(seconds=0.061)
        live: list[set[str]] = []
        seen: set[str] = set()
        for hour in range(HOURS):
            if hour:
                dn.advance(hours=1)
            out = bot.cmd("run", "--ticks", "1")
            assert out.returncode == 0, out.stderr[-3000:]
            executions = bot.status()["executions"]
            started = {e["kind"] for e in executions if e["id"] not in seen}
            failed = [
                e for e in executions if e["id"] not in seen and e["outcome"] not in (None, "completed")
            ]
            assert failed == [], (hour, failed)
            seen |= {e["id"] for e in executions}
            live.append(started & set(DECISIONS))
        replaying = dn.state()["market"]["replay"]["replaying"]
        assert replaying.startswith(f"{DAY.isoformat()}T23:00"), replaying

        differences = {h: (expected[h], live[h]) for h in range(HOURS) if expected[h] != live[h]}
        assert differences == {}, f"hour: (backtest, live bot) where they differ: {differences}"
    finally:
        dn.stop()
