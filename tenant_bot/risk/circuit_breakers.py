"""Circuit breakers: one class per risk the bot watches, each turning numbers into `Trip`s.

Inputs are plain snapshots the caller fills from venue data (`PositionRisk` per open position,
`MarketRisk` for what is shared); a breaker is a pure function of them and the config, so it is
tested without any venue. Each breaker emits at most one trip per (breaker name, position): the worst
level reached, with a reason sentence that carries the numbers. A missing measurement (`None`) trips
nothing here: not knowing is the outage breaker's concern, reported through `MarketRisk.outages`.

Thresholds are strict: "below 0.05" trips at 0.0499, not at 0.05.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple, Protocol

from shared.assets import Asset
from shared.rates import HOUR, FundingRate
from tenant_bot.risk.config import (
    AsgardHealthConfig,
    DeltaDriftConfig,
    ExecutionFailureConfig,
    FundingConfig,
    HyperliquidMarginConfig,
    LstDepegConfig,
    OutageConfig,
    PriceDivergenceConfig,
    RiskConfig,
)
from tenant_bot.risk.states import Action
from tenant_bot.strategy import exposure


@dataclass(frozen=True, slots=True)
class PositionRisk:
    """What the breakers need to know about one open position (both legs)."""

    position_id: str
    asset: Asset  # what the long leg holds: SOL or an LST
    # Asgard's healthFactor as a FRACTION (0.15 = the collateral can fall 15% before liquidation).
    # Asgard's API reports it in percent: divide by 100 before filling this.
    asgard_health_factor: Decimal | None
    hl_margin_ratio: Decimal | None  # maintenance margin / account value; liquidation at 1
    hl_liquidation_distance: Decimal | None  # fraction of price the mark can rise before liquidation
    long_sol_equivalent: Decimal  # long leg in SOL (an LST amount times its SOL value)
    short_sol: Decimal  # short leg size in SOL, positive
    lst_discount: Decimal | None  # LST market price below fair value, as a fraction; None for SOL

    def __post_init__(self) -> None:
        for name in ("long_sol_equivalent", "short_sol"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or value < 0:
                raise ValueError(f"{name} must be a non-negative Decimal, got {value!r}")
        hf = self.asgard_health_factor
        if hf is not None and hf > 1:
            raise ValueError(
                f"asgard_health_factor {hf} is above 1: it must be a fraction (Asgard's API gives percent; "
                "divide by 100)"
            )


@dataclass(frozen=True, slots=True)
class MarketRisk:
    """What the breakers need to know that is not about one position."""

    funding_history: tuple[FundingRate, ...]  # settled funding of SOL-PERP, hourly, oldest first
    price_divergence_bps: Decimal | None  # |HL mark − Solana-side price| / price, in bps
    outages: dict[str, datetime] = field(default_factory=dict)  # source → unreachable since
    consecutive_failures: int = 0  # execution steps that failed in a row
    predicted_funding: FundingRate | None = None  # Hyperliquid's predicted next rate
    # Seconds since the venues gave the oldest market data / the account data decided on (None: none).
    market_data_age_s: Decimal | None = None
    account_data_age_s: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Trip:
    """One breaker's verdict about one position (or about everything, `position_id=None`)."""

    breaker: str
    reason: str  # a sentence with the numbers, shown to the user
    action: Action
    position_id: str | None
    at: datetime

    @property
    def key(self) -> tuple[str, str | None]:
        """What identifies "the same trip" from one tick to the next (its level and numbers may change)."""
        return (self.breaker, self.position_id)


class CircuitBreaker(Protocol):
    name: str

    def evaluate(
        self, market: MarketRisk, positions: Sequence[PositionRisk], now: datetime
    ) -> list[Trip]: ...


def fmt(value: Decimal, places: int = 4) -> str:
    """A short decimal for a sentence: at most `places` decimals, no trailing zeros."""
    q = value.quantize(Decimal(1).scaleb(-places))
    text = format(q.normalize(), "f")
    return "0" if text in ("-0", "") else text


def pct(value: Decimal, places: int = 2) -> str:
    return f"{fmt(value * 100, places)}%"


class Tier(NamedTuple):
    """One level of a tiered breaker: crossing `threshold` asks for `action` (`word` in sentences)."""

    threshold: Decimal
    action: Action
    word: str


