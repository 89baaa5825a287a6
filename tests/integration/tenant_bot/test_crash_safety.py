"""SIGKILL the bot at every crash point of the state machine in turn; the restart must finish safely.

The points are derived from the execution's steps (`tenant_bot/execution/crash.py`), and every one
is walked here: opens, closes, reductions, rebalances and unwinds. Every bot records the points it
passes (`BASIS_CRASH_RECORD`): a point the code reaches that no test here walks fails the test that
reached it. The points of an open's hedge are walked twice: restarted before the hedge's deadline
(the open completes) and after it, with a book that fills only half of each order (the partly
filled short is bought back and the long unwound). After every restart: no leg is left naked (the
Hyperliquid short matches the Asgard long, or both are flat), each cloid was filled by one order
whose fills are exactly what the journal recorded, each Asgard position belongs to one journaled
open, the USDC funded is still held less the fees and funding the venues recorded (their price PnL
aside; not after a reduction, whose sale price the devnet's Asgard record does not keep), and the
execution ends as expected.
"""

from __future__ import annotations

import json
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tenant_bot.execution.crash import POINTS
from tenant_bot.execution.states import PERP_STEPS
from tests.support.bot import BotProcess
from tests.support.devnet import DevnetProcess, start_devnet

pytestmark = pytest.mark.devnet

OPEN_POINTS = [p for p in POINTS if p.startswith("open.")]
CLOSE_POINTS = [p for p in POINTS if p.startswith("close.")]
REDUCE_POINTS = [p for p in POINTS if p.startswith("reduce.")]
REBALANCE_POINTS = [p for p in POINTS if p.startswith("rebalance.")]
UNWIND_POINTS = [p for p in POINTS if p.startswith("unwind.")]
WALKED = OPEN_POINTS + CLOSE_POINTS + REDUCE_POINTS + REBALANCE_POINTS + UNWIND_POINTS
# The open's points at which the hedge's deadline is already running: it counts from the moment
# the long's confirmation is recorded (`long_confirmed_at`), which for the earlier points happens
# only during the restart, so waiting before restarting them changes nothing.
HEDGE_POINTS = [p for p in OPEN_POINTS if p.startswith("open.hedge.")]
# The hedge's deadline for the bots restarted after it: short, so waiting it out is cheap, and long
# enough for the first hedge order to leave before it under a loaded machine.
HEDGE_TIMEOUT_SECONDS = 5.0
PERP_STEP_NAMES = {step.value for step in PERP_STEPS}
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
FUNDED_USDC = Decimal(2000)  # 1,000 on Solana and 1,000 on Hyperliquid (`_bot`)
# USDC a restart may leave unexplained by the costs and price PnL the venues recorded: the spread
# crossed on Hyperliquid against its mark, and lending interest. Measured: 0.0005 to 0.06 USDC on
# 3,000 USDC of exposure; an order sent twice costs more than this in fees and spread alone, and a
# lost leg's equity far more.
CONSERVATION_TOLERANCE_USDC = Decimal("0.5")


def test_every_crash_point_is_walked() -> None:
    assert sorted(WALKED) == sorted(POINTS)
    assert len(WALKED) == len(set(WALKED)) == len(POINTS)


@pytest.fixture(scope="module")
def crash_devnet() -> Iterator[DevnetProcess]:
    dn = start_devnet(seed=21, speed=1.0)
    yield dn
    dn.stop()


@pytest.fixture
def thin_book(crash_devnet: DevnetProcess) -> Iterator[None]:
    """Every Hyperliquid order that adds risk fills half its size, the rest cancelled."""
    crash_devnet.faults("hyperliquid", ioc_fill_fraction=0.5)
    try:
        yield
    finally:
        crash_devnet.faults("hyperliquid", clear=True)


def _bot(dn: DevnetProcess, root: Path, name: str, **env: str) -> BotProcess:
    data = root / name
    bot = BotProcess(dn, data, tenant_id=name, env_extra={"BASIS_CRASH_RECORD": str(data / "points"), **env})
    bot.init()
    bot.fund(usdc_solana="1000", usdc_hl="1000", sol="1")
    return bot


