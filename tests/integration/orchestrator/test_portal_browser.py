"""The portal in a real Chromium: sign-in, deposit, the user's own dashboard, sign-out; and isolation.

One control plane (the real app in a uvicorn server) on the session's devnet, with the `process`
runtime starting a real bot per user. Each test signs up users of its own (random emails) in
browser contexts of its own, and saves screenshots under test-output/screenshots/portal-*.png.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support.browser import launch_chromium, require_chromium, screenshot
from tests.support.devnet import DevnetProcess
from tests.support.portal import InProcessControlPlane, latest_code, mailbox
from tests.support.privy_page import privy_access_token
from tests.support.qr import decode_qr
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from playwright.sync_api import APIResponse, Browser, BrowserContext, FrameLocator, Page, Request

pytestmark = pytest.mark.devnet

TIMEOUT_MS = 20_000
BOT_START_MS = 90_000  # a cold bot start on a busy 2-core machine
JOB_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    require_chromium()  # skip (or fail under BASIS_REQUIRE_BROWSER=1) before starting anything
    with launch_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def cp(
    chromium: Browser, devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessControlPlane]:
    plane = InProcessControlPlane(devnet, tmp_path_factory.mktemp("portal"))
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture
def context(chromium: Browser, cp: InProcessControlPlane) -> Iterator[BrowserContext]:
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


@dataclass
class Opened:
    page: Page
    errors: list[str]


def _open(ctx: BrowserContext, cp: InProcessControlPlane) -> Opened:
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(cp.url + "/")
    page.wait_for_selector("body[data-ready='true']")
    return Opened(page, errors)


def _email(tag: str) -> str:
    return f"portal-{tag}-{secrets.token_hex(4)}@example.com"


def _paste(page: Page, selector: str, text: str) -> None:
    """A real paste event carrying `text`, on the element (as a person's Ctrl+V delivers it)."""
    page.locator(selector).focus()
    page.evaluate(
        """([sel, text]) => {
            const dt = new DataTransfer();
            dt.setData('text/plain', text);
            document.querySelector(sel).dispatchEvent(
                new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
        }""",
        [selector, text],
    )


def _connect_and_send_code(page: Page, email: str) -> None:
    page.locator("#btn-connect").click()
    page.locator("#dlg-email").wait_for(state="visible")
    page.locator("#email").fill(email)
    page.locator("#email-submit").click()
    page.locator("#dlg-code").wait_for(state="visible")


def _fetch(ctx: BrowserContext, url: str, method: str = "GET", **kwargs: Any) -> APIResponse:
    """A request of the context's API client, sent once more if the server closed the reused
    keep-alive connection as it left (uvicorn closes one idle for 5 s; the request never reached
    the application). Chromium retries such a request itself; Playwright's API client does not."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        return ctx.request.fetch(url, method=method, **kwargs)
    except PlaywrightError as exc:
        if "ECONNRESET" not in str(exc) and "socket hang up" not in str(exc):
            raise
        return ctx.request.fetch(url, method=method, **kwargs)


def _sign_in_api(ctx: BrowserContext, cp: InProcessControlPlane, email: str) -> dict[str, Any]:
    """Sign a browser context in as the page does (the cookies land in the context): the code
    through the devnet's Privy from the page's origin, then the access token to the control plane."""
    token = _fetch(ctx, cp.url + "/api/v1/auth/csrf").json()["csrf_token"]
    access_token = privy_access_token(cp.devnet, email, cp.url)
    verified = _fetch(
        ctx,
        method="POST",
        url=cp.url + "/api/v1/auth/privy/session",
        data={"access_token": access_token},
        headers={"X-CSRF-Token": token},
    )
    assert verified.status == 200, verified.text()
    return verified.json()  # type: ignore[no-any-return]


def _me(ctx: BrowserContext, cp: InProcessControlPlane) -> dict[str, Any]:
    r = _fetch(ctx, cp.url + "/api/v1/portal/me")
    assert r.status == 200, r.text()
    return r.json()  # type: ignore[no-any-return]


def _wait_running(cp: InProcessControlPlane, user_id: str, timeout: float = BOT_START_MS / 1000) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tenant = cp.tenants.of_user(user_id)
        if tenant is not None and tenant.status == "running":
            return
        time.sleep(0.2)
    raise AssertionError(f"the bot of {user_id} did not start")


def _dashboard(page: Page) -> FrameLocator:
    """The user's dashboard in the portal's iframe, once the bot page has loaded its data."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    frame = page.frame_locator("#dashboard")
    try:
        page.locator("#dashboard").wait_for(state="visible", timeout=BOT_START_MS)
        frame.locator("body[data-ready='true']").wait_for(timeout=BOT_START_MS)
    except PlaywrightTimeout:
        shot = screenshot(page, "portal-failed-dashboard")
        inner = page.evaluate(
            "() => { const f = document.querySelector('#dashboard');"
            " return [f.getAttribute('src'), f.hidden, f.contentDocument &&"
            " f.contentDocument.body && f.contentDocument.body.innerText.slice(0, 500),"
            " document.body.dataset.state, document.querySelector('#progress-text').textContent]; }"
        )
        raise AssertionError(f"the dashboard did not load: {inner} (screenshot {shot})") from None
    return frame


def _qr_text(page: Page, selector: str) -> str:
    img = page.locator(selector)
    page.wait_for_function(
        "(sel) => { const i = document.querySelector(sel); return i.complete && i.naturalWidth > 0; }",
        arg=selector,
    )
    img.scroll_into_view_if_needed()
    texts = decode_qr(img.screenshot())
    assert len(texts) == 1, f"{selector}: decoded {texts}"
    return texts[0]


# --------------------------------------------------------------------------------------------- tests


def test_a_new_user_signs_up_funds_opens_a_position_and_signs_out(
    context: BrowserContext, cp: InProcessControlPlane, devnet: DevnetProcess
) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=cp.url)
    opened = _open(context, cp)
    page = opened.page
    assert page.locator("#btn-connect").is_visible()
    assert page.locator("header .brand-name").inner_text() == "Basis"
    screenshot(page, "portal-01-welcome")

    # The email dialog checks the address inline.
    page.locator("#btn-connect").click()
    page.locator("#email").fill("not-an-email")
    page.locator("#email-submit").click()
    assert "name@example.com" in page.locator("#email-error").inner_text()
    assert page.locator("#email").get_attribute("aria-invalid") == "true"
    screenshot(page, "portal-02-email-invalid")

    email = _email("new")
    page.locator("#email").fill(email)
    page.locator("#email-submit").click()
    page.locator("#dlg-code").wait_for(state="visible")
    assert page.locator("#code-email").inner_text() == email
    # "Resend code" waits out its cooldown.
    assert page.locator("#btn-resend").is_disabled()
    assert re.match(r"Resend code in \d+ s", page.locator("#btn-resend").inner_text())
    screenshot(page, "portal-03-code")

    # The whole code pasted into the first box fills all six and signs in.
    code = latest_code(devnet, email)
    _paste(page, "#code-boxes .digit[data-i='0']", code)
    deposit = page.locator("#dlg-deposit")
    deposit.wait_for(state="visible", timeout=TIMEOUT_MS)
    me = _me(context, cp)
    solana, evm = me["solana_address"], me["evm_address"]
    assert solana and evm.startswith("0x")
    # Each address in full, and a QR code that decodes to exactly that address.
    assert page.locator("#addr-solana").inner_text() == solana
    assert page.locator("#addr-evm").inner_text() == evm
    assert _qr_text(page, "#qr-solana") == solana
    assert _qr_text(page, "#qr-evm") == evm
    # Copy puts the address on the clipboard.
    page.locator("#dlg-deposit [data-copy='addr-solana']").click()
    assert page.evaluate("navigator.clipboard.readText()") == solana
    screenshot(page, "portal-04-deposit")
    # What each wallet needs at least, in words; on the devnet, test funds at a press.
    assert "at least 0.01 SOL" in page.locator("#min-solana").inner_text()
    assert "At least 5 USDC" in page.locator("#min-evm").inner_text()
    page.locator("#btn-test-funds").click()
    page.locator("#test-funds-status", has_text="Sent").wait_for()
    assert "1000 USDC on Solana" in page.locator("#test-funds-status").inner_text()
    assert "1000 USDC on Arbitrum" in page.locator("#test-funds-status").inner_text()
    screenshot(page, "portal-04b-test-funds")
    # The header shows the signed-in controls.
    assert page.locator("#btn-deposit").is_visible() and page.locator("#btn-menu").is_visible()
    assert not page.locator("#btn-connect").is_visible()

    # Funds from the devnet faucet to the two addresses the dialog shows.
    devnet.faucet("solana", "SOL", solana, "2")
    devnet.faucet("solana", "USDC", solana, "3000")
    devnet.faucet("arbitrum", "ETH", evm, "0.05")
    devnet.faucet("hyperliquid", "USDC", evm, "3000")

    page.locator("#btn-go-dashboard").click()
    frame = _dashboard(page)
    assert not deposit.is_visible()
    assert page.locator("#bot-pill").get_attribute("data-status") == "running"
    screenshot(page, "portal-05-dashboard")

    # Open a position from the dashboard: the job runs and a live toast arrives over the
    # event stream, through the proxy.
    frame.locator("#btn-open:not([disabled])").wait_for(timeout=JOB_TIMEOUT_MS)
    frame.locator("#btn-open").click()
    frame.locator("#o-capital").fill("1000")
    frame.locator("#o-leverage").fill("3")
    frame.locator("#open-confirm:not([disabled])").wait_for()
    frame.locator("#open-confirm").click()
    frame.locator("#positions-open > li").first.wait_for(timeout=JOB_TIMEOUT_MS)
    frame.locator(".toast[data-kind='position.opened']").first.wait_for(timeout=JOB_TIMEOUT_MS)
    screenshot(page, "portal-06-position-opened")
    # The hedge holds: a few ticks later the bot still sees both legs and trades on.
    ticks: set[str] = set()

    def ticked_on() -> bool:
        ticks.add(_fetch(context, cp.url + "/app/api/v1/status").json()["last_tick_at"])
        return len(ticks) > 4  # the tick seen first, and four after it

    wait_until(ticked_on, timeout=30, every=0.1, what="four more ticks")
    status = _fetch(context, cp.url + "/app/api/v1/status").json()
    assert status["trading_state"] != "halted", status.get("halt_reason")
    positions = _fetch(context, cp.url + "/app/api/v1/positions").json()["positions"]
    assert [p["status"] for p in positions] == ["open"]

    # The menu: profile shows the email and both addresses; settings opens the bot's settings.
    page.locator("#btn-menu").click()
    page.locator("#mi-profile").click()
    assert page.locator("#pf-email").inner_text() == email
    assert page.locator("#pf-solana").inner_text() == solana
    assert page.locator("#pf-evm").inner_text() == evm
    screenshot(page, "portal-07-profile")
    page.keyboard.press("Escape")
    page.locator("#btn-menu").click()
    page.locator("#mi-settings").click()
    frame.locator("#panel-settings").wait_for(state="visible")

    # An operator stops the bot while it holds the position: the user still sees it, read-only.
    page.keyboard.press("Escape")
    cp.stop_tenant(me["tenant"]["id"])
    page.locator("#stopped-positions").wait_for(state="visible", timeout=TIMEOUT_MS)
    assert "stopped by the operator" in page.locator("#progress-text").inner_text()
    assert not page.locator("#progress-error").is_visible()  # no empty error box
    rows = page.locator("#stopped-positions-rows tr")
    assert rows.count() == 1
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[0].endswith(" · 3x") and cells[2].endswith(" SOL") and cells[4] == "open", cells
    screenshot(page, "portal-07b-stopped-with-a-position")

    # Disconnect: the page shows Connect again and the old session is refused everywhere.
    cookies = context.cookies(cp.url)
    session = next(c for c in cookies if c["name"] == "basis_session")
    page.locator("#btn-menu").click()
    page.locator("#mi-disconnect").click()
    page.locator("#btn-connect").wait_for(state="visible")
    assert not page.locator("#dashboard").is_visible()
    screenshot(page, "portal-08-signed-out")
    assert _fetch(context, cp.url + "/app/api/v1/status").status == 401
    assert _fetch(context, cp.url + "/api/v1/portal/me").status == 401
    replay = httpx.get(cp.url + "/app/api/v1/status", cookies={"basis_session": session["value"]}, timeout=10)
    assert replay.status_code == 401
    page.goto(cp.url + "/app/")
    assert "Sign in" in page.content()
    page.goto(cp.url + "/")
    page.wait_for_selector("body[data-ready='true']")
    assert page.locator("#btn-connect").is_visible()
    assert opened.errors == []


