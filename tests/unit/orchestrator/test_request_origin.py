"""Forwarded-header parsing, the Host allow-list and HSTS, on hand-built ASGI scopes (pure logic)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.request_origin import (
    BAD_HOST,
    AllowedHosts,
    StrictTransport,
    TrustedProxies,
    forwarded_client,
    forwarded_scheme,
    hop_address,
    host_name,
)

PROXIES = ["10.0.0.2", "10.1.0.0/16", "::1"]


def trusted(host: str) -> bool:
    return TrustedProxies(_app, PROXIES).trusted(host)


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@pytest.mark.parametrize(
    ("hop", "address"),
    [
        ("203.0.113.5", "203.0.113.5"),
        (" 203.0.113.5:4711 ", "203.0.113.5"),
        ("[2001:db8::1]:4711", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ('"[2001:db8::1]"', "2001:db8::1"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("unknown", None),
        ("203.0.113.5; DROP", None),
        ("", None),
    ],
)
def test_one_forwarded_for_entry(hop: str, address: str | None) -> None:
    assert hop_address(hop) == address


def test_the_client_is_the_rightmost_entry_that_is_not_a_trusted_proxy() -> None:
    # A client-sent entry on the left is ignored; the proxy appended the real peer on the right.
    assert forwarded_client("10.0.0.2", ["6.6.6.6, 203.0.113.5"], trusted) == "203.0.113.5"
    # Two proxies: both trusted hops are skipped.
    assert forwarded_client("10.0.0.2", ["6.6.6.6, 203.0.113.5, 10.1.4.4"], trusted) == "203.0.113.5"
    # Several header lines are one list, in order.
    assert forwarded_client("10.0.0.2", ["6.6.6.6", "203.0.113.5", "10.1.4.4"], trusted) == "203.0.113.5"
    # All hops trusted: the left-most is the client. No header: the peer.
    assert forwarded_client("10.0.0.2", ["10.1.0.9"], trusted) == "10.1.0.9"
    assert forwarded_client("10.0.0.2", [], trusted) == "10.0.0.2"
    # Garbage appended by a (misconfigured) trusted hop: nothing left of it is believed.
    assert forwarded_client("10.0.0.2", ["6.6.6.6, junk"], trusted) == "10.0.0.2"
    assert forwarded_client("10.0.0.2", ["6.6.6.6, junk, 10.1.0.9"], trusted) == "10.1.0.9"


def test_the_scheme_is_the_rightmost_http_or_https() -> None:
    assert forwarded_scheme(["https"]) == "https"
    assert forwarded_scheme(["HTTPS"]) == "https"
    assert forwarded_scheme(["https, http"]) == "http"
    assert forwarded_scheme(["gopher"]) is None and forwarded_scheme([]) is None


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("127.0.0.1:8000", "127.0.0.1"),
        ("Basis.Example.com", "basis.example.com"),
        ("basis.example.com.", "basis.example.com"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
        ("[::1", None),
        ("[::1]x", None),
        ("evil.com:abc", None),
        ("evil.com/path", None),
        ("a b", None),
        ("", None),
    ],
)
def test_host_header_names(header: str, name: str | None) -> None:
    assert host_name(header) == name


async def _call(app: Any, scope: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    seen: dict[str, Any] = {}
    sent: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)
        await _app(scope, receive, send)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    app.app = inner
    await app(scope, receive, send)
    return seen, sent


def _scope(peer: str, headers: list[tuple[bytes, bytes]], scheme: str = "http") -> dict[str, Any]:
    return {"type": "http", "client": (peer, 5555), "scheme": scheme, "headers": headers, "path": "/"}


async def test_forwarded_headers_count_only_from_a_trusted_peer() -> None:
    headers = [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.5"), (b"x-forwarded-proto", b"https")]
    seen, _ = await _call(TrustedProxies(_app, PROXIES), _scope("10.0.0.2", headers))
    assert seen["client"] == ("203.0.113.5", 0) and seen["scheme"] == "https"
    seen, _ = await _call(TrustedProxies(_app, PROXIES), _scope("::ffff:10.0.0.2", headers))
    assert seen["client"][0] == "203.0.113.5"  # an IPv4-mapped peer is the same proxy
    # An untrusted peer: its headers are ignored.
    seen, _ = await _call(TrustedProxies(_app, PROXIES), _scope("198.51.100.7", headers))
    assert seen["client"] == ("198.51.100.7", 5555) and seen["scheme"] == "http"
    # No proxies configured: nobody is trusted.
    seen, _ = await _call(TrustedProxies(_app, []), _scope("10.0.0.2", headers))
    assert seen["client"] == ("10.0.0.2", 5555) and seen["scheme"] == "http"
    # A websocket behind a TLS proxy is wss.
    ws = {**_scope("10.0.0.2", headers, scheme="ws"), "type": "websocket"}
    seen, _ = await _call(TrustedProxies(_app, PROXIES), ws)
    assert seen["scheme"] == "wss"


async def test_an_unknown_host_gets_400_before_any_route() -> None:
    allowed = AllowedHosts(_app, {"basis.example.com"})
    for host in (
        b"basis.example.com",
        b"BASIS.example.com:443",
        b"127.0.0.1:8123",
        b"localhost",
        b"[::1]:80",
    ):
        seen, sent = await _call(allowed, _scope("203.0.113.5", [(b"host", host)]))
        assert sent[0]["status"] == 200 and seen, host
    for host in (b"evil.example", b"basis.example.com.evil.example", b"10.0.0.5", b"[::1", b""):
        seen, sent = await _call(allowed, _scope("203.0.113.5", [(b"host", host)]))
        assert sent[0]["status"] == 400 and not seen, host
        assert BAD_HOST.encode() in sent[1]["body"]
    # Two Host headers: which one a component reads would differ; refused.
    two = [(b"host", b"localhost"), (b"host", b"evil.example")]
    assert (await _call(allowed, _scope("203.0.113.5", two)))[1][0]["status"] == 400
    # No Host at all (HTTP/1.0): served, URLs come from the bound address.
    assert (await _call(allowed, _scope("203.0.113.5", [])))[1][0]["status"] == 200


async def test_hsts_only_over_https() -> None:
    _, sent = await _call(StrictTransport(_app), _scope("203.0.113.5", [], scheme="https"))
    assert (b"strict-transport-security", b"max-age=31536000") in sent[0]["headers"]
    _, sent = await _call(StrictTransport(_app), _scope("203.0.113.5", [], scheme="http"))
    assert sent[0]["headers"] == []
