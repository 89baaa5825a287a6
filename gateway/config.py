"""The gateway's knobs: where the venues are (`Venues`) and how it spends one address's budget
(`GatewayConfig`).

The control plane fills `Venues` from its own settings (the URLs it hands its bots) and takes
`GatewayConfig` whole from `BASIS_CP_GATEWAY` (JSON, e.g. `{"budget_share": 0.7}`); every field is
documented here, where it is declared. Figures are Hyperliquid REST weight (shared/hyperliquid_weights.py)
and seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from shared.hyperliquid_weights import WEIGHT_PER_MINUTE, info_weight

# Where a host serves the gateway's app (the control plane: on its internal listener).
GATEWAY_PREFIX = "/gateway/v1"
# candleSnapshot's intervals and their length in ms (the venue's names; those a bot's chart offers).
CANDLE_SPANS_MS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
# The public /info requests the gateway answers from its cache, each refreshed on its own cadence.
PLAIN_CACHED = ("meta", "metaAndAssetCtxs", "allMids", "predictedFundings")


@dataclass(frozen=True)
class Venues:
    """Where the gateway reads and forwards: the same venues the control plane's bots are told."""

    hyperliquid_url: str  # e.g. https://api.hyperliquid.xyz (the gateway calls /info and /exchange)
    asgard_url: str  # Asgard's margin-trading base URL (the gateway calls /markets, /token-metadata)
    asgard_api_key: SecretStr | None = None  # sent as X-API-Key; required by Asgard outside the devnet


class GatewayConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- The budget (gateway/meter.py)
    # Hyperliquid's REST weight per IP in any 60 s (the venue's figure, 1,200).
    weight_per_minute: int = Field(default=WEIGHT_PER_MINUTE, ge=1)
    # The part of it the gateway spends: the rest is margin for clock skew between the venue's minute
    # and ours, the control plane's own reads (the broker's marks) and bots reading directly while the
    # gateway is down.
    budget_share: float = Field(default=0.8, gt=0, le=1)
    # Weight a minute kept for /exchange (orders, cancels): reads never take it, so an order never waits
    # behind reads. An order past it may still use what reads left unspent.
    exchange_reserve: int = Field(default=120, ge=0)
    # The local address the gateway's requests leave from, on a host with several: the address whose
    # budget it spends (None: the system's choice).
    source_address: str | None = None
    # Seconds for one venue request (connect, send, answer).
    request_timeout_seconds: float = Field(default=10.0, gt=0)

    # -- The cache of public data (gateway/market.py): each entry's refresh cadence, in seconds.
    # The hedge coin: its funding history and candles are cached (other coins are forwarded).
    hedge_coin: str = "SOL"
    meta_refresh_seconds: float = Field(default=60.0, gt=0)
    # Marks, oracle prices, funding and open interest: what a bot's tick reads first.
    asset_ctxs_refresh_seconds: float = Field(default=5.0, gt=0)
    all_mids_refresh_seconds: float = Field(default=2.0, gt=0)
    # The venue's predictions move slowly within an hour.
    predicted_fundings_refresh_seconds: float = Field(default=30.0, gt=0)
    # Funding history of the hedge coin: read once for `funding_history_hours`, then only what is new.
    funding_history_refresh_seconds: float = Field(default=60.0, gt=0)
    funding_history_hours: int = Field(default=14 * 24, ge=1, le=5000)
    # Candles of the hedge coin, per interval: the last `candle_lookback` of each (the venue keeps
    # 5,000), refreshed every interval's length but at least every `candle_refresh_seconds` apart and at
    # most `candle_refresh_max_seconds` apart (the candle in progress changes every minute).
    candle_intervals: tuple[str, ...] = tuple(CANDLE_SPANS_MS)
    candle_lookback: int = Field(default=150, ge=1, le=5000)
    candle_refresh_seconds: float = Field(default=60.0, gt=0)
    candle_refresh_max_seconds: float = Field(default=300.0, gt=0)
    # Asgard's public answers (not Hyperliquid weight: Asgard limits per API key).
    asgard_markets_refresh_seconds: float = Field(default=30.0, gt=0)
    asgard_token_metadata_refresh_seconds: float = Field(default=10.0, gt=0)

    # -- Per tenant (gateway/app.py)
    # Last answers kept per tenant, each served (stale, with its Age) when the tenant's share is spent.
    stale_answers_per_tenant: int = Field(default=64, ge=0, le=10_000)

    @property
    def budget(self) -> int:
        """The weight a minute the gateway spends at most."""
        return int(self.weight_per_minute * self.budget_share)

    def candle_cadence(self, interval: str) -> float:
        span_s = CANDLE_SPANS_MS[interval] / 1000
        return min(max(span_s, self.candle_refresh_seconds), self.candle_refresh_max_seconds)

    def refresh_cost(self) -> int:
        """The gateway's own refreshes, in weight a minute, from their cadences (rounded up)."""
        cost = sum(info_weight(kind) * 60 / self.cadence(kind) for kind in PLAIN_CACHED)
        # A refresh of new funding rows answers a handful: 20 plus 1 per 20 rows.
        cost += (info_weight("fundingHistory") + 1) * 60 / self.funding_history_refresh_seconds
        per_candles = info_weight("candleSnapshot") + self.candle_lookback // 60
        cost += sum(per_candles * 60 / self.candle_cadence(i) for i in self.candle_intervals)
        return math.ceil(cost)

    def cadence(self, kind: str) -> float:
        """The refresh cadence of a plain cached /info request."""
        return {
            "meta": self.meta_refresh_seconds,
            "metaAndAssetCtxs": self.asset_ctxs_refresh_seconds,
            "allMids": self.all_mids_refresh_seconds,
            "predictedFundings": self.predicted_fundings_refresh_seconds,
        }[kind]

    @model_validator(mode="after")
    def _fits(self) -> Self:
        unknown = [i for i in self.candle_intervals if i not in CANDLE_SPANS_MS]
        if unknown:
            raise ValueError(f"unknown candle intervals {unknown}; use {', '.join(CANDLE_SPANS_MS)}")
        left = self.budget - self.refresh_cost() - self.exchange_reserve
        if left <= 0:
            raise ValueError(
                f"the gateway's refreshes ({self.refresh_cost()} weight a minute) and the exchange reserve "
                f"({self.exchange_reserve}) leave nothing of its budget ({self.budget}) for the bots' reads: "
                "refresh less often, or lower the reserve"
            )
        return self

    def tenant_pool(self) -> int:
        """What the bots' reads share: the budget less the gateway's refreshes and the exchange reserve."""
        return self.budget - self.refresh_cost() - self.exchange_reserve
