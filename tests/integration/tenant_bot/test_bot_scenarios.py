"""The bot under the devnet's scenarios and faults: exits, halts and refusals it must make on its own."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.bot import BotProcess, serve
from tests.support.devnet import DevnetProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.devnet

Factory = Callable[..., DevnetProcess]


def _open(bot: BotProcess, *args: str) -> str:
    out = bot.cmd("open", "--capital", "1000", *args)
    assert out.returncode == 0, out.stderr[-3000:]
    return str(json.loads(out.stdout)["position"])


def _events(status: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in status["events"] if e["kind"] == kind]


def _position(bot: BotProcess, position_id: str) -> dict[str, Any]:
    return next(p for p in bot.status()["positions"] if p["id"] == position_id)


def _risk_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "risk.yaml"
    path.write_text(text)
    return str(path)


def _new_bot(dn: DevnetProcess, tmp_path: Path, **env: str) -> BotProcess:
    bot = BotProcess(dn, tmp_path / "bot", env_extra=env)
    bot.init()
    bot.fund(usdc_solana="1000", usdc_hl="1000", sol="1")
    return bot


def test_funding_flip_exits_after_the_configured_intervals(devnet_factory: Factory, tmp_path: Path) -> None:
    dn = devnet_factory(seed=31, speed=1.0)
    risk = _risk_file(
        tmp_path, "funding:\n  alert_after_negative_intervals: 2\n  close_after_negative_intervals: 3\n"
    )
    bot = _new_bot(dn, tmp_path, BASIS_RISK_FILE=risk)
    position_id = _open(bot, "--asset", "SOL")
    dn.scenario("funding_flip")
    dn.advance(hours=2)
    assert bot.cmd("run", "--ticks", "1").returncode == 0
    assert _position(bot, position_id)["status"] == "open", "two negative hours must not be enough"
    # The premium drifts to its new mean over a few hours; three settled negative hours follow.
    dn.advance(hours=8)
    assert bot.cmd("run", "--ticks", "2").returncode == 0
    assert _position(bot, position_id)["status"] == "closed"
    assert bot.hl_short() == 0 and bot.asgard_open() == []


def test_lst_depeg_exits(devnet_factory: Factory, tmp_path: Path) -> None:
    dn = devnet_factory(seed=32, speed=1.0)
    bot = _new_bot(dn, tmp_path)
    position_id = _open(bot, "--asset", "jitoSOL")
    assert bot.cmd("run", "--ticks", "1").returncode == 0  # records the LST's reference rate
    assert _position(bot, position_id)["status"] == "open"
    dn.scenario("lst_depeg", asset="jitoSOL", discount=0.08)
    dn.advance(hours=1)  # the market discount widens towards 8 % within about an hour
    assert bot.cmd("run", "--ticks", "2").returncode == 0
    assert _position(bot, position_id)["status"] == "closed"
    assert bot.asgard_open() == [] and bot.hl_short() == 0
    tripped = [e for e in _events(bot.status(), "risk.tripped") if "jitoSOL" in e["message"]]
    assert tripped


def test_flash_crash_closes_before_liquidation(devnet_factory: Factory, tmp_path: Path) -> None:
    # At `make run`'s speed (360), where a 10-minute crash would be over in 1.7 s, between two ticks:
    # the devnet slows to its crash speed (a simulated minute every 5 s) while the crash falls, so
    # it unfolds over ~50 real seconds while the bot ticks, and would liquidate a bot that slept.
    dn = devnet_factory(seed=33, speed=360.0)
    bot = _new_bot(dn, tmp_path)
    position_id = _open(bot, "--asset", "SOL", "--leverage", "4")
    runner = bot.popen("run")
    try:
        dn.scenario("flash_crash", drop=0.3, minutes=10)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _position(bot, position_id)["status"] != "closed":
            time.sleep(1)
    finally:
        runner.terminate()  # SIGTERM: a graceful stop
        runner.wait(timeout=60)
    assert runner.returncode == 0
    assert _events(bot.status(), "bot.stopping")
    assert _position(bot, position_id)["status"] == "closed"
    closed = [r for r in bot.asgard_all() if r.get("closeTxHash")]
    assert closed and all(not r.get("liquidationEvents") for r in closed)
    assert bot.hl_short() == 0


@pytest.mark.parametrize("found_by", ["tick", "close"])
def test_a_liquidated_long_is_shown_gone_its_short_bought_back_and_the_loss_recorded(
    devnet_factory: Factory, tmp_path: Path, found_by: str
) -> None:
    """The bot sleeps through a crash that liquidates its 4x long on Asgard. On its next tick (or
    when the user closes first) it asks Asgard, records the long as gone, says so once, and buys
    back the short that was left on its own; the close records the long's margin as lost. A tick
    that finds it also halts until an operator looks."""
    dn = devnet_factory(seed=38, speed=1.0)
    bot = _new_bot(dn, tmp_path)
    position_id = _open(bot, "--asset", "SOL", "--leverage", "4")
    short = bot.hl_short()
    assert short > 0
    dn.scenario("flash_crash", drop=0.3)
    dn.advance(seconds=15 * 60)
    [record] = bot.asgard_all()
    assert record["liquidationEvents"] and not record.get("closeTxHash")  # the venue liquidated it
    assert bot.hl_short() == pytest.approx(short)  # the short is left on its own

    if found_by == "close":
        out = bot.cmd("close", position_id)
        assert out.returncode == 0, out.stderr[-3000:]
    assert bot.cmd("run", "--ticks", "3").returncode == 0
    status = bot.status()
    recorded = _position(bot, position_id)
    assert recorded["status"] == "closed", recorded
    assert recorded["long_lost_at"] is not None
    assert bot.hl_short() == 0
    # Said once, however many ticks saw it; one halt until an operator looks.
    [lost] = _events(status, "position.long_lost")
    assert lost["severity"] == "critical" and f"{short:g}" in lost["message"], lost
    assert len(_events(status, "risk.halted")) == (1 if found_by == "tick" else 0)
    assert not _events(status, "risk.mismatch")
    assert (status["halted"] is not None) is (found_by == "tick")
    # The long's margin is lost: the total is the short's realised PnL less its fees, plus funding,
    # less the margin (from Hyperliquid's own fills); what was left at liquidation is in the fees.
    ledger = {k: Decimal(str(v)) for k, v in recorded["ledger"].items()}
    margin = Decimal(str(record["collateralAmountUI"]))
    fills = bot.hl_info({"type": "userFills", "user": bot.evm})
    short_pnl = sum(Decimal(f["closedPnl"]) - Decimal(f["fee"]) for f in fills)
    assert abs(ledger["total"] - (short_pnl + ledger["funding"] - margin)) < Decimal("0.01"), ledger
    assert -margin < ledger["long_lost"] < 0 and ledger["fees"] <= ledger["long_lost"], ledger
    parts = sum(ledger[k] for k in ("funding", "interest", "staking", "fees", "price"))
    assert abs(parts - ledger["total"]) < Decimal("0.05"), ledger
    # The dashboard's view says the long is gone and shows the recorded split.
    served = serve(bot)
    try:
        with served.client() as api:
            [view] = [p for p in api.get("/api/v1/positions").json()["positions"] if p["id"] == position_id]
    finally:
        served.stop()
    assert view["long"]["lost"] is True and view["long"]["token_size"] == "0", view
    assert Decimal(view["pnl"]["total"]) == ledger["total"]


def test_venue_outage_blocks_entries_keeps_positions_and_resumes(
    devnet_factory: Factory, tmp_path: Path
) -> None:
    dn = devnet_factory(seed=34, speed=1.0)
    bot = _new_bot(
        dn, tmp_path, BASIS_AUTO_ENTRY="true", BASIS_MIN_ENTRY_NET_APY="-1", BASIS_ENTRY_CAPITAL_USD="800"
    )
    position_id = _open(bot, "--asset", "SOL")
    dn.scenario("venue_outage", venue="hyperliquid", minutes=None)
    assert bot.cmd("run", "--ticks", "2").returncode == 0
    status = bot.status()
    assert len([p for p in status["positions"] if p["status"] == "open"]) == 1
    assert _position(bot, position_id)["status"] == "open"
    dn.scenario("calm")
    assert bot.cmd("run", "--ticks", "2").returncode == 0
    assert _position(bot, position_id)["status"] == "open"


def test_an_outage_refuses_entries_and_they_resume_after_it(devnet_factory: Factory, tmp_path: Path) -> None:
    """Nothing open, so nothing else stands in the way of an entry: only the outage breaker refuses it."""
    dn = devnet_factory(seed=37, speed=1.0)
    # No grace: the detector's three failures in a row already absorb a blip.
    risk = _risk_file(tmp_path, "outage:\n  pause_entries_after_seconds: 0\n")
    bot = _new_bot(
        dn, tmp_path, BASIS_RISK_FILE=risk, BASIS_MIN_ENTRY_NET_APY="-1", BASIS_ENTRY_CAPITAL_USD="800"
    )
    # Solana down: the rates (Hyperliquid, Asgard) still come, so the bot would enter but for the breaker.
    dn.scenario("venue_outage", venue="solana", minutes=None)
    served = serve(bot, BASIS_TICK_SECONDS="1")
    try:
        with served.client() as api:

            def outage_blockers() -> list[str]:
                blockers = api.get("/api/v1/status").json()["entry_blockers"]
                return [b for b in blockers if "solana has not answered" in b and "entries paused" in b]

            wait_until(outage_blockers, timeout=90, what="the Solana outage to pause entries")
            assert api.post("/api/v1/settings", json={"auto_entry": True}).status_code == 200
            # Several ticks with auto entry on, a good opportunity and the venue still out: refused.
            ticked = api.get("/api/v1/status").json()["last_tick_at"]
            for _ in range(3):
                ticked = wait_until(
                    lambda t=ticked: (now := api.get("/api/v1/status").json()["last_tick_at"]) != t and now,
                    timeout=30,
                    what="the next tick",
                )
            assert outage_blockers()
            assert api.get("/api/v1/positions").json()["positions"] == []
            assert bot.asgard_all() == [], "no leg may be sent while entries are paused"

            dn.scenario("calm")
            # Resumes: the breaker clears and the next tick enters on its own.
            opened = wait_until(
                lambda: [
                    p for p in api.get("/api/v1/positions").json()["positions"] if p["status"] == "open"
                ],
                timeout=120,
                what="an automatic entry after the outage",
            )
            assert len(opened) == 1
            assert not outage_blockers()
            kinds = [e["kind"] for e in api.get("/api/v1/events", params={"limit": 500}).json()["events"]]
            assert "risk.tripped" in kinds and "risk.cleared" in kinds
    finally:
        served.stop()


def test_rejected_hedge_unwinds_the_long(devnet_factory: Factory, tmp_path: Path) -> None:
    dn = devnet_factory(seed=35, speed=1.0)
    bot = _new_bot(dn, tmp_path, BASIS_HEDGE_TIMEOUT_SECONDS="3")
    # Hyperliquid refuses every order that adds risk, for margin: the hedge cannot be placed.
    dn.faults("hyperliquid", reject_orders=True)
    out = bot.cmd("open", "--capital", "1000", "--asset", "SOL")
    assert out.returncode == 1, out.stderr[-3000:]
    assert json.loads(out.stdout)["outcome"] == "unwound"
    assert bot.asgard_open() == [] and bot.hl_short() == 0
    # The long did land, and was closed again: Asgard has one position, closed by the bot.
    [record] = bot.asgard_all()
    assert record["closeTxHash"]
    status = bot.status()
    assert _events(status, "execution.hedge_failed")
    assert _events(status, "position.unwound")


def test_a_partly_filled_hedge_is_bought_back_and_the_long_unwound(
    devnet_factory: Factory, tmp_path: Path
) -> None:
    dn = devnet_factory(seed=38, speed=1.0)
    bot = _new_bot(dn, tmp_path, BASIS_HEDGE_TIMEOUT_SECONDS="3")
    # A thin book: every order that adds risk fills half its size, the rest cancelled. The hedge
    # creeps towards its target until its deadline passes or the venue's $10 minimum refuses the
    # remainder: it fails for good with most of the short filled.
    dn.faults("hyperliquid", ioc_fill_fraction=0.5)
    out = bot.cmd("open", "--capital", "1000", "--asset", "SOL")
    assert out.returncode == 1, out.stderr[-3000:]
    assert json.loads(out.stdout)["outcome"] == "unwound"
    fills = bot.hl_fills()
    sold = sum(Decimal(f["sz"]) for f in fills if f["side"] == "A")
    bought = sum(Decimal(f["sz"]) for f in fills if f["side"] == "B")
    # The hedge did fill partly, and that part was bought back: nothing is left naked.
    assert sold > 0 and bought == sold, (sold, bought)
    assert bot.hl_short() == 0 and bot.asgard_open() == []
    [record] = bot.asgard_all()
    assert record["closeTxHash"]
    status = bot.status()
    [failed] = _events(status, "execution.hedge_failed")
    assert f"{sold} of " in failed["message"], failed["message"]
    assert _events(status, "position.unwound")


def test_a_position_closed_by_hand_halts_the_bot(devnet_factory: Factory, tmp_path: Path) -> None:
    dn = devnet_factory(seed=36, speed=1.0)
    bot = _new_bot(dn, tmp_path)
    position_id = _open(bot, "--asset", "SOL")
    # The user closes the short on Hyperliquid by hand, with the bot's own key.
    out = bot.cmd("run", "--ticks", "1")
    assert out.returncode == 0
    _close_short_by_hand(bot)
    assert bot.cmd("run", "--ticks", "1").returncode == 0
    status = bot.status()
    assert status["halted"] is not None
    halted = _events(status, "risk.halted")
    assert halted and "Hyperliquid" in halted[-1]["message"]
    # Not papered over: the journal still says open, and nothing was traded to "fix" it.
    assert _position(bot, position_id)["status"] == "open"
    assert bot.asgard_open() != []


def _close_short_by_hand(bot: BotProcess) -> None:
    import asyncio
    from decimal import Decimal

    from pydantic import SecretStr

    from tenant_bot.signing.local import LocalSigner
    from tenant_bot.venues.hyperliquid import HyperliquidClient, cloid_for
    from tests.support.bot import SERVER_SECRET

    async def go() -> None:
        signer = LocalSigner.load(bot.data_dir / "keystore.json", bot.tenant_id, SecretStr(SERVER_SECRET))
        async with HyperliquidClient(bot.dn.url("hyperliquid"), signer) as hl:
            size = Decimal(str(bot.hl_short()))
            mid = (await hl.mids())["SOL"]
            await hl.place_ioc(
                "SOL",
                True,
                size,
                (mid * Decimal("1.02")).quantize(Decimal("0.01")),
                cloid=cloid_for("by-hand", "x", 1),
                reduce_only=True,
            )

    asyncio.run(go())
    assert bot.hl_short() == 0


def test_the_validator_refuses_a_rogue_program(devnet_factory: Factory, tmp_path: Path) -> None:
    dn = devnet_factory(seed=37, speed=1.0)
    bot = _new_bot(dn, tmp_path)
    dn.faults("asgard", rogue_program=True)
    out = bot.cmd("open", "--capital", "1000", "--asset", "SOL")
    assert out.returncode == 1
    status = bot.status()
    failed = _events(status, "execution.failed")
    assert failed and "program" in failed[-1]["message"]
    assert bot.asgard_all() == [] and bot.hl_short() == 0
