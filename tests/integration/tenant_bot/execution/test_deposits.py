"""The deposit bridge on the devnet: USDC that arrives at a bot's Arbitrum address reaches Hyperliquid.

Real processes: a devnet subprocess (its Arbitrum credits a Bridge2 transfer of at least 5 USDC on
Hyperliquid after `--bridge-delay-s`) and real `basis-bot` processes, each with its own wallets.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_utils import to_checksum_address

from tests.support.bot import BotProcess, ServedBot, serve
from tests.support.devnet import DevnetProcess, start_devnet

FAST = {"BASIS_DEPOSIT_POLL_SECONDS": "0.3"}


@pytest.fixture(scope="module")
def dn() -> Iterator[DevnetProcess]:
    devnet = start_devnet(seed=41, speed=1.0)
    try:
        yield devnet
    finally:
        devnet.stop()


@pytest.fixture
def bot(dn: DevnetProcess, tmp_path: Path) -> BotProcess:
    b = BotProcess(dn, tmp_path / "bot")
    b.init()
    return b


def wait_for(predicate: Any, timeout: float = 30, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


def arbitrum_account(dn: DevnetProcess, address: str) -> dict[str, Any]:
    accounts = dn.state()["arbitrum"]["accounts"]
    return accounts.get(to_checksum_address(address), {"eth_wei": "0", "usdc_raw": 0, "nonce": 0})


def bridge(dn: DevnetProcess) -> dict[str, Any]:
    return dn.state()["arbitrum"]["bridge"]


def hl_value(bot: BotProcess) -> Decimal:
    state = bot.hl_info({"type": "clearinghouseState", "user": bot.evm})
    return Decimal(state["marginSummary"]["accountValue"])


def hl_deposits(bot: BotProcess) -> list[dict[str, Any]]:
    ledger = bot.hl_info({"type": "userNonFundingLedgerUpdates", "user": bot.evm, "startTime": 0})
    return [e for e in ledger if e["delta"]["type"] == "deposit"]


def deposits(served: ServedBot) -> dict[str, Any]:
    with served.client() as api:
        r = api.get("/api/v1/deposits")
        assert r.status_code == 200, r.text
        return r.json()


def all_credited(served: ServedBot, count: int) -> dict[str, Any] | None:
    """The deposits view once it shows `count` transfers, every one credited."""
    view = deposits(served)
    transfers = view["transfers"]
    return view if len(transfers) == count and all(t["state"] == "credited" for t in transfers) else None


def polled(served: ServedBot, times: int = 3) -> None:
    """Until the deposit poller has finished `times` more polls: what did not happen by then, it chose
    not to do (a fixed sleep would only guess how many polls a loaded machine fits in)."""
    start = deposits(served)["polls"]
    wait_for(lambda: deposits(served)["polls"] >= start + times, every=0.05)


def events(served: ServedBot, kind: str) -> list[dict[str, Any]]:
    with served.client() as api:
        r = api.get("/api/v1/events", params={"kind": kind})
        assert r.status_code == 200, r.text
        body = r.json()
        return body["events"] if isinstance(body, dict) else body


def test_usdc_sent_to_the_arbitrum_address_ends_up_credited_on_hyperliquid(
    dn: DevnetProcess, bot: BotProcess
) -> None:
    dn.faucet("arbitrum", "ETH", bot.evm, "0.01")
    dn.faucet("arbitrum", "USDC", bot.evm, "250")
    before = bridge(dn)["deposits"]
    served = serve(bot, **FAST)
    try:
        wait_for(lambda: hl_value(bot) == Decimal(250))
        view = wait_for(
            lambda: (v := deposits(served))["transfers"] and v["transfers"][0]["state"] == "credited" and v
        )
        assert view["transfers"][0]["amount_usdc"] == "250"
        assert view["notice"] == "none"
        assert arbitrum_account(dn, bot.evm)["usdc_raw"] == 0
        assert bridge(dn)["deposits"] == before + 1
        # Shown in the status the dashboard polls, and said in the event log.
        with served.client() as api:
            assert api.get("/api/v1/status").json()["deposits"]["transfers"][0]["state"] == "credited"
        assert events(served, "deposit.credited")
    finally:
        served.stop()


def test_without_eth_for_gas_it_warns_and_sends_nothing_then_bridges_once_funded(
    dn: DevnetProcess, bot: BotProcess
) -> None:
    dn.faucet("arbitrum", "USDC", bot.evm, "100")
    served = serve(bot, **FAST)
    try:
        view = wait_for(lambda: (v := deposits(served))["notice"] == "no_gas" and v)
        assert "ETH" in view["notice_text"] and bot.evm in view["notice_text"]
        warnings = events(served, "deposit.no_gas")
        assert warnings and warnings[0]["severity"] == "warning"
        polled(served)  # still nothing sent
        account = arbitrum_account(dn, bot.evm)
        assert account["usdc_raw"] == 100 * 10**6 and account["nonce"] == 0
        assert view["transfers"] == [] and hl_value(bot) == 0
        # Gas arrives: the USDC goes on, and the warning clears.
        dn.faucet("arbitrum", "ETH", bot.evm, "0.01")
        wait_for(lambda: hl_value(bot) == Decimal(100))
        assert wait_for(lambda: deposits(served)["notice"] == "none")
    finally:
        served.stop()


def test_under_the_bridge_minimum_nothing_is_bridged_and_the_dashboard_says_why(
    dn: DevnetProcess, bot: BotProcess
) -> None:
    dn.faucet("arbitrum", "ETH", bot.evm, "0.01")
    dn.faucet("arbitrum", "USDC", bot.evm, "4.5")
    lost = bridge(dn)["lost"]
    served = serve(bot, **FAST)
    try:
        view = wait_for(lambda: (v := deposits(served))["notice"] == "below_minimum" and v)
        assert "4.5 USDC" in view["notice_text"] and "5 USDC" in view["notice_text"]
        assert events(served, "deposit.below_minimum")
        polled(served)
        assert arbitrum_account(dn, bot.evm)["usdc_raw"] == 4_500_000
        assert arbitrum_account(dn, bot.evm)["nonce"] == 0
        assert bridge(dn)["lost"] == lost
        # Topped up over the minimum: all of it goes.
        dn.faucet("arbitrum", "USDC", bot.evm, "1")
        wait_for(lambda: hl_value(bot) == Decimal("5.5"))
    finally:
        served.stop()


@pytest.mark.parametrize("point", ["deposit.signed", "deposit.sent"])
def test_a_crash_around_the_bridge_transfer_neither_loses_nor_double_sends_it(
    dn: DevnetProcess, bot: BotProcess, point: str
) -> None:
    dn.faucet("arbitrum", "ETH", bot.evm, "0.01")
    dn.faucet("arbitrum", "USDC", bot.evm, "60")
    before = bridge(dn)["deposits"]
    crashing = bot.popen("run", BASIS_CRASH_AT=point, **FAST)
    try:
        assert crashing.wait(timeout=90) == -9, bot.logs()[-3000:]
    except subprocess.TimeoutExpired:
        crashing.kill()
        raise
    sent = arbitrum_account(dn, bot.evm)["nonce"]
    assert sent == (0 if point == "deposit.signed" else 1)
    # More USDC arrives while the bot is down: the restart must finish the first transfer, then
    # bridge this one, and move each dollar once.
    dn.faucet("arbitrum", "USDC", bot.evm, "15")
    served = serve(bot, **FAST)
    try:
        wait_for(lambda: hl_value(bot) == Decimal(75))
        view = wait_for(lambda: all_credited(served, 2))
        amounts = sorted(Decimal(t["amount_usdc"]) for t in view["transfers"])
        assert amounts == [Decimal(15), Decimal(60)]
        polled(served)  # nothing else leaves
        assert hl_value(bot) == Decimal(75)
        assert bridge(dn)["deposits"] == before + 2
        assert arbitrum_account(dn, bot.evm)["nonce"] == 2
        assert sorted(Decimal(e["delta"]["usdc"]) for e in hl_deposits(bot)) == amounts
    finally:
        served.stop()


def test_a_dropped_bridge_transfer_is_sent_again_as_the_same_bytes_and_lands_once(
    dn: DevnetProcess, bot: BotProcess
) -> None:
    dn.faucet("arbitrum", "ETH", bot.evm, "0.01")
    dn.faucet("arbitrum", "USDC", bot.evm, "30")
    before = bridge(dn)["deposits"]
    dn.faults("arbitrum", drop_rate=1.0)
    served = serve(bot, **FAST)
    try:
        wait_for(lambda: len(dn.state()["arbitrum"]["dropped"]) >= 3)
        assert arbitrum_account(dn, bot.evm)["nonce"] == 0 and hl_value(bot) == 0
        [transfer] = deposits(served)["transfers"]
        dn.faults("arbitrum", drop_rate=0.0)
        wait_for(lambda: hl_value(bot) == Decimal(30))
        assert wait_for(lambda: all_credited(served, 1))["transfers"][0]["tx"] == transfer["tx"]
        # Every send was the one journaled transaction: its hash each time, one nonce, one deposit.
        assert set(dn.state()["arbitrum"]["dropped"]) == {transfer["tx"]}
        polled(served)
        assert arbitrum_account(dn, bot.evm)["nonce"] == 1 and bridge(dn)["deposits"] == before + 1
        assert hl_value(bot) == Decimal(30)
    finally:
        dn.faults("arbitrum", drop_rate=0.0)
        served.stop()


def test_a_deposit_hyperliquid_does_not_credit_in_time_is_flagged(tmp_path: Path) -> None:
    stuck = start_devnet(seed=43, speed=1.0, extra=["--bridge-delay-s", "3600"])
    try:
        bot = BotProcess(stuck, tmp_path / "bot")
        bot.init()
        stuck.faucet("arbitrum", "ETH", bot.evm, "0.01")
        stuck.faucet("arbitrum", "USDC", bot.evm, "40")
        served = serve(bot, BASIS_DEPOSIT_CREDIT_TIMEOUT_SECONDS="3", **FAST)
        try:
            view = wait_for(lambda: (v := deposits(served))["transfers"] and v)
            assert view["transfers"][0]["state"] in ("sent", "signed", "bridging")
            view = wait_for(lambda: (v := deposits(served))["transfers"][0]["state"] == "not_credited" and v)
            assert view["credit_timeout_minutes"] == 0.05
            flagged = events(served, "deposit.not_credited")
            assert len(flagged) == 1 and flagged[0]["severity"] == "warning"
            assert "40 USDC" in flagged[0]["message"]
            assert hl_value(bot) == 0 and bridge(stuck)["deposits"] == 1
        finally:
            served.stop()
    finally:
        stuck.stop()


def test_the_deposits_api_needs_the_token(dn: DevnetProcess, bot: BotProcess) -> None:
    served = serve(bot, **FAST)
    try:
        assert httpx.get(served.url + "/api/v1/deposits", timeout=10).status_code == 401
    finally:
        served.stop()
