"""The HTTP front: POST /info and POST /exchange, as a plain Starlette app (the server adds faults).

A body the venue cannot read gets HTTP 422 with the venue's plain-text sentence. Everything else
is HTTP 200 JSON, refusals included, as on Hyperliquid.

The "drop" fault (`faults.should_drop("hyperliquid")`): the /exchange action is applied, then its
answer is lost: the client gets HTTP 504 with an empty body, what a load balancer answers when the
venue committed the action but did not reply in time. The outcome is ambiguous on purpose; a
client must query orderStatus by cloid (or its fills / clearinghouseState) to learn what happened.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devnet.hyperliquid import actions, errors
from devnet.hyperliquid.exchange import HyperliquidExchange
from devnet.hyperliquid.info import InfoService
from shared.logging import get_logger

log = get_logger("devnet.hyperliquid")

_UNREADABLE = Response(errors.DESERIALIZE, status_code=422, media_type="text/plain; charset=utf-8")


def create_app(ex: HyperliquidExchange) -> Starlette:
    info_service = InfoService(ex)

    async def info(request: Request) -> Response:
        body = await request.body()
        try:
            return Response(info_service.handle(body), media_type="application/json")
        except errors.Undeserializable:
            return _unreadable()

    async def exchange(request: Request) -> Response:
        body = await request.body()
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


def _unreadable() -> Response:
    return Response(_UNREADABLE.body, status_code=422, media_type="text/plain; charset=utf-8")
