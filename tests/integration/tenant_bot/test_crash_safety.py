"""SIGKILL the bot at every crash point of the state machine in turn; the restart must finish safely.

The points are derived from the execution's steps (`tenant_bot/execution/crash.py`), and every one
is walked here: opens, closes, reductions, rebalances and unwinds. After each restart: no leg is
left naked (the Hyperliquid short matches the Asgard long, or both are flat), no order was sent
twice (one order per cloid), and the execution ends completed or cleanly unwound.
"""

from __future__ import annotations

import json
import signal
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tenant_bot.execution.crash import POINTS
from tests.support.bot import BotProcess
from tests.support.devnet import DevnetProcess, start_devnet

pytestmark = pytest.mark.devnet

OPEN_POINTS = [p for p in POINTS if p.startswith("open.")]
CLOSE_POINTS = [p for p in POINTS if p.startswith("close.")]
REDUCE_POINTS = [p for p in POINTS if p.startswith("reduce.")]
REBALANCE_POINTS = [p for p in POINTS if p.startswith("rebalance.")]
UNWIND_POINTS = [p for p in POINTS if p.startswith("unwind.")]


def test_every_crash_point_is_walked() -> None:
    walked = OPEN_POINTS + CLOSE_POINTS + REDUCE_POINTS + REBALANCE_POINTS + UNWIND_POINTS
    assert sorted(walked) == sorted(POINTS)


@pytest.fixture(scope="module")
def crash_devnet() -> Iterator[DevnetProcess]:
    dn = start_devnet(seed=21, speed=1.0)
    yield dn
    dn.stop()


def _bot(dn: DevnetProcess, root: Path, name: str) -> BotProcess:
    bot = BotProcess(dn, root / name, tenant_id=name)
    bot.init()
    bot.fund(usdc_solana="1000", usdc_hl="1000", sol="1")
    return bot


def _assert_hedged_or_flat(bot: BotProcess) -> str:
    status = bot.status()
    [ex_open] = [e for e in status["executions"] if e["kind"] == "open"]
    assert ex_open["outcome"] in ("completed", "unwound"), ex_open
    short = Decimal(str(bot.hl_short()))
    open_longs = bot.asgard_open()
    if ex_open["outcome"] == "completed":
        [pos] = [p for p in status["positions"] if p["id"] == ex_open["position_id"]]
        assert len(open_longs) == 1
        long_sol = Decimal(open_longs[0]["tokenAAmountUIEntry"])
        assert abs(long_sol - short) <= max(Decimal("0.01"), long_sol * Decimal("0.01")), (long_sol, short)
        assert Decimal(pos["short_size"]) == short
    else:
        assert short == 0 and open_longs == []
    _assert_no_order_twice(bot, status)
    return str(ex_open["outcome"])


def _assert_no_order_twice(bot: BotProcess, status: dict[str, Any]) -> None:
    oids_by_cloid: dict[str, set[int]] = defaultdict(set)
    for fill in bot.hl_fills():
        if fill.get("cloid"):
            oids_by_cloid[fill["cloid"]].add(fill["oid"])
    for cloid, oids in oids_by_cloid.items():
        assert len(oids) == 1, f"cloid {cloid} was filled by {len(oids)} orders"
    # Every Asgard position this wallet ever opened belongs to a journaled, confirmed long.
    journaled = {
        (st["result"] or {}).get("position_id") or st["key"]
        for e in status["executions"]
        for st in e["steps"]
        if st["name"] == "long" and st["status"] == "done"
    }
    assert len(bot.asgard_all()) <= max(1, len(journaled))


def _crash(bot: BotProcess, *args: str, point: str, steps: bool = False) -> None:
    run = bot.steps if steps else bot.cmd
    out = run(*args, BASIS_CRASH_AT=point)
    assert out.returncode == -signal.SIGKILL, (
        f"expected the bot to die at {point}, got {out.returncode}: {out.stderr[-2000:]}"
    )


