"""The gateway's knobs: where the venues are (`Venues`) and how it spends one address's budget
(`GatewayConfig`).

The control plane fills `Venues` from its own settings (the URLs it hands its bots) and takes
`GatewayConfig` whole from `BASIS_CP_GATEWAY` (JSON, e.g. `{"budget_share": 0.7}`); every field is
documented here, where it is declared. Figures are Hyperliquid REST weight (shared/hyperliquid_weights.py)
and seconds.
"""

from __future__ import annotations

import math
from collections.abc import Collection
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
# The venue's websocket limits per IP (gitbook "Rate limits and user limits"; the stricter figures of
# df-hyperliquid-core where they differ, as the devnet enforces them: devnet/hyperliquid/limits.py).
WS_NEW_CONNECTIONS_PER_MINUTE = 30
WS_MESSAGES_PER_MINUTE = 2000
WS_USERS = 10


def candle_entry(interval: str) -> str:
    """The name of the cache entry of the hedge coin's candles of one interval (`GatewayConfig.entries`)."""
    return f"candle:{interval}"


def ws_url(base_url: str) -> str:
    """The venue's websocket for an API base URL, as the official SDK derives it (`"ws" + url[4:] +
    "/ws"`: http → ws, https → wss)."""
    return "ws" + base_url.rstrip("/")[4:] + "/ws"


@dataclass(frozen=True)
class Venues:
    """Where the gateway reads and forwards: the same venues the control plane's bots are told."""

    hyperliquid_url: str  # e.g. https://api.hyperliquid.xyz (the gateway calls /info and /exchange)
    asgard_url: str  # Asgard's margin-trading base URL (the gateway calls /markets, /token-metadata)
    asgard_api_key: SecretStr | None = None  # sent as X-API-Key; required by Asgard outside the devnet


