"""The dashboard's "Over the recorded window" card in a real Chromium, on a real `basis-bot serve`
that has not been funded yet: it shows the figures of the bot's own backtest of its settings, the
chart, and follows the leverage slider."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support.bot import BotProcess, ServedBot, serve
from tests.support.browser import launch_chromium, require_chromium, screenshot
from tests.support.devnet import start_devnet

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.devnet

TIMEOUT_MS = 120_000  # a first run of a setting takes a few seconds, more on a busy machine


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    require_chromium()  # skip (or fail under BASIS_REQUIRE_BROWSER=1) before starting anything
    with launch_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def unfunded(chromium: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedBot]:
    dn = start_devnet(seed=29, speed=1.0)
    served: ServedBot | None = None
    try:
        bot = BotProcess(dn, tmp_path_factory.mktemp("backtest-panel") / "bot")
        bot.init()  # no funds: what a user sees before deciding to fund it
        served = serve(bot, BASIS_API_TOKEN=secrets.token_urlsafe(24))
        yield served
    finally:
        if served is not None:
            served.stop(timeout=30)
        dn.stop()


def _backtest(served: ServedBot, **params: str) -> dict[str, Any]:
    r = httpx.get(f"{served.url}/api/v1/backtest", params=params, headers=served.headers, timeout=15)
    assert r.status_code == 200, r.text  # the page asked first and waited for it: it is kept
    return r.json()  # type: ignore[no-any-return]


def _signed_money(value: str) -> str:
    n = Decimal(value)
    if abs(n) < Decimal("0.005"):
        return "$0.00"
    return f"{'+' if n > 0 else '-'}${abs(n):,.2f}"


def _card(page: Page) -> dict[str, str]:
    return {
        "net": page.locator("#backtest-net").inner_text(),
        "funding": page.locator("#backtest [data-w='funding']").inner_text(),
        "fees": page.locator("#backtest [data-w='fees']").inner_text(),
        "total": page.locator("#backtest [data-w='net']").inner_text(),
        "drawdown": page.locator("#backtest [data-b='drawdown']").inner_text(),
        "liquidations": page.locator("#backtest [data-b='liquidations']").inner_text(),
    }


def _expected(run: dict[str, Any]) -> dict[str, str]:
    return {
        "net": f"{float(run['annualised_return']) * 100:.2f}%",
        "funding": _signed_money(run["waterfall_usd"]["funding"]),
        "fees": _signed_money(run["waterfall_usd"]["fees"]),
        "total": _signed_money(run["net_usd"]),
        "drawdown": f"{float(run['max_drawdown']) * 100:.2f}%",
        "liquidations": str(run["liquidations"]),
    }


def test_the_card_shows_the_backtest_of_the_settings_and_follows_the_slider(
    chromium: Browser, unfunded: ServedBot
) -> None:
    ctx = chromium.new_context(
        viewport={"width": 1280, "height": 900}, extra_http_headers={"X-Basis-Token": unfunded.token}
    )
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{unfunded.url}/")
        # While the first run computes, the card says so.
        page.wait_for_function(
            "document.querySelector('#backtest-state').textContent.includes('Computing')"
            " || document.querySelector('#backtest').getAttribute('aria-busy') === 'false'"
        )
        page.wait_for_function("document.querySelector('#backtest').getAttribute('aria-busy') === 'false'")
        run = _backtest(unfunded)
        assert _card(page) == _expected(run)
        assert page.locator("#backtest-window").inner_text() == "2024-12-31 to 2025-08-31"
        # The chart is the bot's SVG, loaded.
        page.wait_for_function(
            "document.querySelector('#backtest-chart').complete"
            " && document.querySelector('#backtest-chart').naturalWidth > 0"
        )
        assert page.locator("#backtest-chart").is_visible()
        screenshot(page, "backtest-01-settings-in-force")

        # The slider to 4x: the card asks for 4x and shows its own, different figures.
        page.locator("#leverage").focus()
        page.keyboard.press("End")
        page.wait_for_function(
            "document.querySelector('#backtest-state').textContent.includes('at 4.0x')"
            " && document.querySelector('#backtest').getAttribute('aria-busy') === 'false'"
        )
        at_4x = _backtest(unfunded, leverage="4.0")
        assert _card(page) == _expected(at_4x)
        assert at_4x["annualised_return"] != run["annualised_return"]
        screenshot(page, "backtest-02-at-4x")

        # Saving other settings on the page asks again, for the settings now in force.
        page.locator("#tab-settings").click()
        page.locator("#s-entry_capital_usd").fill("2500")
        page.locator("#settings-save").click()
        page.wait_for_function("document.querySelector('#settings-state').textContent.startsWith('Saved')")
        page.locator("#tab-home").click()
        page.wait_for_function(
            "document.querySelector('#backtest-state').textContent.startsWith('$2,500.00 at')"
            " && document.querySelector('#backtest').getAttribute('aria-busy') === 'false'"
        )
        saved = _backtest(unfunded)
        assert saved["settings"]["capital_usd"] == "2500"
        assert _card(page) == _expected(saved)
        assert errors == [], errors
    finally:
        ctx.close()
