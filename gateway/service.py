"""`Gateway`: the parts wired once (config → meter, cache, upstream, feed, refresher, endpoints, app),
for a host that serves `app` and runs `run(stop)` in its event loop: today the control plane, later a
process of its own per engine node."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette

from gateway.accounts import PushedAccounts
from gateway.app import Authenticator, Endpoints, LastAnswers, create_app
from gateway.config import GatewayConfig, Venues
from gateway.feed import Feed
from gateway.market import MarketCache, Refresher, rest_sources
from gateway.meter import Meter
from gateway.upstream import Upstream


class Gateway:
    def __init__(self, config: GatewayConfig, venues: Venues, authenticator: Authenticator) -> None:
        self.config = config
        self.meter = Meter(
            weight_per_minute=config.weight_per_minute,
            budget=config.budget,
            refresh_cost=config.refresh_cost(),  # the feed is not up yet
            exchange_reserve=config.exchange_reserve,
            heavy_read_weight=config.heavy_read_weight,
        )
        self.cache = MarketCache(
            config.hedge_coin, rest_lag_ms=int(2 * config.asset_ctxs_fed_refresh_seconds * 1000)
        )
        self.upstream = Upstream(venues, config)
        slots = config.user_subscriptions if config.feed_enabled else 0
        self.accounts = PushedAccounts(
            slots, hold_s=config.user_hold_seconds, idle_s=config.user_idle_seconds
        )
        self.feed = Feed(config, venues, self.cache, self.accounts) if config.feed_enabled else None
        fed = self.feed.fed if self.feed is not None else (lambda entry: False)
        self.refresher = Refresher(rest_sources(config), self.upstream, self.cache, self.meter, config, fed)
        endpoints = Endpoints(
            authenticator,
            self.meter,
            self.cache,
            self.upstream,
            LastAnswers(config.stale_answers_per_tenant),
            self.accounts,
        )
        self.app: Starlette = create_app(endpoints)

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the cache fresh until `stop` is set: the feed, and the REST refreshes beside it."""
        parts = [self.refresher.run(stop)]
        if self.feed is not None:
            parts.append(self.feed.run(stop))
        await asyncio.gather(*parts)

    async def aclose(self) -> None:
        await self.upstream.aclose()
