"""The notifier's own logic: filtering, the bounded queue, one `notify.failed` per streak, the daily hour.

The HTTP side is an `httpx.MockTransport` here; the integration tests use a real receiver.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.retry import RetryPolicy
from tenant_bot.notifications.config import NotificationConfig
from tenant_bot.notifications.messages import Notification
from tenant_bot.notifications.notifier import Notifier, next_daily_at
from tenant_bot.storage.database import open_database
from tenant_bot.storage.events import EventLog

FAST = RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.001)


class Receiver:
    """Answers with the given status (changeable), recording every JSON body."""

    def __init__(self) -> None:
        self.status = 200
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.status == 200:
            self.bodies.append(json.loads(request.content))
        return httpx.Response(self.status)

    def kinds(self) -> list[str]:
        return [b["kind"] for b in self.bodies]


@pytest.fixture
def events(tmp_path: Path) -> EventLog:
    return EventLog(open_database(tmp_path / "bot.sqlite3"))


def _config(**extra: Any) -> NotificationConfig:
    return NotificationConfig.model_validate({"webhook_url": "http://hooks.example/x", **extra})


def _notifier(receiver: Receiver, config: dict[str, NotificationConfig | None], **kw: Any) -> Notifier:
    # public_only=False: as on the devnet (the address checks have tests of their own, test_targets.py).
    kw.setdefault("public_only", False)
    return Notifier(
        lambda: config["now"], tenant_id="t1", retry=FAST, transport=httpx.MockTransport(receiver), **kw
    )


async def test_only_the_chosen_categories_are_sent(events: EventLog) -> None:
    receiver = Receiver()
    config: dict[str, NotificationConfig | None] = {"now": _config(events=["fills"])}
    notifier = _notifier(receiver, config)
    notifier.attach(events)
    try:
        events.emit("risk.tripped", "tripped", severity="warning")
        events.emit("position.opened", "opened", position_id="p")
        events.emit("rates.tick", "rates")
        events.emit("execution.started", "started")
        await notifier.flush()
        assert receiver.kinds() == ["position.opened"]
        assert receiver.bodies[0]["bot"] == "t1" and receiver.bodies[0]["data"] == {"position_id": "p"}

        config["now"] = _config(events=["risk", "fills"])  # read at delivery: applies at once
        events.emit("risk.halted", "halted", severity="critical")
        await notifier.flush()
        config["now"] = None  # notifications switched off
        events.emit("position.closed", "closed")
        await notifier.flush()
        assert receiver.kinds() == ["position.opened", "risk.halted"]
    finally:
        await notifier.aclose()


async def test_one_notify_failed_per_failure_streak(events: EventLog) -> None:
    receiver = Receiver()
    receiver.status = 500
    notifier = _notifier(receiver, {"now": _config()})
    notifier.attach(events)
    try:
        for i in range(3):
            events.emit("risk.tripped", f"trip {i}", severity="warning")
        await notifier.flush()
        failed = events.since(0, kind="notify.failed")
        assert len(failed) == 1 and notifier.failed == 3
        assert failed[0].data["attempts"] == 2 and failed[0].data["status"] == 500
        assert "hooks.example" not in failed[0].message
        receiver.status = 200
        events.emit("risk.tripped", "trip ok", severity="warning")
        await notifier.flush()
        assert receiver.kinds() == ["risk.tripped"]  # notify.failed itself never goes out
        receiver.status = 503
        events.emit("risk.tripped", "trip again", severity="warning")
        await notifier.flush()
        assert len(events.since(0, kind="notify.failed")) == 2
    finally:
        await notifier.aclose()


async def test_full_queue_drops_the_oldest() -> None:
    notifier = Notifier(lambda: None, queue_size=2)
    at = datetime.now(UTC)
    for i in range(3):
        notifier._enqueue(Notification(kind="risk.tripped", severity="warning", message=str(i), at=at))
    assert notifier.dropped == 1 and notifier.pending == 2
    assert [notifier._queue.get_nowait().message for _ in range(2)] == ["1", "2"]
    await notifier.aclose()


async def test_the_listener_never_waits_for_the_webhook(events: EventLog) -> None:
    release = asyncio.Event()

    class Slow(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await release.wait()
            return httpx.Response(200)

    notifier = Notifier(lambda: _config(), retry=FAST, transport=Slow(), queue_size=5, public_only=False)
    notifier.attach(events)
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i in range(50):
            events.emit("position.opened", f"opened {i}")
        assert loop.time() - t0 < 2.0
        await asyncio.sleep(0.05)
        assert notifier.pending <= 5 and notifier.dropped >= 40
        release.set()
        await notifier.flush()
    finally:
        await notifier.aclose()


async def test_events_emitted_from_another_thread_are_delivered(events: EventLog) -> None:
    receiver = Receiver()
    notifier = _notifier(receiver, {"now": _config()})
    notifier.attach(events)
    try:
        await asyncio.to_thread(events.emit, "risk.tripped", "from a thread", severity="warning")
        await asyncio.sleep(0.05)
        await notifier.flush()
        assert receiver.kinds() == ["risk.tripped"]
    finally:
        await notifier.aclose()


def test_next_daily_at() -> None:
    at = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    assert next_daily_at(at, 0) == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert next_daily_at(at, 11) == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    assert next_daily_at(datetime(2026, 3, 1, 11, 0, tzinfo=UTC), 11) == datetime(2026, 3, 2, 11, tzinfo=UTC)


async def test_daily_summary_goes_out_once_at_the_configured_hour(events: EventLog) -> None:
    receiver = Receiver()
    now = {"t": datetime(2026, 3, 1, 7, 59, 59, tzinfo=UTC)}
    builds = 0

    async def summary() -> dict[str, Any]:
        nonlocal builds
        builds += 1
        return {"trading_state": "active", "open_positions": 0, "funding_24h": "0", "positions": []}

    notifier = _notifier(
        receiver,
        {"now": _config(daily_hour_utc=8, format="discord")},
        summary=summary,
        clock=lambda: now["t"],
        daily_poll_seconds=0.01,
    )
    notifier.attach(events)
    try:
        await asyncio.sleep(0.05)
        assert builds == 0
        now["t"] = datetime(2026, 3, 1, 8, 0, 1, tzinfo=UTC)
        await asyncio.sleep(0.1)
        await notifier.flush()
        assert builds == 1 and len(receiver.bodies) == 1
        assert receiver.bodies[0]["embeds"][0]["title"] == "Daily summary"
        now["t"] = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
        await asyncio.sleep(0.05)
        assert builds == 1
        now["t"] = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        await asyncio.sleep(0.1)
        await notifier.flush()
        assert builds == 2
    finally:
        await notifier.aclose()


async def test_daily_is_skipped_when_not_chosen_but_sent_on_demand(events: EventLog) -> None:
    receiver = Receiver()

    async def summary() -> dict[str, Any]:
        return {"trading_state": "active", "open_positions": 0, "positions": []}

    now = {"t": datetime(2026, 3, 1, 23, 59, tzinfo=UTC)}
    notifier = _notifier(
        receiver,
        {"now": _config(events=["risk"])},
        summary=summary,
        clock=lambda: now["t"],
        daily_poll_seconds=0.01,
    )
    notifier.attach(events)
    try:
        now["t"] = datetime(2026, 3, 2, 0, 1, tzinfo=UTC)
        await asyncio.sleep(0.05)
        await notifier.flush()
        assert receiver.bodies == []
        assert await notifier.send_daily_summary() is True
        assert receiver.kinds() == ["daily.summary"]
    finally:
        await notifier.aclose()


async def test_not_configured_sends_nothing(events: EventLog) -> None:
    receiver = Receiver()
    notifier = _notifier(receiver, {"now": None})
    notifier.attach(events)
    try:
        events.emit("risk.halted", "halted", severity="critical")
        await notifier.flush()
        assert await notifier.send_daily_summary() is False
        assert receiver.bodies == [] and events.since(0, kind="notify.failed") == []
    finally:
        await notifier.aclose()
