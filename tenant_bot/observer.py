"""Observing: venue data → one `Observation` per tick → the risk engine's inputs.

`Observer.observe` asks every venue and chain at once (a source that fails is recorded, not
raised: the outage detector counts it and the observation says so). The mapping from venue
answers to a `RatesSnapshot` and from an observation to `MarketRisk` and `PositionRisk` are plain
functions of their arguments, so recorded observations can be decided on without any venue.

An LST's fair SOL value and staking yield are read each tick from its stake pool's own account
(`SolanaClient.stake_pool_rates`); the market's price of it comes from Asgard's `/token-metadata`. The
depeg breaker compares the two, so a depeg already present when the bot starts is seen at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from shared.assets import STAKE_POOLS, Asset
from shared.rates import FundingRate
from tenant_bot.chain.solana import SolanaRpcError
from tenant_bot.chain.stake_pools import PoolRate
from tenant_bot.execution.venues import HEDGE_COIN
from tenant_bot.risk.circuit_breakers import MarketRisk, PositionRisk
from tenant_bot.services import Services
from tenant_bot.storage.models import Position
from tenant_bot.strategy.exposure import liquidation_distance
from tenant_bot.strategy.lst import LstMonitor
from tenant_bot.strategy.prices import price_consensus
from tenant_bot.strategy.rates import LendingRate, RatesSnapshot
from tenant_bot.venues.asgard import AsgardPosition
from tenant_bot.venues.asgard_models import AsgardMarket
from tenant_bot.venues.hyperliquid import UserState
from tenant_bot.venues.hyperliquid_models import AssetContext
from tenant_bot.venues.outages import UNREACHABLE

T = TypeVar("T")


@dataclass
class Observation:
    """What the venues said in one tick."""

    at: datetime
    snapshot: RatesSnapshot | None = None
    hl_state: UserState | None = None
    asgard_positions: dict[str, AsgardPosition] | None = None
    errors: dict[str, str] = field(default_factory=dict)
    # The journal's write count when the venues were asked; None when unknown (built by hand).
    journal_writes: int | None = None
    # Sources the outage detector calls down, and since when.
    outages: dict[str, datetime] = field(default_factory=dict)
    # Size decimals of the hedge perp (None when Hyperliquid could not be read).
    sz_decimals: int | None = None

    @property
    def mark(self) -> Decimal | None:
        return self.snapshot.prices.get("hyperliquid_mark") if self.snapshot else None


class Observer:
    def __init__(self, services: Services) -> None:
        self._s = services
        self.latest: Observation | None = None
        risk = services.risk.config
        # Only the discount is read from it: the LST breaker applies the thresholds in force.
        self.lst_monitor = LstMonitor(depeg_threshold=Decimal(str(risk.lst_depeg.close_above)))

    async def observe(self) -> Observation:
        s = self._s
        now = datetime.now(UTC)
        obs = Observation(at=now, journal_writes=s.journal.writes)
        snap, state, asg, pools = await asyncio.gather(
            self._probe("hyperliquid", self._snapshot(now), obs),
            self._probe("hyperliquid", s.hl.user_state(), obs),
            self._probe("asgard", s.asgard.refresh(s.wallet_signer.solana_address), obs),
            self._pool_rates(obs),
        )
        if snap is not None:
            snap = with_pool_rates(snap, pools)
        # A chain whose height stops moving is down even if its RPC still answers.
        await asyncio.gather(
            self._probe("solana", s.solana.slot(), obs, height=True),
            self._probe("arbitrum", s.arbitrum.block_number(), obs, height=True),
        )
        obs.snapshot, obs.hl_state = snap, state
        await s.fees.refresh(s.hl)  # hourly; the cached rates otherwise
        if asg is not None:
            obs.asgard_positions = {p.position_id: p for p in asg if p.is_open}
        if snap is not None:  # Hyperliquid answered: its universe is cached after the first read
            with contextlib.suppress(*UNREACHABLE):
                obs.sz_decimals = await s.venues.sz_decimals()
        obs.outages = {name: o.since for name, o in s.outages.outages(now).items()}
        self.latest = obs
        return obs

    async def latest_or_observe(self) -> Observation:
        """The last tick's observation with its rates, or a fresh one when there is none."""
        if self.latest is None or self.latest.snapshot is None:
            return await self.observe()
        return self.latest

    async def _probe(
        self, source: str, call: Awaitable[T], obs: Observation, *, height: bool = False
    ) -> T | None:
        """The answer of `call`, recorded with the outage detector; None (and why, in `obs`) on failure."""
        result, why = await self._s.outages.probe(source, call, obs.at, height=height)
        if why is not None:
            obs.errors[source] = why
        return result

    async def _snapshot(self, now: datetime) -> RatesSnapshot:
        hl = self._s.hl
        start_ms = int((now - timedelta(hours=24)).timestamp() * 1000)
        ctxs, predicted, history, markets, prices = await asyncio.gather(
            hl.asset_contexts(),
            hl.predicted_funding(HEDGE_COIN),
            hl.funding_history(HEDGE_COIN, start_ms),
            self._s.asgard.markets(),
            self._s.asgard.prices(),
        )
        return snapshot_from(now, ctxs[HEDGE_COIN], predicted, [rate for _, rate in history], markets, prices)

    async def _pool_rates(self, obs: Observation) -> dict[Asset, PoolRate]:
        """The LSTs' stake-pool rates; none (and why, in `obs`) when Solana cannot say. Solana's
        liveness is judged by its slot probe, so this read does not feed the outage detector."""
        try:
            return await self._s.solana.stake_pool_rates(STAKE_POOLS.values())
        except SolanaRpcError as exc:
            obs.errors["stake_pools"] = str(exc)[:200]
            return {}


