"""Observing: venue data → one `Observation` per tick → the risk engine's inputs.

`Observer.observe` asks every venue and chain at once (a source that fails is recorded, not
raised: the outage detector counts it and the observation says so). The mapping from venue
answers to a `RatesSnapshot` and from an observation to `MarketRisk` and `PositionRisk` are plain
functions of their arguments, so recorded observations can be decided on without any venue.

An LST's fair SOL value and staking yield are read from its stake pool's own account
(`SolanaClient.stake_pool_rates`), at most `POOL_RATES_MAX_AGE_S` old (a pool's rate moves once an
epoch); the market's price of it comes from Asgard's `/token-metadata` every tick. The depeg breaker
compares the two, so a depeg already present when the bot starts is seen at once.

The chains' liveness probes (Solana's slot, Arbitrum's block number) run every tick while the caller
watches closely (`observe(watchful=True)`: an execution in flight, a position at risk, an entry
possible; see `cadence.watchful`) and while the outage detector suspects the chain; otherwise once
every `liveness_probe_seconds` (`OutageDetector.due`; the timing this gives is in
tenant_bot/venues/outages.py).

The host's gateway (`BASIS_GATEWAY_URL`, `tenant_bot.venues.gateway`) is tried first at every tick
for the market data, in one request (`Gateway.market`; a part it lacks is read alone through it, as
is everything from a gateway without that endpoint), and for the account, when it serves this bot's.
With a gateway the account is read at every watchful tick, otherwise once its last answer is
`gateway_account_read_seconds` old (the host's budget is shared; in between the last one is carried
with its date).
When it is down (not reachable, timed out, 502/503/504) the tick reads directly only what keeps the
positions safe: Hyperliquid's mids (the mark) and account, and Asgard's token prices, at most once
every `direct_read_seconds` (`DirectReadCadence`); in between, and when the gateway refuses a read,
the last answers are carried with their dates. So every observation says how old its data is
(`market_data_age_s`: its prices', the older of Hyperliquid's contexts and Asgard's token prices;
`account_data_age_s`: the Hyperliquid account's; both from when the venue gave them) and the risk
engine refuses entries on data past its limits; a carried account is never compared with the journal
(`account_fresh`). The next tick tries the gateway again: the bot is back on it as soon as it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
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
from tenant_bot.venues.gateway import (
    Dated,
    DirectReadCadence,
    GatewayDown,
    GatewayRefused,
    MarketPart,
    Route,
)
from tenant_bot.venues.hyperliquid import DatedReads, UserState
from tenant_bot.venues.hyperliquid_models import AssetContext
from tenant_bot.venues.outages import UNREACHABLE

T = TypeVar("T")
# How old the stake pools' rates a tick uses may be. A pool's rate changes once an epoch (about two
# days on mainnet, when the pool is cranked) by about one epoch's staking yield (~0.02 %), so a read
# five minutes old stands in for a new one: the depeg breaker compares it with the market's price
# (read every tick), and a new epoch's rate is in use at most five minutes after it is written.
POOL_RATES_MAX_AGE_S = 300.0


class Reads(StrEnum):
    """How a tick read the venues."""

    DIRECT = "direct"  # the bot has no gateway: everything from the venues
    GATEWAY = "gateway"  # through the host's gateway
    FALLBACK = "fallback"  # the gateway is down: the mark and the account directly, now and then


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
    # When the venues gave the prices in `snapshot` (the older of Hyperliquid's asset contexts and
    # Asgard's token prices), and `hl_state` (None: no such data).
    market_at: datetime | None = None
    account_at: datetime | None = None
    # `hl_state` was given by the venue during this tick (not carried from an earlier one, not the
    # gateway's older copy): only then is it compared with the journal, whose writes since would
    # look like a mismatch.
    account_fresh: bool = True
    reads: Reads = Reads.DIRECT

    @property
    def mark(self) -> Decimal | None:
        return self.snapshot.prices.get("hyperliquid_mark") if self.snapshot else None

    @property
    def market_data_age_s(self) -> Decimal | None:
        """Seconds from when the venues gave the snapshot's prices to this tick."""
        return age_s(self.at, self.market_at)

    @property
    def account_data_age_s(self) -> Decimal | None:
        return age_s(self.at, self.account_at)


def age_s(now: datetime, then: datetime | None) -> Decimal | None:
    """Whole milliseconds from `then` to `now`, in seconds, never negative."""
    if then is None:
        return None
    return max(Decimal(0), Decimal(int((now - then) / timedelta(milliseconds=1))) / 1000)


async def _none() -> None:
    """What a read not made this tick answers (in the tick's `gather`)."""
    return None


