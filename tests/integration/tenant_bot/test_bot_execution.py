"""A real bot process opens a 3x position on a real devnet, earns funding, and closes flat."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair

from shared.crypto import derive_tenant_kek, open_sealed
from tests.support.bot import SERVER_SECRET, BotProcess
from tests.support.devnet import DevnetProcess

pytestmark = pytest.mark.devnet


def _position(status: dict[str, Any], position_id: str) -> dict[str, Any]:
    return next(p for p in status["positions"] if p["id"] == position_id)


def test_open_at_3x_earns_funding_and_closes_flat(
    devnet_factory: Callable[..., DevnetProcess], tmp_path: Path
) -> None:
    dn = devnet_factory(seed=11, speed=1.0)
    bot = BotProcess(dn, tmp_path / "bot")
    bot.init()
    bot.fund(usdc_solana="2000", usdc_hl="2000", sol="2")

    out = bot.cmd("open", "--capital", "2000", "--asset", "SOL", "--leverage", "3")
    assert out.returncode == 0, out.stderr[-3000:]
    opened = json.loads(out.stdout)
    assert opened["outcome"] == "completed"
    status = bot.status()
    pos = _position(status, opened["position"])
    assert pos["status"] == "open"
    long_sol = Decimal(pos["long_token_size"])
    short = Decimal(pos["short_size"])
    # Both legs hold the same SOL notional, within a lot and 1 %.
    assert abs(long_sol - short) <= max(Decimal("0.01"), long_sol * Decimal("0.01"))
    assert Decimal(str(bot.hl_short())) == short
    leverage = Decimal(status["executions"][0]["plan"]["leverage"])
    assert leverage == 3
    # The Asgard leg is open at 3x notional over its margin.
    [record] = bot.asgard_open()
    assert abs(Decimal(record["leverage"]) - 3) < Decimal("0.1")

    # Funding accrues over simulated hours.
    dn.advance(hours=3)
    funding = bot.hl_info({"type": "userFunding", "user": bot.evm, "startTime": 0})
    assert len(funding) >= 3
    received = sum(Decimal(f["delta"]["usdc"]) for f in funding)

    out = bot.cmd("close", opened["position"])
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout)["outcome"] == "completed"
    assert bot.hl_short() == 0
    assert bot.asgard_open() == []

    status = bot.status()
    ledger = {k: Decimal(v) for k, v in _position(status, opened["position"])["ledger"].items()}
    # The split matches what the venues recorded: funding from userFunding, fees from the fills
    # and Asgard's fee records, and the parts add up to the total.
    assert ledger["funding"] == received
    hl_fees = sum(Decimal(f["fee"]) for f in bot.hl_fills())
    [closed] = [r for r in bot.asgard_all() if r["state"] != "ACTIVE" and r.get("closeTxHash")]
    asgard_fees = Decimal(str(closed["openFeesMetadata"]["asgardFeeUsd"])) + Decimal(
        str(closed["closeFeesMetadata"]["asgardFeeUsd"])
    )
    # The swaps' price impact against the oracle is a cost too: the open bought tokenAAmountUIEntry
    # at tokenAEntryPriceUSD with the swap's inputAmount; the close sold inputAmount at
    # tokenAExitPriceUSD for the swap's outputAmount.
    bought = closed["entryMarketMetadata"]["onChainExecutedMetadata"]
    sold = closed["exitMarketMetadata"]["onChainExecutedMetadata"]
    impact = (
        Decimal(str(bought["inputAmount"]))
        - Decimal(str(closed["tokenAAmountUIEntry"])) * Decimal(str(closed["tokenAEntryPriceUSD"]))
    ) + (
        Decimal(str(sold["inputAmount"])) * Decimal(str(closed["tokenAExitPriceUSD"]))
        - Decimal(str(sold["outputAmount"]))
    )
    assert abs(ledger["fees"] + hl_fees + asgard_fees + impact) < Decimal("0.000001")
    # Interest: the SOL the supply added, at the exit price, less the USDC the debt grew by. At close
    # the long held what the swap sold plus what came back as token A; the debt it repaid is the
    # swap's output less Asgard's fee and the USDC paid out.
    close_meta = closed["closeFeesMetadata"]
    tokens_at_close = Decimal(str(sold["inputAmount"])) + Decimal(str(close_meta["receivedTokenAUI"]))
    debt_at_close = (
        Decimal(str(sold["outputAmount"]))
        - Decimal(str(close_meta["asgardFeeUsd"]))
        - Decimal(str(close_meta["receivedUsdcUI"]))
    )
    supply = (tokens_at_close - Decimal(str(closed["tokenAAmountUIEntry"]))) * Decimal(
        str(closed["tokenAExitPriceUSD"])
    )
    borrow = -(debt_at_close - Decimal(str(closed["tokenBAmountUIEntry"])))
    assert supply >= 0 and borrow <= 0
    assert abs(ledger["interest"] - (supply + borrow)) < Decimal("0.000001")
    assert ledger["staking"] == 0
    # Each part is computed on its own and the total from the cash that moved: they agree to the
    # devnet's rounding of amounts (6-9 decimals).
    parts = ledger["funding"] + ledger["interest"] + ledger["staking"] + ledger["fees"] + ledger["price"]
    assert abs(parts - ledger["total"]) < Decimal("0.0001")
    # Total = what came back minus what went in, on both venues (HL account value moved by the same).
    hl_state = bot.hl_info({"type": "clearinghouseState", "user": bot.evm})
    hl_change = Decimal(hl_state["marginSummary"]["accountValue"]) - Decimal(2000)
    usdc_back = Decimal(str(closed["closeFeesMetadata"]["receivedUsdcUI"]))
    margin = Decimal(str(closed["collateralAmountUI"]))
    assert abs(ledger["total"] - (hl_change + usdc_back - margin)) < Decimal("0.01")

    # No private key material anywhere on disk but the sealed keystore, nor in the logs.
    secrets = _private_key_forms(bot)
    db_bytes = b"".join(p.read_bytes() for p in bot.data_dir.glob("bot.sqlite3*"))
    logs = bot.logs().encode()
    for form in secrets:
        assert form not in db_bytes
        assert form not in logs
        assert form not in (bot.data_dir / "keystore.json").read_bytes()


def _private_key_forms(bot: BotProcess) -> list[bytes]:
    """Every encoding of the bot's two private keys (the test opens the keystore itself)."""
    store = json.loads((bot.data_dir / "keystore.json").read_text())
    kek = derive_tenant_kek(bot.tenant_id, SERVER_SECRET.encode())
    forms: list[bytes] = []
    for name, sealed in _sealed_entries(store):
        raw = open_sealed(base64.b64decode(sealed), kek, aad=_aad(store, name, bot.tenant_id))
        forms += _encodings(raw)
    assert forms, "the keystore holds no sealed keys"
    return forms