def _restart(bot: BotProcess) -> None:
    out = bot.cmd("run", "--ticks", "2")
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.mark.parametrize("point", OPEN_POINTS)
def test_crash_during_open_ends_hedged_or_unwound(
    crash_devnet: DevnetProcess, tmp_path: Path, point: str
) -> None:
    bot = _bot(crash_devnet, tmp_path, point.replace(".", "-"))
    _crash(bot, "open", "--capital", "1000", "--asset", "SOL", point=point)
    _restart(bot)
    _assert_hedged_or_flat(bot)


@pytest.mark.parametrize("point", CLOSE_POINTS)
def test_crash_during_close_ends_flat(crash_devnet: DevnetProcess, tmp_path: Path, point: str) -> None:
    bot = _bot(crash_devnet, tmp_path, point.replace(".", "-"))
    out = bot.cmd("open", "--capital", "1000", "--asset", "SOL")
    assert out.returncode == 0, out.stderr[-3000:]
    position_id = json.loads(out.stdout)["position"]
    _crash(bot, "close", position_id, point=point)
    _restart(bot)
    status = bot.status()
    [pos] = [p for p in status["positions"] if p["id"] == position_id]
    assert pos["status"] == "closed", pos
    assert bot.hl_short() == 0
    assert bot.asgard_open() == []
    _assert_no_order_twice(bot, status)


@pytest.fixture(scope="module")
def adjusted(crash_devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory) -> tuple[BotProcess, str]:
    """One bot with one open position, reduced and rebalanced in turn by the tests below."""
    bot = _bot(crash_devnet, tmp_path_factory.mktemp("adjusted"), "adjusted")
    out = bot.cmd("open", "--capital", "1000", "--asset", "SOL", "--protocol", "kamino")
    assert out.returncode == 0, out.stderr[-3000:]
    return bot, str(json.loads(out.stdout)["position"])


def _assert_adjusted(bot: BotProcess, position_id: str, kind: str) -> None:
    status = bot.status()
    mine = [e for e in status["executions"] if e["position_id"] == position_id and e["kind"] == kind]
    assert mine and mine[-1]["outcome"] == "completed", mine[-1:]
    [pos] = [p for p in status["positions"] if p["id"] == position_id]
    assert pos["status"] == "open" and status["halted"] is None, (pos, status["halted"])
    assert Decimal(pos["short_size"]) == Decimal(str(bot.hl_short()))
    [record] = bot.asgard_open()
    held = Decimal(str(record.get("tokenAAmountUICurrent") or record["tokenAAmountUIEntry"]))
    # The venue's amount moves a little with lending interest; a partial close sent twice would
    # be off by the whole fraction (20 %).
    assert abs(Decimal(pos["long_token_size"]) - held) <= held * Decimal("0.001"), (pos, held)
    _assert_no_order_twice(bot, status)


@pytest.mark.parametrize("point", REDUCE_POINTS)
def test_crash_during_a_reduction_ends_reduced(adjusted: tuple[BotProcess, str], point: str) -> None:
    bot, position_id = adjusted
    _crash(bot, "reduce", position_id, "0.2", point=point, steps=True)
    _restart(bot)
    _assert_adjusted(bot, position_id, "reduce")


@pytest.mark.parametrize(
    ("point", "change"), list(zip(REBALANCE_POINTS, ("0.1", "-0.1", "0.1"), strict=True))
)
def test_crash_during_a_rebalance_ends_rebalanced(
    adjusted: tuple[BotProcess, str], point: str, change: str
) -> None:
    bot, position_id = adjusted
    _crash(bot, "rebalance", position_id, change, point=point, steps=True)
    _restart(bot)
    _assert_adjusted(bot, position_id, "rebalance")


@pytest.mark.parametrize("point", UNWIND_POINTS)
def test_crash_while_unwinding_ends_flat(crash_devnet: DevnetProcess, tmp_path: Path, point: str) -> None:
    bot = _bot(crash_devnet, tmp_path, point.replace(".", "-"))
    # The long and the hedge are both on the venues, then the open is to be unwound.
    _crash(bot, "open", "--capital", "1000", "--asset", "SOL", point="open.hedge.filled")
    [ex_open] = [e for e in bot.status()["executions"] if e["kind"] == "open"]
    _crash(bot, "unwind", ex_open["id"], point=point, steps=True)
    _restart(bot)
    assert _assert_hedged_or_flat(bot) == "unwound"
