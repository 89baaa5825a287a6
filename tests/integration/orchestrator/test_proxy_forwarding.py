"""The bot proxy in a real uvicorn server, in front of real bots on a devnet and a small echo server.

The test's `resolve` reads the user from a `basis_session` cookie, as the control plane reads its
session: "a" and "b" own a bot each, "echo" reaches the echo server (which shows exactly what
arrives upstream), "down" points at a port nobody listens on, "starting" has no upstream yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount

from orchestrator.proxy import BotProxy, ProxyRefusal, Upstream
from tests.support.bot import BotProcess, ServedBot, serve
from tests.support.devnet import DevnetProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.devnet

ECHO_TOKEN = "echo-token-not-a-bot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """A uvicorn server on a free loopback port, in a thread of this process."""

    def __init__(self, app: Any, **options: Any) -> None:
        self.port = free_port()
        # No proxy_headers: uvicorn would otherwise trust a loopback client's X-Forwarded-For.
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="critical",
            lifespan="on",
            proxy_headers=False,
            **options,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class Echo:
    """An upstream that answers with what it received; `/stream` ticks until its client leaves."""

    def __init__(self) -> None:
        self.stream_open = False
        self.stream_closed = threading.Event()
        self.requests = 0  # requests that reached the echo's code
        self.body_sizes: list[int] = []  # bytes of each request body it read, whole or cut

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.requests += 1
        if scope["path"] == "/stream":
            await self._stream(receive, send)
            return
        if scope["path"] == "/slow":
            await asyncio.sleep(2)  # a bot that answers late: past the proxy's response timeout
        if scope["path"] == "/cut":  # promises 100 bytes, sends 10, then drops the connection
            start = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
            await send(start)
            await send({"type": "http.response.body", "body": b"0123456789", "more_body": True})
            return
        digest, size = hashlib.sha256(), 0
        while True:
            message = await receive()
            body = message.get("body", b"")
            digest.update(body)
            size += len(body)
            if not message.get("more_body"):
                break
        self.body_sizes.append(size)
        answer = {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]],
            "size": size,
            "sha256": digest.hexdigest(),
        }
        payload = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"x-hop-out"),
                    (b"x-hop-out", b"1"),
                    (b"keep-alive", b"timeout=5"),
                    (b"proxy-authenticate", b"Basic"),
                    (b"set-cookie", b"basis_session=planted; Path=/"),
                    (b"x-kept", b"yes"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    @staticmethod
    async def _until_disconnect(receive: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    async def _stream(self, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        self.stream_open = True
        gone = asyncio.ensure_future(self._until_disconnect(receive))
        try:
            i = 0
            while not gone.done():
                await send({"type": "http.response.body", "body": b"tick %d\n" % i, "more_body": True})
                i += 1
                await asyncio.wait({gone}, timeout=0.05)
        finally:
            gone.cancel()
            self.stream_closed.set()


class Stack:
    def __init__(self, proxy: ServerThread, echo: Echo, echo_url: str, a: ServedBot, b: ServedBot) -> None:
        self.proxy, self.echo, self.echo_url, self.a, self.b = proxy, echo, echo_url, a, b

    def client(self, user: str, **kwargs: Any) -> httpx.Client:
        return httpx.Client(
            base_url=self.proxy.url + "/app", cookies={"basis_session": user}, timeout=30, **kwargs
        )


@pytest.fixture(scope="module")
def stack(devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = Path(tmp_path_factory.mktemp("proxy"))
    bots = []
    for name in ("a", "b"):
        bot = BotProcess(devnet, root / name, tenant_id=f"proxy-{name}")
        bot.init()
        bots.append(bot)
    a = serve(bots[0], BASIS_SSE_HEARTBEAT_SECONDS="0.5", BASIS_API_TOKEN="token-of-bot-a-0123456789")
    b = serve(bots[1], BASIS_SSE_HEARTBEAT_SECONDS="0.5", BASIS_API_TOKEN="token-of-bot-b-0123456789")
    echo = Echo()
    try:
        with ServerThread(echo, timeout_keep_alive=1) as echo_server:
            upstreams = {
                "a": Upstream(a.url, SecretStr(a.token), "a"),
                "b": Upstream(b.url, SecretStr(b.token), "b"),
                "echo": Upstream(echo_server.url, SecretStr(ECHO_TOKEN), "echo"),
                "down": Upstream(f"http://127.0.0.1:{free_port()}", SecretStr("nobody"), "down"),
            }

            async def resolve(request: Request) -> Upstream | None:
                user = request.cookies.get("basis_session")
                if user is None:
                    raise ProxyRefusal(401, "sign in first")
                if user == "starting":
                    return None
                return upstreams[user]

            # Above the default cap, so that a 5 MiB body shows streaming (the cap has a test of its own).
            proxy = BotProxy(resolve, max_body_bytes=8 * 1024 * 1024)

            @contextlib.asynccontextmanager
            async def lifespan(app: Starlette) -> AsyncIterator[None]:
                yield
                await proxy.aclose()

            # Mounted as the control plane mounts it: the bot's page lives at /app/.
            app = Starlette(routes=[Mount("/app", app=proxy)], lifespan=lifespan)
            with ServerThread(app) as proxy_server:
                yield Stack(proxy_server, echo, echo_server.url, a, b)
    finally:
        a.stop()
        b.stop()


def test_page_api_and_health_reach_the_bot(stack: Stack) -> None:
    with stack.client("a") as c:
        page = c.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        assert 'src="static/app.js"' in page.text  # relative: the browser asks /app/static/app.js
        # Only the portal (this origin) may frame it.
        assert page.headers["content-security-policy"] == "frame-ancestors 'self'"
        script = c.get("/static/app.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert script.content == httpx.get(stack.a.url + "/static/app.js", headers=stack.a.headers).content
        assert c.get("/health").json() == {"status": "ok"}
        status = c.get("/api/v1/status")
        assert status.status_code == 200, status.text
        direct = httpx.get(stack.a.url + "/api/v1/status", headers=stack.a.headers).json()
        assert status.json().keys() == direct.keys()
    # The mount point without its slash sends the browser to the slash, so relative URLs work.
    r = httpx.get(stack.proxy.url + "/app?x=1", cookies={"basis_session": "a"})
    assert r.status_code == 307 and r.headers["location"].endswith("/app/?x=1")


def test_token_added_and_client_credentials_not_forwarded(stack: Stack) -> None:
    with stack.client("echo") as c:
        r = c.get(
            "/api/v1/thing?x=1&y=%2F",
            headers={
                "Authorization": "Bearer stolen",
                "X-Basis-Token": "forged",
                "X-CSRF-Token": "csrf",
                "X-Forwarded-For": "6.6.6.6",
                "X-Forwarded-Host": "evil.example",
                "X-Forwarded-Proto": "gopher",
                "Forwarded": "for=6.6.6.6",
                "X-Real-IP": "6.6.6.6",
                "Connection": "keep-alive, x-hop-in",
                "X-Hop-In": "1",
                "Keep-Alive": "timeout=100",
                "TE": "trailers",
                "Proxy-Authorization": "Basic eA==",
                "X-Custom": "kept",
            },
        )
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["path"] == "/api/v1/thing" and seen["query"] == "x=1&y=%2F"
    headers: dict[str, list[str]] = {}
    for k, v in seen["headers"]:
        headers.setdefault(k, []).append(v)
    assert headers["x-basis-token"] == [ECHO_TOKEN]
    assert headers["x-forwarded-for"] == ["127.0.0.1"]
    assert headers["x-forwarded-proto"] == ["http"]
    assert headers["x-forwarded-host"] == [f"127.0.0.1:{stack.proxy.port}"]
    assert headers["host"] == [stack.echo_url.removeprefix("http://")]
    assert headers["x-custom"] == ["kept"]
    for name in (
        "cookie",
        "authorization",
        "x-csrf-token",
        "forwarded",
        "x-real-ip",
        "x-hop-in",
        "keep-alive",
        "te",
        "proxy-authorization",
    ):
        assert name not in headers, name
    # Hop-by-hop headers of the response are stripped too, and a bot cannot plant cookies.
    assert r.headers["x-kept"] == "yes"
    for name in ("x-hop-out", "keep-alive", "proxy-authenticate", "set-cookie"):
        assert name not in r.headers, name
    assert "connection" not in r.headers or r.headers["connection"].lower() == "keep-alive"


def test_request_bodies_stream_intact(stack: Stack) -> None:
    blob = os.urandom(5 * 1024 * 1024)
    expected = hashlib.sha256(blob).hexdigest()
    with stack.client("echo") as c:
        sized = c.post("/upload", content=blob).json()
        assert (sized["size"], sized["sha256"]) == (len(blob), expected)

        def chunks() -> Iterator[bytes]:
            for i in range(0, len(blob), 64 * 1024):
                yield blob[i : i + 64 * 1024]

        chunked = c.post("/upload", content=chunks()).json()
    assert (chunked["size"], chunked["sha256"]) == (len(blob), expected)
    sent = dict((k, v) for k, v in chunked["headers"])
    assert sent.get("transfer-encoding") == "chunked"


def _sse_events(
    lines: Iterator[str], want: int, until: float, into: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The first `want` pause/resume events of a stream, appended to `into` as each one arrives."""
    events: list[dict[str, Any]] = [] if into is None else into
    current: dict[str, Any] = {}
    for line in lines:
        if line.startswith("id: "):
            current["id"] = int(line[4:])
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and "data" in current:
            if current["data"]["kind"] in ("control.paused", "control.resumed"):
                events.append(current)
            current = {}
            if len(events) >= want:
                break
        if time.monotonic() > until:
            break
    return events


