"""The bot in-process against a real devnet: reductions, rebalances and shadow mode."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from tenant_bot.bot import Bot
from tenant_bot.config import BotSettings
from tenant_bot.execution.states import Flow
from tests.support.devnet import DevnetProcess

pytestmark = pytest.mark.devnet


def _settings(dn: DevnetProcess, data_dir: Path, **extra: object) -> BotSettings:
    return BotSettings(
        tenant_id="inproc",
        data_dir=data_dir,
        server_secret=SecretStr("in-process-test-secret"),
        hyperliquid_url=dn.url("hyperliquid"),
        asgard_url=dn.url("asgard"),
        solana_rpc_url=dn.url("solana"),
        arbitrum_rpc_url=dn.url("arbitrum"),
        **extra,  # type: ignore[arg-type]
    )


def _hl(dn: DevnetProcess, body: dict[str, object]) -> object:
    return httpx.post(dn.url("hyperliquid") + "/info", json=body, timeout=10).json()


def _hl_short(dn: DevnetProcess, user: str) -> Decimal:
    state = _hl(dn, {"type": "clearinghouseState", "user": user})
    assert isinstance(state, dict)
    for p in state["assetPositions"]:
        if p["position"]["coin"] == "SOL":
            return -Decimal(p["position"]["szi"])
    return Decimal(0)


async def test_reduce_then_rebalance_move_both_venues(
    devnet_factory: Callable[..., DevnetProcess], tmp_path: Path
) -> None:
    dn = devnet_factory(seed=41, speed=1.0)
    bot = Bot(_settings(dn, tmp_path / "bot"))
    await bot.start()
    try:
        me = bot.services.wallet_signer
        dn.faucet("solana", "SOL", me.solana_address, "1")
        dn.faucet("solana", "USDC", me.solana_address, "1000")
        dn.faucet("hyperliquid", "USDC", me.evm_address, "1000")
        opened = await bot.trader.open_position(Decimal(1000), asset="SOL", protocol="kamino")
        assert opened.outcome == "completed"
        before = bot.services.journal.position(opened.position_id)
        assert before.short_size and before.long_token_size

        ex_id = bot.services.engine.begin_reduce(opened.position_id, Decimal("0.25"), reason="test")
        reduced = await bot.services.engine.run(ex_id)
        assert reduced.outcome == "completed"
        after = bot.services.journal.position(opened.position_id)
        assert after.short_size is not None and after.long_token_size is not None
        assert abs(after.short_size - before.short_size * Decimal("0.75")) <= Decimal("0.01")
        assert abs(after.long_token_size / before.long_token_size - Decimal("0.75")) < Decimal("0.01")
        assert _hl_short(dn, me.evm_address) == after.short_size

        ex_id = bot.services.engine.begin_rebalance(opened.position_id, Decimal("0.1"))
        rebalanced = await bot.services.engine.run(ex_id)
        assert rebalanced.outcome == "completed"
        final = bot.services.journal.position(opened.position_id)
        assert final.short_size == after.short_size + Decimal("0.1")
        assert _hl_short(dn, me.evm_address) == final.short_size

        # The journal and the venues still agree: a tick finds no mismatch and does not halt.
        await bot.tick()
        assert bot.services.risk.state.value != "halted"

        # The close settles the PnL from the venues' records: the fees of every order of the
        # position count, the reduction's and the rebalance's too (they once went uncounted).
        closed = await bot.trader.close_position(opened.position_id)
        assert closed.outcome == "completed"
        ledger = bot.services.journal.position(opened.position_id).ledger
        fills = _hl(dn, {"type": "userFills", "user": me.evm_address})
        assert isinstance(fills, list) and len(fills) >= 4  # hedge, reduce, rebalance, close
        assert Decimal(ledger["hl_fees"]) == -sum(Decimal(f["fee"]) for f in fills)
    finally:
        await bot.aclose()


async def test_shadow_mode_decides_and_accrues_but_sends_nothing(
    devnet_factory: Callable[..., DevnetProcess], tmp_path: Path
) -> None:
    dn = devnet_factory(seed=42, speed=1.0)
    bot = Bot(
        _settings(
            dn,
            tmp_path / "bot",
            shadow=True,
            auto_entry=True,
            min_entry_net_apy=Decimal(-1),
            entry_capital_usd=Decimal(1000),
        )
    )
    await bot.start()
    try:
        me = bot.services.wallet_signer
        dn.faucet("solana", "SOL", me.solana_address, "1")
        dn.faucet("solana", "USDC", me.solana_address, "1000")
        dn.faucet("hyperliquid", "USDC", me.evm_address, "1000")
        report = await bot.tick()
        assert any(a.startswith("open") for a in report.actions), report.actions
        [position] = bot.services.journal.positions("open")
        assert position.shadow and position.short_size and position.long_token_size

        dn.advance(hours=2)
        await bot.tick()
        ledger = bot.services.journal.position(position.id).ledger
        funding = Decimal(ledger["funding"])
        rate = bot.observer.latest.snapshot.funding.per_hour  # type: ignore[union-attr]
        assert funding != 0 and (funding > 0) == (rate > 0)

        # Nothing was signed or sent: no fills, no perp position, no Asgard position, wallet untouched.
        assert _hl(dn, {"type": "userFills", "user": me.evm_address}) == []
        assert _hl_short(dn, me.evm_address) == 0
        r = httpx.post(
            dn.url("asgard") + "/positions",
            json={"walletPubkey": me.solana_address},
            headers={"X-API-Key": "k"},
            timeout=10,
        )
        assert r.json() == []
        balances = await bot.services.solana.balances(me.solana_address)
        assert balances.tokens[next(a for a in balances.tokens if a.value == "USDC")] == Decimal(1000)

        closed = await bot.trader.close_position(position.id)
        assert closed.outcome == "completed"
        assert bot.services.journal.position(position.id).status == "closed"
    finally:
        await bot.aclose()


async def test_a_health_reduction_restores_the_health_factor_and_is_not_repeated(
    devnet_factory: Callable[..., DevnetProcess], tmp_path: Path
) -> None:
    """Issue 15: the Asgard health "reduce" was a proportional partial close, which leaves leverage
    and health where they were, so it repeated every cooldown until little was left. Now it
    deleverages: after one reduction the health factor is above the reduce threshold and the next
    ticks (with no cooldown in the way) reduce nothing more."""
    dn = devnet_factory(seed=42, speed=1.0)
    risk = tmp_path / "risk.yaml"
    # A fresh 3x SOL position (health about 0.17) is below this reduce threshold.
    risk.write_text(
        "asgard_health:\n  alert_below: 0.40\n  reduce_below: 0.25\n  close_below: 0.02\n"
        "reduce_cooldown_seconds: 0\n"
    )
    bot = Bot(_settings(dn, tmp_path / "bot", risk_file=risk))
    await bot.start()
    try:
        me = bot.services.wallet_signer
        dn.faucet("solana", "SOL", me.solana_address, "1")
        dn.faucet("solana", "USDC", me.solana_address, "1000")
        dn.faucet("hyperliquid", "USDC", me.evm_address, "1000")
        opened = await bot.trader.open_position(
            Decimal(1000), asset="SOL", protocol="kamino", leverage=Decimal(3)
        )
        assert opened.outcome == "completed"
        journal, venues = bot.services.journal, bot.services.venues
        pda = journal.position(opened.position_id).asgard_position_id
        assert pda is not None
        start = await venues.asgard_position(pda)
        assert start is not None and start.health_factor is not None
        assert start.health_factor < Decimal("0.25")

        report = await bot.tick()
        assert f"reduce {opened.position_id} by 0.25" in report.actions
        [reduce] = journal.executions_of(opened.position_id, Flow.REDUCE)
        await bot.trader.tasks.wait(reduce.id)
        assert journal.execution(reduce.id).outcome == "completed"
        after = await venues.asgard_position(pda)
        assert after is not None and after.health_factor is not None
        assert after.health_factor > Decimal("0.25") > start.health_factor
        # The long sold about a quarter of its SOL, and the short was bought back by a quarter.
        assert abs(after.token_size / start.token_size - Decimal("0.75")) < Decimal("0.01")

        for _ in range(3):
            report = await bot.tick()
            assert not [a for a in report.actions if a.startswith(("reduce", "close"))], report.actions
        assert len(journal.executions_of(opened.position_id, Flow.REDUCE)) == 1
        assert journal.position(opened.position_id).status == "open"
    finally:
        await bot.aclose()
