"""What the dashboard shows of positions and rates, computed from the bot's last observation.

Requests never wait on a venue: positions are valued from the last tick's observation (refreshed
every few seconds) and from Hyperliquid fills and funding payments cached here, refreshed by the
live feed. An open position's PnL is an estimate split like the ledger a close records
(`tenant_bot/execution/pnl.py`), with the live long (amounts and price) as its end and the short
marked at Hyperliquid's mark: total = long equity now + what modifications paid out − margin put in
+ short price PnL + funding − HL fees, each part computed on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shared.assets import Asset
from tenant_bot.execution.pnl import (
    PNL_PARTS,
    LongState,
    PnlSplit,
    attributed_funding,
    fees_of,
    long_leg,
    modifications,
    opened_ms,
    opening,
    position_cloids,
    staking_gain,
)
from tenant_bot.execution.states import LIVE_POSITIONS, SETTLED_POSITIONS, Flow, PositionStatus
from tenant_bot.observer import Observation, Observer
from tenant_bot.services import Services
from tenant_bot.storage.models import Position
from tenant_bot.strategy.exposure import drift, liquidation_distance
from tenant_bot.strategy.opportunity import NetApy
from tenant_bot.venues.hyperliquid_models import Fill, FundingPayment

ZERO = Decimal(0)
# Hyperliquid fills and funding are re-read at most this often (seconds).
VENUE_CACHE_SECONDS = 5.0


def s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def rate_row(row: NetApy) -> dict[str, Any]:
    return {
        "protocol": row.protocol.name.lower(),
        "asset": row.asset.value,
        "leverage": str(row.leverage),
        "net_apy": str(row.net_apy),
        "gross_apy": str(row.gross_apy),
        "funding_apr": str(row.funding_apr),
        "staking_apy": str(row.staking_apy),
        "supply_apy": str(row.supply_apy),
        "borrow_apy": str(row.borrow_apy),
        "fees_apy": str(row.fees_apy),
        "break_even_days": s(row.break_even_days),
        "components": {k: str(v) for k, v in row.components.items()},
        "capacity_usd": s(row.capacity_usd),
    }


@dataclass
class VenueCache:
    fills: list[Fill] = field(default_factory=list)
    funding: list[FundingPayment] = field(default_factory=list)
    fetched_at: float = 0.0

    @property
    def stale(self) -> bool:
        return time.monotonic() - self.fetched_at > VENUE_CACHE_SECONDS


class Valuer:
    def __init__(self, services: Services, observer: Observer) -> None:
        self._s = services
        self._observer = observer
        self.journal = services.journal
        self.cache = VenueCache()

    async def refresh(self, *, force: bool = False) -> None:
        """Re-read Hyperliquid fills and funding when the cache is stale (errors keep the old one)."""
        if not force and not self.cache.stale:
            return
        live = self.journal.positions(PositionStatus.OPEN, PositionStatus.CLOSING)
        opened = [p.opened_at for p in live if p.opened_at]
        since_ms = int(min(opened).timestamp() * 1000) if opened else 0
        try:
            fills = await self._s.hl.user_fills()
            funding = await self._s.hl.user_funding(since_ms) if opened else []
        except Exception:  # a venue hiccup: show the previous figures
            return
        self.cache = VenueCache(fills, funding, time.monotonic())

    # ------------------------------------------------------------------ positions
    def positions(self, *, closed_limit: int = 50) -> list[dict[str, Any]]:
        return self.listing(closed_limit=closed_limit)["positions"]

    def listing(self, *, closed_limit: int = 50) -> dict[str, Any]:
        """The open positions and the `closed_limit` latest closed ones, and `lifetime`: every
        position's PnL parts summed (open ones at their estimate), however many are listed."""
        journal = self.journal
        live = [self.view(p) for p in journal.positions(*LIVE_POSITIONS)]
        done = journal.positions(*SETTLED_POSITIONS)
        lifetime = {k: sum((Decimal(v["pnl"][k]) for v in live), ZERO) for k in PNL_PARTS}
        for p in done:
            for k in PNL_PARTS:
                lifetime[k] += Decimal(str(p.ledger.get(k, "0")))
        done.sort(key=lambda p: p.closed_at or p.created_at, reverse=True)
        return {
            "positions": live + [self.view(p) for p in done[:closed_limit]],
            "lifetime": {k: str(v) for k, v in lifetime.items()},
        }

    def open_total(self) -> Decimal:
        return sum(
            (Decimal(v["pnl"]["total"]) for v in map(self.view, self.journal.positions(PositionStatus.OPEN))),
            ZERO,
        )

    def realised_total(self) -> Decimal:
        total = ZERO
        for p in self.journal.positions(PositionStatus.CLOSED, PositionStatus.UNWOUND):
            if p.ledger.get("total") is not None:
                total += Decimal(str(p.ledger["total"]))
        return total

    def view(self, p: Position) -> dict[str, Any]:
        obs = self._observer.latest
        snap = obs.snapshot if obs else None
        mark = snap.prices.get("hyperliquid_mark") if snap else None
        sol_px = (snap.prices.get("asgard") or mark) if snap else None
        lst_rate = (snap.sol_per_token(Asset(p.asset)) if snap is not None else None) or Decimal(1)
        asset_px = sol_px * lst_rate if sol_px is not None else None
        venue_long = self._asgard(p, obs)
        token_size = venue_long.token_size if venue_long is not None else p.long_token_size
        debt = venue_long.debt_usdc if venue_long is not None else p.debt_usdc
        health_factor = venue_long.health_factor if venue_long is not None else None
        lost = p.long_lost_at is not None
        if lost:  # a long that is gone holds and owes nothing, whatever the journal last knew
            token_size, debt = ZERO, ZERO
        perp = obs.hl_state.positions.get("SOL") if obs and obs.hl_state else None
        short = p.short_size or ZERO
        share = min(Decimal(1), short / abs(perp.size)) if perp is not None and perp.size else ZERO
        liq_px = perp.liquidation_px if perp is not None else None
        liq_distance = liquidation_distance(liq_px, mark)
        long_sol = (token_size or ZERO) * lst_rate
        gap = abs(drift(long_sol, short))
        is_open = p.status == PositionStatus.OPEN
        view: dict[str, Any] = {
            **p.header(),
            "long": {
                "token_size": s(token_size),
                "entry_price": s(p.long_entry_price),
                "price": s(asset_px) if is_open else None,
                "collateral_usdc": s(p.collateral_usdc),
                "debt_usdc": s(debt),
                "health_factor": s(health_factor) if is_open else None,
                "value_usd": s(token_size * asset_px) if is_open and token_size and asset_px else None,
                "lost": lost,
            },
            "short": {
                "size": s(p.short_size),
                "entry_px": s(p.short_entry_px),
                "mark_px": s(mark) if is_open else None,
                "liquidation_px": s(liq_px) if is_open else None,
                "liquidation_distance": s(liq_distance) if is_open else None,
                "margin_used": s(perp.margin_used * share) if is_open and perp is not None else None,
            },
            "delta": {"long_sol": str(long_sol), "short_sol": str(short), "drift": str(gap)},
            "health": self._health(health_factor, liq_distance, gap) if is_open else "ok",
        }
        if lost and p.status in LIVE_POSITIONS:
            view["health"] = "unhedged"  # what is left is a short with nothing against it
        if lost and is_open:
            view["pnl"] = self._estimate_lost(p, mark)
        elif is_open and not p.shadow:
            view["pnl"] = self._estimate(p, token_size, debt, asset_px, mark, sol_px, lst_rate, venue_long)
        else:
            view["pnl"] = {k: str(p.ledger.get(k, "0")) for k in PNL_PARTS}
        return view

    @staticmethod
    def _asgard(p: Position, obs: Observation | None) -> Any:
        if obs is None or obs.asgard_positions is None or not p.asgard_position_id:
            return None
        return obs.asgard_positions.get(p.asgard_position_id)

    def _health(self, hf: Decimal | None, distance: Decimal | None, drift: Decimal) -> str:
        cfg = self._s.risk.config
        if (hf is not None and hf < cfg.asgard_health.reduce_below) or (
            distance is not None and distance < cfg.hyperliquid_margin.liquidation_distance_reduce_below
        ):
            return "danger"
        if (
            (hf is not None and hf < cfg.asgard_health.alert_below)
            or (distance is not None and distance < cfg.hyperliquid_margin.liquidation_distance_alert_below)
            or drift > cfg.delta_drift.rebalance_above
        ):
            return "warning"
        return "ok"

    def _estimate(
        self,
        p: Position,
        token_size: Decimal | None,
        debt: Decimal | None,
        asset_px: Decimal | None,
        mark: Decimal | None,
        sol_px: Decimal | None,
        lst_rate: Decimal,
        venue_long: Any,
    ) -> dict[str, str]:
        short = p.short_size or ZERO
        hl_fees = fees_of(self.cache.fills, position_cloids(self.journal, p.id))
        funding = attributed_funding(self.cache.funding, short, opened_ms(p))
        short_pnl = (p.short_entry_px - mark) * short if p.short_entry_px is not None and mark else ZERO
        record = venue_long.raw.get("record", {}) if venue_long is not None else {}
        if not record or token_size is None or asset_px is None:  # the long cannot be valued now
            zero = ZERO
            split = PnlSplit(funding, zero, zero, -hl_fees, short_pnl, short_pnl + funding - hl_fees)
            return {k: str(v) for k, v in split.parts().items()}
        changes = [opening(record), *modifications(self.journal, p.id)]
        end = LongState(token_size, debt or ZERO, asset_px)
        long = long_leg(changes, end)
        staking = ZERO
        if p.asset != "SOL" and sol_px:
            staking = staking_gain(changes[0].after.tokens, sol_px, self._open_lst_rate(p), lst_rate)
        split = PnlSplit(
            funding=funding,
            interest=long.supply + long.borrow,
            staking=staking,
            fees=long.fees - hl_fees,
            price=long.price - staking + short_pnl,
            total=long.cash + end.tokens * end.price - end.debt + short_pnl + funding - hl_fees,
        )
        return {k: str(v) for k, v in split.parts().items()}

    def _estimate_lost(self, p: Position, mark: Decimal | None) -> dict[str, str]:
        """An open position whose long is gone, until its close records the split: the long's margin
        is lost (in fees, as the close records it) less what its modifications paid out; the short
        is marked at Hyperliquid's mark."""
        short = p.short_size or ZERO
        hl_fees = fees_of(self.cache.fills, position_cloids(self.journal, p.id))
        funding = attributed_funding(self.cache.funding, short, opened_ms(p))
        short_pnl = (p.short_entry_px - mark) * short if p.short_entry_px is not None and mark else ZERO
        paid_out = sum((c.paid_out_usdc for c in modifications(self.journal, p.id)), ZERO)
        long_lost = paid_out - (p.collateral_usdc or ZERO)
        split = PnlSplit(
            funding, ZERO, ZERO, long_lost - hl_fees, short_pnl, long_lost + short_pnl + funding - hl_fees
        )
        return {k: str(v) for k, v in split.parts().items()}

    def _open_lst_rate(self, p: Position) -> Decimal:
        opens = self.journal.executions_of(p.id, Flow.OPEN)
        return Decimal(str(opens[0].plan.get("lst_sol_rate", "1"))) if opens else Decimal(1)
