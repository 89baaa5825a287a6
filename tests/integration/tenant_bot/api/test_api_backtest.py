"""`GET /api/v1/backtest` of a real `basis-bot serve`: what the settings would have done over the
recorded window the bot package ships, computed off the event loop and kept per settings."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shared.market_history import load_history
from tenant_bot.backtest.run import Backtest, BacktestConfig
from tests.integration.tenant_bot.api.conftest import wait_for
from tests.support.history import HISTORY_DIR

pytestmark = pytest.mark.devnet


def _finished(api: httpx.Client, path: str = "/api/v1/backtest", **params: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        r = api.get(path, params=params)
        assert r.status_code in (200, 202), r.text
        return r.json() if r.status_code == 200 else None

    return wait_for(done, timeout=120, every=0.5)


def test_first_ask_computes_then_the_figures_of_the_settings_in_force(api: httpx.Client) -> None:
    r = api.get("/api/v1/backtest", params={"leverage": "2.5"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["state"] == "computing" and r.headers["retry-after"] == "2"
    assert body["settings"]["leverage"] == "2.5"
    assert Decimal(0) <= Decimal(body["progress"]) <= 1
    assert "running" in body["detail"]
    # While it computes, the bot still answers at once: the run is off the event loop.
    t0 = time.monotonic()
    assert api.get("/api/v1/settings").status_code == 200
    assert time.monotonic() - t0 < 2

    run = _finished(api, leverage="2.5")
    settings = api.get("/api/v1/settings").json()
    assert run["state"] == "done"
    assert run["settings"] == {
        "leverage": "2.5",
        "capital_usd": str(Decimal(settings["entry_capital_usd"])),
        "min_entry_net_apy": str(Decimal(settings["min_entry_net_apy"])),
    }
    assert run["start"].startswith("2024-12-31") and run["end"].startswith("2025-08-31")
    waterfall = {k: Decimal(v) for k, v in run["waterfall_usd"].items()}
    assert set(waterfall) == {"funding", "supply", "borrow", "fees", "bridge_and_gas", "liquidation", "price"}
    assert sum(waterfall.values()) == Decimal(run["net_usd"])  # the waterfall explains the result
    assert waterfall["funding"] > 0 and waterfall["fees"] < 0
    for key in ("annualised_return", "max_drawdown", "days_out_of_market"):
        Decimal(run[key])
    assert isinstance(run["liquidations"], int) and run["counts"]["opens"] >= 1
    assert any(e["kind"] == "open" for e in run["events"])
    assert "series" not in run and "past results" in run["scope"]

    # The same figures as the backtest run here over the same record (the bot's own code, not a copy).
    config = BacktestConfig(
        leverage=Decimal("2.5"),
        capital_usd=Decimal(settings["entry_capital_usd"]),
        min_entry_net_apy=Decimal(settings["min_entry_net_apy"]),
    )
    local = Backtest(load_history(HISTORY_DIR), config).run()
    assert Decimal(run["final_equity_usd"]) == local.final_equity

    # Kept: the second ask answers at once, and the chart is there.
    assert api.get("/api/v1/backtest", params={"leverage": "2.5"}).status_code == 200
    chart = api.get("/api/v1/backtest.svg", params={"leverage": "2.5"})
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.text.startswith("<svg") and "2.5" in chart.text


def test_the_default_is_the_leverage_in_force(api: httpx.Client) -> None:
    leverage = api.get("/api/v1/settings").json()["leverage"]
    r = api.get("/api/v1/backtest")
    assert r.status_code in (200, 202), r.text
    assert Decimal(r.json()["settings"]["leverage"]) == Decimal(leverage)


@pytest.mark.parametrize(
    ("params", "sentence"),
    [
        ({"leverage": "7"}, "leverage must be between 2x and 4x, got 7x"),
        ({"leverage": "1.5"}, "leverage must be between 2x and 4x"),
        ({"leverage": "three"}, "leverage must be a number, got 'three'"),
        ({"leverage": "NaN"}, "leverage must be a finite number"),
        ({"capital_usd": "0"}, "capital_usd must be above 0"),
        ({"capital_usd": "-5"}, "capital_usd must be above 0"),
        ({"capital_usd": "1e30"}, "capital_usd must be above 0 and at most"),
    ],
)
def test_a_bad_setting_is_400_with_a_sentence(
    api: httpx.Client, params: dict[str, str], sentence: str
) -> None:
    for path in ("/api/v1/backtest", "/api/v1/backtest.svg"):
        r = api.get(path, params=params)
        assert r.status_code == 400, r.text
        assert sentence in r.json()["detail"]