def crossed(value: Decimal, tiers: Sequence[Tier], *, below: bool) -> Tier | None:
    """The first of `tiers` (worst first) that `value` crosses, strictly below or above; or None."""
    for tier in tiers:
        if (value < tier.threshold) if below else (value > tier.threshold):
            return tier
    return None


class AsgardHealthBreaker:
    """The long leg's distance to liquidation on the lending protocol."""

    name = "asgard_health"

    def __init__(self, config: AsgardHealthConfig) -> None:
        self.config = config

    def evaluate(self, market: MarketRisk, positions: Sequence[PositionRisk], now: datetime) -> list[Trip]:
        c = self.config
        tiers = (
            Tier(c.close_below, Action.CLOSE, "close"),
            Tier(c.reduce_below, Action.REDUCE, "reduce"),
            Tier(c.alert_below, Action.ALERT, "alert"),
        )
        trips = []
        for p in positions:
            hf = p.asgard_health_factor
            tier = crossed(hf, tiers, below=True) if hf is not None else None
            if tier is None:
                continue
            reason = (
                f"Asgard health factor {fmt(hf)} is below the {tier.word} threshold {fmt(tier.threshold)}: "
                f"{p.asset.value} can fall only {pct(hf)} before the lending protocol liquidates "
                f"position {p.position_id}"
            )
            trips.append(Trip(self.name, reason, tier.action, p.position_id, now))
        return trips


class HyperliquidMarginBreaker:
    """The short leg's margin: distance to liquidation and maintenance / account value."""

    name = "hyperliquid_margin"
    distance_name = "hyperliquid_liquidation_distance"
    ratio_name = "hyperliquid_margin_ratio"

    def __init__(self, config: HyperliquidMarginConfig) -> None:
        self.config = config

    def evaluate(self, market: MarketRisk, positions: Sequence[PositionRisk], now: datetime) -> list[Trip]:
        c = self.config
        distance_tiers = (
            Tier(c.liquidation_distance_close_below, Action.CLOSE, "close"),
            Tier(c.liquidation_distance_reduce_below, Action.REDUCE, "reduce"),
            Tier(c.liquidation_distance_alert_below, Action.ALERT, "alert"),
        )
        ratio_tiers = (
            Tier(c.margin_ratio_close_above, Action.CLOSE, "close"),
            Tier(c.margin_ratio_reduce_above, Action.REDUCE, "reduce"),
            Tier(c.margin_ratio_alert_above, Action.ALERT, "alert"),
        )
        trips = []
        for p in positions:
            d = p.hl_liquidation_distance
            tier = crossed(d, distance_tiers, below=True) if d is not None else None
            if tier is not None:
                reason = (
                    f"Hyperliquid short of position {p.position_id} is {pct(d)} from "
                    f"liquidation, below the {tier.word} threshold {pct(tier.threshold)}"
                )
                trips.append(Trip(self.distance_name, reason, tier.action, p.position_id, now))
            r = p.hl_margin_ratio
            tier = crossed(r, ratio_tiers, below=False) if r is not None else None
            if tier is not None:
                reason = (
                    f"Hyperliquid margin ratio {fmt(r)} (maintenance / account value; "
                    f"liquidation at 1) is above the {tier.word} threshold {fmt(tier.threshold)} for "
                    f"position {p.position_id}"
                )
                trips.append(Trip(self.ratio_name, reason, tier.action, p.position_id, now))
        return trips


class DeltaDriftBreaker:
    """The two legs no longer the same size in SOL."""

    name = "delta_drift"

    def __init__(self, config: DeltaDriftConfig) -> None:
        self.config = config

    @staticmethod
    def drift(p: PositionRisk) -> Decimal:
        """How far apart the legs are, as a fraction of the larger (either way)."""
        return abs(exposure.drift(p.long_sol_equivalent, p.short_sol))

    def evaluate(self, market: MarketRisk, positions: Sequence[PositionRisk], now: datetime) -> list[Trip]:
        c = self.config
        trips = []
        for p in positions:
            apart = self.drift(p)
            gap = abs(p.long_sol_equivalent - p.short_sol)
            legs = f"long {fmt(p.long_sol_equivalent)} SOL-equivalent vs short {fmt(p.short_sol)} SOL"
            if apart > c.close_above:
                trips.append(
                    Trip(
                        self.name,
                        f"position {p.position_id} is {pct(apart)} unhedged ({legs}), above the close "
                        f"threshold {pct(c.close_above)}: the hedge is broken",
                        Action.CLOSE,
                        p.position_id,
                        now,
                    )
                )
            elif apart > c.rebalance_above and gap >= c.min_rebalance_sol:
                trips.append(
                    Trip(
                        self.name,
                        f"position {p.position_id} has drifted {pct(apart)} ({legs}; gap {fmt(gap)} SOL), "
                        f"above the rebalance threshold {pct(c.rebalance_above)}",
                        Action.REBALANCE,
                        p.position_id,
                        now,
                    )
                )
        return trips


