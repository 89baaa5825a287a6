"""The dashboard in a real Chromium, against a real `basis-bot serve` on a real devnet.

One devnet, one funded bot and one browser for the module; each test opens its own browser
context (the page's token is an extra HTTP header, as the control plane's proxy would add it) and
saves a full-page screenshot of each step under test-output/screenshots/.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support.bot import BotProcess, ServedBot, serve
from tests.support.browser import launch_chromium, require_chromium, screenshot
from tests.support.devnet import DevnetProcess, start_devnet

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.devnet

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 20_000
JOB_TIMEOUT_MS = 45_000


@dataclass
class Dashboard:
    served: ServedBot

    @property
    def url(self) -> str:
        return self.served.url

    @property
    def token(self) -> str:
        return self.served.token

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method, f"{self.url}/api/v1/{path}", headers=self.served.headers, timeout=15, **kwargs
        )


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    require_chromium()  # skip (or fail under BASIS_REQUIRE_BROWSER=1) before starting anything
    with launch_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def dashboard(chromium: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    dn: DevnetProcess = start_devnet(seed=23, speed=1.0)
    served: ServedBot | None = None
    try:
        bot = BotProcess(dn, tmp_path_factory.mktemp("dashboard") / "bot")
        bot.init()
        bot.fund(usdc_solana="3000", usdc_hl="3000", sol="2")
        served = serve(bot, BASIS_API_TOKEN=secrets.token_urlsafe(24))
        yield Dashboard(served)
    finally:
        if served is not None:
            served.stop(timeout=30)
        dn.stop()


@pytest.fixture
def context(chromium: Browser, dashboard: Dashboard) -> Iterator[BrowserContext]:
    ctx = chromium.new_context(viewport=DESKTOP, extra_http_headers={"X-Basis-Token": dashboard.token})
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


def _open_page(ctx: BrowserContext, dashboard: Dashboard) -> tuple[Page, list[str]]:
    """The page, loaded, and the list its uncaught script errors go to (checked at the end)."""
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{dashboard.url}/")
    page.wait_for_selector("body[data-ready='true']")
    assert errors == [], errors
    return page, errors


def _percent(text: str) -> float:
    match = re.search(r"-?\d+(?:\.\d+)?", text.replace(",", ""))
    assert match, f"no number in {text!r}"
    return float(match.group())


def _top(page: Page) -> None:
    page.evaluate("window.scrollTo(0, 0)")


def test_page_loads_and_the_leverage_slider_moves_the_apy(
    context: BrowserContext, dashboard: Dashboard
) -> None:
    page, errors = _open_page(context, dashboard)
    best = page.locator("#best-net")
    page.wait_for_function("document.querySelector('#best-net').textContent.includes('%')")
    # The decomposition adds up to the net figure (to the rounding of two decimals).
    parts = [
        _percent(page.locator(f"#decomp-body [data-c='{k}']").inner_text())
        for k in ("funding", "staking", "supply", "borrow", "fees")
    ]
    net = _percent(page.locator(".decomp [data-c='net']").inner_text())
    assert abs(sum(parts) - net) < 0.05, (parts, net)
    assert page.locator("#markets-body tr").count() >= 1
    screenshot(page, "01-home-desktop")

    # Keyboard: the slider takes focus and Home / End move it to 2x / 4x.
    slider = page.locator("#leverage")
    slider.focus()
    page.keyboard.press("Home")
    page.wait_for_function("document.querySelector('#leverage-out').textContent === '2.0x'")
    page.wait_for_function("document.querySelector('#best-label').textContent.includes('2.0x')")
    at_2x = best.inner_text()
    page.keyboard.press("End")
    page.wait_for_function("document.querySelector('#leverage-out').textContent === '4.0x'")
    page.wait_for_function(
        "(before) => document.querySelector('#best-net').textContent !== before", arg=at_2x
    )
    at_4x = best.inner_text()
    assert at_2x != at_4x
    # The bot's own figures (not only the page's instant estimate) arrive for 4x.
    rates = dashboard.api("GET", "rates", params={"leverage": "4"}).json()
    expected = f"{float(rates['best']['net_apy']) * 100:.2f}%"
    page.wait_for_function("(t) => document.querySelector('#best-net').textContent === t", arg=expected)
    # A step of 0.1 with the arrow keys.
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("document.querySelector('#leverage-out').textContent === '3.9x'")
    screenshot(page, "02-home-slider-4x")
    assert errors == []


def test_open_a_position_then_close_it(context: BrowserContext, dashboard: Dashboard) -> None:
    page, errors = _open_page(context, dashboard)
    open_button = page.locator("#btn-open")
    page.wait_for_function("!document.querySelector('#btn-open').disabled")
    dialog = page.locator("#dlg-open")

    # Escape closes the dialog and gives the focus back to the button.
    open_button.click()
    assert dialog.is_visible()
    page.keyboard.press("Escape")
    page.wait_for_function("!document.querySelector('#dlg-open').open")
    assert page.evaluate("document.activeElement.id") == "btn-open"

    open_button.click()
    # Tab stays inside the modal dialog.
    for _ in range(12):
        page.keyboard.press("Tab")
        assert page.evaluate("document.querySelector('#dlg-open').contains(document.activeElement)")
    page.locator("#o-capital").fill("1000")
    page.locator("#o-leverage").fill("3")
    page.wait_for_function("document.querySelector('#pv-net').textContent.includes('%')")
    page.wait_for_function("!document.querySelector('#open-confirm').disabled")
    notional = page.locator("#pv-long [data-k='notional']").inner_text()
    assert notional.startswith("$") and _percent(notional.replace("$", "")) > 0
    screenshot(page, "03-open-dialog-preview")

    page.locator("#open-confirm").click()
    # The job runs to the end: the dialog closes on success, the position is listed, a toast says so.
    page.wait_for_function("!document.querySelector('#dlg-open').open", timeout=JOB_TIMEOUT_MS)
    rows = page.locator("#positions-open > li")
    rows.first.wait_for(timeout=JOB_TIMEOUT_MS)
    assert rows.count() == 1
    page.locator(".toast[data-kind='position.opened']").first.wait_for(timeout=JOB_TIMEOUT_MS)
    row = rows.first
    health = row.locator(".health")
    # A fresh 3x position is healthy (its figures are checked against the thresholds in
    # tests/integration/tenant_bot/api/test_api_positions.py): the page shows exactly that.
    assert dashboard.api("GET", "positions").json()["positions"][0]["health"] == "ok"
    assert health.get_attribute("data-health") == "ok"
    # Not by colour alone: the state is written out too.
    assert health.locator(".label").inner_text() == "Healthy"
    assert "$" in row.locator("[data-v='pnl']").inner_text()
    # The PnL split shows on hover.
    row.locator(".pnl-total").hover()
    assert row.locator(".pnl-split").is_visible()
    assert dashboard.api("GET", "positions").json()["positions"][0]["status"] == "open"
    _top(page)
    screenshot(page, "04-position-opened")

    # Close, with a confirmation first.
    row.locator("[data-action='close']").click()
    confirm = page.locator("#dlg-confirm")
    assert confirm.is_visible()
    assert "Close" in page.locator("#dlg-confirm-text").inner_text()
    screenshot(page, "05-close-confirmation")
    page.locator("#confirm-ok").click()
    page.wait_for_function(
        "!document.querySelector('#dlg-confirm').open"
        " || document.querySelector('#dlg-confirm-error').textContent !== ''"
    )
    assert page.locator("#dlg-confirm-error").inner_text() == ""
    page.wait_for_function(
        "document.querySelectorAll('#positions-open > li').length === 0", timeout=JOB_TIMEOUT_MS
    )
    assert page.locator("#positions-empty").is_visible()
    assert page.locator("#positions-closed > li").count() == 1
    page.locator(".toast[data-kind='position.closed']").first.wait_for(timeout=JOB_TIMEOUT_MS)
    statuses = [p["status"] for p in dashboard.api("GET", "positions").json()["positions"]]
    assert "open" not in statuses
    _top(page)
    screenshot(page, "06-position-closed")
    assert errors == []


def test_settings_show_the_message_of_an_invalid_field(context: BrowserContext, dashboard: Dashboard) -> None:
    page, errors = _open_page(context, dashboard)
    page.locator("#tab-settings").click()
    assert page.locator("#panel-settings").is_visible()
    assert not page.locator("#panel-home").is_visible()
    page.locator("#presets > li").nth(2).wait_for()
    leverage = page.locator("#s-leverage")
    assert leverage.input_value() != ""
    leverage.fill("9")
    page.locator("#settings-save").click()
    message = page.locator("#e-leverage")
    page.wait_for_function("document.querySelector('#e-leverage').textContent.trim() !== ''")
    assert "lever" in message.inner_text().lower() or "4" in message.inner_text()
    assert leverage.get_attribute("aria-invalid") == "true"
    # Nothing was stored.
    assert dashboard.api("GET", "settings").json()["leverage"] != "9"
    _top(page)
    screenshot(page, "07-settings-invalid")

    # A valid change is saved and shown back (a percentage field goes to the bot as a fraction).
    leverage.fill("2.5")
    page.locator("#s-min_entry_net_apy").fill("7.5")
    page.locator("#settings-save").click()
    page.wait_for_function("document.querySelector('#e-leverage').textContent.trim() === ''")
    page.wait_for_function("document.querySelector('#settings-state').textContent.startsWith('Saved')")
    saved = dashboard.api("GET", "settings").json()
    assert float(saved["leverage"]) == 2.5
    assert float(saved["min_entry_net_apy"]) == 0.075
    dashboard.api("POST", "settings/reset")
    assert errors == []


def test_a_phone_shows_tabs_and_switches_between_them(chromium: Browser, dashboard: Dashboard) -> None:
    ctx = chromium.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        extra_http_headers={"X-Basis-Token": dashboard.token},
    )
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        page, errors = _open_page(ctx, dashboard)
        tabs = page.get_by_role("tab")
        assert [t.inner_text() for t in tabs.all()] == ["Home", "Positions", "Settings"]
        for name in ("Home", "Positions", "Settings"):
            assert page.get_by_role("tab", name=name).is_visible()
        assert page.locator("#panel-home").is_visible()
        assert not page.locator("#panel-positions").is_visible()
        # One column: the panel fills the width of the phone.
        box = page.locator("#panel-home").bounding_box()
        assert box is not None and box["width"] > 300
        screenshot(page, "08-phone-home")

        page.get_by_role("tab", name="Positions").click()
        assert page.locator("#panel-positions").is_visible()
        assert not page.locator("#panel-home").is_visible()
        assert page.get_by_role("tab", name="Positions").get_attribute("aria-selected") == "true"
        screenshot(page, "09-phone-positions")

        # The arrow keys move between tabs.
        page.get_by_role("tab", name="Positions").focus()
        page.keyboard.press("ArrowRight")
        assert page.locator("#panel-settings").is_visible()
        assert page.evaluate("document.activeElement.id") == "tab-settings"
        screenshot(page, "10-phone-settings")
        assert errors == []
    finally:
        ctx.close()


def test_pause_resume_and_a_cancelled_emergency_stop(context: BrowserContext, dashboard: Dashboard) -> None:
    page, errors = _open_page(context, dashboard)
    state = page.locator("#trading-state .state-text")
    page.wait_for_function("document.querySelector('#trading-state .state-text').textContent === 'Active'")
    page.locator("#btn-pause").click()
    page.wait_for_function(
        "document.querySelector('#trading-state .state-text').textContent.startsWith('Paused')"
    )
    assert page.locator("#btn-open").is_disabled()
    assert "paused" in page.locator("#open-blocked").inner_text().lower()
    assert dashboard.api("GET", "status").json()["paused"] is True
    _top(page)
    screenshot(page, "11-paused")
    page.locator("#btn-resume").click()
    page.wait_for_function("document.querySelector('#trading-state .state-text').textContent === 'Active'")
    assert dashboard.api("GET", "status").json()["paused"] is False

    # The emergency stop asks first; Escape (or Cancel) leaves everything as it was.
    page.locator("#btn-estop").click()
    assert page.locator("#dlg-confirm").is_visible()
    assert page.evaluate("document.activeElement.textContent") == "Cancel"  # the safe choice has the focus
    screenshot(page, "12-emergency-stop-confirmation")
    page.keyboard.press("Escape")
    page.wait_for_function("!document.querySelector('#dlg-confirm').open")
    assert state.inner_text() == "Active"
    assert dashboard.api("GET", "status").json()["paused"] is False
    assert errors == []


def test_the_event_stream_is_reopened_after_an_error_answer(
    context: BrowserContext, dashboard: Dashboard
) -> None:
    """A proxy answering 502 makes EventSource give up for good; the page opens a new one itself."""
    from playwright.sync_api import Route

    calls: list[str] = []

    def stream(route: Route) -> None:
        calls.append(route.request.url)
        if len(calls) == 1:
            route.fulfill(status=502, body="bad gateway")
        else:
            route.continue_()

    context.route("**/api/v1/events/stream*", stream)
    page, errors = _open_page(context, dashboard)
    page.wait_for_function("document.querySelector('#stream-state .live-text').textContent === 'Live'")
    assert len(calls) >= 2
    # Live again: an event made now reaches the page as a toast.
    dashboard.api("POST", "control/pause", json={"reason": "stream check"})
    page.locator(".toast[data-kind='control.paused']").first.wait_for()
    dashboard.api("POST", "control/resume")
    assert errors == []


def test_the_page_formats_numbers_and_converts_percentages_exactly(
    context: BrowserContext, dashboard: Dashboard
) -> None:
    page, errors = _open_page(context, dashboard)
    got = page.evaluate(
        """async () => {
            const f = await import(new URL('static/format.js', location.href).href);
            return {
                shift: [['5', -2], ['0.05', 2], ['12.5', -2], ['-3', -2], ['0.1', -2], ['abc', -2]]
                    .map(([t, p]) => f.shiftDecimal(t, p)),
                money: [f.money('1234.5'), f.signedMoney('-0.004'), f.signedMoney('2'),
                        f.signedMoney('-1.236')],
                pct: [f.pct('0.123456'), f.signedPct('-0.0045'), f.pct(null)],
            };
        }"""
    )
    assert got["shift"] == ["0.05", "5", "0.125", "-0.03", "0.001", None]
    assert got["money"] == ["$1,234.50", "$0.00", "+$2.00", "-$1.24"]
    assert got["pct"] == ["12.35%", "-0.45%", "—"]
    assert errors == []