class Observer:
    def __init__(self, services: Services) -> None:
        self._s = services
        self.latest: Observation | None = None
        risk = services.risk.config
        # Only the discount is read from it: the LST breaker applies the thresholds in force.
        self.lst_monitor = LstMonitor(depeg_threshold=Decimal(str(risk.lst_depeg.close_above)))
        self._reads = DatedReads(services.hl)
        self._cadence = DirectReadCadence(services.settings.direct_read_seconds)
        # The last market snapshot and account answered, carried while the gateway cannot answer.
        self._market: Dated[RatesSnapshot] | None = None
        self._account: Dated[UserState] | None = None
        # The stake pools' last rates and when they were read (monotonic seconds).
        self._pools: tuple[dict[Asset, PoolRate], float] | None = None

    async def observe(self, *, watchful: bool = True) -> Observation:
        """One observation of every venue and chain. `watchful`: run every chain liveness probe now
        (an execution in flight, a position at risk, an entry possible); False lets each wait for
        its cadence (`OutageDetector.due`). Anything outside the tick loop (a manual open's check)
        observes watchfully."""
        s = self._s
        now = datetime.now(UTC)
        obs = Observation(at=now, journal_writes=s.journal.writes)
        obs.reads = Reads.GATEWAY if s.gateway is not None else Reads.DIRECT
        read_account = watchful or self._account_due(now)
        market, account, asg, pools = await asyncio.gather(
            self._gateway_probe(self._snapshot(now), obs),
            self._gateway_probe(self._reads.user_state(Route.GATEWAY), obs) if read_account else _none(),
            self._probe("asgard", s.asgard.refresh(s.wallet_signer.solana_address), obs),
            self._pool_rates(obs),
        )
        if obs.reads is Reads.FALLBACK:
            market, account = await self._read_directly(obs, market, account)
        elif s.gateway is not None:
            self._cadence.gateway_back()
        # A chain whose height stops moving is down even if its RPC still answers.
        every = s.settings.liveness_probe_seconds
        await asyncio.gather(
            *(
                self._probe(source, height(), obs, height=True)
                for source, height in (("solana", s.solana.slot), ("arbitrum", s.arbitrum.block_number))
                if watchful or s.outages.due(source, now, every)
            )
        )
        self._keep(obs, market, account, account_read=read_account)
        if obs.snapshot is not None:
            obs.snapshot = with_pool_rates(obs.snapshot, pools)
        await s.fees.refresh(s.hl)  # hourly; the cached rates otherwise
        if asg is not None:
            obs.asgard_positions = {p.position_id: p for p in asg if p.is_open}
        if market is not None:  # Hyperliquid answered: its universe is cached after the first read
            with contextlib.suppress(*UNREACHABLE):
                obs.sz_decimals = await s.venues.sz_decimals()
        obs.outages = {name: o.since for name, o in s.outages.outages(now).items()}
        self.latest = obs
        return obs

    def _account_due(self, now: datetime) -> bool:
        """Whether a tick that watches nothing closely reads the account (see the bot's
        `gateway_account_read_seconds`): always without a gateway, else once its last answer is old."""
        s = self._s
        if s.gateway is None or self._account is None:
            return True
        return self._account.age_s(now) >= s.settings.gateway_account_read_seconds

    def _keep(
        self,
        obs: Observation,
        market: Dated[RatesSnapshot] | None,
        account: Dated[UserState] | None,
        *,
        account_read: bool = True,
    ) -> None:
        """Put this tick's answers in `obs`, or, when the gateway failed them (down or refusing) or the
        account was not due (`account_read` False), the last ones with their dates. A read the venue
        itself failed is not papered over: None."""
        carry = "gateway" in obs.errors
        if market is not None:
            self._market = market
        elif carry:
            market = self._market
        if account is not None:
            # The gateway may answer with its last copy (this bot's share spent): older than the
            # tick, it may predate what the journal did since, like a carried one.
            self._account, obs.account_fresh = account, account.observed_at >= obs.at
        elif (carry or not account_read) and self._account is not None:
            account, obs.account_fresh = self._account, False
        if market is not None:
            obs.snapshot, obs.market_at = market.value, market.observed_at
        if account is not None:
            obs.hl_state, obs.account_at = account.value, account.observed_at

    async def _read_directly(
        self, obs: Observation, market: Dated[RatesSnapshot] | None, account: Dated[UserState] | None
    ) -> tuple[Dated[RatesSnapshot] | None, Dated[UserState] | None]:
        """The gateway is down: Hyperliquid's mids and account and Asgard's prices, read directly when
        `DirectReadCadence` allows; the last market snapshot with the new prices (still dated by
        the contexts it had: the oracle price and funding are not read directly)."""
        s = self._s
        if not self._cadence.due(time.monotonic()):
            return market, account
        self._cadence.sent(time.monotonic())
        mids, prices, account = await asyncio.gather(
            self._probe("hyperliquid", self._reads.mids(Route.DIRECT), obs),
            self._probe("asgard", s.asgard.dated_prices(Route.DIRECT), obs),
            self._account_directly(obs, account),
        )
        last = market or self._market
        if last is not None and mids is not None and HEDGE_COIN in mids.value:
            usd = prices.value if prices is not None else {}
            market = replace(last, value=with_direct_prices(last.value, mids.value[HEDGE_COIN], usd))
        return market, account

    async def _account_directly(
        self, obs: Observation, account: Dated[UserState] | None
    ) -> Dated[UserState] | None:
        """The account directly, unless the tick already has it (a bot that reads it directly anyway)."""
        if account is not None:
            return account
        return await self._probe("hyperliquid", self._reads.user_state(Route.DIRECT), obs)

    async def _gateway_probe(self, call: Awaitable[Dated[T]], obs: Observation) -> Dated[T] | None:
        """`_probe` of a Hyperliquid read through the gateway: a gateway that does not answer or
        refuses is no outage of the venue; the tick says so (`errors["gateway"]`, `reads`)."""
        try:
            return await self._probe("hyperliquid", call, obs)
        except GatewayDown as exc:
            obs.errors["gateway"] = str(exc)[:200]
            obs.reads = Reads.FALLBACK
        except GatewayRefused as exc:
            obs.errors["gateway"] = str(exc)[:200]
        return None

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

    async def _snapshot(self, now: datetime) -> Dated[RatesSnapshot]:
        """The market data through the gateway (directly without one), dated by its prices: the
        gateway's market read first, then each part it did not hold alone."""
        hl, asgard, via, gateway = self._reads, self._s.asgard, Route.GATEWAY, self._s.gateway
        start_ms = int((now - timedelta(hours=24)).timestamp() * 1000)
        given = await gateway.market(HEDGE_COIN, start_ms) if gateway is not None else {}
        ctxs, predicted, history, markets, prices = await asyncio.gather(
            hl.asset_contexts(via, given.get(MarketPart.ASSET_CONTEXTS)),
            hl.predicted_funding(HEDGE_COIN, via, given.get(MarketPart.PREDICTED_FUNDINGS)),
            hl.funding_history(HEDGE_COIN, start_ms, via, given.get(MarketPart.FUNDING_HISTORY)),
            asgard.dated_markets(via, given.get(MarketPart.ASGARD_MARKETS)),
            asgard.dated_prices(via, given.get(MarketPart.ASGARD_TOKEN_METADATA)),
        )
        # Its age is its prices' (the marks and Asgard's token prices): funding history, the forecast
        # and lending rates move by the hour, and the gateway refreshes them less often.
        prices_part: list[Dated[object]] = [ctxs, prices]
        oldest = min(prices_part, key=lambda p: p.observed_at)
        snapshot = snapshot_from(
            now,
            ctxs.value[HEDGE_COIN],
            predicted.value,
            [rate for _, rate in history.value],
            markets.value,
            prices.value,
        )
        return Dated(snapshot, oldest.observed_at, oldest.route)

    async def _pool_rates(self, obs: Observation) -> dict[Asset, PoolRate]:
        """The LSTs' stake-pool rates, read again once `POOL_RATES_MAX_AGE_S` old; none (and why, in
        `obs`) when Solana cannot say then. Solana's liveness is judged by its slot probe, so this
        read does not feed the outage detector."""
        kept = self._pools
        if kept is not None and time.monotonic() - kept[1] < POOL_RATES_MAX_AGE_S:
            return kept[0]
        try:
            rates = await self._s.solana.stake_pool_rates(STAKE_POOLS.values())
        except SolanaRpcError as exc:
            obs.errors["stake_pools"] = str(exc)[:200]
            return {}
        self._pools = (rates, time.monotonic())
        return rates


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
    prices = {"hyperliquid_mark": sol.mark_px, "hyperliquid_oracle": sol.oracle_px}
    if Asset.SOL in usd:
        prices["asgard"] = usd[Asset.SOL]
    return RatesSnapshot(
        at=now,
        funding=sol.funding,
        predicted_funding=predicted,
        funding_history=tuple(funding_history),
        lending=lending,
        lst_sol_rates=_lst_sol_rates(usd),
        prices=prices,
    )