class FundingBreaker:
    """Funding against the short: a sustained or costly negative streak, and a negative forecast.

    The streak is counted in hours from the newest settled rate back, so a rate quoted per 8 hours
    counts as 8 intervals; its cost is the sum of the negative rates (a fraction of notional).
    """

    name = "funding_negative"
    forecast_name = "funding_forecast"

    def __init__(self, config: FundingConfig) -> None:
        self.config = config

    @staticmethod
    def negative_streak(history: Sequence[FundingRate]) -> tuple[int, Decimal]:
        """(hours in a row of negative funding up to the newest, total paid as a fraction of notional)."""
        hours = 0
        paid = Decimal(0)
        for rate in reversed(history):
            if rate.rate >= 0:
                break
            hours += max(1, int(rate.interval / HOUR))
            paid += -rate.rate
        return hours, paid

    def evaluate(self, market: MarketRisk, positions: Sequence[PositionRisk], now: datetime) -> list[Trip]:
        c = self.config
        trips = []
        hours, paid = self.negative_streak(market.funding_history)
        if hours:
            streak = (
                f"SOL-PERP funding has been negative for {hours} hourly interval{'s' if hours != 1 else ''} "
                f"in a row, costing the short {pct(paid, 4)} of notional"
            )
            if hours >= c.close_after_negative_intervals:
                reason = f"{streak} (close after {c.close_after_negative_intervals} intervals)"
                trips.append(Trip(self.name, reason, Action.CLOSE, None, now))
            elif paid > c.close_when_streak_cost_above:
                reason = f"{streak}, more than the close threshold {pct(c.close_when_streak_cost_above, 4)}"
                trips.append(Trip(self.name, reason, Action.CLOSE, None, now))
            elif hours >= c.alert_after_negative_intervals:
                reason = f"{streak} (close after {c.close_after_negative_intervals} intervals)"
                trips.append(Trip(self.name, reason, Action.ALERT, None, now))
        predicted = market.predicted_funding
        if predicted is not None and predicted.apr < c.min_predicted_apr:
            trips.append(
                Trip(
                    self.forecast_name,
                    f"predicted SOL-PERP funding {predicted} is below the entry minimum "
                    f"{pct(c.min_predicted_apr)} APR: a new short would pay",
                    Action.PAUSE_ENTRIES,
                    None,
                    now,
                )
            )
        return trips


class LstDepegBreaker:
    """An LST trading below its fair value in SOL: an unhedged loss on the long leg."""

    name = "lst_depeg"

    def __init__(self, config: LstDepegConfig) -> None:
        self.config = config

    def evaluate(self, market: MarketRisk, positions: Sequence[PositionRisk], now: datetime) -> list[Trip]:
        c = self.config
        tiers = (Tier(c.close_above, Action.CLOSE, "close"), Tier(c.alert_above, Action.ALERT, "alert"))
        trips = []
        for p in positions:
            discount = p.lst_discount
            if discount is None or not p.asset.is_lst:
                continue
            tier = crossed(discount, tiers, below=False)
            if tier is None:
                continue
            reason = (
                f"{p.asset.value} trades {pct(discount)} below its fair value in SOL, above the "
                f"{tier.word} threshold {pct(tier.threshold)} (position {p.position_id})"
            )
            trips.append(Trip(self.name, reason, tier.action, p.position_id, now))
        return trips


class PriceDivergenceBreaker:
    """The venues disagree about SOL's price: one of them is stale or dislocated."""

    name = "price_divergence"

    def __init__(self, config: PriceDivergenceConfig) -> None:
        self.config = config

    def evaluate(self, market: MarketRisk, positions: Sequence[PositionRisk], now: datetime) -> list[Trip]:
        bps = market.price_divergence_bps
        limit = self.config.pause_entries_above_bps
        if bps is None or abs(bps) <= limit:
            return []
        return [
            Trip(
                self.name,
                f"SOL prices diverge by {fmt(abs(bps), 1)} bps between venues, above {fmt(limit, 1)} bps: "
                "no new entries until they agree",
                Action.PAUSE_ENTRIES,
                None,
                now,
            )
        ]


