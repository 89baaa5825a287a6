"""Bot figures on the devnet: decision tick time, and the gap from long confirmed to hedge filled."""

from __future__ import annotations

import asyncio
import tempfile
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr

from shared.logging import configure_logging
from tenant_bot.bot import Bot
from tenant_bot.config import BotSettings
from tests.bench.results import Figure, median, percentile
from tests.support.devnet import DevnetProcess, start_devnet

TICKS = 300
OPENS = 5


def _settings(dn: DevnetProcess, data_dir: Path) -> BotSettings:
    return BotSettings(
        tenant_id="bench",
        data_dir=data_dir,
        server_secret=SecretStr("bench-secret"),
        hyperliquid_url=dn.url("hyperliquid"),
        asgard_url=dn.url("asgard"),
        solana_rpc_url=dn.url("solana"),
        arbitrum_rpc_url=dn.url("arbitrum"),
        log_level="warning",
    )


async def _measure(dn: DevnetProcess, data_dir: Path) -> tuple[list[float], list[float], list[float]]:
    bot = Bot(_settings(dn, data_dir))
    await bot.start()
    try:
        signer = bot.services.wallet_signer
        dn.faucet("solana", "SOL", signer.solana_address, "5")
        dn.faucet("solana", "USDC", signer.solana_address, str(1000 * OPENS + 1000))
        dn.faucet("hyperliquid", "USDC", signer.evm_address, str(1000 * OPENS + 1000))
        gaps = []
        for _ in range(OPENS):
            ex = await bot.trader.open_position(Decimal(1000))
            if ex.outcome != "completed":
                raise RuntimeError(f"open ended {ex.outcome}: {ex.error}")
            gaps.append((float(ex.plan["hedged_at"]) - float(ex.plan["long_confirmed_at"])) * 1000)
        ticks, decisions = [], []
        for _ in range(20):
            await bot.tick()
        for _ in range(TICKS):
            report = await bot.tick()
            ticks.append(report.total_ms)
            decisions.append(report.decision_ms)
        return decisions, ticks, gaps
    finally:
        await bot.aclose()


def bot_figures() -> list[Figure]:
    configure_logging("warning")
    dn = start_devnet(speed=1.0)
    try:
        with tempfile.TemporaryDirectory(prefix="basis-bench-bot-") as tmp:
            decisions, ticks, gaps = asyncio.run(_measure(dn, Path(tmp)))
    finally:
        dn.stop()
    return [
        Figure("bot", "decision (risk + strategy) p50", percentile(decisions, 50), "ms"),
        Figure(
            "bot",
            "decision (risk + strategy) p99",
            percentile(decisions, 99),
            "ms",
            "≤ 50 ms",
            percentile(decisions, 99) <= 50,
        ),
        Figure(
            "bot",
            "whole tick incl. venue reads p50",
            percentile(ticks, 50),
            "ms",
            note=f"{OPENS} open positions, {TICKS} ticks",
        ),
        Figure(
            "bot",
            "whole tick incl. venue reads p99",
            percentile(ticks, 99),
            "ms",
            "≤ 50 ms",
            percentile(ticks, 99) <= 50,
        ),
        Figure(
            "bot",
            "long confirmed → hedge filled p50",
            median(gaps),
            "ms",
            "≤ 300 ms",
            median(gaps) <= 300,
            note=f"{OPENS} opens",
        ),
    ]


BENCHES = [bot_figures]