def with_direct_prices(snapshot: RatesSnapshot, mark: Decimal, usd: Mapping[Asset, Decimal]) -> RatesSnapshot:
    """`snapshot` with the prices a bot whose gateway is down reads directly: Hyperliquid's mid for
    the mark (the mid and the mark differ by a fraction of the spread) and Asgard's token prices, when
    they came (`usd` empty: the last ones stay). The oracle price, not read directly, is dropped: an
    old price beside fresh ones would show a divergence that is only its age."""
    prices = {k: v for k, v in snapshot.prices.items() if k != "hyperliquid_oracle"}
    prices["hyperliquid_mark"] = mark
    if Asset.SOL not in usd:
        return replace(snapshot, prices=prices)
    prices["asgard"] = usd[Asset.SOL]
    return replace(snapshot, prices=prices, lst_sol_rates={**snapshot.lst_sol_rates, **_lst_sol_rates(usd)})


def _lst_sol_rates(usd: Mapping[Asset, Decimal]) -> dict[Asset, Decimal]:
    """SOL per LST token as Asgard's oracles price them: what the long is worth in SOL."""
    sol = usd.get(Asset.SOL)
    return {a: px / sol for a, px in usd.items() if a.is_lst and sol}


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
        market_data_age_s=obs.market_data_age_s,
        account_data_age_s=obs.account_data_age_s,
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
    long_tokens = (position.long_token_size or Decimal(0)) if position.long_lost_at is None else Decimal(0)
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
