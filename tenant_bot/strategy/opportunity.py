"""Net APY of the basis trade, decomposed, per lending protocol and collateral.

Capital C is split evenly: C/2 is Asgard margin, C/2 Hyperliquid margin, and each leg has notional
N = L·C/2. Per year, on capital C:

    gross = ½·[L·(funding_apr + staking_apy + supply_apy) − (L−1)·borrow_apy]
    net   = gross − fees_apy

the long earns supply (+ staking for an LST) on N and pays the USDC borrow on the debt N − C/2; the
short earns funding on N. Round-trip fees are a fraction of N, so L/2 of that on capital, amortised
over the expected holding time. Yields and the funding APR are added as they are quoted (APY and
simple APR): over the days a position is held the difference is far below the noise of the rates.
Users see `components`, which sum to `net_apy`; never an unexplained single number.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal

from shared.assets import Asset, Protocol
from shared.money import Number, to_decimal
from shared.rates import FundingRate
from tenant_bot.strategy.rates import LendingRate, RatesSnapshot

MIN_LEVERAGE = Decimal(2)
MAX_LEVERAGE = Decimal(4)
DAYS_PER_YEAR = Decimal(365)
BPS = Decimal(10_000)


def check_leverage(leverage: Number) -> Decimal:
    """The leverage as a Decimal, or ValueError when outside the strategy's [2, 4]."""
    value = to_decimal(leverage)
    if not MIN_LEVERAGE <= value <= MAX_LEVERAGE:
        raise ValueError(f"leverage must be between {MIN_LEVERAGE}x and {MAX_LEVERAGE}x, got {value}x")
    return value


@dataclass(frozen=True, slots=True)
class FeeModel:
    """Costs of one round trip (open and close both legs), as fractions of one leg's notional.

    Defaults (shared/research/venues.md §1.10, §2.4, §5): Hyperliquid base-tier taker 0.045 % per
    side; Asgard 0.15 % of notional on open and nothing on close (third-party figure; Asgard's own doc
    only names a `feesMetadata` object); 2 bps of slippage per side on each leg (Hyperliquid's SOL book
    was flat to $200k; the Asgard swap is the larger part). A position is expected to be held 14 days.
    """

    hl_taker_fee: Decimal = Decimal("0.00045")
    asgard_open_fee: Decimal = Decimal("0.0015")
    asgard_close_fee: Decimal = Decimal(0)
    slippage_bps: Decimal = Decimal(2)  # per side, per leg
    holding_days: Decimal = Decimal(14)

    def __post_init__(self) -> None:
        for name in ("hl_taker_fee", "asgard_open_fee", "asgard_close_fee", "slippage_bps", "holding_days"):
            value = to_decimal(getattr(self, name))
            if value < 0:
                raise ValueError(f"{name} cannot be negative")
            object.__setattr__(self, name, value)
        if self.holding_days == 0:
            raise ValueError("holding_days must be positive")

    def round_trip_on_notional(self) -> Decimal:
        """Open + close of both legs: 2 taker fills on Hyperliquid, Asgard's open and close fees, and
        slippage on four crossings."""
        return (
            2 * self.hl_taker_fee + self.asgard_open_fee + self.asgard_close_fee + 4 * self.slippage_bps / BPS
        )

    def round_trip_on_capital(self, leverage: Number) -> Decimal:
        """The same cost as a fraction of capital C: the notional per leg is L·C/2."""
        return check_leverage(leverage) / 2 * self.round_trip_on_notional()

    def amortised_apy(self, leverage: Number) -> Decimal:
        """The round trip spread over the expected holding time, per year."""
        return self.round_trip_on_capital(leverage) * DAYS_PER_YEAR / self.holding_days


@dataclass(frozen=True, slots=True)
class NetApy:
    """One (protocol, collateral) at one leverage, decomposed. All yields are fractions per year on
    capital, except the inputs `funding_apr` … `borrow_apy`, which are the market's own quotes."""

    leverage: Decimal
    protocol: Protocol
    asset: Asset
    funding_apr: Decimal
    staking_apy: Decimal
    supply_apy: Decimal
    borrow_apy: Decimal
    fees_apy: Decimal  # round-trip fees amortised over the holding time
    gross_apy: Decimal
    net_apy: Decimal
    break_even_days: Decimal | None  # days of gross carry that pay the round trip; None if gross ≤ 0
    components: dict[str, Decimal] = field(default_factory=dict)  # funding, staking, supply, borrow, fees
    capacity_usd: Decimal | None = None


