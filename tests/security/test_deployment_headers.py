"""Deployment behind a TLS reverse proxy, replayed against a real `basis serve` on a real devnet.

Before: the client address was always the TCP peer, so behind a reverse proxy every user shared the
proxy's sign-in limits; `Secure` depended on a scheme that is http behind a TLS proxy, so cookies
never got it; a forged `Host` made Starlette's slash redirect (`/app` → `/app/`) point anywhere.
Now X-Forwarded-For/-Proto count only from a listed proxy (right-most untrusted hop), cookies are
`Secure` and answers carry HSTS over https, unknown `Host` names get 400, redirects are relative.
The trusted proxy is played by a client bound to 127.0.0.9.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from starlette.requests import Request

from orchestrator.auth.rate_limit import WRONG_CODE_PER_NETWORK
from orchestrator.auth.router import CSRF_COOKIE, CSRF_HEADER, FLOW_COOKIE, SESSION_COOKIE
from orchestrator.config import ControlPlaneSettings
from orchestrator.proxy import BotProxy, Upstream
from orchestrator.request_origin import BAD_HOST, install_request_origin
from tests.security.signin_support import Plane, control_plane, new_email
from tests.support.devnet import DevnetProcess

pytestmark = pytest.mark.devnet

PROXY = "127.0.0.9"
LIMIT = WRONG_CODE_PER_NETWORK.limit


@pytest.fixture(scope="module")
def plane(devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    with control_plane(devnet, Path(tmp_path_factory.mktemp("deploy")), trusted_proxies=[PROXY]) as running:
        yield running


def _wrong_codes(plane: Plane, source: str, forwarded_for: list[str]) -> list[int]:
    """One wrong code per entry, each for a fresh email, sent from `source` with that X-Forwarded-For."""
    statuses = []
    for value in forwarded_for:
        b = plane.browser(source, **{"X-Forwarded-For": value})
        statuses.append(b.verify(new_email(), "123456").status_code)
        b.close()
    return statuses


def test_forwarded_for_from_an_untrusted_peer_is_ignored(plane: Plane) -> None:
    # A client rotating X-Forwarded-For to look like many networks is still one network.
    spoofed = [f"198.51.{i}.7" for i in range(LIMIT + 2)]
    assert _wrong_codes(plane, "127.0.3.1", spoofed) == [401] * LIMIT + [429] * 2
    # Nor does it make its connection https.
    b = plane.browser("127.0.3.2", **{"X-Forwarded-Proto": "https"})
    r = b.client.get("/api/v1/auth/csrf")
    assert "secure" not in r.headers["set-cookie"].lower() and "strict-transport-security" not in r.headers


def test_forwarded_for_from_the_trusted_proxy_is_honoured(plane: Plane) -> None:
    # Users behind the proxy are counted by their own network; a spoofed left-most entry is ignored.
    one_user = [f"6.6.{i}.6, 203.0.113.{5 + i}" for i in range(LIMIT + 1)]
    assert _wrong_codes(plane, PROXY, one_user) == [401] * LIMIT + [429]
    # Another user behind the same proxy is not limited by the first one's guesses.
    assert _wrong_codes(plane, PROXY, ["203.0.114.5"]) == [401]
    # A proxy that appends its own peer after a client's guess: right-most untrusted hop wins.
    assert _wrong_codes(plane, PROXY, ["203.0.114.5, 203.0.113.99"]) == [429]


class _Jar:
    """Cookies kept by hand: httpx (rightly) never sends a `Secure` cookie over plain http, and the
    test talks plain http to the control plane as a TLS-ending proxy would."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.flags: dict[str, str] = {}

    def take(self, response: httpx.Response) -> None:
        for line in response.headers.get_list("set-cookie"):
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0].strip('"')
            self.flags[name] = line
            if value and "max-age=0" not in line.lower():
                self.values[name] = value
            else:
                self.values.pop(name, None)

    def header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.values.items())}


