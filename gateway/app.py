"""The gateway's HTTP face (a Starlette app, mounted by the control plane under `/gateway/v1`): the
wire contract of /work GATEWAY.md, as bots call it.

- `POST /hyperliquid/info`: a Hyperliquid /info body, unchanged. Public requests the cache covers are
  answered from it (gateway/market.py); every address named anywhere in the body (any key or value,
  at any depth, in any case, with or without 0x) must be one of the caller's own, else 403; a
  caller's read of its own clearinghouseState is answered from the state the venue pushes, at no
  weight, when the gateway follows that account for that caller (gateway/accounts.py); anything
  else is forwarded as the gateway read it (so the venue reads exactly what was checked), metered
  against the caller's share (gateway/meter.py). Past the share: the caller's own last answer to the
  same request, stale with its Age, else 429.
- `POST /hyperliquid/exchange`: a signed action, forwarded byte for byte, weighed against the
  exchange reserve. Nothing sent (no connection): 502 with `X-Basis-Gateway: unreachable`; sent and no
  answer: 504 with an empty body. The gateway holds no key and signs nothing.
- `GET /asgard/markets`, `GET /asgard/token-metadata`: Asgard's public answers from the cache.
- `GET /market?coin=SOL&funding_from=<unix ms>`: everything the cache holds of what a bot's tick
  reads, in one JSON object of parts, each dated on its own (gateway/market.py `market_answer`): the
  five single reads above (asset contexts, predicted fundings, the coin's funding history from that
  time, Asgard's markets and token metadata) as one request. Public data: nothing of the caller's.
- `GET /budget`: the address's budget and spend, the caller's share and spend.

Every 200 of a single read carries `Age` (whole seconds since the venue gave the answer) and
`X-Basis-Observed-At` (unix ms). The gateway's own refusals carry `X-Basis-Gateway: refused` and
`{"detail": sentence}` (429 with `Retry-After`). Every request names its caller (`Authorization:
Bearer <bot token>`, `X-Basis-Tenant`), checked by the `Authenticator` the host gives; wrong or
missing: one 401, whatever was wrong. Nothing here answers 500: an unexpected failure is a 503 the
bot treats as the gateway being down.
"""

from __future__ import annotations

import json
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.accounts import PushedAccounts, asks_account
from gateway.market import MarketCache, Snapshot, asgard_key, cached_answer, market_answer
from gateway.meter import Meter
from gateway.upstream import JSON, AnswerLost, Unreachable, Upstream
from shared.hyperliquid_weights import PER_ITEMS, exchange_weight, info_weight, items_weight
from shared.logging import get_logger

log = get_logger("gateway")

TENANT_HEADER = "X-Basis-Tenant"
GATEWAY_HEADER = "X-Basis-Gateway"
OBSERVED_HEADER = "X-Basis-Observed-At"
MAX_INFO_BYTES = 64 * 1024  # an /info body is a few hundred bytes
MAX_EXCHANGE_BYTES = 256 * 1024  # a batch of 40 orders is about 8 KiB
MAX_KEPT_ANSWER_BYTES = 256 * 1024  # larger answers are not kept for stale serving
MARKET_PARAMS = frozenset({"coin", "funding_from"})  # what `GET /market` takes
MAX_COIN_CHARS = 32  # Hyperliquid's names are a few characters ("SOL", "kPEPE", "@107")
# An EVM address anywhere in a string: 40 hex digits not part of a longer run (a 64-digit hash is not
# one), with or without 0x, in any case.
_ADDRESS = re.compile(r"(?<![0-9a-fA-F])(?:0[xX])?([0-9a-fA-F]{40})(?![0-9a-fA-F])")


@dataclass(frozen=True)
class Caller:
    """Who asks: a tenant, and the Hyperliquid addresses whose account data it may read (lowercase,
    0x-prefixed; none for a tenant whose bot holds its own keys)."""

    tenant_id: str
    addresses: frozenset[str]


class Authenticator(Protocol):
    """The host's check of a bot's credentials (the control plane: its signing broker's)."""

    async def caller(self, authorization: str, tenant_id: str) -> Caller | None:
        """The caller these credentials are, or None whatever was wrong."""
        ...


class Refused(Exception):
    """An answer of the gateway's own: status, one sentence, extra headers."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}

    def response(self) -> Response:
        headers = {GATEWAY_HEADER: "refused", "Cache-Control": "no-store", **self.headers}
        return JSONResponse({"detail": self.detail}, status_code=self.status, headers=headers)


def _unreachable(detail: str) -> Response:
    headers = {GATEWAY_HEADER: "unreachable", "Cache-Control": "no-store"}
    return JSONResponse({"detail": detail}, status_code=502, headers=headers)


def observed(body: bytes, observed_ms: int, now_ms: int | None = None) -> Response:
    """A 200 with the venue's answer and its age."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    age = max(0, (now_ms - observed_ms) // 1000)
    headers = {"Age": str(age), OBSERVED_HEADER: str(observed_ms)}
    return Response(body, status_code=200, media_type=JSON, headers=headers)


