"""`Gateway`: the parts wired once (config → meter, cache, upstream, refresher, endpoints, app), for
a host that serves `app` and runs `run(stop)` in its event loop: today the control plane, later a
process of its own per engine node."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette

from gateway.app import Authenticator, Endpoints, LastAnswers, create_app
from gateway.config import GatewayConfig, Venues
from gateway.market import MarketCache, Refresher, rest_sources
from gateway.meter import Meter
from gateway.upstream import Upstream


class Gateway:
    def __init__(self, config: GatewayConfig, venues: Venues, authenticator: Authenticator) -> None:
        self.config = config
        self.meter = Meter(
            weight_per_minute=config.weight_per_minute,
            budget=config.budget,
            refresh_cost=config.refresh_cost(),
            exchange_reserve=config.exchange_reserve,
        )
        self.cache = MarketCache()
        self.upstream = Upstream(venues, config)
        self.refresher = Refresher(rest_sources(config), self.upstream, self.cache, self.meter.refreshed)
        endpoints = Endpoints(
            authenticator, self.meter, self.cache, self.upstream, LastAnswers(config.stale_answers_per_tenant)
        )
        self.app: Starlette = create_app(endpoints)

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the cache fresh until `stop` is set."""
        await self.refresher.run(stop)

    async def aclose(self) -> None:
        await self.upstream.aclose()
