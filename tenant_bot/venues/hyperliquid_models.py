"""What the Hyperliquid client returns, and how the venue's JSON becomes it.

Every number on Hyperliquid's wire is a decimal string; it becomes a `Decimal` here, never a float.
Funding rates from the venue are hourly and carry that interval (`FundingRate`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from shared.money import to_decimal, wire
from shared.rates import FundingRate
from shared.retry import RetriesExhausted

_CLOID = re.compile(r"^0x[0-9a-f]{32}$")


class HyperliquidError(Exception):
    """The venue answered with an error that is certain (the action was refused, not lost)."""


class HyperliquidRateLimited(RetriesExhausted):
    """Hyperliquid answered HTTP 429: this host spent its REST weight for the minute (1,200 per IP,
    shared by every bot on it). Reads are not sent again until a cool-down has passed, so the
    budget drains; the caller treats it as the venue not answering, for now."""


@dataclass(frozen=True)
class FeeRates:
    """The account's fee rates as fractions of notional (userFees: userCrossRate, userAddRate)."""

    taker: Decimal
    maker: Decimal


def parse_fee_rates(answer: Any) -> FeeRates:
    try:
        return FeeRates(Decimal(answer["userCrossRate"]), Decimal(answer["userAddRate"]))
    except (KeyError, TypeError, ArithmeticError) as exc:
        raise HyperliquidError(f"userFees: unreadable answer ({type(exc).__name__})") from None


def cloid_for(execution_id: str, leg: str, attempt: int) -> str:
    """The client order id of one attempt of one leg of an execution: the same inputs, the same id.

    Deterministic so that a bot restarted mid-order can find the order it may have placed.
    """
    digest = hashlib.sha256(f"{execution_id}/{leg}/{attempt}".encode()).digest()
    return "0x" + digest[:16].hex()


def check_cloid(cloid: str) -> str:
    """The cloid in the venue's form (lowercase); ValueError if it is not 0x + 32 hex digits."""
    normal = cloid.lower() if isinstance(cloid, str) else ""
    if not _CLOID.match(normal):
        raise ValueError(f"a cloid is 0x followed by 32 hex digits, not {cloid!r}")
    return normal


