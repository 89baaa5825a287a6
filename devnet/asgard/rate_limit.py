"""Asgard's public rate limit: without an `X-API-Key` header, one request per second per client IP;
more get HTTP 429 with Asgard's error body and a `Retry-After` header.

With a key the limits are per key and negotiated with Asgard; the devnet accepts any non-empty key
and does not limit it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

from devnet.asgard.errors import error_body

WINDOW_S = 1.0
FORGET_AFTER = 10_000  # clients remembered before stale entries are swept


class PublicRateLimit:
    def __init__(
        self, app: Any, window_s: float = WINDOW_S, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self.window_s = window_s
        self._now = now
        self._last: dict[str, float] = {}  # client IP → when its last request was let through

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or _has_key(scope):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        now = self._now()
        last = self._last.get(ip)
        if last is not None and now - last < self.window_s:
            await _too_many(send, self.window_s - (now - last))
            return
        self._last[ip] = now
        if len(self._last) > FORGET_AFTER:
            self._last = {k: v for k, v in self._last.items() if now - v < self.window_s}
        await self.app(scope, receive, send)


def _has_key(scope: dict[str, Any]) -> bool:
    return any(name == b"x-api-key" and value.strip() for name, value in scope.get("headers", []))


async def _too_many(send: Any, wait_s: float) -> None:
    body = json.dumps(
        {
            "error": error_body(
                "TooManyRequestsError",
                "RATE_LIMITED",
                "Too Many Requests: without an X-API-Key header the limit is 1 request per second per IP",
                {"retryAfterMs": math.ceil(wait_s * 1000)},
            )
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(max(1, math.ceil(wait_s))).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