def test_a_wrong_code_is_shown_inline_and_an_empty_account_gets_the_deposit_dialog(
    context: BrowserContext, cp: InProcessControlPlane, devnet: DevnetProcess
) -> None:
    opened = _open(context, cp)
    page = opened.page
    email = _email("wrong")
    _connect_and_send_code(page, email)
    code = latest_code(devnet, email)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    page.locator("#code-boxes .digit[data-i='0']").focus()
    page.keyboard.type(wrong, delay=20)  # typed one digit at a time; the sixth submits
    error = page.locator("#code-error")
    # A function predicate: the portal's CSP refuses `eval`, which a string expression needs.
    page.wait_for_function("() => document.querySelector('#code-error').textContent.trim() !== ''")
    assert "wrong or has expired" in error.inner_text()
    assert page.locator("#dlg-code").is_visible()
    assert page.locator("#code-boxes .digit[data-i='0']").input_value() == ""
    screenshot(page, "portal-09-wrong-code")

    # The right code, with "stay logged in": a new user sees the deposit dialog.
    page.locator("#remember").check()
    page.locator("#code-boxes .digit[data-i='0']").focus()
    page.keyboard.type(code, delay=20)
    page.locator("#dlg-deposit").wait_for(state="visible")
    session = next(c for c in context.cookies(cp.url) if c["name"] == "basis_session")
    assert session["expires"] - time.time() > 6 * 86400  # "stay logged in": 7 days
    assert session["httpOnly"]
    page.locator("#btn-go-dashboard").click()
    _dashboard(page)

    # Signing in again with nothing in the wallets shows the deposit dialog once more.
    page.locator("#btn-menu").click()
    page.locator("#mi-disconnect").click()
    page.locator("#btn-connect").wait_for(state="visible")
    seen = len(mailbox(devnet, email))
    _connect_and_send_code(page, email)
    again = latest_code(devnet, email, seen)
    _paste(page, "#code-boxes .digit[data-i='2']", again)  # pasted into any box
    page.locator("#dlg-deposit").wait_for(state="visible", timeout=BOT_START_MS)
    screenshot(page, "portal-10-existing-empty-deposit")
    assert opened.errors == []