class OutageBreaker:
    """A venue or chain that does not answer: pause entries, alert when long; never close (see YAML)."""

    name = "outage"
    long_name = "long_outage"

    def __init__(self, config: OutageConfig) -> None:
        self.config = config

    @classmethod
    def breaker_name(cls, source: str) -> str:
        return f"{cls.name}:{source}"

    def evaluate(self, market: MarketRisk, positions: Sequence[PositionRisk], now: datetime) -> list[Trip]:
        c = self.config
        trips = []
        for source, since in sorted(market.outages.items()):
            seconds = Decimal(int((now - since) / timedelta(milliseconds=1))) / 1000
            if seconds <= c.pause_entries_after_seconds:
                continue
            down = f"{source} has not answered for {_duration(seconds)}"
            trips.append(
                Trip(
                    self.breaker_name(source), f"{down}: new entries paused", Action.PAUSE_ENTRIES, None, now
                )
            )
            if seconds > c.alert_after_seconds:
                reason = (
                    f"{down}, longer than {_duration(c.alert_after_seconds)}: open positions are kept hedged "
                    "(closing the leg that still trades would leave the other naked); look at it"
                )
                trips.append(Trip(f"{self.long_name}:{source}", reason, Action.ALERT, None, now))
        return trips


def _duration(seconds: Decimal) -> str:
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{fmt(Decimal(s) / 3600, 1)} h"


class ExecutionFailureBreaker:
    """Execution steps failing in a row: something the bot does not understand; halt."""

    name = "execution_failures"

    def __init__(self, config: ExecutionFailureConfig) -> None:
        self.config = config

    def evaluate(self, market: MarketRisk, positions: Sequence[PositionRisk], now: datetime) -> list[Trip]:
        n = market.consecutive_failures
        limit = self.config.halt_after_consecutive_failures
        if n < limit:
            return []
        return [
            Trip(
                self.name,
                f"{n} execution steps failed in a row (halt after {limit}): automatic trading stops until "
                "an operator resumes",
                Action.HALT,
                None,
                now,
            )
        ]


class DataAgeBreaker:
    """Data older than its limit: no new entry, no rebalance (the engine drops those); closes and
    reductions still go ahead. A missing measurement trips nothing (nothing is decided on nothing)."""

    name = "data_age"
    market_name = "stale_market_data"
    account_name = "stale_account_data"
    names = (market_name, account_name)

    def __init__(self, config: RiskConfig) -> None:
        self.max_market_s = config.max_market_data_age_s
        self.max_account_s = config.max_account_data_age_s

    def too_old(self, market_age_s: Decimal | None, account_age_s: Decimal | None) -> list[tuple[str, str]]:
        """(breaker name, reason) for each kind of data past its limit."""
        out = []
        for name, what, age, limit in (
            (self.market_name, "market", market_age_s, self.max_market_s),
            (self.account_name, "account", account_age_s, self.max_account_s),
        ):
            if age is not None and age > limit:
                out.append((name, f"{what} data is {int(age)} s old (the limit is {fmt(limit, 1)} s)"))
        return out

    def evaluate(self, market: MarketRisk, positions: Sequence[PositionRisk], now: datetime) -> list[Trip]:
        return [
            Trip(name, f"{reason}: no new entries until it is fresh", Action.PAUSE_ENTRIES, None, now)
            for name, reason in self.too_old(market.market_data_age_s, market.account_data_age_s)
        ]


def default_breakers(config: RiskConfig) -> list[CircuitBreaker]:
    return [
        AsgardHealthBreaker(config.asgard_health),
        HyperliquidMarginBreaker(config.hyperliquid_margin),
        DeltaDriftBreaker(config.delta_drift),
        FundingBreaker(config.funding),
        LstDepegBreaker(config.lst_depeg),
        PriceDivergenceBreaker(config.price_divergence),
        OutageBreaker(config.outage),
        ExecutionFailureBreaker(config.execution),
        DataAgeBreaker(config),
    ]