# ---------------------------------------------------------------------- pure mappings
def snapshot_from(
    now: datetime,
    sol: AssetContext,
    predicted: FundingRate | None,
    funding_history: Sequence[FundingRate],
    markets: Sequence[AsgardMarket],
    usd: Mapping[Asset, Decimal],
) -> RatesSnapshot:
    """The rates snapshot from Hyperliquid's SOL context and funding, Asgard's markets and its token
    prices (`/token-metadata`: `/markets` oracle objects are protocol-specific and opaque)."""
    lending = tuple(
        LendingRate(
            protocol=m.protocol,
            asset=m.asset,
            supply=m.supply_apy,
            borrow=m.borrow_apy,
            capacity_usd=m.capacity_usd,
            max_leverage=m.max_leverage,
            active=m.is_active,
        )
        for m in markets
    )
    asgard_sol_px = usd.get(Asset.SOL)
    # SOL per LST token as Asgard's oracles price them: what the long is worth in SOL.
    lst_rates = {a: px / asgard_sol_px for a, px in usd.items() if a.is_lst and asgard_sol_px}
    prices = {"hyperliquid_mark": sol.mark_px, "hyperliquid_oracle": sol.oracle_px}
    if asgard_sol_px is not None:
        prices["asgard"] = asgard_sol_px
    return RatesSnapshot(
        at=now,
        funding=sol.funding,
        predicted_funding=predicted,
        funding_history=tuple(funding_history),
        lending=lending,
        lst_sol_rates=lst_rates,
        prices=prices,
    )


def with_pool_rates(snapshot: RatesSnapshot, pools: Mapping[Asset, PoolRate]) -> RatesSnapshot:
    """`snapshot` with each LST's fair value and staking yield from its stake pool."""
    staking = {a: apy for a, p in pools.items() if (apy := p.staking_apy) is not None}
    fair = {a: p.sol_per_token for a, p in pools.items()}
    return replace(snapshot, staking=staking, lst_fair_rates=fair)


def market_risk(obs: Observation, consecutive_failures: int) -> MarketRisk:
    """What the breakers need that is not about one position."""
    snap = obs.snapshot
    divergence = None
    if snap is not None and len(snap.prices) >= 2:
        others = {k: v for k, v in snap.prices.items() if k != "hyperliquid_mark"}
        divergence = price_consensus(others or snap.prices, max_divergence_bps=Decimal(10_000)).divergence_bps
    return MarketRisk(
        funding_history=snap.funding_history if snap else (),
        price_divergence_bps=divergence,
        predicted_funding=snap.predicted_funding if snap else None,
        outages=dict(obs.outages),
        consecutive_failures=consecutive_failures,
    )


def position_risk(position: Position, obs: Observation, monitor: LstMonitor) -> PositionRisk:
    """What the breakers need about one open position, from the journal and this observation."""
    asset = Asset(position.asset)
    lst_rate, discount = Decimal(1), None
    snap = obs.snapshot
    if asset.is_lst and snap is not None:
        lst_rate = snap.sol_per_token(asset) or Decimal(1)
        market, fair = snap.lst_sol_rates.get(asset), snap.lst_fair_rates.get(asset)
        if market is not None and fair is not None:
            discount = monitor.check(asset, market, fair_rate=fair).discount
    health = None
    long_tokens = position.long_token_size or Decimal(0)
    venue = (obs.asgard_positions or {}).get(position.asgard_position_id or "")
    if venue is not None:
        health, long_tokens = venue.health_factor, venue.token_size
    margin_ratio = liq_distance = None
    if obs.hl_state is not None:
        if obs.hl_state.account_value > 0:
            margin_ratio = obs.hl_state.maintenance_margin / obs.hl_state.account_value
        perp = obs.hl_state.positions.get(HEDGE_COIN)
        liq_distance = liquidation_distance(perp.liquidation_px if perp else None, obs.mark)
    return PositionRisk(
        position_id=position.id,
        asset=asset,
        asgard_health_factor=health,
        hl_margin_ratio=margin_ratio,
        hl_liquidation_distance=liq_distance,
        long_sol_equivalent=long_tokens * lst_rate,
        short_sol=position.short_size or Decimal(0),
        lst_discount=discount,
    )
