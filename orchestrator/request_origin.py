"""Where a request really comes from and which host it was sent to: three small ASGI middlewares in
front of the whole control plane (`install_request_origin`).

- `TrustedProxies`: when the peer is a listed reverse proxy (`BASIS_CP_TRUSTED_PROXIES`), the client
  is the right-most X-Forwarded-For address that is not itself a listed proxy, and the scheme is the
  right-most X-Forwarded-Proto value (http or https). From any other peer both headers are ignored.
  `scope["client"]` and `scope["scheme"]` are rewritten once, here, so the sign-in limits, the
  cookies' `Secure` flag and the proxy to the bots (which sets X-Forwarded-* from the scope) all see
  the same truth. `Forwarded` (RFC 7239) is not read: proxies that set X-Forwarded-* commonly pass a
  client's own `Forwarded` through untouched, and believing it would let any client pick its address.
- `AllowedHosts`: a `Host` that is neither loopback nor configured (`BASIS_CP_ALLOWED_HOSTS`, the
  public URL's host, ...) gets 400 with a sentence before any route runs, so no answer and no
  redirect is built from a name an attacker chose, and a DNS-rebinding page cannot reach a control
  plane on loopback. A request without `Host` (HTTP/1.0) is served: URLs are then built from the
  address the server is bound to.
- `StrictTransport`: every answer to an https request carries HSTS.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any

from fastapi import FastAPI

from orchestrator.config import ControlPlaneSettings
from shared.network_addresses import is_loopback_host, parse_ip

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# One year; no includeSubDomains: other services under the same domain are not ours to decide for.
HSTS = (b"strict-transport-security", b"max-age=31536000")
# Parsing an address costs more than the proxy's whole per-request path: answers are remembered,
# per peer and per Host value, in a table that is emptied when it grows this large.
_MEMO_SIZE = 4096
BAD_HOST = "This server does not answer to that host name; use the address it is published at."
_WEB_SCHEMES = {"http": "http", "https": "https"}
_WS_SCHEMES = {"http": "ws", "https": "wss"}


def hop_address(hop: str) -> str | None:
    """The address in one X-Forwarded-For entry (`1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `::1`), or None."""
    hop = hop.strip().strip('"')
    if hop.startswith("["):
        end = hop.find("]")
        hop = hop[1:end] if end > 0 else ""
    elif hop.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        hop = hop.split(":", 1)[0]
    address = parse_ip(hop)
    return None if address is None else str(address)


def forwarded_client(peer: str, forwarded_for: Iterable[str], trusted: Callable[[str], bool]) -> str:
    """The client behind a trusted `peer`: walking X-Forwarded-For from the right, each entry was
    appended by the trusted hop to its right; the first that is not a trusted proxy is the client.
    An entry that is not an address ends the walk at the last trusted hop (a misconfigured proxy,
    or an attempt to confuse the parser: either way nothing left of it is believed)."""
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        address = hop_address(hop)
        if address is None:
            break
        client = address
        if not trusted(address):
            break
    return client


def forwarded_scheme(values: Iterable[str]) -> str | None:
    """`http` or `https` from X-Forwarded-Proto (its right-most value: the hop nearest to us), else None."""
    protos = [p.strip().lower() for value in values for p in value.split(",") if p.strip()]
    return protos[-1] if protos and protos[-1] in _WEB_SCHEMES else None


def host_name(header: str) -> str | None:
    """The name or address in a `Host` header, lower case and without its port; None if malformed."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        rest = header[end + 1 :] if end > 0 else "x"
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return None
        return header[1:end]
    name, _, port = header.partition(":")
    if (port and not port.isdigit()) or not name:
        return None
    if not all(c.isalnum() or c in "-._" for c in name):
        return None
    return name.rstrip(".")


def _header_values(scope: Scope, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope["headers"] if key == name]


class TrustedProxies:
    """Client address and scheme from X-Forwarded-For/-Proto, only when the peer is a listed proxy."""

    def __init__(self, app: ASGIApp, proxies: Iterable[str]) -> None:
        self.app = app
        self._networks: tuple[IPv4Network | IPv6Network, ...] = tuple(
            ip_network(p, strict=False) for p in proxies
        )
        self._memo: dict[str, bool] = {}
        self._clients: dict[tuple[str, tuple[str, ...]], str] = {}

    def trusted(self, host: str) -> bool:
        known = self._memo.get(host)
        if known is None:
            address = parse_ip(host)
            known = address is not None and any(
                address.version == net.version and address in net for net in self._networks
            )
            _remember(self._memo, host, known)
        return known

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if self._networks and scope["type"] in ("http", "websocket") and peer and self.trusted(peer[0]):
            key = (peer[0], tuple(_header_values(scope, b"x-forwarded-for")))
            client = self._clients.get(key)
            if client is None:
                client = forwarded_client(key[0], key[1], self.trusted)
                if len(self._clients) >= _MEMO_SIZE:
                    self._clients.clear()
                self._clients[key] = client
            scope["client"] = (client, peer[1] if client == peer[0] else 0)
            scheme = forwarded_scheme(_header_values(scope, b"x-forwarded-proto"))
            if scheme is not None:
                scope["scheme"] = (_WEB_SCHEMES if scope["type"] == "http" else _WS_SCHEMES)[scheme]
        await self.app(scope, receive, send)


class AllowedHosts:
    """400 for a `Host` that is neither loopback nor one of `hosts`."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(hosts)
        self._memo: dict[bytes, bool] = {}

    def allows(self, header: str) -> bool:
        name = host_name(header)
        return name is not None and (name in self.hosts or is_loopback_host(name))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            hosts = [value for key, value in scope["headers"] if key == b"host"]
            if len(hosts) > 1 or (hosts and not self._allows(hosts[0])):
                await _refuse(scope, send)
                return
        await self.app(scope, receive, send)

    def _allows(self, header: bytes) -> bool:
        known = self._memo.get(header)
        if known is None:
            known = self.allows(header.decode("latin-1"))
            _remember(self._memo, header, known)
        return known


def _remember(memo: dict[Any, bool], key: Any, value: bool) -> None:
    if len(memo) >= _MEMO_SIZE:  # many distinct values (an attacker's): start over, stay bounded
        memo.clear()
    memo[key] = value


async def _refuse(scope: Scope, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"detail": BAD_HOST}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class StrictTransport:
    """HSTS on every answer to a request that came over https (directly or through a trusted proxy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == HSTS[0] for name, _ in headers):
                    headers.append(HSTS)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_hsts)


def install_request_origin(app: FastAPI, settings: ControlPlaneSettings) -> None:
    """Put the three middlewares in front of `app`: proxies first, so the others see the true scheme."""
    # Starlette's slash redirects are absolute URLs built from `Host`; routes are exact instead.
    app.router.redirect_slashes = False
    app.add_middleware(AllowedHosts, hosts=settings.accepted_hosts())
    app.add_middleware(StrictTransport)
    app.add_middleware(TrustedProxies, proxies=settings.trusted_proxies)  # added last: runs first
