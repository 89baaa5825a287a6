"""/info and /exchange answers metered against the client IP's REST weight, for HTTP and /ws alike.

A websocket `post` costs what the same request costs over HTTP, against the same 1,200 a minute of
the same IP: the gitbook does not say a post escapes the weight, and a third-party measured
write-up of the live socket reports that posts count against the IP's REST budget ("moving to WS
buys no extra quota"). The devnet is never more generous than the venue, so it charges them.
"""

from __future__ import annotations

import json
from typing import Any

from devnet.hyperliquid import actions, limits
from devnet.hyperliquid.exchange import HyperliquidExchange
from devnet.hyperliquid.info import InfoService


class RateLimited(Exception):
    """The IP spent its weight for the minute (HTTP 429 `null`; a post's `error` answer)."""


class MeteredApi:
    def __init__(self, ex: HyperliquidExchange, info: InfoService) -> None:
        self.ex = ex
        self.info_service = info
        self.weights = ex.ip_weights

    def info(self, ip: str, body: bytes) -> bytes:
        """The /info answer's JSON bytes; raises RateLimited, or Undeserializable (the venue's 422)."""
        kind = field(body, "type")
        if not self.weights.admit(ip, limits.info_weight(kind)):
            raise RateLimited()
        answer = self.info_service.handle(body)
        if kind in limits.PER_ITEMS:
            items = json.loads(answer)
            self.weights.charge(ip, limits.items_weight(kind, len(items) if isinstance(items, list) else 0))
        return answer

    def exchange(self, ip: str, body: bytes) -> dict[str, Any]:
        """The /exchange answer; raises RateLimited, or Undeserializable (the venue's 422)."""
        if not self.weights.admit(ip, limits.exchange_weight(field(body, "action"))):
            raise RateLimited()
        return actions.handle(self.ex, body)


def field(body: bytes, name: str) -> Any:
    """One top-level field of a JSON body, or None when the body is not a JSON object."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data.get(name) if isinstance(data, dict) else None
