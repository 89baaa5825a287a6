"""Two bots on one host share Hyperliquid's 1,200 REST weight a minute, and back off when it is spent.

Two real `basis-bot serve` processes tick against one devnet that counts weight per client IP as
the venue does (both are 127.0.0.1, as bots on one host share its IP). Auto-entry is on with an
entry threshold no market meets, so each bot keeps its normal cadence (every 0.5 s, about 60
weight a tick) without trading: together they spend the minute's budget within seconds. The venue
then answers HTTP 429 `null`; each bot must hold its reads back for a cool-down (log
"reads paused", then reads "not sent"), count it as the venue not answering, and keep ticking and
serving: never crash, never hammer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.bot import BotProcess, ServedBot, serve
from tests.support.devnet import VENUE_HYPERLIQUID_WEIGHT, DevnetProcess, start_devnet
from tests.support.waiting import wait_until

pytestmark = pytest.mark.devnet


@pytest.fixture(scope="module")
def venue_limit() -> Iterator[DevnetProcess]:
    dn = start_devnet(seed=43, speed=1.0, hyperliquid_weight=VENUE_HYPERLIQUID_WEIGHT)
    yield dn
    dn.stop()


@pytest.fixture(scope="module")
def bots(venue_limit: DevnetProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServedBot]]:
    served: list[ServedBot] = []
    try:
        for tenant in ("t1", "t2"):
            bot = BotProcess(venue_limit, Path(tmp_path_factory.mktemp(tenant)) / "bot", tenant_id=tenant)
            bot.init()
            bot.fund(usdc_solana="2000", usdc_hl="2000", sol="3")
            served.append(
                serve(bot, BASIS_AUTO_ENTRY="true", BASIS_MIN_ENTRY_NET_APY="1", BASIS_TICK_SECONDS="0.5")
            )
        yield served
    finally:
        for s in served:
            s.stop()


def ticks(sb: ServedBot) -> int:
    with sb.client() as api:
        for line in api.get("/metrics").text.splitlines():
            if line.startswith("basis_ticks_total "):
                return int(line.split()[1])
    raise AssertionError("no basis_ticks_total in /metrics")


def log_events(sb: ServedBot) -> list[str]:
    events = []
    for line in sb.bot.logs().splitlines():
        try:
            events.append(str(json.loads(line).get("event", "")))
        except ValueError:
            continue
    return events


def test_two_bots_exhaust_the_hosts_weight_and_back_off(bots: list[ServedBot]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if all("hyperliquid rate limit (HTTP 429): reads paused" in log_events(b) for b in bots):
            break
        time.sleep(1)
    else:
        raise AssertionError("the two bots never met the host's rate limit:\n" + bots[0].bot.logs()[-3000:])
    # Each keeps ticking and serving, and reads wait out the cool-down instead of being sent.
    before = [ticks(b) for b in bots]
    for b, n in zip(bots, before, strict=True):  # a few ticks each in the cool-down
        wait_until(lambda b=b, n=n: ticks(b) >= n + 3, timeout=30, every=0.1, what="three more ticks")
    for b, n in zip(bots, before, strict=True):
        assert b.process.poll() is None, b.bot.logs()[-3000:]
        assert httpx.get(b.url + "/health", timeout=5).status_code == 200
        assert ticks(b) > n
        assert "tick failed" not in log_events(b)
        # The venue counts as not answering, for the reason it gave; reads in the cool-down are not sent.
        assert wait_for_reason(b, "not sent, Hyperliquid is rate-limiting this host (HTTP 429)")


def wait_for_reason(sb: ServedBot, text: str, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    with sb.client() as api:
        while time.monotonic() < deadline:
            if text in str(api.get("/ready").json()["venues"]["hyperliquid"]):
                return True
            time.sleep(0.2)
    return False