def test_event_stream_is_not_buffered_and_resumes(stack: Stack) -> None:
    direct = httpx.Client(base_url=stack.a.url, headers=stack.a.headers, timeout=10)
    got: list[dict[str, Any]] = []
    subscribed = threading.Event()

    def reader() -> None:
        with stack.client("a") as c, c.stream("GET", "/api/v1/events/stream") as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = r.iter_lines()
            # The bot subscribes to its event log before it writes `retry:`: from here on nothing
            # written can be missed.
            for line in lines:
                if line.startswith("retry:"):
                    subscribed.set()
                    break
            _sse_events(lines, 4, time.monotonic() + 20, into=got)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    assert subscribed.wait(10)
    for i in range(4):
        path = "/api/v1/control/pause" if i % 2 == 0 else "/api/v1/control/resume"
        assert direct.post(path, json={"reason": "proxy test"}).status_code == 200
        # Not buffered: each event crosses the proxy while the stream stays open, before the next is
        # written (how fast is measured by `make bench`, not here).
        wait_until(lambda n=i + 1: len(got) >= n, timeout=10, what=f"event {i + 1} through the proxy")
    thread.join(20)
    direct.close()
    assert [e["data"]["kind"] for e in got] == ["control.paused", "control.resumed"] * 2
    # Last-Event-ID goes through: the bot replays what came after the given id.
    first = got[0]["id"]
    with (
        stack.client("a") as c,
        c.stream("GET", "/api/v1/events/stream", headers={"Last-Event-ID": str(first)}) as r,
    ):
        replay = _sse_events(r.iter_lines(), 3, time.monotonic() + 10)
    assert [e["id"] for e in replay] == [e["id"] for e in got[1:]]


