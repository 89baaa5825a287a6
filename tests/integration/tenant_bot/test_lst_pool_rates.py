"""LST rates from the stake pools' own accounts, end to end on the devnet: Asgard says nothing about
staking, the bot sizes, values and credits an LST position from the pool, and a depeg that is already
there when the bot starts is caught."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.assets import STAKE_POOLS, Asset
from tests.support.bot import BotProcess, serve
from tests.support.devnet import DevnetProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.devnet

Factory = Callable[..., DevnetProcess]
# SPL `StakePool`: account_type u8, three pubkeys, a bump u8, five pubkeys, then total_lamports and
# pool_token_supply (u64). Read here at the documented offset, apart from the bot's decoder.
TOTAL_LAMPORTS_AT = 1 + 3 * 32 + 1 + 5 * 32


def _pool_fair_rate(dn: DevnetProcess, asset: Asset) -> Decimal:
    pool = STAKE_POOLS[asset]
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "getAccountInfo",
        "params": [pool.address, {"encoding": "base64"}],
    }
    account = httpx.post(dn.url("solana"), json=body, timeout=10).json()["result"]["value"]
    assert account["owner"] == pool.program
    lamports, supply = struct.unpack_from("<QQ", base64.b64decode(account["data"][0]), TOTAL_LAMPORTS_AT)
    return Decimal(lamports) / Decimal(supply)


def _new_bot(dn: DevnetProcess, tmp_path: Path) -> BotProcess:
    bot = BotProcess(dn, tmp_path / "bot")
    bot.init()
    bot.fund(usdc_solana="1000", usdc_hl="1000", sol="1")
    return bot


def _open(bot: BotProcess, asset: str) -> str:
    out = bot.cmd("open", "--capital", "1000", "--asset", asset)
    assert out.returncode == 0, out.stderr[-3000:]
    return str(json.loads(out.stdout)["position"])


def _open_plan(bot: BotProcess, position_id: str) -> dict[str, Any]:
    opens = [e for e in bot.status()["executions"] if e["position_id"] == position_id and e["kind"] == "open"]
    assert opens
    return dict(opens[0]["plan"])


def test_an_lst_position_is_sized_valued_and_credited_from_its_stake_pool(
    devnet_factory: Factory, tmp_path: Path
) -> None:
    dn = devnet_factory(seed=36, speed=1.0)
    # Asgard documents no staking rate: the devnet's /markets has none, so nothing can lean on it.
    markets = httpx.get(dn.url("asgard") + "/markets", headers={"X-API-Key": "test-key"}, timeout=10)
    assert markets.status_code == 200
    assert "StakingApy" not in markets.text
    jito = markets.json()["strategies"]["jitoSOL/USDC"]["liquiditySources"]
    assert jito and all("tokenAStakingApyRate" not in s for s in jito)

    fair = _pool_fair_rate(dn, Asset.JITOSOL)
    market = Decimal(dn.state()["market"]["lsts"]["jitoSOL"]["market_sol_per_lst"])
    assert market != fair  # the market trades the LST a few bps off its pool rate

    bot = _new_bot(dn, tmp_path)
    position_id = _open(bot, "jitoSOL")
    # Sized at the pool's rate: the hedge is the SOL the long redeems for.
    assert Decimal(_open_plan(bot, position_id)["lst_sol_rate"]) == fair

    served = serve(bot)
    try:
        with served.client() as api:
            # Valued from the bot's observation: its first tick's, once it has one.
            wait_until(lambda: api.get("/api/v1/status").json()["last_tick_at"], timeout=60, what="a tick")
            view = next(p for p in api.get("/api/v1/positions").json()["positions"] if p["id"] == position_id)
            # Valued at the pool's rate too.
            tokens = Decimal(view["long"]["token_size"])
            assert tokens > 0
            assert Decimal(view["delta"]["long_sol"]) == tokens * fair
            # The staking yield is the pool's growth over its last epoch, annualised.
            rows = api.get("/api/v1/rates", params={"leverage": "3"}).json()["rows"]
    finally:
        served.stop()
    staking = {r["asset"]: Decimal(r["staking_apy"]) for r in rows}
    expected = Decimal(dn.state()["market"]["lsts"]["jitoSOL"]["staking_apy"])
    assert abs(staking["jitoSOL"] - expected) < Decimal("0.000001")
    assert abs(staking["jupSOL"] - Decimal(dn.state()["market"]["lsts"]["jupSOL"]["staking_apy"])) < Decimal(
        "0.000001"
    )
    assert staking["SOL"] == 0


def test_a_depeg_present_when_the_bot_starts_is_caught(devnet_factory: Factory, tmp_path: Path) -> None:
    dn = devnet_factory(seed=37, speed=1.0)
    bot = _new_bot(dn, tmp_path)
    position_id = _open(bot, "jitoSOL")
    # The depeg comes before the bot's first tick: no rate it saw earlier can stand in for fair value.
    dn.scenario("lst_depeg", asset="jitoSOL", discount=0.08)
    dn.advance(hours=1)
    assert bot.cmd("run", "--ticks", "1").returncode == 0
    position = next(p for p in bot.status()["positions"] if p["id"] == position_id)
    assert position["status"] == "closed"
    assert bot.asgard_open() == [] and bot.hl_short() == 0
    tripped = [e for e in bot.status()["events"] if e["kind"] == "risk.tripped" and "jitoSOL" in e["message"]]
    assert tripped
