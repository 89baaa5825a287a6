"""Margin positions as Asgard records them (`margin_positions`), their liquidation events and
updates, and the JSON shapes the API returns for them.

Amounts live as scaled balances (see `interest.py`); the record shows the amounts at entry, the
amounts after the last modification (`tokenAAmountUICurrent`, null until one happens, as
documented), and `/refresh-positions` shows the live amounts with interest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import IntEnum
from typing import Any

from devnet.asgard.markets import LiquiditySource

ZERO = Decimal(0)


class PositionState(IntEnum):
    ACTIVE = 0
    CLOSED = 1
    LIQUIDATED = 2


class UpdateType(IntEnum):
    INCREASE_LEVERAGE = 0
    DELEVERAGE = 1
    ADD_COLLATERAL = 2
    PARTIAL_CLOSE = 4
    REPAY_DEBT = 5


def iso(ms: int) -> str:
    """Simulated epoch milliseconds as the ISO-8601 UTC string Asgard's records carry."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def dec(value: Decimal, places: int = 9) -> str:
    """A Decimal as a plain string with at most `places` decimals and no trailing zeros."""
    q = value.quantize(Decimal(1).scaleb(-places))
    text = format(q.normalize(), "f")
    return "0" if text in ("-0", "") else text


def num(value: Decimal, places: int = 9) -> float:
    return float(round(value, places))


@dataclass
class Position:
    id: int
    owner: str
    pda: str
    source: LiquiditySource
    leverage: Decimal
    a_scaled: Decimal  # token A held / supply index
    d_scaled: Decimal  # USDC owed / borrow index
    token_a_entry_price: Decimal
    token_a_entry: Decimal
    token_b_entry: Decimal
    collateral_type: int
    collateral_mint: str
    collateral_amount_native: int
    collateral_amount_ui: Decimal
    opened_ms: int
    open_tx: str
    entry_meta: dict[str, Any]
    open_fees: dict[str, Any]
    # Capacity taken from the liquidity source, given back on close.
    reserved_a: Decimal
    reserved_b: Decimal
    state: PositionState = PositionState.ACTIVE
    closed_ms: int | None = None
    close_tx: str | None = None
    token_a_exit_price: Decimal | None = None
    exit_meta: dict[str, Any] | None = None
    close_fees: dict[str, Any] | None = None
    token_a_current: Decimal | None = None
    token_b_current: Decimal | None = None
    leverage_current: Decimal | None = None
    update_count: int = 0
    last_update_id: int | None = None
    liquidation_events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state is PositionState.ACTIVE

    def record(self) -> dict[str, Any]:
        """The `margin_positions` record."""
        src = self.source
        return {
            "id": self.id,
            "ownerAddress": self.owner,
            "positionPda": self.pda,
            "protocol": src.protocol.value,
            "state": self.state.value,
            "positionSide": 0,
            "tokenATokenMint": src.token_a_mint,
            "tokenBTokenMint": src.token_b_mint,
            "tokenABank": src.token_a_bank,
            "tokenBBank": src.token_b_bank,
            "marketKey": src.market_key,
            "leverage": dec(self.leverage, 4),
            "tokenAEntryPriceUSD": dec(self.token_a_entry_price, 6),
            "tokenBEntryPriceUSD": "1",
            "tokenAExitPriceUSD": None
            if self.token_a_exit_price is None
            else dec(self.token_a_exit_price, 6),
            "tokenBExitPriceUSD": None if self.token_a_exit_price is None else "1",
            "tokenAAmountUIEntry": dec(self.token_a_entry),
            "tokenBAmountUIEntry": dec(self.token_b_entry, 6),
            "tokenAAmountUICurrent": None if self.token_a_current is None else dec(self.token_a_current),
            "tokenBAmountUICurrent": None if self.token_b_current is None else dec(self.token_b_current, 6),
            "leverageCurrent": None if self.leverage_current is None else dec(self.leverage_current, 4),
            "collateralType": self.collateral_type,
            "collateralMint": self.collateral_mint,
            "collateralAmountNative": self.collateral_amount_native,
            "collateralAmountUI": dec(self.collateral_amount_ui),
            "entryMarketMetadata": self.entry_meta,
            "exitMarketMetadata": self.exit_meta,
            "openFeesMetadata": self.open_fees,
            "closeFeesMetadata": self.close_fees,
            "openTxHash": self.open_tx,
            "closeTxHash": self.close_tx,
            "openedAt": iso(self.opened_ms),
            "closedAt": None if self.closed_ms is None else iso(self.closed_ms),
            "updateCount": self.update_count,
            "lastUpdateId": self.last_update_id,
        }

    def record_with_events(self) -> dict[str, Any]:
        return {**self.record(), "liquidationEvents": list(self.liquidation_events)}


def swap_metadata(in_mint: str, out_mint: str, in_amount: Decimal, out_amount: Decimal) -> dict[str, Any]:
    """`entryMarketMetadata` / `exitMarketMetadata`: the swap as executed, in UI units."""
    return {
        "onChainExecutedMetadata": {
            "inputMint": in_mint,
            "outputMint": out_mint,
            "inputAmount": num(in_amount),
            "outputAmount": num(out_amount),
        }
    }