def decompose(
    snapshot: RatesSnapshot,
    leverage: Number,
    protocol: Protocol,
    asset: Asset,
    fees: FeeModel,
    *,
    funding: FundingRate | None = None,
) -> NetApy:
    """The net APY of a LONG `asset` on `protocol` + SOL-PERP short, at `leverage`.

    `funding` overrides the snapshot's planning rate (e.g. to show the current hour's figure).
    """
    lev = check_leverage(leverage)
    if not asset.is_sol_like:
        raise ValueError(f"the long leg holds SOL or an LST, not {asset.value}")
    lending = snapshot.lending_for(protocol, asset)
    if lending is None:
        raise ValueError(f"no lending rate for {asset.value} on {protocol.label} in this snapshot")
    return _decompose(snapshot, lev, lending, fees, funding or snapshot.planning_funding())


def _decompose(
    snapshot: RatesSnapshot, lev: Decimal, lending: LendingRate, fees: FeeModel, funding: FundingRate
) -> NetApy:
    funding_apr = funding.apr
    staking = snapshot.staking_for(lending.asset).value
    supply = lending.supply.value
    borrow = lending.borrow.value
    half = lev / 2
    components = {
        "funding": half * funding_apr,
        "staking": half * staking,
        "supply": half * supply,
        "borrow": -(lev - 1) / 2 * borrow,
    }
    gross = sum(components.values(), Decimal(0))
    fees_apy = fees.amortised_apy(lev)
    components["fees"] = -fees_apy
    break_even = fees.round_trip_on_capital(lev) * DAYS_PER_YEAR / gross if gross > 0 else None
    return NetApy(
        leverage=lev,
        protocol=lending.protocol,
        asset=lending.asset,
        funding_apr=funding_apr,
        staking_apy=staking,
        supply_apy=supply,
        borrow_apy=borrow,
        fees_apy=fees_apy,
        gross_apy=gross,
        net_apy=gross - fees_apy,
        break_even_days=break_even,
        components=components,
        capacity_usd=lending.capacity_usd,
    )


def _candidates(snapshot: RatesSnapshot, lev: Decimal) -> list[LendingRate]:
    """Active long markets that allow this leverage."""
    return [
        r
        for r in snapshot.lending
        if r.active and r.asset.is_sol_like and (r.max_leverage is None or r.max_leverage >= lev)
    ]


def _rank_key(row: NetApy) -> tuple[Decimal, int, str]:
    # Best first; ties broken deterministically so the same snapshot always picks the same market.
    return (-row.net_apy, row.protocol.value, row.asset.value)


def table(snapshot: RatesSnapshot, leverage: Number, fees: FeeModel) -> list[NetApy]:
    """Every usable (protocol, collateral) at `leverage`, best net APY first."""
    lev = check_leverage(leverage)
    funding = snapshot.planning_funding()
    rows = [_decompose(snapshot, lev, r, fees, funding) for r in _candidates(snapshot, lev)]
    return sorted(rows, key=_rank_key)


def best_opportunity(
    snapshot: RatesSnapshot,
    leverage: Number,
    fees: FeeModel,
    *,
    allowed_protocols: Collection[Protocol] | None = None,
    allowed_assets: Collection[Asset] | None = None,
    min_capacity_usd: Decimal = Decimal(0),
) -> NetApy | None:
    """The highest net APY among the allowed markets with enough capacity; None if there is none.

    The result may be negative: whether it is worth entering is the caller's threshold. A market that
    reports no capacity passes only when `min_capacity_usd` is 0 (nothing is required of it).
    """
    lev = check_leverage(leverage)
    funding = snapshot.planning_funding()
    best: NetApy | None = None
    for rate in _candidates(snapshot, lev):
        if allowed_protocols is not None and rate.protocol not in allowed_protocols:
            continue
        if allowed_assets is not None and rate.asset not in allowed_assets:
            continue
        if min_capacity_usd > 0 and (rate.capacity_usd is None or rate.capacity_usd < min_capacity_usd):
            continue
        row = _decompose(snapshot, lev, rate, fees, funding)
        if best is None or _rank_key(row) < _rank_key(best):
            best = row
    return best