def _reached(bot: BotProcess) -> set[str]:
    path = bot.data_dir / "points"
    return set(path.read_text().split()) if path.exists() else set()


def _assert_safe(bot: BotProcess, status: dict[str, Any], *, conserved: bool = True) -> None:
    """What must hold after every restart, whatever the flow: see the module's doc. `conserved`
    False: USDC is not checked (a long reduced on Asgard: see `_assert_adjusted`)."""
    unwalked = _reached(bot) - set(WALKED)
    assert not unwalked, f"the bot reached crash points no test walks: {sorted(unwalked)}"
    _assert_one_order_per_cloid(bot, status)
    _assert_one_asgard_position_per_open(bot, status)
    if conserved:
        _assert_usdc_conserved(bot)


def _usdc_held(bot: BotProcess) -> Decimal:
    """The bot's USDC across the venues: its Solana wallet, its open Asgard positions' equity at
    Asgard's price (collateral less debt) and its Hyperliquid account value (with unrealised PnL)."""
    rpc = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "getTokenAccountsByOwner",
        "params": [bot.solana, {"mint": USDC_MINT}, {"encoding": "jsonParsed"}],
    }
    accounts = httpx.post(bot.dn.url("solana"), json=rpc, timeout=10).json()["result"]["value"]
    wallet = sum(
        (Decimal(a["account"]["data"]["parsed"]["info"]["tokenAmount"]["uiAmountString"]) for a in accounts),
        Decimal(0),
    )
    equity = Decimal(0)
    refs = [{"protocol": r["protocol"], "positionPDA": r["positionPda"]} for r in bot.asgard_open()]
    if refs:
        r = httpx.post(
            bot.dn.url("asgard") + "/refresh-positions",
            json={"positionPDAs": refs},
            headers={"X-API-Key": "test-key"},
            timeout=10,
        )
        r.raise_for_status()
        for position in r.json()["positions"].values():
            for balance in position["summary"]["booksAndBalances"]["balances"]:
                for amounts in balance.values():
                    equity += Decimal(str(amounts["assetsUsd"])) - Decimal(str(amounts["liabsUsd"]))
    state = bot.hl_info({"type": "clearinghouseState", "user": bot.evm})
    return wallet + equity + Decimal(state["marginSummary"]["accountValue"])


def _recorded_costs(bot: BotProcess) -> Decimal:
    """What the venues recorded as taken from the bot: Hyperliquid's fees (userFills `fee`) and
    funding paid (userFunding), Asgard's fees and the swaps' price impact (the positions'
    `openFeesMetadata` / `closeFeesMetadata`, impact in bps of the swap's USD side)."""
    costs = sum((Decimal(f["fee"]) for f in bot.hl_fills()), Decimal(0))
    funding = bot.hl_info({"type": "userFunding", "user": bot.evm, "startTime": 0})
    costs -= sum((Decimal(str(f["delta"]["usdc"])) for f in funding), Decimal(0))
    for record in bot.asgard_all():
        opened, closed = record["openFeesMetadata"], record["closeFeesMetadata"]
        swap_in = Decimal(str(record["entryMarketMetadata"]["onChainExecutedMetadata"]["inputAmount"]))
        costs += (
            Decimal(str(opened["asgardFeeUsd"]))
            + swap_in * Decimal(str(opened["dexPriceImpactBps"])) / 10_000
        )
        if closed:
            swap_out = Decimal(str(record["exitMarketMetadata"]["onChainExecutedMetadata"]["outputAmount"]))
            costs += (
                Decimal(str(closed["asgardFeeUsd"]))
                + swap_out * Decimal(str(closed["dexPriceImpactBps"])) / 10_000
            )
    return costs


