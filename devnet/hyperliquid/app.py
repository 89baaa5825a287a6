"""The front: POST /info, POST /exchange and the websocket /ws, as a plain Starlette app (the server
adds faults to HTTP; /ws applies the latency and drop faults to its posts itself, see ws.py).

A body the venue cannot read gets HTTP 422 with the venue's plain-text sentence. A client IP past
its REST weight for the minute gets HTTP 429 with the body `null` (limits.py). Everything else is
HTTP 200 JSON, refusals included, as on Hyperliquid.

The "drop" fault (`faults.should_drop("hyperliquid")`): the /exchange action is applied, then its
answer is lost: the client gets HTTP 504 with an empty body, what a load balancer answers when the
venue committed the action but did not reply in time. The outcome is ambiguous on purpose; a
client must query orderStatus by cloid (or its fills / clearinghouseState) to learn what happened.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from devnet.hyperliquid import errors, limits
from devnet.hyperliquid.exchange import HyperliquidExchange
from devnet.hyperliquid.info import InfoService
from devnet.hyperliquid.metered import MeteredApi, RateLimited
from devnet.hyperliquid.ws import SocketServer
from shared.logging import get_logger

log = get_logger("devnet.hyperliquid")

_UNREADABLE = Response(errors.DESERIALIZE, status_code=422, media_type="text/plain; charset=utf-8")


def create_app(ex: HyperliquidExchange) -> Starlette:
    api = MeteredApi(ex, InfoService(ex))
    sockets = SocketServer(ex, api)

    async def info(request: Request) -> Response:
        try:
            answer = api.info(_client_ip(request), await request.body())
        except RateLimited:
            return _rate_limited()
        except errors.Undeserializable:
            return _unreadable()
        return Response(answer, media_type="application/json")

    async def exchange(request: Request) -> Response:
        try:
            answer: Response = JSONResponse(api.exchange(_client_ip(request), await request.body()))
        except RateLimited:
            return _rate_limited()
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
            WebSocketRoute("/ws", sockets.endpoint),
        ]
    )


def _client_ip(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _rate_limited() -> Response:
    return Response(limits.RATE_LIMITED_BODY, status_code=429, media_type="application/json")


def _unreadable() -> Response:
    return Response(_UNREADABLE.body, status_code=422, media_type="text/plain; charset=utf-8")