class GatewayConfig(BaseModel):
    """The gateway's knobs. With the defaults, how many bots one address holds, and why:

    The budget is 960 weight a minute (1,200 × 0.8). Market data costs the bots nothing: one read
    serves them all. What grows with the bots is their account reads (clearinghouseState, 2 each),
    paid from the pool: the budget less the exchange reserve (120) less the gateway's own REST reads
    (`refresh_cost`), less `heavy_read_weight` (60) kept so that a heavy read always fits.
    - Feed up (allMids, the hedge coin's context and candles pushed over the websocket): the REST
      reads left are meta, the other coins' contexts and the predicted fundings once a minute (20
      each) and the funding history every two minutes (10.5): 71 a minute. Shares: 960 − 120 − 71 −
      60 = 709 a minute.
    - Feed down (the REST refresh takes over): 395 a minute (asset contexts every 5 s alone are 240),
      shares: 960 − 120 − 395 − 60 = 385.
    A bot's risk engine refuses entries on account data older than 60 s (tenant_bot's
    `max_account_data_age_s`), so a bot with a position reads its account at least twice a minute to
    stay inside it: 4 weight a minute. Shares are the pool over the active bots plus one, so with
    the feed up 709 / 4 − 1 = 176 bots read through the meter, plus the 10 (`user_subscriptions`,
    the venue's users per IP) whose account is pushed at no weight: **186 bots with positions per
    address**; with the feed down 385 / 4 − 1 = 95. Reading once a minute (age up to 60 s, at the
    limit) doubles both (353 + 10, 191). Past that, bots still get their last answers with their age,
    and their risk engines pause entries. `bots_held` computes these figures from the knobs.
    """

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
    # The heaviest read a bot must always be able to make (userRole weighs 60; userFills, userFunding,
    # userFees 20 before their items): each tenant's credit holds at least this much, and the pool keeps
    # this much out of the shares, so that such a read fits even while every other tenant spends its
    # share.
    heavy_read_weight: int = Field(default=60, ge=1)
    # The local address the gateway's requests leave from, on a host with several: the address whose
    # budget it spends (None: the system's choice). The websocket leaves from it too.
    source_address: str | None = None
    # Seconds for one venue request (connect, send, answer).
    request_timeout_seconds: float = Field(default=10.0, gt=0)

    # -- The cache of public data (gateway/market.py): each entry's REST refresh cadence, in seconds.
    # The hedge coin: its context is pushed, its funding history and candles are cached (other coins
    # are forwarded).
    hedge_coin: str = "SOL"
    meta_refresh_seconds: float = Field(default=60.0, gt=0)
    # Marks, oracle prices, funding and open interest, while the websocket does not push them.
    asset_ctxs_refresh_seconds: float = Field(default=5.0, gt=0)
    # While the hedge coin's context is pushed: the other coins' contexts (and the hedge coin's meta).
    asset_ctxs_fed_refresh_seconds: float = Field(default=60.0, gt=0)
    all_mids_refresh_seconds: float = Field(default=2.0, gt=0)
    # The venue's prediction of the next hourly payment moves slowly within the hour.
    predicted_fundings_refresh_seconds: float = Field(default=60.0, gt=0)
    # Funding history of the hedge coin: read once for `funding_history_hours`, then only what is new.
    # Funding settles hourly, so a new row is at most this late.
    funding_history_refresh_seconds: float = Field(default=120.0, gt=0)
    funding_history_hours: int = Field(default=14 * 24, ge=1, le=5000)
    # Candles of the hedge coin, per interval: the last `candle_lookback` of each (the venue keeps
    # 5,000), refreshed every interval's length but at least every `candle_refresh_seconds` apart and at
    # most `candle_refresh_max_seconds` apart (the candle in progress changes every minute), while the
    # websocket does not push them.
    candle_intervals: tuple[str, ...] = tuple(CANDLE_SPANS_MS)
    candle_lookback: int = Field(default=150, ge=1, le=5000)
    candle_refresh_seconds: float = Field(default=60.0, gt=0)
    candle_refresh_max_seconds: float = Field(default=300.0, gt=0)
    # Asgard's public answers (not Hyperliquid weight: Asgard limits per API key).
    asgard_markets_refresh_seconds: float = Field(default=30.0, gt=0)
    asgard_token_metadata_refresh_seconds: float = Field(default=10.0, gt=0)
    # Asgard refreshes start at least this far apart. Without an API key (the devnet of `make run`)
    # Asgard answers one request a second per IP and refuses the next with 429; the two cadences
    # above fall due together every 30 s, and the second would be refused each time.
    asgard_spacing_seconds: float = Field(default=1.2, ge=0)

    # -- The websocket feed (gateway/feed.py): one connection to the venue's /ws.
    # Off: every entry is refreshed over REST, and no account is pushed.
    feed_enabled: bool = True
    # A ping every this many seconds keeps the connection open (the venue closes one silent for 60 s),
    # and its pong dates what the feed holds (see `push_lag_seconds`).
    ping_seconds: float = Field(default=5.0, gt=0, le=50)
    # The venue pushes a change of a subscribed state within this many seconds of making it. A pong
    # answering a ping sent at T confirms that every state the feed holds was still current at T less
    # this (nothing newer was pushed before the pong), so a state that has not changed keeps a small
    # age. A connection whose pong is 2 × `ping_seconds` late is taken for dead and replaced.
    push_lag_seconds: float = Field(default=1.0, ge=0, le=30)
    # Reconnecting after a failure waits this long, doubling each failure up to the max (jittered by
    # up to a fifth); a connection that stayed up a minute starts again from the min.
    feed_reconnect_min_seconds: float = Field(default=1.0, gt=0)
    feed_reconnect_max_seconds: float = Field(default=60.0, gt=0)
    # The venue's per-IP limits the feed keeps to (it opens one connection; a new one at most this many
    # times a minute; sends at most this many messages a minute).
    ws_new_connections_per_minute: int = Field(default=WS_NEW_CONNECTIONS_PER_MINUTE, ge=1)
    ws_messages_per_minute: int = Field(default=WS_MESSAGES_PER_MINUTE, ge=10)
    # Accounts pushed over the feed (clearinghouseState subscriptions), at most the venue's 10 users
    # per IP: the tenants with an open position first, then those that read their account most
    # (gateway/accounts.py). Their account reads are answered from the pushed state at no weight.
    user_subscriptions: int = Field(default=WS_USERS, ge=0, le=WS_USERS)
    # How often the choice of pushed accounts is revisited; a subscription is kept at least
    # `user_hold_seconds` (so the choice does not churn), and dropped once its tenant has not read its
    # account for `user_idle_seconds`.
    user_rebalance_seconds: float = Field(default=15.0, gt=0)
    user_hold_seconds: float = Field(default=60.0, ge=0)
    user_idle_seconds: float = Field(default=120.0, gt=0)

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

    # ------------------------------------------------------------------ the cache's entries
    def entries(self) -> tuple[str, ...]:
        """Every cache entry refreshed over REST (gateway/market.py `rest_sources` builds one source
        each)."""
        return (
            *PLAIN_CACHED,
            "fundingHistory",
            *(candle_entry(i) for i in self.candle_intervals),
            "asgard:/markets",
            "asgard:/token-metadata",
        )

    def fed_entries(self) -> frozenset[str]:
        """The entries the websocket feed carries when it is up (none when it is off)."""
        if not self.feed_enabled:
            return frozenset()
        return frozenset({"allMids", "metaAndAssetCtxs", *(candle_entry(i) for i in self.candle_intervals)})

    def cadence(self, entry: str, fed: bool = False) -> float | None:
        """Seconds between an entry's REST refreshes, given whether the feed carries it now; None: not
        refreshed over REST while fed."""
        if entry.startswith("candle:"):
            return None if fed else self.candle_cadence(entry.removeprefix("candle:"))
        return {
            "meta": self.meta_refresh_seconds,
            "metaAndAssetCtxs": self.asset_ctxs_fed_refresh_seconds
            if fed
            else self.asset_ctxs_refresh_seconds,
            "allMids": None if fed else self.all_mids_refresh_seconds,
            "predictedFundings": self.predicted_fundings_refresh_seconds,
            "fundingHistory": self.funding_history_refresh_seconds,
            "asgard:/markets": self.asgard_markets_refresh_seconds,
            "asgard:/token-metadata": self.asgard_token_metadata_refresh_seconds,
        }[entry]

    def weight(self, entry: str) -> int:
        """Hyperliquid weight of one REST refresh of an entry, its usual items included (a refresh of
        new funding rows answers a handful; candles answer `candle_lookback`)."""
        if entry.startswith("asgard:"):
            return 0  # Asgard is not Hyperliquid's budget
        if entry.startswith("candle:"):
            return info_weight("candleSnapshot") + self.candle_lookback // 60
        if entry == "fundingHistory":
            return info_weight("fundingHistory") + 1
        return info_weight(entry)

    def refresh_cost(self, fed: Collection[str] = ()) -> int:
        """The gateway's own REST refreshes, in weight a minute, from their cadences (rounded up), with
        the feed carrying the entries `fed`: by default none, what is spent while the feed is down
        (the most the refreshes ever cost); `refresh_cost(fed_entries())` with the feed up."""
        cost = 0.0
        for entry in self.entries():
            cadence = self.cadence(entry, entry in fed)
            if cadence is not None:
                cost += self.weight(entry) * 60 / cadence
        return math.ceil(cost)

    @model_validator(mode="after")
    def _fits(self) -> Self:
        unknown = [i for i in self.candle_intervals if i not in CANDLE_SPANS_MS]
        if unknown:
            raise ValueError(f"unknown candle intervals {unknown}; use {', '.join(CANDLE_SPANS_MS)}")
        if self.feed_reconnect_max_seconds < self.feed_reconnect_min_seconds:
            raise ValueError("feed_reconnect_max_seconds is less than feed_reconnect_min_seconds")
        if self.tenant_pool() - self.heavy_read_weight <= 0:
            raise ValueError(
                f"the gateway's refreshes ({self.refresh_cost()} weight a minute with the feed down), the "
                f"exchange reserve ({self.exchange_reserve}) and the heavy read ({self.heavy_read_weight}) "
                f"leave nothing of its budget ({self.budget}) for the bots' reads: refresh less often, or "
                "lower the reserve"
            )
        return self

    def tenant_pool(self, fed: Collection[str] = ()) -> int:
        """What the bots' reads share: the budget less the gateway's refreshes (with the feed carrying
        `fed`) and the exchange reserve."""
        return self.budget - self.refresh_cost(fed) - self.exchange_reserve

    def bots_held(self, account_read_seconds: float, *, feed_up: bool) -> int:
        """How many bots, each reading its account (clearinghouseState, 2) every
        `account_read_seconds`, the address serves within their shares (see the class doc)."""
        pool = self.tenant_pool(self.fed_entries() if feed_up else ())
        per_bot = info_weight("clearinghouseState") * 60 / account_read_seconds
        metered = math.floor((pool - self.heavy_read_weight) / per_bot) - 1  # one share kept for a newcomer
        return metered + (self.user_subscriptions if feed_up else 0)
