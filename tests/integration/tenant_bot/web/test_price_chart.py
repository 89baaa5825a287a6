"""The dashboard's SOL price chart, drawn from the bot's candles, in a real Chromium against a real
`basis-bot serve` on a devnet of its own (its clock is moved, which the shared dashboard devnet must
not see)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.bot import funded_bot_on_own_devnet
from tests.support.browser import launch_chromium, require_chromium, screenshot

pytestmark = pytest.mark.devnet


def test_the_price_chart_draws_one_point_per_candle_of_the_venue(tmp_path: Path) -> None:
    require_chromium()
    with funded_bot_on_own_devnet(tmp_path, seed=41, usdc="1000") as served:
        served.bot.dn.advance(hours=3)  # three simulated hours of candles on the venue
        with launch_chromium() as browser:
            ctx = browser.new_context(
                viewport={"width": 1280, "height": 900}, extra_http_headers={"X-Basis-Token": served.token}
            )
            ctx.set_default_timeout(20_000)
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{served.url}/")
            page.wait_for_selector("body[data-ready='true']")
            page.click("[data-series='price']")  # the 24 h range: 15-minute candles
            page.wait_for_function(
                "(document.querySelector('#chart').getAttribute('aria-label') || '').startsWith('SOL price')"
                " && !!document.querySelector('#chart svg path.line')"
            )
            label = page.locator("#chart").get_attribute("aria-label") or ""
            drawn = page.locator("#chart svg path.line").get_attribute("d") or ""
            screenshot(page, "price-chart")
            ctx.close()
        assert errors == [], errors
        with served.client() as api:
            shown = api.get("/api/v1/candles", params={"interval": "15m"}).json()["candles"]  # kept: the same
        last_shown = shown[-1]["open_ms"]
        venue = served.bot.hl_info(
            {"type": "candleSnapshot", "req": {"coin": "SOL", "interval": "15m", "startTime": 0}}
        )
        venue_candles = [c for c in venue if c["t"] <= last_shown]
        assert len(venue_candles) >= 12  # three hours of quarter hours
        points = int(re.search(r"(\d+) points", label).group(1))  # type: ignore[union-attr]
        assert points == len(venue_candles) == len(shown)
        assert drawn.count("M") + drawn.count("L") == len(venue_candles)  # one vertex per candle
