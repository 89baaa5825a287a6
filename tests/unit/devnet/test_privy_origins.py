"""The devnet's Privy enforces the app's allowed origins and CORS on its client API, as Privy does
for a production app: a sign-in driven from elsewhere (a server, another site) is refused."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from devnet.clock import SimClock
from devnet.config import DevnetConfig
from devnet.mailbox import Mailbox
from devnet.privy import PrivyService, create_app
from devnet.privy.origins import AllowedOrigins, normalise_origin

PAGE = "http://127.0.0.1:8000"


@pytest.fixture
def privy() -> tuple[PrivyService, TestClient]:
    svc = PrivyService(DevnetConfig(seed=5), SimClock(1.0), Mailbox())
    return svc, TestClient(create_app(svc))


def _init(api: TestClient, app_id: str, **headers: str) -> object:
    return api.post(
        "/api/v1/passwordless/init",
        json={"email": "o@example.com"},
        headers={"privy-app-id": app_id, **headers},
    )


def test_a_client_call_without_origin_is_refused(privy: tuple[PrivyService, TestClient]) -> None:
    svc, api = privy
    r = _init(api, svc.app_id)
    assert r.status_code == 403
    assert r.json() == {"error": "Missing origin header", "code": "missing_origin"}
    assert "access-control-allow-origin" not in r.headers
    assert svc.mailbox.messages("o@example.com") == []


def test_a_client_call_from_a_disallowed_origin_is_refused(privy: tuple[PrivyService, TestClient]) -> None:
    svc, api = privy
    for origin in ("https://evil.example", "http://127.0.0.1:8001", "http://localhost:8000.evil.example"):
        r = _init(api, svc.app_id, Origin=origin)
        assert r.status_code == 403, origin
        assert r.json()["code"] == "invalid_origin"
        assert "access-control-allow-origin" not in r.headers
    assert svc.mailbox.messages("o@example.com") == []


def test_an_allowed_origin_is_answered_and_echoed(privy: tuple[PrivyService, TestClient]) -> None:
    svc, api = privy
    r = _init(api, svc.app_id, Origin=PAGE)
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == PAGE
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in r.headers["vary"]
    assert len(svc.mailbox.messages("o@example.com")) == 1


def test_preflight_answers_only_an_allowed_origin(privy: tuple[PrivyService, TestClient]) -> None:
    _svc, api = privy
    asks = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,privy-app-id",
    }
    ok = api.options("/api/v1/passwordless/authenticate", headers={"Origin": PAGE, **asks})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == PAGE
    assert "POST" in ok.headers["access-control-allow-methods"]
    allowed = {h.strip() for h in ok.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "privy-app-id", "privy-client", "privy-ca-id", "authorization"} <= allowed
    bad = api.options("/api/v1/passwordless/authenticate", headers={"Origin": "https://evil.example", **asks})
    assert bad.status_code == 403
    assert "access-control-allow-origin" not in bad.headers


def test_the_jwks_and_the_server_api_need_no_origin(privy: tuple[PrivyService, TestClient]) -> None:
    svc, api = privy
    assert api.get(f"/api/v1/apps/{svc.app_id}/jwks.json").status_code == 200
    assert api.get(f"/v1/apps/{svc.app_id}/jwks.json").status_code == 200


def test_origins_added_later_and_port_wildcards() -> None:
    origins = AllowedOrigins(["http://127.0.0.1:*"])
    assert origins.allows("http://127.0.0.1:41234")
    assert not origins.allows("http://localhost:41234")
    assert not origins.allows("https://127.0.0.1:41234")
    assert not origins.allows(None)
    origins.add("https://basis.example.com/")
    assert origins.allows("https://basis.example.com")
    for bad in ("ftp://x", "https://x.example/path", "not a url", "http://x:*:1"):
        with pytest.raises(ValueError):
            normalise_origin(bad)
