"""One SOL price from several sources, and LST ↔ SOL conversions.

The median resists one bad source (a stale oracle, a thin book); the spread between the sources is
what the risk engine watches, since the legs are marked on different venues.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from shared.assets import Asset

BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class Consensus:
    price: Decimal  # median of the sources
    divergence_bps: Decimal  # (max − min) / median: the largest pairwise gap
    ok: bool
    sources: dict[str, Decimal] = field(default_factory=dict)
    reason: str | None = None  # why not ok


def _median(values: list[Decimal]) -> Decimal:
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def price_consensus(
    prices: Mapping[str, Decimal], *, max_divergence_bps: Decimal, min_sources: int = 2
) -> Consensus:
    """The median price and whether the sources agree within `max_divergence_bps`.

    Fewer than `min_sources` sources is not ok: one source cannot be checked against anything.
    A missing or non-positive price is a bug upstream, so it raises rather than being voted away.
    """
    if not prices:
        raise ValueError("no price sources")
    for name, px in prices.items():
        if not isinstance(px, Decimal) or not px.is_finite() or px <= 0:
            raise ValueError(f"price source {name!r} gave an invalid price {px!r}")
    values = list(prices.values())
    median = _median(values)
    divergence = (max(values) - min(values)) / median * BPS
    sources = dict(prices)
    if len(values) < min_sources:
        return Consensus(median, divergence, False, sources, f"only {len(values)} of {min_sources} sources")
    if divergence > max_divergence_bps:
        low = min(prices, key=lambda k: prices[k])
        high = max(prices, key=lambda k: prices[k])
        reason = (
            f"sources diverge by {divergence:.1f} bps (> {max_divergence_bps} bps): "
            f"{low}={prices[low]}, {high}={prices[high]}"
        )
        return Consensus(median, divergence, False, sources, reason)
    return Consensus(median, divergence, True, sources)


def sol_rate(asset: Asset, lst_sol_rate: Decimal | None) -> Decimal:
    """SOL per token of `asset`: 1 for SOL, the given rate for an LST."""
    if asset is Asset.SOL:
        return Decimal(1)
    if not asset.is_lst:
        raise ValueError(f"{asset.value} has no SOL equivalent")
    if lst_sol_rate is None or lst_sol_rate <= 0:
        raise ValueError(f"{asset.value} needs a positive LST/SOL rate, got {lst_sol_rate!r}")
    return lst_sol_rate


def sol_equivalent(amount: Decimal, asset: Asset, lst_sol_rate: Decimal | None) -> Decimal:
    """How much SOL `amount` tokens of `asset` are worth (what the short must hedge)."""
    return amount * sol_rate(asset, lst_sol_rate)


def token_price_usd(sol_price_usd: Decimal, asset: Asset, lst_sol_rate: Decimal | None) -> Decimal:
    """USD price of one token of `asset` from the SOL price."""
    return sol_price_usd * sol_rate(asset, lst_sol_rate)