def _sealed_entries(store: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in store.get("sealed", {}).items()]


def _aad(store: dict[str, Any], name: str, tenant_id: str) -> bytes:
    return str(store["aad"][name]).encode()


def _encodings(raw: bytes) -> list[bytes]:
    out = [raw, raw.hex().encode(), base64.b64encode(raw)]
    if len(raw) == 64:  # a Solana keypair: its usual base58 form, and its 32-byte seed
        out += [str(Keypair.from_bytes(raw)).encode(), raw[:32], raw[:32].hex().encode()]
    try:
        text = raw.decode()
        out.append(text.encode())
    except UnicodeDecodeError:
        pass
    return [o for o in out if len(o) >= 16]


def test_open_at_a_leverage_that_is_not_whole_lands_the_hedge(
    devnet_factory: Callable[..., DevnetProcess], tmp_path: Path
) -> None:
    """Issue 15: at 2.5x Hyperliquid's leverage was set to int(2.5) = 2, so the short (sized at
    2.5x its margin) needed 1.25x the margin it had: refused, and the long was unwound at a loss.
    Hyperliquid holds exactly the leg's half of the capital, so any margin shortfall shows."""
    dn = devnet_factory(seed=12, speed=1.0)
    bot = BotProcess(dn, tmp_path / "bot")
    bot.init()
    bot.fund(usdc_solana="1000", usdc_hl="500", sol="2")

    out = bot.cmd("open", "--capital", "1000", "--asset", "SOL", "--leverage", "2.5")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    opened = json.loads(out.stdout)
    assert opened["outcome"] == "completed"
    pos = _position(bot.status(), opened["position"])
    assert pos["status"] == "open"
    short = Decimal(pos["short_size"])
    assert short > 0 and Decimal(str(bot.hl_short())) == short
    state = bot.hl_info({"type": "clearinghouseState", "user": bot.evm})
    [leg] = [p["position"] for p in state["assetPositions"] if p["position"]["coin"] == "SOL"]
    assert leg["leverage"]["value"] == 3  # 2.5 rounded up: the margin the short needs is there
