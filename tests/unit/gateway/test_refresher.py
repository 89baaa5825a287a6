"""The gateway's REST refresher (gateway/market.py `Refresher`): Asgard's refreshes never start within
`asgard_spacing_seconds` of each other (without a key Asgard answers one request a second per IP),
while Hyperliquid's due entries all go in the same pass."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from gateway.config import GatewayConfig, Venues
from gateway.market import MarketCache, Refresher
from gateway.meter import Meter
from gateway.upstream import Upstream


@dataclass
class Recorded:
    """A source that only notes when it was refreshed."""

    entry: str
    calls: list[float] = field(default_factory=list)

    async def refresh(self, upstream: Upstream, cache: MarketCache) -> int:
        self.calls.append(time.monotonic())
        return 0


def _refresher(config: GatewayConfig, sources: list[Recorded]) -> Refresher:
    meter = Meter(
        weight_per_minute=config.weight_per_minute,
        budget=config.budget,
        refresh_cost=config.refresh_cost(),
        exchange_reserve=config.exchange_reserve,
        heavy_read_weight=config.heavy_read_weight,
    )
    upstream = Upstream(Venues("http://127.0.0.1:9", "http://127.0.0.1:9"), config)
    return Refresher(sources, upstream, MarketCache(config.hedge_coin, rest_lag_ms=0), meter, config)


def test_asgard_refreshes_due_together_go_apart_and_hyperliquids_go_at_once() -> None:
    config = GatewayConfig(asgard_spacing_seconds=0.3)
    sources = [
        Recorded("asgard:/markets"),
        Recorded("asgard:/token-metadata"),
        Recorded("meta"),
        Recorded("predictedFundings"),
    ]
    markets, metadata, meta, predicted = sources
    refresher = _refresher(config, sources)

    async def passes() -> None:
        await refresher.refresh_due()
        # Both Hyperliquid entries went; of Asgard's two, one.
        assert (len(meta.calls), len(predicted.calls)) == (1, 1)
        assert len(markets.calls) + len(metadata.calls) == 1
        await refresher.refresh_due()  # at once: still within the spacing
        assert len(markets.calls) + len(metadata.calls) == 1
        await asyncio.sleep(0.35)
        await refresher.refresh_due()
        assert (len(markets.calls), len(metadata.calls)) == (1, 1)

    asyncio.run(passes())
    first, second = sorted(markets.calls + metadata.calls)
    assert second - first >= 0.3
    # Nothing refreshed twice: each entry waits for its own cadence after its refresh.
    assert all(len(s.calls) == 1 for s in sources)
