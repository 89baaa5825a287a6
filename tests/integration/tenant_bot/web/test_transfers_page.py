"""The dashboard's deposits panel and withdrawal dialog in a real Chromium, against a real
`basis-bot serve` (local keys, a withdrawal address in its settings) on a real devnet."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

import httpx
import pytest
from eth_utils import to_checksum_address

from tests.support.bot import BotProcess, ServedBot, serve
from tests.support.browser import launch_chromium, require_chromium, screenshot
from tests.support.devnet import DevnetProcess, start_devnet

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.devnet

DESTINATION = to_checksum_address("0x" + "3c" * 20)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    require_chromium()
    with launch_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevnetProcess, ServedBot]]:
    dn = start_devnet(seed=59, speed=1.0)
    sb: ServedBot | None = None
    try:
        bot = BotProcess(dn, tmp_path_factory.mktemp("transfers") / "bot")
        bot.init()
        dn.faucet("hyperliquid", "USDC", bot.evm, "100")
        dn.faucet("arbitrum", "ETH", bot.evm, "0.01")
        dn.faucet("arbitrum", "USDC", bot.evm, "40")
        sb = serve(
            bot,
            BASIS_API_TOKEN=secrets.token_urlsafe(24),
            BASIS_DEPOSIT_POLL_SECONDS="0.3",
            BASIS_WITHDRAWAL_EVM_ADDRESS=DESTINATION,
        )
        yield dn, sb
    finally:
        if sb is not None:
            sb.stop(timeout=30)
        dn.stop()


def test_the_deposit_shows_credited_and_a_withdrawal_is_reviewed_then_confirmed(
    chromium: Browser, served: tuple[DevnetProcess, ServedBot]
) -> None:
    dn, sb = served
    ctx = chromium.new_context(
        viewport={"width": 1280, "height": 900}, extra_http_headers={"X-Basis-Token": sb.token}
    )
    ctx.set_default_timeout(20_000)
    try:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{sb.url}/")
        page.wait_for_selector("body[data-ready='true']")
        # The 40 USDC sent to the Arbitrum address: credited on Hyperliquid, and shown so.
        page.wait_for_selector("#deposits-list li[data-state='credited']", timeout=30_000)
        assert "$40.00" in page.locator("#deposits-list li").first.inner_text()
        screenshot(page, "transfers-01-deposit-credited")

        page.locator("#btn-withdraw").click()
        page.locator("#w-amount").fill("1")
        page.locator("#w-review").click()
        page.wait_for_function("document.querySelector('#w-error').textContent.includes('fee')")
        assert page.locator("#w-confirm").is_hidden()

        page.locator("#w-amount").fill("25")
        page.locator("#w-review").click()
        page.wait_for_selector("#w-confirm:not([hidden])")
        quote = page.locator("#w-quote").inner_text()
        assert "$25.00" in quote and "$1.00" in quote and "$24.00" in quote and DESTINATION in quote
        screenshot(page, "transfers-02-withdrawal-review")
        assert _arbitrum_usdc_raw(dn, DESTINATION) == 0  # reviewing moves nothing

        page.locator("#w-confirm").click()
        page.wait_for_function("!document.querySelector('#dlg-withdraw').open")
        assert _arbitrum_usdc_raw(dn, DESTINATION) == 24 * 10**6
        state = httpx.post(
            dn.url("hyperliquid") + "/info", json={"type": "clearinghouseState", "user": sb.bot.evm}
        )
        assert Decimal(state.json()["marginSummary"]["accountValue"]) == Decimal(115)
        assert errors == []
    finally:
        ctx.close()


def _arbitrum_usdc_raw(dn: DevnetProcess, address: str) -> int:
    account = dn.state()["arbitrum"]["accounts"].get(to_checksum_address(address))
    return int(account["usdc_raw"]) if account else 0