def test_client_disconnect_closes_the_upstream(stack: Stack) -> None:
    stack.echo.stream_closed.clear()
    with stack.client("echo") as c, c.stream("GET", "/stream") as r:
        lines = r.iter_lines()
        assert next(lines).startswith("tick")
        assert next(lines).startswith("tick")
        assert not stack.echo.stream_closed.is_set()
    # Leaving the `with` closes the client's connection; the upstream must see its stream end.
    assert stack.echo.stream_closed.wait(5)


def test_bot_down_is_a_clear_502_and_starting_a_503(stack: Stack) -> None:
    with stack.client("down") as c:
        r = c.get("/api/v1/status")
        assert r.status_code == 502 and r.json() == {"detail": "your bot is not running"}
        page = c.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
        assert page.status_code == 502 and "text/html" in page.headers["content-type"]
        assert "your bot is not running" in page.text.lower()
    with stack.client("starting") as c:
        r = c.get("/api/v1/status")
        assert r.status_code == 503 and r.json() == {"detail": "your bot is starting"}
    anonymous = httpx.get(stack.proxy.url + "/app/api/v1/status")
    assert anonymous.status_code == 401 and anonymous.json() == {"detail": "sign in first"}


def test_two_users_reach_only_their_own_bot(stack: Stack) -> None:
    def address(served: ServedBot) -> str:
        return str(
            httpx.get(served.url + "/api/v1/balances", headers=served.headers, timeout=30).json()["solana"][
                "address"
            ]
        )

    expected = {"a": address(stack.a), "b": address(stack.b)}
    assert expected["a"] != expected["b"]

    def ask(user: str) -> tuple[str, str]:
        with stack.client(user) as c:
            r = c.get("/api/v1/balances")
            assert r.status_code == 200, r.text
            return user, r.json()["solana"]["address"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, ["a", "b"] * 8))
    for user, seen in answers:
        assert seen == expected[user]


