"""The proxy's pure parts: which headers cross, the path a bot receives, response heads, error answers."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.proxy import parse_head, request_headers, response_headers, send_error, upstream_target


def scope(headers: list[tuple[bytes, bytes]], **extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "path": "/app/api/v1/status",
        "raw_path": b"/app/api/v1/status",
        "root_path": "/app",
        "query_string": b"",
        "client": ("203.0.113.9", 50000),
        "headers": headers,
        **extra,
    }


def test_request_headers_drop_credentials_and_hop_by_hop_and_add_ours() -> None:
    incoming = [
        (b"host", b"basis.example"),
        (b"cookie", b"basis_session=secret"),
        (b"authorization", b"Bearer x"),
        (b"x-basis-token", b"forged"),
        (b"x-csrf-token", b"c"),
        (b"x-forwarded-for", b"6.6.6.6"),
        (b"x-forwarded-host", b"evil"),
        (b"forwarded", b"for=6.6.6.6"),
        (b"connection", b"keep-alive, X-Secret-Hop"),
        (b"x-secret-hop", b"1"),
        (b"keep-alive", b"300"),
        (b"te", b"trailers"),
        (b"expect", b"100-continue"),
        (b"accept", b"application/json"),
        (b"last-event-id", b"42"),
    ]
    out, length = request_headers(scope(incoming), b"127.0.0.1:9001", b"tok")
    assert out == [
        (b"host", b"127.0.0.1:9001"),
        (b"accept", b"application/json"),
        (b"last-event-id", b"42"),
        (b"x-forwarded-for", b"203.0.113.9"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"basis.example"),
        (b"x-basis-token", b"tok"),
    ]
    assert length == 0


@pytest.mark.parametrize(
    ("headers", "length", "framing"),
    [
        ([(b"content-length", b"10")], 10, [(b"content-length", b"10")]),
        ([(b"content-length", b"0")], 0, [(b"content-length", b"0")]),
        ([(b"transfer-encoding", b"chunked")], None, [(b"transfer-encoding", b"chunked")]),
        # Transfer-Encoding wins over Content-Length (RFC 9112 §6.3); servers refuse both anyway.
        (
            [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")],
            None,
            [(b"transfer-encoding", b"chunked")],
        ),
        ([], 0, []),
        # The smuggling attempt: a `Connection` header naming the framing does not remove it.
        (
            [(b"connection", b"keep-alive, content-length"), (b"content-length", b"38")],
            38,
            [(b"content-length", b"38")],
        ),
        (
            [(b"connection", b"Transfer-Encoding, host"), (b"transfer-encoding", b"chunked")],
            None,
            [(b"transfer-encoding", b"chunked")],
        ),
    ],
)
def test_the_proxy_frames_every_body_itself(
    headers: list[tuple[bytes, bytes]], length: int | None, framing: list[tuple[bytes, bytes]]
) -> None:
    out, got = request_headers(scope(headers), b"h", b"t")
    assert got == length
    # Exactly one framing header, the proxy's own, whatever the client sent or named in `Connection`.
    assert [(n, v) for n, v in out if n in (b"content-length", b"transfer-encoding")] == framing
    assert (b"host", b"h") in out and (b"x-basis-token", b"t") in out


def test_connection_cannot_remove_what_the_proxy_writes() -> None:
    out, _ = request_headers(
        scope(
            [
                (b"connection", b"host, x-basis-token, x-forwarded-for, x-forwarded-proto, x-custom"),
                (b"x-custom", b"dropped"),
            ]
        ),
        b"h",
        b"t",
    )
    names = [n for n, _ in out]
    assert {b"host", b"x-basis-token", b"x-forwarded-for", b"x-forwarded-proto"} <= set(names)
    assert b"x-custom" not in names  # an ordinary header it names is still hop-by-hop
    kept = response_headers([(b"Connection", b"content-length"), (b"Content-Length", b"2")])
    assert (b"content-length", b"2") in kept


def test_an_event_stream_answer_is_recognised() -> None:
    assert parse_head(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n\r\n"
    ).event_stream
    assert not parse_head(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n").event_stream


def test_response_headers_strip_hop_by_hop_cookies_and_server_headers() -> None:
    out = response_headers(
        [
            (b"Content-Type", b"text/event-stream"),
            (b"Connection", b"keep-alive, X-Hop"),
            (b"X-Hop", b"1"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Set-Cookie", b"basis_session=planted"),
            (b"Server", b"uvicorn"),
            (b"Date", b"today"),
            (b"Cache-Control", b"no-cache"),
            (b"X-Accel-Buffering", b"no"),
        ]
    )
    assert out == [
        (b"content-type", b"text/event-stream"),
        (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no"),
        (b"content-security-policy", b"frame-ancestors 'self'"),
    ]


@pytest.mark.parametrize(
    ("raw_path", "root", "query", "prefix", "expected"),
    [
        (b"/app/api/v1/status", "/app", b"", b"", b"/api/v1/status"),
        (b"/app/", "/app", b"", b"", b"/"),
        (b"/app", "/app", b"x=1", b"", None),
        (b"/app/static/a%20b.js", "/app", b"v=2", b"", b"/static/a%20b.js?v=2"),
        (b"/health", "", b"", b"", b"/health"),
        (b"/app/api/v1/x", "/app", b"", b"/bot", b"/bot/api/v1/x"),
    ],
)
def test_upstream_target(
    raw_path: bytes, root: str, query: bytes, prefix: bytes, expected: bytes | None
) -> None:
    s = scope([], raw_path=raw_path, root_path=root, query_string=query, path=raw_path.decode())
    assert upstream_target(s, prefix) == expected


def test_parse_head_framing() -> None:
    sized = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n\r\n")
    assert (sized.status, sized.length, sized.chunked, sized.keep_alive) == (200, 12, False, True)
    chunked = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n")
    assert (chunked.length, chunked.chunked) == (None, True)
    closing = parse_head(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n")
    assert (closing.status, closing.keep_alive, closing.length) == (502, False, None)
    old = parse_head(b"HTTP/1.0 200 OK\r\n\r\n")
    assert not old.keep_alive


@pytest.mark.parametrize(
    "raw", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 2x\r\n\r\n", b"HTTP/1.1 200 OK\r\nbad\r\n\r\n"]
)
def test_parse_head_refuses_garbage(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_head(raw)


async def answer(accept: bytes, status: int, detail: str) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    await send_error(scope([(b"accept", accept)]), send, status, detail)
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


async def test_errors_are_json_for_api_clients_and_a_page_for_browsers() -> None:
    status, headers, body = await answer(b"application/json", 502, "your bot is not running")
    assert (status, headers[b"content-type"], body) == (
        502,
        b"application/json",
        b'{"detail": "your bot is not running"}',
    )
    status, headers, body = await answer(b"text/html,*/*", 503, "your bot is starting <now>")
    assert (
        status == 503
        and headers[b"content-type"].startswith(b"text/html")
        and headers[b"retry-after"] == b"2"
    )
    assert b"Your bot is starting &lt;now&gt;" in body and b"try again" in body
    _, _, body = await answer(b"text/html", 401, "sign in first")
    assert b"Sign in first" in body and b"try again" not in body
