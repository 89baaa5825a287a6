"""The idle cadence, on a real `basis-bot serve` and a real devnet.

The bot ticks every 0.2 s when it has something to watch and every 30 s when idle, so over a
couple of seconds an idle bot does not tick at all while a busy one ticks about ten times.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.tenant_bot.api.conftest import wait_for, wait_job
from tests.support.bot import ServedBot, funded_bot_on_own_devnet

pytestmark = pytest.mark.devnet

TICK = 0.2
IDLE = 30


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedBot]:
    with funded_bot_on_own_devnet(
        Path(tmp_path_factory.mktemp("idle")),
        seed=41,
        usdc="3000",
        BASIS_TICK_SECONDS=str(TICK),
        BASIS_IDLE_TICK_SECONDS=str(IDLE),
        BASIS_AUTO_ENTRY="false",
        BASIS_SSE_HEARTBEAT_SECONDS="0.5",
    ) as sb:
        yield sb


@pytest.fixture
def api(served: ServedBot) -> Iterator[httpx.Client]:
    with served.client() as client:
        yield client


def ticks(api: httpx.Client) -> int:
    for line in api.get("/metrics").text.splitlines():
        if line.startswith("basis_ticks_total "):
            return int(line.split()[1])
    raise AssertionError("no basis_ticks_total in /metrics")


def settle(api: httpx.Client) -> int:
    """Wait until the bot has gone idle (two readings 1 s apart agree); returns the tick count."""

    def steady() -> int | None:
        before = ticks(api)
        time.sleep(1.0)
        after = ticks(api)
        return after if after == before and after > 0 else None

    return int(wait_for(steady, timeout=30, every=0))


def ticks_over(api: httpx.Client, seconds: float) -> int:
    """Ticks over a window of `seconds`: the cadence is what is measured, so the window is fixed."""
    before = ticks(api)
    time.sleep(seconds)
    return ticks(api) - before


class Viewer:
    """A dashboard viewer: an open live-feed stream, read in a thread; remembers the events."""

    def __init__(self, served: ServedBot) -> None:
        self.served = served
        self.events: list[str] = []
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        with (
            self.served.client(timeout=60) as client,
            client.stream("GET", "/api/v1/events/stream") as r,
        ):
            assert r.status_code == 200
            for line in r.iter_lines():
                self.connected.set()
                if line.startswith("event: "):
                    self.events.append(line[7:])
                if self._stop.is_set():
                    return

    def __enter__(self) -> Viewer:
        self._thread.start()
        assert self.connected.wait(10), "the stream did not open"
        return self

    def __exit__(self, *exc: Any) -> None:
        # The heartbeat (0.5 s) wakes the reader, which then leaves and closes the stream.
        self._stop.set()
        self._thread.join(10)


def test_an_idle_bot_does_not_tick_at_the_normal_cadence(api: httpx.Client) -> None:
    settle(api)
    assert ticks_over(api, 2.0) == 0
    status = api.get("/api/v1/status").json()
    assert status["auto_entry"] is False and status["trading_state"] == "active"


def test_a_viewer_wakes_the_bot_at_once_and_keeps_it_at_the_normal_cadence(
    api: httpx.Client, served: ServedBot
) -> None:
    idle_count = settle(api)
    t0 = time.monotonic()
    with Viewer(served) as viewer:
        wait_for(lambda: ticks(api) > idle_count, timeout=2, every=0.02)
        assert time.monotonic() - t0 < 2
        # The viewer's page may hold minute-old rates: the first tick tells it to reload them.
        # (Delivered through the stream: a loaded machine may take a few seconds.)
        wait_for(lambda: "rates.tick" in viewer.events, timeout=10, every=0.05)
        assert ticks_over(api, 2.0) >= 5
    # The viewer gone, the bot goes idle again.
    settle(api)
    assert ticks_over(api, 1.5) == 0


def test_pause_and_resume_wake_the_bot(api: httpx.Client) -> None:
    before = settle(api)
    assert api.post("/api/v1/control/pause", json={"reason": "idle test"}).status_code == 200
    wait_for(lambda: ticks(api) > before, timeout=2, every=0.02)
    # A paused bot with nothing open is still idle.
    paused = settle(api)
    assert api.post("/api/v1/control/resume").status_code == 200
    wait_for(lambda: ticks(api) > paused, timeout=2, every=0.02)


def test_auto_entry_on_ends_idleness_at_once(api: httpx.Client) -> None:
    before = settle(api)
    # Auto-entry on, with a bar no market clears: no position, but the bot must watch closely.
    r = api.post("/api/v1/settings", json={"auto_entry": True, "min_entry_net_apy": "1"})
    assert r.status_code == 200, r.text
    try:
        wait_for(lambda: ticks(api) > before, timeout=2, every=0.02)
        assert ticks_over(api, 2.0) >= 5
    finally:
        assert api.post("/api/v1/settings", json={"auto_entry": False}).status_code == 200
    settle(api)


def test_an_open_position_keeps_the_normal_cadence_until_closed(api: httpx.Client) -> None:
    settle(api)
    r = api.post("/api/v1/positions/open", json={"capital_usd": "1000", "asset": "SOL", "leverage": "3"})
    assert r.status_code == 202, r.text
    done = wait_job(api, r.json()["id"])
    assert done["outcome"] == "completed", done
    try:
        # No viewer, auto-entry off: only the position keeps the bot ticking.
        assert ticks_over(api, 2.0) >= 5
        assert ticks_over(api, 2.0) >= 5
    finally:
        r = api.post(f"/api/v1/positions/{done['position_id']}/close")
        assert r.status_code == 202, r.text
        closed = wait_job(api, r.json()["id"])
    assert closed["outcome"] == "completed", closed
    settle(api)
    assert ticks_over(api, 1.5) == 0
