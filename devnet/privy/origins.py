"""Allowed origins and CORS on Privy's client API (`/api/v1/...`), as a production Privy app answers.

Privy's auth API is called by browsers running its SDK on the app's own pages. An app with allowed
origins (dashboard: Configuration → App settings → Domains) refuses a client call whose `Origin` is
missing or not on its list (403 `missing_origin` / `invalid_origin`), answers a CORS preflight
(`OPTIONS`) with `Access-Control-Allow-Origin` only for an allowed origin, and echoes the origin on
the answers it gives. So the devnet does the same, and a sign-in driven from a server without the
page's origin fails here as it would on Privy.

Origins are written `scheme://host[:port]`. The devnet also accepts `scheme://host:*` (any port of
that host), so tests whose control planes take random loopback ports can allow them all at once.
The JWKS stays public: servers fetch it to verify tokens, with no origin.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.responses import JSONResponse

CLIENT_PREFIX = "/api/v1/"
# Headers Privy's browser SDK (@privy-io/js-sdk-core 0.76) sets on its calls, read from its code.
ALLOWED_HEADERS = (
    "authorization, content-type, accept, privy-app-id, privy-client-id, privy-client, privy-ca-id, "
    "privy-retry-attempt, privy-idempotency-key, privy-authorization-signature, privy-request-expiry, "
    "x-native-app-identifier"
)
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
PREFLIGHT_MAX_AGE_S = "600"


def normalise_origin(value: str) -> str:
    """`scheme://host[:port|:*]` in lower case, or ValueError with the reason."""
    text = value.strip().lower().rstrip("/")
    wildcard = text.endswith(":*")
    parts = urlsplit(text[:-2] if wildcard else text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"an allowed origin is scheme://host[:port], not {value!r}")
    if parts.path or parts.query or parts.fragment or parts.username:
        raise ValueError(f"an allowed origin has no path, query or credentials: {value!r}")
    if wildcard and parts.port is not None:
        raise ValueError(f"an allowed origin has one port or `*`: {value!r}")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"an allowed origin's port is a number or `*`: {value!r}") from None
    return text


class AllowedOrigins:
    """The app's allowed origins: the devnet's config at start, more through the admin API."""

    def __init__(self, origins: Iterable[str]) -> None:
        self._lock = threading.Lock()
        self._origins = {normalise_origin(o) for o in origins}

    def add(self, origin: str) -> str:
        clean = normalise_origin(origin)
        with self._lock:
            self._origins.add(clean)
        return clean

    def listed(self) -> list[str]:
        with self._lock:
            return sorted(self._origins)

    def allows(self, origin: str | None) -> bool:
        if not origin:
            return False
        text = origin.strip().lower()
        parts = urlsplit(text)
        if parts.path or not parts.hostname:  # browsers send scheme://host[:port] only
            return False
        with self._lock:
            if text in self._origins:
                return True
            return f"{parts.scheme}://{parts.hostname}:*" in self._origins


def _refusal(origin: str | None) -> JSONResponse:
    if not origin:
        return JSONResponse({"error": "Missing origin header", "code": "missing_origin"}, status_code=403)
    return JSONResponse(
        {"error": f"Origin {origin} is not an allowed origin of this app", "code": "invalid_origin"},
        status_code=403,
    )


def cors_middleware(
    origins: AllowedOrigins,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """An HTTP middleware enforcing `origins` on the client API (everything under /api/v1 but the JWKS)."""

    async def enforce(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if not path.startswith(CLIENT_PREFIX) or path.endswith("/jwks.json"):
            return await call_next(request)
        origin = request.headers.get("origin")
        if not origins.allows(origin):
            return _refusal(origin)
        assert origin is not None
        allow = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }
        if request.method == "OPTIONS" and "access-control-request-method" in request.headers:
            return Response(
                status_code=204,
                headers={
                    **allow,
                    "Access-Control-Allow-Methods": ALLOWED_METHODS,
                    "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                    "Access-Control-Max-Age": PREFLIGHT_MAX_AGE_S,
                },
            )
        response = await call_next(request)
        response.headers.update(allow)
        return response

    return enforce
