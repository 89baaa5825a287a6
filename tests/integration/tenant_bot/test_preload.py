"""A bot imports no standard-library module after it becomes its own user, on the paths a user takes
it through: started as the process runtime starts a bot that drops to its user
(`tests/support/late_imports.py` notes what is imported after that point), on a real devnet, then
every page and route, bad input and bad tokens, a webhook to a host name, an open and a close, the
live feed, a venue answering errors (tracebacks formatted), and SIGTERM. An interpreter only root may
read (pyenv under a 0700 /root) would fail any module imported that late; what the bot's own code
imports is checked from its source in tests/unit/tenant_bot/test_preload.py."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.tenant_bot.notifications.webhook_receiver import WebhookReceiver
from tests.support.bot import BotProcess, serve
from tests.support.devnet import DevnetProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.devnet

STATIC = Path(__file__).resolve().parents[3] / "tenant_bot" / "web" / "static"


def wait_job(api: httpx.Client, job_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline, job = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        job = api.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_a_bot_imports_no_standard_library_module_after_it_drops_to_its_user(
    devnet_factory: Any, tmp_path: Path
) -> None:
    dn: DevnetProcess = devnet_factory(seed=29, speed=1.0)
    bot = BotProcess(dn, tmp_path / "bot")
    bot.init()
    bot.fund(usdc_solana="4000", usdc_hl="4000", sol="3")
    late = tmp_path / "late.json"
    served = serve(
        bot,
        module="tests.support.late_imports",
        BASIS_TEST_LATE_IMPORTS=str(late),
        BASIS_SSE_HEARTBEAT_SECONDS="0.5",
    )
    try:
        with served.client() as api, WebhookReceiver() as hook:
            for path in ("/", "/ready", "/metrics", "/api/v1/rates?leverage=3", "/api/v1/settings"):
                assert api.get(path).status_code == 200, path
            for path in (
                "/api/v1/settings/presets",
                "/api/v1/positions",
                "/api/v1/balances",
                "/api/v1/status",
            ):
                assert api.get(path).status_code == 200, path
            for series in ("funding", "apy", "pnl"):
                assert api.get(f"/api/v1/history?series={series}&hours=24").status_code == 200
            for asset in sorted(STATIC.iterdir()):
                assert api.get(f"/static/{asset.name}").status_code == 200, asset.name
            assert api.get("/no-such-page").status_code == 404
            assert httpx.get(served.url + "/api/v1/status", timeout=10).status_code == 401
            assert api.post("/api/v1/settings", json={"leverage": "9"}).status_code == 422
            assert api.post("/api/v1/settings", content=b"{not json").status_code == 422
            # A webhook named by host name (resolved, then checked, at every delivery) for fills.
            url = hook.url().replace("127.0.0.1", "localhost")
            r = api.post(
                "/api/v1/settings", json={"notifications": {"webhook_url": url, "events": ["fills"]}}
            )
            assert r.status_code == 200, r.text
            assert api.post("/api/v1/settings/presets/1/save").status_code == 200
            assert api.post("/api/v1/positions/preview", json={"capital_usd": "1000"}).status_code == 200
            r = api.post("/api/v1/positions/open", json={"capital_usd": "1000", "asset": "SOL"})
            assert r.status_code == 202, r.text
            opened = wait_job(api, r.json()["id"])
            assert opened["outcome"] == "completed", opened
            with api.stream("GET", "/api/v1/events/stream?after=0", timeout=10) as stream:
                assert sum(1 for line, _ in zip(stream.iter_lines(), range(20), strict=False) if line) > 0
            assert api.get("/api/v1/events?after=0").status_code == 200
            assert api.post("/api/v1/control/pause").status_code == 200
            assert api.post("/api/v1/control/resume").status_code == 200
            # The venue failing for a few ticks: errors logged, tracebacks formatted.
            dn.admin("POST", "/faults", json={"venue": "hyperliquid", "error_rate": 1.0})
            wait_until(
                lambda: api.get("/ready").json()["venues"]["hyperliquid"].startswith("down"),
                timeout=30,
                every=0.1,
                what="a tick to meet the venue's errors",
            )
            assert api.get("/api/v1/balances").status_code in (200, 503)
            dn.admin("POST", "/faults", json={"venue": "hyperliquid", "clear": True})
            r = api.post(f"/api/v1/positions/{opened['position_id']}/close")
            assert r.status_code == 202, r.text
            assert wait_job(api, r.json()["id"])["outcome"] == "completed"
            assert api.post("/api/v1/control/emergency-stop").status_code == 200
            deadline = time.monotonic() + 30
            while not hook.accepted() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert hook.accepted(), "the fills webhook was delivered"
    finally:
        code = served.stop()
    assert code == 0, bot.logs()[-3000:]
    imported = json.loads(late.read_text())
    assert "h11" in imported or "httpcore" in imported  # the snapshot is real: libraries load lazily
    stdlib = sorted(m for m in imported if m.split(".")[0] in sys.stdlib_module_names)
    assert not stdlib, (
        f"the bot imported {stdlib} from the standard library after the point where it becomes its own "
        "user: add them to SERVE_IMPORTS (tenant_bot/main.py)"
    )
