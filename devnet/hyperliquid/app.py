"""The HTTP front: POST /info and POST /exchange, as a plain Starlette app (the server adds faults).

A body the venue cannot read gets HTTP 422 with the venue's plain-text sentence. A client IP past
its REST weight for the minute gets HTTP 429 with the body `null` (limits.py). Everything else is
HTTP 200 JSON, refusals included, as on Hyperliquid.

The "drop" fault (`faults.should_drop("hyperliquid")`): the /exchange action is applied, then its
answer is lost: the client gets HTTP 504 with an empty body, what a load balancer answers when the
venue committed the action but did not reply in time. The outcome is ambiguous on purpose; a
client must query orderStatus by cloid (or its fills / clearinghouseState) to learn what happened.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devnet.hyperliquid import actions, errors, limits
from devnet.hyperliquid.exchange import HyperliquidExchange
from devnet.hyperliquid.info import InfoService
from shared.logging import get_logger

log = get_logger("devnet.hyperliquid")

_UNREADABLE = Response(errors.DESERIALIZE, status_code=422, media_type="text/plain; charset=utf-8")


def create_app(ex: HyperliquidExchange) -> Starlette:
    info_service = InfoService(ex)
    weights = ex.ip_weights

    async def info(request: Request) -> Response:
        body = await request.body()
        ip = _client_ip(request)
        kind = _field(body, "type")
        if not weights.admit(ip, limits.info_weight(kind)):
            return _rate_limited()
        try:
            answer = info_service.handle(body)
        except errors.Undeserializable:
            return _unreadable()
        if kind in limits.PER_ITEMS:
            items = json.loads(answer)
            weights.charge(ip, limits.items_weight(kind, len(items) if isinstance(items, list) else 0))
        return Response(answer, media_type="application/json")

    async def exchange(request: Request) -> Response:
        body = await request.body()
        if not weights.admit(_client_ip(request), limits.exchange_weight(_field(body, "action"))):
            return _rate_limited()
        try:
            answer: Response = JSONResponse(actions.handle(ex, body))
        except errors.Undeserializable:
            answer = _unreadable()
        if ex.faults.should_drop("hyperliquid"):
            log.info("hyperliquid answer dropped (fault injection)")
            return Response(b"", status_code=504)
        return answer

    return Starlette(
        routes=[
            Route("/info", info, methods=["POST"]),
            Route("/exchange", exchange, methods=["POST"]),
        ]
    )


def _client_ip(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _field(body: bytes, name: str) -> Any:
    """One top-level field of a JSON body, or None when the body is not a JSON object."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data.get(name) if isinstance(data, dict) else None


def _rate_limited() -> Response:
    return Response(limits.RATE_LIMITED_BODY, status_code=429, media_type="application/json")


def _unreadable() -> Response:
    return Response(_UNREADABLE.body, status_code=422, media_type="text/plain; charset=utf-8")