def test_sign_in_runs_privys_own_sdk_in_the_page(
    context: BrowserContext, cp: InProcessControlPlane, devnet: DevnetProcess
) -> None:
    """The code is sent and checked by Privy's bundled browser SDK, from the page's origin, against
    Privy's auth API (the devnet's, which refuses other origins); the control plane gets only the
    access token. Nothing is loaded from anywhere but the control plane."""
    privy_url = devnet.url("privy")
    app_id = devnet.state()["privy"]["app_id"]
    seen: list[Request] = []
    context.on("request", lambda r: seen.append(r))
    opened = _open(context, cp)
    page = opened.page
    email = _email("sdk")
    _connect_and_send_code(page, email)
    code = latest_code(devnet, email)
    page.locator("#code-boxes .digit[data-i='0']").focus()
    page.keyboard.type(code, delay=20)
    page.locator("#dlg-deposit").wait_for(state="visible", timeout=BOT_START_MS)
    me = _fetch(context, cp.url + "/api/v1/portal/me")
    assert me.status == 200 and me.json()["email"] == email

    # All headers as sent on the wire (Origin included), read once the page is done.
    requests = [(r.method, r.url, r.all_headers()) for r in seen]

    def sent(method: str, url: str) -> list[dict[str, str]]:
        return [h for m, u, h in requests if m == method and u.split("?")[0] == url]

    for path in ("/api/v1/passwordless/init", "/api/v1/passwordless/authenticate"):
        calls = sent("POST", privy_url + path)
        assert len(calls) == 1, (path, [u for _, u, _ in requests])
        headers = calls[0]
        assert headers["origin"] == cp.url
        assert headers["privy-app-id"] == app_id
        assert headers["privy-client"].startswith("js-sdk-core:")
    assert len(sent("POST", cp.url + "/api/v1/auth/privy/session")) == 1
    assert not sent("POST", cp.url + "/api/v1/auth/privy/initiate")
    assert not sent("POST", cp.url + "/api/v1/auth/privy/verify")
    scripts = [u for m, u, _ in requests if u.endswith(".js")]
    assert cp.url + "/static/privy-sdk.js" in scripts
    assert all(u.startswith(cp.url + "/") for u in scripts), scripts
    elsewhere = [u for _, u, _ in requests if not u.startswith((cp.url + "/", privy_url + "/"))]
    assert elsewhere == []
    assert opened.errors == []