def test_cookies_are_secure_when_the_trusted_proxy_says_https(plane: Plane) -> None:
    proxy = plane.browser(PROXY, **{"X-Forwarded-For": "203.0.120.5", "X-Forwarded-Proto": "https"})
    jar = _Jar()
    email = new_email()
    r = proxy.client.get("/api/v1/auth/csrf")
    jar.take(r)
    assert r.headers["strict-transport-security"] == "max-age=31536000"
    csrf = {CSRF_HEADER: r.json()["csrf_token"]}
    r = proxy.client.post(
        "/api/v1/auth/privy/initiate", json={"email": email}, headers={**csrf, **jar.header()}
    )
    assert r.status_code == 202, r.text
    jar.take(r)
    r = proxy.client.post(
        "/api/v1/auth/privy/verify",
        json={"email": email, "code": plane.code(email)},
        headers={**csrf, **jar.header()},
    )
    assert r.status_code == 200, r.text
    jar.take(r)
    for name in (CSRF_COOKIE, FLOW_COOKIE, SESSION_COOKIE):
        assert "; secure" in jar.flags[name].lower(), jar.flags[name]
    assert "httponly" in jar.flags[SESSION_COOKIE].lower() and "httponly" in jar.flags[FLOW_COOKIE].lower()
    me = proxy.client.get("/api/v1/auth/me", headers=jar.header())
    assert me.status_code == 200 and me.headers["strict-transport-security"]
    # The same control plane over plain http, directly: no Secure (the browser would drop the cookie).
    direct = plane.browser("127.0.4.1")
    r = direct.client.get("/api/v1/auth/csrf")
    assert "secure" not in r.headers["set-cookie"].lower() and "strict-transport-security" not in r.headers


def test_a_forged_host_gets_400_and_no_redirect_points_elsewhere(plane: Plane) -> None:
    b = plane.browser("127.0.4.2")
    for path in ("/", "/app", "/app/", "/api/v1/auth/me", "/api/v1/auth/csrf", "/health"):
        r = b.client.get(path, headers={"Host": "evil.example"})
        assert r.status_code == 400 and r.json() == {"detail": BAD_HOST}, path
        assert "location" not in r.headers
    # Through the trusted proxy too: X-Forwarded-Host is not a way around it.
    proxy = plane.browser(PROXY)
    r = proxy.client.get("/app", headers={"Host": "evil.example", "X-Forwarded-Host": "localhost"})
    assert r.status_code == 400
    # With an allowed Host, redirects are relative: they cannot leave this origin.
    r = b.client.get("/app?x=1", headers={"X-Forwarded-Host": "evil.example"})
    assert r.status_code == 307 and r.headers["location"] == "/app/?x=1"
    for path in ("/api/v1/auth/me/", "/api/v1/portal/me/", "/static", "/docs/", "/api/v1/tenant/"):
        r = b.client.get(path)
        location = r.headers.get("location", "")
        assert not location or (location.startswith("/") and not location.startswith("//")), (path, location)
    assert b.client.get("/health", headers={"Host": f"localhost:{plane.cp.settings.port}"}).status_code == 200


def test_a_public_https_url_makes_cookies_always_secure(devnet: DevnetProcess, tmp_path: Path) -> None:
    with control_plane(devnet, tmp_path, public_url="https://basis.example.com") as public:
        b = public.browser("127.0.4.3")
        r = b.client.get("/api/v1/auth/csrf", headers={"Host": "basis.example.com"})
        assert r.status_code == 200 and "; secure" in r.headers["set-cookie"].lower()
        assert b.client.get("/health", headers={"Host": "basis.example.com.evil.example"}).status_code == 400


# ---------------------------------------------------------------------- what a bot receives
class _ServerThread:
    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", proxy_headers=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


async def _echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Stands in for a bot: answers with the headers it received."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = json.dumps({k.decode(): v.decode() for k, v in scope["headers"]}).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


def test_the_bot_receives_the_client_the_trusted_proxy_reported() -> None:
    """The control plane's own pieces (request_origin middleware, the bot proxy) in front of an echo
    server standing in for a bot: the X-Forwarded-* the bot gets come from the rewritten scope."""
    settings = ControlPlaneSettings(
        _env_file=None, server_secret=SecretStr("s" * 40), trusted_proxies=[PROXY]
    )  # type: ignore[call-arg]
    with _ServerThread(_echo) as echo_url:

        async def resolve(_request: Request) -> Upstream:
            return Upstream(echo_url, SecretStr("echo-token"), "user")

        app = FastAPI()
        app.mount("/app", BotProxy(resolve))
        install_request_origin(app, settings)
        with _ServerThread(app) as url:
            spoof = {"X-Forwarded-For": "6.6.6.6, 203.0.113.5", "X-Forwarded-Proto": "https"}
            via_proxy = httpx.Client(transport=httpx.HTTPTransport(local_address=PROXY), timeout=10)
            seen = via_proxy.get(url + "/app/whatever", headers=spoof).json()
            assert seen["x-forwarded-for"] == "203.0.113.5" and seen["x-forwarded-proto"] == "https"
            assert "6.6.6.6" not in json.dumps(seen)
            direct = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.3.5"), timeout=10)
            seen = direct.get(url + "/app/whatever", headers=spoof).json()
            assert seen["x-forwarded-for"] == "127.0.3.5" and seen["x-forwarded-proto"] == "http"
            assert "6.6.6.6" not in json.dumps(seen) and "203.0.113.5" not in json.dumps(seen)
            via_proxy.close()
            direct.close()