def wire_number(value: Decimal) -> str:
    """A price or size as the SDK's `float_to_wire` writes it ("150.10" → "150.1"), without a float."""
    if not isinstance(value, Decimal):
        raise TypeError(f"prices and sizes are Decimals, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"not a finite number: {value}")
    return wire(value)


def _d(value: Any) -> Decimal:
    return to_decimal(str(value))


def _d_or_none(value: Any) -> Decimal | None:
    return None if value is None else _d(value)


@dataclass(frozen=True)
class PerpMarket:
    name: str
    asset: int  # index in meta.universe, delisted entries included
    sz_decimals: int
    max_leverage: int


@dataclass(frozen=True)
class AssetContext:
    coin: str
    funding: FundingRate  # the current hourly rate, from metaAndAssetCtxs
    mark_px: Decimal
    oracle_px: Decimal
    mid_px: Decimal | None
    premium: Decimal | None
    open_interest: Decimal


@dataclass(frozen=True)
class BookLevel:
    px: Decimal
    sz: Decimal
    n: int


@dataclass(frozen=True)
class Book:
    coin: str
    bids: tuple[BookLevel, ...]  # best first
    asks: tuple[BookLevel, ...]  # best first
    time_ms: int


@dataclass(frozen=True)
class PerpPosition:
    coin: str
    size: Decimal  # signed: negative = short
    entry_px: Decimal
    position_value: Decimal
    unrealized_pnl: Decimal
    liquidation_px: Decimal | None
    margin_used: Decimal
    leverage: int
    is_cross: bool
    funding_since_open: Decimal  # as the venue reports cumFunding.sinceOpen (positive = paid by us)


@dataclass(frozen=True)
class UserState:
    account_value: Decimal
    total_margin_used: Decimal
    maintenance_margin: Decimal
    withdrawable: Decimal
    positions: dict[str, PerpPosition]
    time_ms: int


@dataclass(frozen=True)
class Fill:
    coin: str
    px: Decimal
    sz: Decimal
    is_buy: bool
    time_ms: int
    oid: int
    cloid: str | None
    fee: Decimal
    closed_pnl: Decimal
    crossed: bool  # True: we took liquidity


@dataclass(frozen=True)
class FundingPayment:
    coin: str
    time_ms: int
    usdc: Decimal  # signed as the venue reports: + received
    size: Decimal  # the position (signed) it was paid on
    rate: FundingRate


class OrderState(StrEnum):
    FILLED = "filled"
    PARTIALLY_FILLED = "partially_filled"  # some filled; the rest canceled (IOC) or still resting
    RESTING = "resting"
    CANCELED = "canceled"
    REJECTED = "rejected"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class OrderOutcome:
    state: OrderState
    cloid: str | None
    oid: int | None
    filled_size: Decimal
    avg_px: Decimal | None
    error: str | None  # the venue's text for a rejection (or its status name, read back by cloid)


# ---------------------------------------------------------------------- parsing
def parse_markets(meta: dict[str, Any]) -> dict[str, PerpMarket]:
    """Tradable perps by name; delisted ones are left out but keep their index for the others."""
    markets = {}
    for index, entry in enumerate(meta["universe"]):
        if entry.get("isDelisted"):
            continue
        markets[entry["name"]] = PerpMarket(
            entry["name"], index, int(entry["szDecimals"]), int(entry["maxLeverage"])
        )
    return markets


def parse_asset_contexts(answer: list[Any]) -> dict[str, AssetContext]:
    meta, ctxs = answer
    out = {}
    for entry, ctx in zip(meta["universe"], ctxs, strict=False):
        if entry.get("isDelisted"):
            continue
        coin = entry["name"]
        out[coin] = AssetContext(
            coin=coin,
            funding=FundingRate.hourly(_d(ctx["funding"])),
            mark_px=_d(ctx["markPx"]),
            oracle_px=_d(ctx["oraclePx"]),
            mid_px=_d_or_none(ctx.get("midPx")),
            premium=_d_or_none(ctx.get("premium")),
            open_interest=_d(ctx["openInterest"]),
        )
    return out


def parse_book(answer: dict[str, Any]) -> Book:
    bids, asks = answer["levels"]

    def levels(rows: list[dict[str, Any]]) -> tuple[BookLevel, ...]:
        return tuple(BookLevel(_d(r["px"]), _d(r["sz"]), int(r["n"])) for r in rows)

    return Book(answer["coin"], levels(bids), levels(asks), int(answer["time"]))


def parse_predicted_funding(answer: list[Any], coin: str) -> FundingRate | None:
    """Hyperliquid's own entry ("HlPerp") for `coin`, with the interval the venue states."""
    for name, venues in answer:
        if name != coin:
            continue
        for venue, data in venues:
            if venue == "HlPerp" and data is not None:
                hours = int(data.get("fundingIntervalHours") or 1)
                return FundingRate.every(_d(data["fundingRate"]), hours)
    return None


def parse_position(p: dict[str, Any]) -> PerpPosition:
    leverage = p["leverage"]
    return PerpPosition(
        coin=p["coin"],
        size=_d(p["szi"]),
        entry_px=_d(p["entryPx"]),
        position_value=_d(p["positionValue"]),
        unrealized_pnl=_d(p["unrealizedPnl"]),
        liquidation_px=_d_or_none(p.get("liquidationPx")),
        margin_used=_d(p["marginUsed"]),
        leverage=int(leverage["value"]),
        is_cross=leverage["type"] == "cross",
        funding_since_open=_d(p["cumFunding"]["sinceOpen"]),
    )


def parse_user_state(answer: dict[str, Any]) -> UserState:
    summary = answer["marginSummary"]
    positions = {}
    for row in answer.get("assetPositions", []):
        position = parse_position(row["position"])
        if position.size != 0:
            positions[position.coin] = position
    return UserState(
        account_value=_d(summary["accountValue"]),
        total_margin_used=_d(summary["totalMarginUsed"]),
        maintenance_margin=_d(answer["crossMaintenanceMarginUsed"]),
        withdrawable=_d(answer["withdrawable"]),
        positions=positions,
        time_ms=int(answer["time"]),
    )


def parse_fill(f: dict[str, Any]) -> Fill:
    cloid = f.get("cloid")
    return Fill(
        coin=f["coin"],
        px=_d(f["px"]),
        sz=_d(f["sz"]),
        is_buy=f["side"] == "B",
        time_ms=int(f["time"]),
        oid=int(f["oid"]),
        cloid=cloid.lower() if isinstance(cloid, str) else None,
        fee=_d(f["fee"]),
        closed_pnl=_d(f["closedPnl"]),
        crossed=bool(f["crossed"]),
    )


def parse_funding_payment(row: dict[str, Any]) -> FundingPayment | None:
    delta = row["delta"]
    if delta.get("type") != "funding":
        return None
    return FundingPayment(
        coin=delta["coin"],
        time_ms=int(row["time"]),
        usdc=_d(delta["usdc"]),
        size=_d(delta["szi"]),
        rate=FundingRate.hourly(_d(delta["fundingRate"])),
    )


def outcome_from_status(
    status: dict[str, Any], requested_size: Decimal | None, cloid: str | None
) -> OrderOutcome:
    """One entry of an order action's `statuses`: filled, resting, or a per-order error."""
    if isinstance(status, dict) and "filled" in status:
        filled = status["filled"]
        total = _d(filled["totalSz"])
        complete = requested_size is None or total >= requested_size
        return OrderOutcome(
            OrderState.FILLED if complete else OrderState.PARTIALLY_FILLED,
            filled.get("cloid", cloid),
            int(filled["oid"]),
            total,
            _d(filled["avgPx"]),
            None,
        )
    if isinstance(status, dict) and "resting" in status:
        resting = status["resting"]
        return OrderOutcome(
            OrderState.RESTING, resting.get("cloid", cloid), int(resting["oid"]), Decimal(0), None, None
        )
    if isinstance(status, dict) and "error" in status:
        return OrderOutcome(OrderState.REJECTED, cloid, None, Decimal(0), None, str(status["error"]))
    raise HyperliquidError(f"unexpected order status from the venue: {status!r}")


def state_from_order_status(status: str, filled: Decimal) -> OrderState:
    """orderStatus's status name (open, filled, canceled, iocCancelRejected, ...) → OrderState."""
    if status == "filled":
        return OrderState.FILLED
    if status == "rejected" or status.endswith("Rejected"):
        return OrderState.REJECTED
    if status.endswith("anceled"):  # canceled, marginCanceled, reduceOnlyCanceled, selfTradeCanceled...
        return OrderState.PARTIALLY_FILLED if filled > 0 else OrderState.CANCELED
    # open, triggered, waitingForFill...: still working
    return OrderState.PARTIALLY_FILLED if filled > 0 else OrderState.RESTING


def average_fill(fills: list[Fill]) -> tuple[Decimal, Decimal | None]:
    """Total size and size-weighted average price of some fills."""
    size = sum((f.sz for f in fills), Decimal(0))
    if size == 0:
        return Decimal(0), None
    notional = sum((f.sz * f.px for f in fills), Decimal(0))
    return size, notional / size


# candleSnapshot's interval names (gitbook "Info endpoint"), with their length; the dashboard offers these.
CANDLE_INTERVALS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
}


@dataclass(frozen=True)
class Candle:
    """One candle of `candleSnapshot`: opened at `open_ms`, closing at `close_ms` (the venue's `t`, `T`,
    ms), prices in USD and volume in coin units, over `interval` (one of `CANDLE_INTERVALS`)."""

    open_ms: int
    close_ms: int
    interval: str
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def parse_candles(answer: list[Any]) -> list[Candle]:
    """`candleSnapshot` rows, oldest first."""
    out = [
        Candle(
            open_ms=int(c["t"]),
            close_ms=int(c["T"]),
            interval=str(c["i"]),
            open=_d(c["o"]),
            high=_d(c["h"]),
            low=_d(c["l"]),
            close=_d(c["c"]),
            volume=_d(c["v"]),
        )
        for c in answer
    ]
    return sorted(out, key=lambda c: c.open_ms)
