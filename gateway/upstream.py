"""The gateway's connection to the venues: Hyperliquid's /info and /exchange, Asgard's public reads.

Every answer carries the moment the venue gave it (`observed_ms`, unix ms). Failures are told apart
by whether anything reached the venue: `Unreachable` (no connection: nothing was sent, the same
request may be sent again, elsewhere too) and `AnswerLost` (sent, and no answer: an action may or
may not have been applied). No retries here: the callers decide.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from gateway.config import GatewayConfig, Venues

JSON = "application/json"


class Unreachable(Exception):
    """No connection to the venue: nothing was sent."""


class AnswerLost(Exception):
    """The request was (or may have been) sent, and no whole answer came back."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str
    observed_ms: int  # unix ms when the venue's answer arrived


class Upstream:
    def __init__(self, venues: Venues, config: GatewayConfig) -> None:
        self.venues = venues
        headers = {}
        if venues.asgard_api_key is not None:
            headers["X-API-Key"] = venues.asgard_api_key.get_secret_value()
        self._asgard_headers = headers
        transport = httpx.AsyncHTTPTransport(
            local_address=config.source_address,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        self._client = httpx.AsyncClient(
            transport=transport, timeout=config.request_timeout_seconds, follow_redirects=False
        )
        self._hyperliquid = venues.hyperliquid_url.rstrip("/")
        self._asgard = venues.asgard_url.rstrip("/")

    async def info(self, body: bytes) -> Answer:
        return await self._send(
            "POST", self._hyperliquid + "/info", content=body, headers={"Content-Type": JSON}
        )

    async def exchange(self, body: bytes) -> Answer:
        return await self._send(
            "POST", self._hyperliquid + "/exchange", content=body, headers={"Content-Type": JSON}
        )

    async def asgard(self, path: str) -> Answer:
        return await self._send("GET", self._asgard + path, headers=self._asgard_headers)

    async def _send(self, method: str, url: str, **kwargs: object) -> Answer:
        try:
            r = await self._client.request(method, url, **kwargs)  # type: ignore[arg-type]
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise Unreachable(type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise AnswerLost(type(exc).__name__) from None
        return Answer(r.status_code, r.content, r.headers.get("content-type", JSON), int(time.time() * 1000))

    async def aclose(self) -> None:
        await self._client.aclose()