def _price_pnl(bot: BotProcess) -> Decimal:
    """What the legs gained or lost on the price, as the venues record it: Hyperliquid's realised
    (`closedPnl`) and unrealised PnL, and the Asgard longs' tokens times their exit (or current)
    price less their entry price. Hedged, the two cancel; a leg left alone between a kill and its
    restart (the long after the short closed, say) carries the market's move, which is no loss."""
    pnl = sum((Decimal(f["closedPnl"]) for f in bot.hl_fills()), Decimal(0))
    state = bot.hl_info({"type": "clearinghouseState", "user": bot.evm})
    pnl += sum((Decimal(p["position"]["unrealizedPnl"]) for p in state["assetPositions"]), Decimal(0))
    for record in bot.asgard_all():
        entry = Decimal(record["tokenAEntryPriceUSD"])
        if record["tokenAExitPriceUSD"] is not None:
            pnl += Decimal(record["tokenAAmountUIEntry"]) * (Decimal(record["tokenAExitPriceUSD"]) - entry)
        else:
            tokens, price = _asgard_now(bot, record)
            pnl += tokens * (price - entry)
    return pnl


def _asgard_now(bot: BotProcess, record: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """An open Asgard position's tokens and Asgard's price now (`/refresh-positions`)."""
    ref = {"protocol": record["protocol"], "positionPDA": record["positionPda"]}
    r = httpx.post(
        bot.dn.url("asgard") + "/refresh-positions",
        json={"positionPDAs": [ref]},
        headers={"X-API-Key": "test-key"},
        timeout=10,
    )
    r.raise_for_status()
    [position] = r.json()["positions"].values()
    for balance in position["summary"]["booksAndBalances"]["balances"]:
        for amounts in balance.values():
            if amounts["assetsQt"]:
                tokens = Decimal(str(amounts["assetsQt"]))
                return tokens, Decimal(str(amounts["assetsUsd"])) / tokens
    raise AssertionError(f"no collateral in {position}")


def _assert_usdc_conserved(bot: BotProcess) -> None:
    """The USDC funded is still held, less what the venues recorded as costs, plus the legs' price
    PnL."""
    held, costs, pnl = _usdc_held(bot), _recorded_costs(bot), _price_pnl(bot)
    unexplained = FUNDED_USDC + pnl - costs - held
    assert costs > 0, "the venues recorded no fee: the money check would be vacuous"
    assert abs(unexplained) <= CONSERVATION_TOLERANCE_USDC, (
        f"{unexplained} USDC unexplained: held {held}, the venues recorded {costs} of costs "
        f"and {pnl} of price PnL"
    )


def _assert_one_order_per_cloid(bot: BotProcess, status: dict[str, Any]) -> None:
    """Each journaled order (cloid) was filled by at most one venue order, for exactly the size the
    journal recorded, and every fill on the account is one of the bot's journaled orders. (An IOC
    that meets several price levels has several fill rows, all with its oid.)"""
    journaled = {
        st["key"]: st for e in status["executions"] for st in e["steps"] if st["name"] in PERP_STEP_NAMES
    }
    fills_by_cloid: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for fill in bot.hl_fills():
        assert fill.get("cloid") in journaled, f"a fill of an order the journal does not know: {fill}"
        fills_by_cloid[fill["cloid"]].append(fill)
    for cloid, step in journaled.items():
        fills = fills_by_cloid.get(cloid, [])
        oids = {f["oid"] for f in fills}
        assert len(oids) <= 1, f"cloid {cloid} was filled by {len(oids)} orders"
        recorded = Decimal(str((step["result"] or {}).get("filled_size") or 0))
        assert sum((Decimal(f["sz"]) for f in fills), Decimal(0)) == recorded, (cloid, step, fills)


def _assert_one_asgard_position_per_open(bot: BotProcess, status: dict[str, Any]) -> None:
    """Asgard holds exactly one position (open or closed) for each journaled position whose long
    landed, and none the journal does not know: no long was sent twice."""
    records = bot.asgard_all()
    pdas = [r["positionPda"] for r in records]
    journaled = [p["asgard_position_id"] for p in status["positions"] if p["asgard_position_id"]]
    assert sorted(pdas) == sorted(journaled), (pdas, journaled)
    landed = [
        e
        for e in status["executions"]
        if e["kind"] == "open" and any(st["name"] == "long" and st["status"] == "done" for st in e["steps"])
    ]
    assert len(records) == len(landed), (records, landed)


def _assert_hedged_or_flat(bot: BotProcess, outcome: str) -> dict[str, Any]:
    status = bot.status()
    [ex_open] = [e for e in status["executions"] if e["kind"] == "open"]
    assert ex_open["outcome"] == outcome, ex_open
    short = Decimal(str(bot.hl_short()))
    open_longs = bot.asgard_open()
    if outcome == "completed":
        [pos] = [p for p in status["positions"] if p["id"] == ex_open["position_id"]]
        assert len(open_longs) == 1
        long_sol = Decimal(open_longs[0]["tokenAAmountUIEntry"])
        assert abs(long_sol - short) <= max(Decimal("0.01"), long_sol * Decimal("0.01")), (long_sol, short)
        assert Decimal(pos["short_size"]) == short
    else:
        assert short == 0 and open_longs == []
    _assert_safe(bot, status)
    return status


def _crash(bot: BotProcess, *args: str, point: str, steps: bool = False) -> None:
    run = bot.steps if steps else bot.cmd
    out = run(*args, BASIS_CRASH_AT=point)
    assert out.returncode == -signal.SIGKILL, (
        f"expected the bot to die at {point}, got {out.returncode}: {out.stderr[-2000:]}"
    )
    assert point in _reached(bot)


def _restart(bot: BotProcess) -> None:
    out = bot.cmd("run", "--ticks", "2")
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.mark.parametrize("point", OPEN_POINTS)
def test_crash_during_open_restarted_before_the_hedge_deadline_ends_hedged(
    crash_devnet: DevnetProcess, tmp_path: Path, point: str
) -> None:
    bot = _bot(crash_devnet, tmp_path, point.replace(".", "-"))
    _crash(bot, "open", "--capital", "1000", "--asset", "SOL", point=point)
    _restart(bot)
    _assert_hedged_or_flat(bot, "completed")
    assert not {p for p in _reached(bot) if p.startswith("unwind.")}


def _wait_past_the_hedge_deadline(bot: BotProcess) -> None:
    """Wait until the deadline the engine computes (`long_confirmed_at` + the timeout) has passed."""
    [ex_open] = [e for e in bot.status()["executions"] if e["kind"] == "open"]
    deadline = float(ex_open["plan"]["long_confirmed_at"]) + HEDGE_TIMEOUT_SECONDS
    while time.time() <= deadline:
        time.sleep(max(0.05, deadline - time.time() + 0.05))


@pytest.mark.parametrize("point", HEDGE_POINTS)
@pytest.mark.usefixtures("thin_book")
def test_crash_during_a_partial_hedge_restarted_after_its_deadline_ends_unwound(
    crash_devnet: DevnetProcess, tmp_path: Path, point: str
) -> None:
    bot = _bot(
        crash_devnet,
        tmp_path,
        point.replace(".", "-"),
        BASIS_HEDGE_TIMEOUT_SECONDS=str(HEDGE_TIMEOUT_SECONDS),
    )
    _crash(bot, "open", "--capital", "1000", "--asset", "SOL", point=point)
    _wait_past_the_hedge_deadline(bot)
    _restart(bot)
    status = _assert_hedged_or_flat(bot, "unwound")
    # The hedge had filled half when the deadline passed: that half was bought back, then the long
    # was closed.
    sold = sum(Decimal(f["sz"]) for f in bot.hl_fills() if f["side"] == "A")
    bought = sum(Decimal(f["sz"]) for f in bot.hl_fills() if f["side"] == "B")
    assert sold > 0 and bought == sold, (sold, bought)
    assert {"unwind.short.filled", "unwind.long.confirmed"} <= _reached(bot)
    [record] = bot.asgard_all()
    assert record["closeTxHash"]
    assert any(e["kind"] == "execution.hedge_failed" for e in status["events"])


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
    _assert_safe(bot, status)


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
    # USDC is not checked here: the devnet's Asgard record keeps neither a deleverage's fee nor the
    # price its tokens were sold at, so the price PnL a reduction realises cannot be counted from the
    # venue, and it grows with the market's move since the open (2 USDC measured in CI after six
    # reductions). The opens, closes and unwinds above are checked.
    _assert_safe(bot, status, conserved=False)


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
    _assert_hedged_or_flat(bot, "unwound")