def test_idle_connections_closed_by_the_bot_are_not_reused(stack: Stack) -> None:
    # The echo server drops idle connections after 1 s, sooner than the proxy's 4 s keep-alive expiry.
    with stack.client("echo") as c:
        for _ in range(3):
            assert c.get("/again").status_code == 200
            time.sleep(1.3)  # the scenario: idle past the echo's 1 s, which closes the connection
            assert c.get("/again").status_code == 200


def test_a_body_cut_short_by_the_bot_cuts_the_client_and_the_proxy_carries_on(stack: Stack) -> None:
    with stack.client("echo") as c:
        with pytest.raises(httpx.RemoteProtocolError):
            c.get("/cut")
        assert c.get("/after-cut").json()["path"] == "/after-cut"


def test_a_bot_that_does_not_answer_in_time_is_a_504(stack: Stack) -> None:
    upstream = Upstream(stack.echo_url, SecretStr(ECHO_TOKEN), "echo")

    async def resolve(request: Request) -> Upstream | None:
        return upstream

    with ServerThread(BotProxy(resolve, response_timeout=0.5)) as proxy:
        r = httpx.get(proxy.url + "/slow", timeout=10)
        assert r.status_code == 504 and r.json() == {"detail": "your bot did not answer in time"}
        assert httpx.get(proxy.url + "/fast", timeout=10).json()["path"] == "/fast"


def test_bodies_above_the_cap_never_reach_the_bot(stack: Stack) -> None:
    """A bot's API takes small JSON: a larger body is refused with 413, declared (the bot never sees
    the request) or chunked (the bot sees at most the cap, then its connection closes); a body within
    the cap still goes through."""
    upstream = Upstream(stack.echo_url, SecretStr(ECHO_TOKEN), "echo")

    async def resolve(request: Request) -> Upstream | None:
        return upstream

    cap = 64 * 1024
    before = stack.echo.requests
    with ServerThread(BotProxy(resolve, max_body_bytes=cap)) as proxy, httpx.Client(timeout=10) as c:
        declared = c.post(proxy.url + "/upload", content=b"x" * (cap + 1))
        assert declared.status_code == 413, declared.text
        assert f"at most {cap} bytes" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:
            for _ in range(4):
                yield b"y" * (cap // 2)

        assert stack.echo.requests == before
        read = len(stack.echo.body_sizes)
        chunked = c.post(proxy.url + "/upload", content=chunks())
        assert chunked.status_code == 413, chunked.text
        deadline = time.monotonic() + 5
        while len(stack.echo.body_sizes) == read and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stack.echo.requests == before + 1 and stack.echo.body_sizes[read] <= cap
        fits = c.post(proxy.url + "/upload", content=b"z" * cap).json()
        assert fits["size"] == cap