def test_an_existing_user_with_funds_goes_straight_to_the_dashboard(
    chromium: Browser, cp: InProcessControlPlane, devnet: DevnetProcess
) -> None:
    email = _email("funded")
    first = chromium.new_context()
    try:
        verified = _sign_in_api(first, cp, email)
        me = _me(first, cp)
        devnet.faucet("solana", "USDC", me["solana_address"], "50")
        devnet.faucet("solana", "SOL", me["solana_address"], "1")
        _wait_running(cp, verified["user_id"])
    finally:
        first.close()

    ctx = chromium.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        opened = _open(ctx, cp)
        page = opened.page
        page.evaluate("window.__depositOpened = false")
        page.evaluate(
            "new MutationObserver(() => { if (document.querySelector('#dlg-deposit').open)"
            " window.__depositOpened = true; }).observe(document.querySelector('#dlg-deposit'),"
            " {attributes: true})"
        )
        _connect_and_send_code(page, email)
        _paste(page, "#code-boxes .digit[data-i='0']", latest_code(devnet, email))
        _dashboard(page)
        assert page.evaluate("window.__depositOpened") is False
        screenshot(page, "portal-11-existing-funded")
        assert opened.errors == []
    finally:
        ctx.close()


def test_a_bot_that_fails_to_start_shows_its_error_and_a_retry(
    context: BrowserContext, cp: InProcessControlPlane, devnet: DevnetProcess
) -> None:
    """Never a spinner without end: the start's progress, then the failure and a way out."""
    env = cp.settings.bot_env
    good = env["BASIS_TICK_SECONDS"]
    env["BASIS_TICK_SECONDS"] = "-1"  # the bot refuses this setting and exits during start-up
    try:
        opened = _open(context, cp)
        page = opened.page
        email = _email("fail")
        _connect_and_send_code(page, email)
        _paste(page, "#code-boxes .digit[data-i='0']", latest_code(devnet, email))
        page.locator("#dlg-deposit").wait_for(state="visible")
        page.locator("#btn-go-dashboard").click()
        page.locator("#view-progress").wait_for(state="visible")
        page.locator("#progress-error").wait_for(state="visible", timeout=BOT_START_MS)
        assert page.locator("#progress-error-text").inner_text().strip() != ""
        assert page.locator("#btn-retry").is_visible()
        assert page.locator("#bot-pill").get_attribute("data-level") == "danger"
        screenshot(page, "portal-12-bot-failed")
    finally:
        env["BASIS_TICK_SECONDS"] = good
    page.locator("#btn-retry").click()
    _dashboard(page)
    assert page.locator("#bot-pill").get_attribute("data-status") == "running"
    assert opened.errors == []