# ---------------------------------------------------------------------- reading a body
def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("repeated key")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_info(raw: bytes) -> dict[str, Any]:
    """The /info request: a JSON object with a string `type`, no key twice at any depth."""
    try:
        body = json.loads(raw, object_pairs_hook=_no_repeats, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise Refused(
            400, "Send a JSON object with a string `type`, each key once, as Hyperliquid's /info takes."
        )
    return body


def addresses_in(value: Any) -> set[str]:
    """Every EVM address named anywhere in a parsed JSON value (keys included), lowercase with 0x."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            found.update("0x" + m.lower() for m in _ADDRESS.findall(item))
    return found


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = Refused(413, f"The request body is too large (at most {limit // 1024} KiB).")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise too_large if declared.isdigit() else Refused(400, "The Content-Length header is not a number.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------------- the caller's last answers
class LastAnswers:
    """Each tenant's last answers to its forwarded reads, by the request as read: only ever served to
    the same tenant (the key starts with its id, which comes from its credentials, never the body)."""

    def __init__(self, per_tenant: int) -> None:
        self.per_tenant = per_tenant
        self._by_tenant: dict[str, OrderedDict[str, Snapshot]] = {}

    def get(self, tenant_id: str, key: str) -> Snapshot | None:
        kept = self._by_tenant.get(tenant_id)
        return kept.get(key) if kept is not None else None

    def put(self, tenant_id: str, key: str, snapshot: Snapshot) -> None:
        if not self.per_tenant or len(snapshot.body) > MAX_KEPT_ANSWER_BYTES:
            return
        kept = self._by_tenant.setdefault(tenant_id, OrderedDict())
        kept[key] = snapshot
        kept.move_to_end(key)
        while len(kept) > self.per_tenant:
            kept.popitem(last=False)


# ---------------------------------------------------------------------- the endpoints
class Endpoints:
    def __init__(
        self,
        authenticator: Authenticator,
        meter: Meter,
        cache: MarketCache,
        upstream: Upstream,
        last: LastAnswers,
        accounts: PushedAccounts,
    ) -> None:
        self.authenticator, self.meter, self.cache, self.upstream = authenticator, meter, cache, upstream
        self.last, self.accounts = last, accounts

    async def caller(self, request: Request) -> Caller:
        found = await self.authenticator.caller(
            request.headers.get("authorization", ""), request.headers.get(TENANT_HEADER, "")
        )
        if found is None:
            raise Refused(
                401, f"Send the bot's token as Authorization: Bearer, and its tenant id as {TENANT_HEADER}."
            )
        return found

    async def info(self, request: Request) -> Response:
        caller = await self.caller(request)
        body = parse_info(await read_body(request, MAX_INFO_BYTES))
        named = addresses_in(body)
        if named and not caller.addresses:
            raise Refused(
                403,
                "This tenant has no Hyperliquid address of its own here: its bot reads its account directly.",
            )
        if not named <= caller.addresses:
            raise Refused(403, "The request names a Hyperliquid address that is not this tenant's.")
        account = asks_account(body) if named else None
        if account is not None:  # its own account (checked above): pushed to this tenant, if followed
            self.accounts.read(caller.tenant_id, account)
            pushed = self.accounts.answer(caller.tenant_id, account)
            if pushed is not None:
                return observed(pushed.body, pushed.observed_ms)
        if not named:
            cached = cached_answer(self.cache, body)
            if cached is not None:
                return observed(cached.body, cached.observed_ms)
        return await self._forward_info(caller, body)

    async def _forward_info(self, caller: Caller, body: dict[str, Any]) -> Response:
        kind = body["type"]
        key = json.dumps(body, sort_keys=True, separators=(",", ":"))
        admission = self.meter.read(caller.tenant_id, info_weight(kind))
        if not admission.admitted:
            return self._stale_or(
                caller,
                key,
                Refused(
                    429,
                    "This bot's share of the venue's request budget is spent for now; try again later.",
                    {"Retry-After": str(admission.retry_after_s)},
                ),
            )
        try:
            answer = await self.upstream.info(json.dumps(body, separators=(",", ":")).encode())
        except (Unreachable, AnswerLost):
            stale = self.last.get(caller.tenant_id, key)
            if stale is not None:
                return observed(stale.body, stale.observed_ms)
            return _unreachable("The venue did not answer the gateway; read it directly.")
        if answer.status != 200:
            return Response(answer.body, status_code=answer.status, media_type=answer.content_type)
        if kind in PER_ITEMS:
            self.meter.charge(caller.tenant_id, items_weight(kind, _items(answer.body)))
        snapshot = Snapshot(answer.body, answer.observed_ms)
        self.last.put(caller.tenant_id, key, snapshot)
        account = asks_account(body)
        if account is not None:
            self.accounts.saw(caller.tenant_id, account, answer.body)
        return observed(snapshot.body, snapshot.observed_ms)

    def _stale_or(self, caller: Caller, key: str, refusal: Refused) -> Response:
        stale = self.last.get(caller.tenant_id, key)
        if stale is not None:
            return observed(stale.body, stale.observed_ms)
        raise refusal

    async def exchange(self, request: Request) -> Response:
        await self.caller(request)
        raw = await read_body(request, MAX_EXCHANGE_BYTES)
        try:
            action = json.loads(raw).get("action")
        except (ValueError, UnicodeDecodeError, RecursionError, AttributeError):
            action = None
        if not isinstance(action, dict):
            raise Refused(400, "Send a signed Hyperliquid action: a JSON object with an `action` object.")
        admission = self.meter.exchange(exchange_weight(action))
        if not admission.admitted:
            raise Refused(
                429,
                "The venue's request budget for orders is spent for now; try again shortly.",
                {"Retry-After": str(admission.retry_after_s)},
            )
        try:
            answer = await self.upstream.exchange(raw)
        except Unreachable:
            return _unreachable("The venue could not be reached; nothing was sent.")
        except AnswerLost:
            return Response(b"", status_code=504)  # sent, and the answer lost: the bot queries
        return Response(answer.body, status_code=answer.status, media_type=answer.content_type)

    async def asgard(self, request: Request) -> Response:
        await self.caller(request)
        path = "/" + request.url.path.rstrip("/").rpartition("/")[2]
        snapshot = self.cache.snapshot(asgard_key(path))
        if snapshot is None:
            raise Refused(503, f"The gateway has not read Asgard's {path} yet.", {"Retry-After": "5"})
        return observed(snapshot.body, snapshot.observed_ms)

    async def market(self, request: Request) -> Response:
        await self.caller(request)
        coin, funding_from = market_query(request.query_params.multi_items())
        body = market_answer(self.cache, coin, funding_from)
        return Response(body, status_code=200, media_type=JSON, headers={"Cache-Control": "no-store"})

    async def budget(self, request: Request) -> Response:
        caller = await self.caller(request)
        return JSONResponse(asdict(self.meter.view(caller.tenant_id)), headers={"Cache-Control": "no-store"})


def market_query(items: list[tuple[str, str]]) -> tuple[str | None, int | None]:
    """`GET /market`'s (coin, funding_from): each at most once, nothing else; both optional."""
    names = [name for name, _ in items]
    if not set(names) <= MARKET_PARAMS or len(set(names)) != len(names):
        raise Refused(400, "GET /market takes `coin` and `funding_from` (unix ms), each at most once.")
    query = dict(items)
    coin, since = query.get("coin"), query.get("funding_from")
    if coin is not None and not (0 < len(coin) <= MAX_COIN_CHARS and coin.isprintable()):
        raise Refused(400, f"`coin` is a Hyperliquid coin name of at most {MAX_COIN_CHARS} characters.")
    if since is not None and not (since.isascii() and since.isdigit() and len(since) <= 15):
        raise Refused(400, "`funding_from` is a time in unix milliseconds (digits only).")
    return coin, int(since) if since is not None else None


def _items(body: bytes) -> int:
    try:
        value = json.loads(body)
    except ValueError:
        return 0
    return len(value) if isinstance(value, list) else 0


def _answered(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Refusals become their answers; anything unexpected a 503 (logged), never a 500."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except Refused as refusal:
            return refusal.response()
        except ClientDisconnect:
            return Response(b"", status_code=400)
        except Exception:
            log.exception("gateway request failed", path=request.url.path)
            return Refused(503, "The gateway failed to answer; read the venue directly.").response()

    return endpoint


async def _no_route(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    detail = "No such gateway endpoint." if status == 404 else "This endpoint does not take that method."
    return Refused(status, detail).response()


def create_app(endpoints: Endpoints) -> Starlette:
    return Starlette(
        exception_handlers={404: _no_route, 405: _no_route},
        routes=[
            Route("/hyperliquid/info", _answered(endpoints.info), methods=["POST"]),
            Route("/hyperliquid/exchange", _answered(endpoints.exchange), methods=["POST"]),
            Route("/asgard/markets", _answered(endpoints.asgard), methods=["GET"]),
            Route("/asgard/token-metadata", _answered(endpoints.asgard), methods=["GET"]),
            Route("/market", _answered(endpoints.market), methods=["GET"]),
            Route("/budget", _answered(endpoints.budget), methods=["GET"]),
        ],
    )
