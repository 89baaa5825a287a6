"""Wallet balances on Solana, Arbitrum and Hyperliquid, and whether they allow an open."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends

from shared.assets import Asset
from tenant_bot.api.app import ApiContext, ctx

router = APIRouter(prefix="/api/v1", tags=["balances"])

# Less than this on either venue cannot make a position (Hyperliquid's minimum order is $10).
MIN_USDC = Decimal(10)
# SOL kept for Solana transaction fees and account rent.
MIN_SOL = Decimal("0.01")
LSTS = (Asset.JITOSOL, Asset.MSOL, Asset.JUPSOL, Asset.INF)


def _amount(value: Decimal) -> str:
    # An empty account reads 0E-9 from its decimals; show it as 0.
    return "0" if value == 0 else str(value)


def _error(exc: BaseException) -> dict[str, str]:
    return {"error": f"cannot be read now ({type(exc).__name__})"}


@router.get("/balances", summary="Balances per chain and venue; a venue that cannot be read shows an error")
async def balances(c: ApiContext = Depends(ctx)) -> dict[str, Any]:
    bot = c.bot
    me = bot.wallet_signer
    sol, eth, usdc, hl = await asyncio.gather(
        bot.solana.balances(me.solana_address),
        bot.arbitrum.eth_balance(me.evm_address),
        bot.arbitrum.usdc_balance(me.evm_address),
        bot.hl.user_state(),
        return_exceptions=True,
    )
    out: dict[str, Any] = {}
    blocked: list[str] = []
    if isinstance(sol, BaseException):
        out["solana"] = {"address": me.solana_address, **_error(sol)}
        blocked.append("the Solana wallet cannot be read")
    else:
        out["solana"] = {"address": me.solana_address, "SOL": _amount(sol.sol)}
        out["solana"]["USDC"] = _amount(sol.tokens.get(Asset.USDC, Decimal(0)))
        for lst in LSTS:
            out["solana"][lst.value] = _amount(sol.tokens.get(lst, Decimal(0)))
        if sol.tokens.get(Asset.USDC, Decimal(0)) < MIN_USDC:
            blocked.append(f"the Solana wallet holds less than {MIN_USDC} USDC for the Asgard leg")
        if sol.sol < MIN_SOL:
            blocked.append(f"the Solana wallet needs at least {MIN_SOL} SOL for transaction fees")
    if isinstance(eth, BaseException) or isinstance(usdc, BaseException):
        failed = eth if isinstance(eth, BaseException) else usdc
        assert isinstance(failed, BaseException)
        out["arbitrum"] = {"address": me.evm_address, **_error(failed)}
    else:
        out["arbitrum"] = {"address": me.evm_address, "USDC": _amount(usdc), "ETH": _amount(eth)}
    if isinstance(hl, BaseException):
        out["hyperliquid"] = {"address": me.evm_address, **_error(hl)}
        blocked.append("the Hyperliquid account cannot be read")
    else:
        out["hyperliquid"] = {
            "address": me.evm_address,
            "account_value": _amount(hl.account_value),
            "withdrawable": _amount(hl.withdrawable),
            "margin_used": _amount(hl.total_margin_used),
        }
        if hl.withdrawable < MIN_USDC:
            blocked.append(f"the Hyperliquid account has less than {MIN_USDC} USDC free for the short leg")
    out["can_open"] = not blocked
    out["blocked"] = ("; ".join(blocked).capitalize() + ".") if blocked else None
    return out