def test_each_session_reaches_only_its_own_bot(chromium: Browser, cp: InProcessControlPlane) -> None:
    contexts = [chromium.new_context(viewport={"width": 1100, "height": 800}) for _ in range(2)]
    try:
        users = []
        for ctx in contexts:
            ctx.set_default_timeout(TIMEOUT_MS)
            verified = _sign_in_api(ctx, cp, _email("iso"))
            users.append(verified["user_id"])
        for user_id in users:
            _wait_running(cp, user_id)
        a, b = contexts
        me_a, me_b = _me(a, cp), _me(b, cp)
        assert me_a["user_id"] != me_b["user_id"]
        assert {me_a["solana_address"], me_a["evm_address"]}.isdisjoint(
            {me_b["solana_address"], me_b["evm_address"]}
        )

        frames: list[FrameLocator] = []
        pages: list[Opened] = []
        for ctx, me, user_id in ((a, me_a, users[0]), (b, me_b, users[1])):
            # The page shows this user's own addresses...
            opened = _open(ctx, cp)
            pages.append(opened)
            page = opened.page
            frame = _dashboard(page)
            frames.append(frame)
            page.locator("#btn-deposit").click()
            assert page.locator("#addr-solana").inner_text() == me["solana_address"]
            assert page.locator("#addr-evm").inner_text() == me["evm_address"]
            page.keyboard.press("Escape")
            # ...and the dashboard through /app/ is this user's own bot: the same wallets its bot
            # reports when asked directly, and none of the other bot's.
            with cp.bot(user_id) as bot:
                direct = bot.get("/api/v1/balances").json()
            proxied = _fetch(ctx, cp.url + "/app/api/v1/balances").json()
            assert proxied["solana"]["address"] == direct["solana"]["address"] == me["solana_address"]
            assert proxied["arbitrum"]["address"] == direct["arbitrum"]["address"] == me["evm_address"]
            # The dashboard's wallet buttons carry the full address of the bot it talks to.
            frame.locator(
                f"#wallets [data-w='solana'] [data-address='{direct['solana']['address']}']"
            ).wait_for(state="attached", timeout=JOB_TIMEOUT_MS)
            screenshot(page, f"portal-13-isolation-{user_id}")

        with cp.bot(users[0]) as bot_a, cp.bot(users[1]) as bot_b:
            wallet_a = bot_a.get("/api/v1/balances").json()["solana"]["address"]
            wallet_b = bot_b.get("/api/v1/balances").json()["solana"]["address"]
            assert wallet_a != wallet_b
            assert _fetch(a, cp.url + "/app/api/v1/balances").json()["solana"]["address"] == wallet_a
            assert _fetch(b, cp.url + "/app/api/v1/balances").json()["solana"]["address"] == wallet_b

            # A state change through A's session reaches A's bot only.
            csrf_a = next(c["value"] for c in a.cookies(cp.url) if c["name"] == "basis_csrf")
            paused = _fetch(
                a,
                method="POST",
                url=cp.url + "/app/api/v1/control/pause",
                data={"reason": "isolation check"},
                headers={"X-CSRF-Token": csrf_a},
            )
            assert paused.status == 200, paused.text()
            assert bot_a.get("/api/v1/status").json()["paused"] is True
            assert bot_b.get("/api/v1/status").json()["paused"] is False
            # Its event reaches A's open dashboard over A's event stream, and not B's.
            frames[0].locator(".toast[data-kind='control.paused']").first.wait_for()
            frames[0].locator("#btn-resume").wait_for(state="visible")
            assert frames[1].locator(".toast[data-kind='control.paused']").count() == 0
            assert frames[1].locator("#btn-pause").is_visible()
            # A's CSRF token with B's session is refused (it belongs to another session).
            csrf_b = next(c["value"] for c in b.cookies(cp.url) if c["name"] == "basis_csrf")
            assert csrf_a != csrf_b
            crossed = _fetch(
                b,
                method="POST",
                url=cp.url + "/app/api/v1/control/pause",
                data={},
                headers={"X-CSRF-Token": csrf_a},
            )
            assert crossed.status == 403
            assert bot_b.get("/api/v1/status").json()["paused"] is False
            # A bot refuses a request without its token, and with another bot's.
            assert httpx.get(str(bot_a.base_url) + "/api/v1/status", timeout=10).status_code == 401
            wrong = bot_b.headers["X-Basis-Token"]
            assert (
                httpx.get(
                    str(bot_a.base_url) + "/api/v1/status", headers={"X-Basis-Token": wrong}, timeout=10
                ).status_code
                == 401
            )
            bot_a.post("/api/v1/control/resume")
        assert [p.errors for p in pages] == [[], []]
    finally:
        for ctx in contexts:
            ctx.close()


def test_on_a_phone_the_deposit_dialog_shows_the_minimums_and_test_funds_without_scrolling_sideways(
    chromium: Browser, cp: InProcessControlPlane
) -> None:
    ctx = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        _sign_in_api(ctx, cp, _email("phone"))
        page = _open(ctx, cp).page
        page.locator("#btn-deposit").click()
        page.locator("#dlg-deposit").wait_for(state="visible")
        assert "0.01 SOL" in page.locator("#min-solana").inner_text()
        assert "5 USDC" in page.locator("#min-evm").inner_text()
        page.locator("#btn-test-funds").scroll_into_view_if_needed()
        assert page.locator("#btn-test-funds").is_visible()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        screenshot(page, "portal-mobile-deposit")
        page.locator("#btn-test-funds").click()
        page.locator("#test-funds-status", has_text="Sent").wait_for()
        screenshot(page, "portal-mobile-test-funds")
    finally:
        ctx.close()
