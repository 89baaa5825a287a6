"""Every read route of a real `basis-bot serve`, the token, bad input, settings and presets."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
import pytest

from tests.integration.tenant_bot.api.conftest import wait_for
from tests.support.bot import ServedBot

pytestmark = pytest.mark.devnet

GUARDED = [
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/"),
    ("GET", "/static/app.js"),
    ("GET", "/openapi.json"),
    ("GET", "/api/v1/rates"),
    ("GET", "/api/v1/settings"),
    ("POST", "/api/v1/settings"),
    ("POST", "/api/v1/settings/reset"),
    ("GET", "/api/v1/settings/presets"),
    ("POST", "/api/v1/settings/presets/1/save"),
    ("POST", "/api/v1/settings/presets/1/load"),
    ("POST", "/api/v1/settings/presets/1/rename"),
    ("GET", "/api/v1/positions"),
    ("POST", "/api/v1/positions/open"),
    ("POST", "/api/v1/positions/preview"),
    ("POST", "/api/v1/positions/x/close"),
    ("GET", "/api/v1/jobs/x"),
    ("POST", "/api/v1/control/pause"),
    ("POST", "/api/v1/control/resume"),
    ("POST", "/api/v1/control/emergency-stop"),
    ("GET", "/api/v1/status"),
    ("GET", "/api/v1/balances"),
    ("GET", "/api/v1/events/stream"),
    ("GET", "/api/v1/events"),
    ("GET", "/api/v1/history?series=pnl"),
    ("GET", "/api/v1/backtest"),
    ("GET", "/api/v1/backtest.svg"),
    ("GET", "/api/v1/candles"),
]


def test_health_needs_no_token(served: ServedBot) -> None:
    r = httpx.get(served.url + "/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_every_other_route_needs_the_token(served: ServedBot, method: str, path: str) -> None:
    for headers in ({}, {"X-Basis-Token": "wrong"}, {"X-Basis-Token": served.token + "x"}):
        r = httpx.request(method, served.url + path, headers=headers, timeout=10)
        assert r.status_code == 401, (path, r.text)
        assert r.json() == {"detail": "missing or wrong X-Basis-Token"}
        assert served.token not in r.text


def test_ready_and_status(api: httpx.Client) -> None:
    r = api.get("/ready")
    assert r.status_code == 200
    assert r.json() == {
        "database": "ok",
        "venues": {"hyperliquid": "ok", "asgard": "ok", "solana": "ok", "arbitrum": "ok"},
    }
    status = wait_for(lambda: (s := api.get("/api/v1/status").json())["last_tick_at"] and s)
    assert status["trading_state"] == "active"
    assert status["paused"] is False and status["kill_switch"] is False
    assert status["breakers"] == [] and status["jobs"] == []
    assert set(status) >= {
        "halt_reason",
        "pause_reasons",
        "outages",
        "entry_blockers",
        "shadow",
        "auto_entry",
    }


def test_rates_decompose_and_rank(api: httpx.Client) -> None:
    r = api.get("/api/v1/rates", params={"leverage": "3"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["leverage"] == "3"
    assert Decimal(body["funding"]["apr"]) == Decimal(body["funding"]["rate"]) * 8760
    rows = body["rows"]
    assert rows and body["best"] == rows[0]
    nets = [Decimal(row["net_apy"]) for row in rows]
    assert nets == sorted(nets, reverse=True)
    for row in rows:
        parts = row["components"]
        assert set(parts) == {"funding", "staking", "supply", "borrow", "fees"}
        assert sum(Decimal(v) for v in parts.values()) == Decimal(row["net_apy"])
    at4 = api.get("/api/v1/rates", params={"leverage": 4}).json()
    assert at4["leverage"] == "4"
    assert api.get("/api/v1/rates").json()["leverage"] == "3"  # the settings' leverage


@pytest.mark.parametrize("leverage", ["1.9", "4.01", "abc", "NaN", "Infinity", ""])
def test_rates_refuse_a_bad_leverage(api: httpx.Client, leverage: str) -> None:
    r = api.get("/api/v1/rates", params={"leverage": leverage})
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == ["query", "leverage"] and error["msg"]


def test_balances(api: httpx.Client) -> None:
    r = api.get("/api/v1/balances")
    assert r.status_code == 200, r.text
    body = r.json()
    assert Decimal(body["solana"]["USDC"]) >= 0 and Decimal(body["solana"]["SOL"]) > 0
    assert set(body["solana"]) == {"address", "SOL", "USDC", "jitoSOL", "mSOL", "jupSOL", "INF"}
    assert set(body["arbitrum"]) == {"address", "USDC", "ETH"}
    assert set(body["hyperliquid"]) == {"address", "account_value", "withdrawable", "margin_used"}
    assert body["can_open"] is True and body["blocked"] is None


def test_metrics_parse_as_prometheus_text(api: httpx.Client) -> None:
    api.get("/api/v1/status")
    r = api.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    sample = re.compile(
        r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+$'
    )
    names = set()
    for line in r.text.splitlines():
        if line.startswith("# "):
            assert re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$", line), line
            continue
        assert sample.match(line), line
        names.add(line.split("{")[0].split(" ")[0])
    assert {
        "basis_ticks_total",
        "basis_tick_seconds_bucket",
        "basis_tick_seconds_count",
        "basis_tick_seconds_sum",
        "basis_trading_state",
        "basis_open_positions",
        "basis_events_total",
        "basis_http_requests_total",
    } <= names
    assert 'basis_trading_state{state="active"} 1' in r.text
    # The histogram's last bucket holds every tick, and the buckets never shrink.
    values = dict(line.rsplit(" ", 1) for line in r.text.splitlines() if not line.startswith("#"))
    buckets = [int(v) for k, v in values.items() if k.startswith("basis_tick_seconds_bucket")]
    assert buckets == sorted(buckets) and buckets[-1] == int(values["basis_tick_seconds_count"])
    assert 'basis_http_requests_total{route="/api/v1/status",status="200"}' in r.text


def test_events_and_history(api: httpx.Client) -> None:
    r = api.get("/api/v1/events", params={"after": 0, "limit": 5})
    assert r.status_code == 200
    events = r.json()["events"]
    assert events[0]["kind"] == "bot.started" and set(events[0]) == {
        "id",
        "at",
        "kind",
        "severity",
        "message",
        "data",
    }
    ids = [e["id"] for e in events]
    assert ids == sorted(ids)
    only = api.get("/api/v1/events", params={"kind": "bot.started"}).json()["events"]
    assert [e["kind"] for e in only] == ["bot.started"]
    for series in ("funding", "apy", "pnl"):
        body = wait_for(
            lambda s=series: (b := api.get("/api/v1/history", params={"series": s}).json())["points"] and b
        )
        assert body["series"] == series
        Decimal(body["points"][0]["value"])
    for params in ({"series": "price"}, {"series": "pnl", "hours": 0}, {"series": "pnl", "hours": 721}, {}):
        assert api.get("/api/v1/history", params=params).status_code == 422
    assert api.get("/api/v1/events", params={"limit": 501}).status_code == 422


def test_page_and_static(api: httpx.Client, served: ServedBot) -> None:
    # The dashboard itself, never a 404: the page ships with the bot (tenant_bot/web/index.html).
    r = api.get("/")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "<title>Basis · your bot</title>" in r.text
    assert api.get("/static/../../config.py").status_code == 404
    assert api.get("/static/%2e%2e/%2e%2e/config.py").status_code == 404
    assert api.get("/static/no-such-file.js").json()["detail"].startswith("no asset")


def test_unknown_job_and_position(api: httpx.Client) -> None:
    r = api.get("/api/v1/jobs/nope")
    assert r.status_code == 404 and r.json() == {"detail": "no job nope"}
    r = api.post("/api/v1/positions/nope/close")
    assert r.status_code == 404 and r.json() == {"detail": "no position nope"}


def test_settings_change_validate_and_reset(api: httpx.Client) -> None:
    before = api.get("/api/v1/settings").json()
    assert before["leverage"] == "3" and before["notifications"]["webhook_url"] is None
    r = api.post(
        "/api/v1/settings",
        json={"leverage": "2.5", "risk": {"asgard_health_close_below": "0.04"}, "allowed_assets": ["SOL"]},
    )
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["leverage"] == "2.5" and after["allowed_assets"] == ["SOL"]
    assert after["risk"]["asgard_health_close_below"] == "0.04"
    assert after["risk"]["asgard_health_reduce_below"] == before["risk"]["asgard_health_reduce_below"]
    assert api.get("/api/v1/rates").json()["leverage"] == "2.5"  # applied to the running bot

    # One entry per bad field, and nothing stored.
    r = api.post(
        "/api/v1/settings",
        json={
            "leverage": "5",
            "entry_capital_usd": "-1",
            "allowed_protocols": [],
            "notifications": {"webhook_url": "ftp://x", "format": "xml"},
            "bogus": 1,
        },
    )
    assert r.status_code == 422, r.text
    locs = {tuple(e["loc"]) for e in r.json()["detail"]}
    assert {
        ("body", "leverage"),
        ("body", "entry_capital_usd"),
        ("body", "allowed_protocols"),
        ("body", "notifications", "webhook_url"),
        ("body", "notifications", "format"),
        ("body", "bogus"),
    } <= locs
    assert api.get("/api/v1/settings").json() == after

    # Orderings the risk engine needs are checked too: close must stay below reduce.
    r = api.post("/api/v1/settings", json={"risk": {"asgard_health_close_below": "0.09"}})
    assert r.status_code == 422
    assert ["body", "risk", "asgard_health_close_below"] in [e["loc"] for e in r.json()["detail"]]
    assert api.get("/api/v1/settings").json() == after

    secret = "https://discord.com/api/webhooks/1/secret-token"
    r = api.post("/api/v1/settings", json={"notifications": {"webhook_url": secret, "format": "discord"}})
    assert r.status_code == 200 and r.json()["notifications"]["webhook_url"] == secret
    changed = api.get("/api/v1/events", params={"kind": "settings.changed"}).json()["events"]
    assert changed and all("secret-token" not in str(e) for e in changed)

    r = api.post("/api/v1/settings/reset")
    assert r.status_code == 200
    assert r.json() == before
    assert api.get("/api/v1/settings").json() == before


def test_presets_save_load_rename(api: httpx.Client) -> None:
    presets = api.get("/api/v1/settings/presets").json()["presets"]
    assert [p["slot"] for p in presets] == [1, 2, 3]
    assert [p["name"] for p in presets] == ["Conservative", "Balanced", "Aggressive"]
    assert presets[0]["settings"]["leverage"] == "2"

    api.post("/api/v1/settings", json={"leverage": "3.5", "min_entry_net_apy": "0.07"})
    r = api.post("/api/v1/settings/presets/2/save", json={"name": "Mine"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Mine" and r.json()["settings"]["leverage"] == "3.5"
    assert api.post("/api/v1/settings/presets/3/save").json()["name"] == "Aggressive"

    r = api.post("/api/v1/settings/presets/1/load")
    assert r.status_code == 200 and r.json()["leverage"] == "2"
    assert api.get("/api/v1/settings").json()["leverage"] == "2"
    r = api.post("/api/v1/settings/presets/2/load")
    assert r.json()["leverage"] == "3.5" and r.json()["min_entry_net_apy"] == "0.07"

    r = api.post("/api/v1/settings/presets/2/rename", json={"name": "  Weekend  "})
    assert r.status_code == 200 and r.json()["name"] == "Weekend"
    assert api.get("/api/v1/settings/presets").json()["presets"][1]["name"] == "Weekend"

    for slot in ("0", "4", "x"):
        r = api.post(f"/api/v1/settings/presets/{slot}/load")
        assert r.status_code in (404, 422), r.text
    assert api.post("/api/v1/settings/presets/4/load").json() == {
        "detail": "there is no preset 4; the slots are 1, 2 and 3"
    }
    for body in ({}, {"name": ""}, {"name": "x" * 41}, {"name": 3}):
        r = api.post("/api/v1/settings/presets/1/rename", json=body)
        assert r.status_code == 422, body
        assert r.json()["detail"][0]["loc"][:2] == ["body", "name"] or r.json()["detail"][0]["loc"] == [
            "body"
        ]
    api.post("/api/v1/settings/reset")


def test_candles_carry_their_interval_and_decimal_prices(api: httpx.Client, served: ServedBot) -> None:
    served.bot.dn.advance(hours=2)  # two simulated hours of minute candles on the venue
    r = api.get("/api/v1/candles", params={"interval": "5m"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["coin"], body["interval"], body["interval_seconds"]) == ("SOL", "5m", 300)
    candles = body["candles"]
    assert len(candles) >= 20
    for c in candles:
        assert c["close_ms"] == c["open_ms"] + 300_000 - 1
        prices = {k: c[k] for k in ("open", "high", "low", "close")}
        assert all(isinstance(v, str) for v in prices.values())  # decimal strings, never floats
        o, h, lo, cl = (Decimal(prices[k]) for k in ("open", "high", "low", "close"))
        assert Decimal(0) < lo <= min(o, cl) <= max(o, cl) <= h
        assert Decimal(c["volume"]) >= 0
    assert [c["open_ms"] for c in candles] == sorted(c["open_ms"] for c in candles)
    # The venue's own candles for the same interval: the same closes, to the digit.
    venue = served.bot.hl_info(
        {
            "type": "candleSnapshot",
            "req": {"coin": "SOL", "interval": "5m", "startTime": candles[0]["open_ms"]},
        }
    )
    by_time = {v["t"]: v["c"] for v in venue}
    assert all(Decimal(by_time[c["open_ms"]]) == Decimal(c["close"]) for c in candles[:-1])
    # Kept for the interval: a second viewer is served without asking Hyperliquid again.
    again = api.get("/api/v1/candles", params={"interval": "5m"}).json()
    assert again["fetched_at_ms"] == body["fetched_at_ms"] and again["candles"] == candles


@pytest.mark.parametrize("interval", ["7m", "1M", "x" * 10])
def test_candles_refuse_an_unknown_interval(api: httpx.Client, interval: str) -> None:
    r = api.get("/api/v1/candles", params={"interval": interval})
    assert r.status_code == 422
    assert "interval" in r.text
