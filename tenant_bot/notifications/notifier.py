"""The notifier: listens to the bot's event log and delivers notifications from a background task.

`EventLog.emit` calls listeners synchronously, in the middle of the bot's tick, so the listener
only filters by kind and puts the message on a bounded queue; a background task does the HTTP.
When the queue is full the oldest message is dropped (and counted): a dead or slow webhook can
cost notifications, never trading time. Settings are read at delivery, so a change of webhook,
format or categories applies to the next message.

A delivery that fails after its retries is logged and recorded as one `notify.failed` event per
failure streak (the first failure after a success), which is itself never notified.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import structlog

from shared.retry import RetryPolicy
from tenant_bot.notifications.config import NotificationConfig
from tenant_bot.notifications.delivery import (
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT_SECONDS,
    DeliveryFailed,
    WebhookSender,
)
from tenant_bot.notifications.formats import render
from tenant_bot.notifications.messages import FAILED_KIND, Notification, category_of
from tenant_bot.notifications.summary import SummarySource, bot_summary, summary_notification
from tenant_bot.storage.events import EventLog
from tenant_bot.storage.models import Event

if TYPE_CHECKING:  # the running bot's view; importing it here would load the whole bot
    from tenant_bot.status import StatusView

log = structlog.get_logger("basis.bot.notifications")

ConfigProvider = Callable[[], NotificationConfig | None]
DEFAULT_QUEUE_SIZE = 100


def next_daily_at(now: datetime, hour: int) -> datetime:
    """The first `hour`:00 UTC strictly after `now`."""
    now = now.astimezone(UTC)
    at = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


class Notifier:
    def __init__(
        self,
        config_provider: ConfigProvider,
        *,
        tenant_id: str = "local",
        summary: SummarySource | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        queue_size: int = DEFAULT_QUEUE_SIZE,
        daily_poll_seconds: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        public_only: bool = True,
    ) -> None:
        self._config = config_provider
        self.tenant_id = tenant_id
        self._summary = summary
        self._clock = clock
        self._daily_poll = daily_poll_seconds
        # Outside the devnet only public addresses are reached (notifications/targets.py).
        self._sender = WebhookSender(
            public_only=public_only, timeout=timeout, retry=retry, transport=transport, sleep=sleep
        )
        self._queue: asyncio.Queue[Notification] = asyncio.Queue(maxsize=queue_size)
        self._events: EventLog | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._failing = False
        # Counters, for /metrics and tests.
        self.delivered = 0
        self.failed = 0
        self.dropped = 0

    @classmethod
    def for_bot(cls, view: StatusView, config_provider: ConfigProvider, **options: Any) -> Notifier:
        """A notifier for a started bot, its daily summary read from the bot's status view; call
        `attach(events)` with the bot's event log. Webhooks may reach private and loopback addresses
        only on the devnet."""
        options.setdefault("public_only", view.network != "devnet")
        return cls(
            config_provider,
            tenant_id=view.tenant_id,
            summary=lambda: bot_summary(view),
            **options,
        )

    # ------------------------------------------------------------------ wiring
    def attach(self, events: EventLog) -> Callable[[], None]:
        """Listen to `events` and start delivering; call from the running event loop. Returns detach."""
        if self._events is not None:
            raise RuntimeError("the notifier is already attached to an event log")
        self._loop = asyncio.get_running_loop()
        self._events = events
        self._unsubscribe = events.subscribe(self._on_event)
        self._tasks = [
            asyncio.create_task(self._deliver_loop(), name="notifier-deliver"),
            asyncio.create_task(self._daily_loop(), name="notifier-daily"),
        ]
        return self.detach

    def detach(self) -> None:
        if self._unsubscribe is not None:
            with contextlib.suppress(ValueError):
                self._unsubscribe()
            self._unsubscribe = None

    async def aclose(self, drain_seconds: float = 2.0) -> None:
        """Stop listening, give queued messages `drain_seconds` to go out, then stop."""
        self.detach()
        if self._tasks and drain_seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), drain_seconds)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._sender.aclose()

    async def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued message has been delivered or given up on."""
        await asyncio.wait_for(self._queue.join(), timeout)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    # ------------------------------------------------------------------ the listener (must not block)
    def _on_event(self, event: Event) -> None:
        if category_of(event.kind) is None:
            return
        n = Notification.from_event(event, self.tenant_id)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._enqueue(n)
        else:  # emitted from another thread (a sync route in a thread pool): hand it to the loop
            loop.call_soon_threadsafe(self._enqueue, n)

    def _enqueue(self, n: Notification) -> None:
        if self._queue.full():
            # Keep the newest: the latest state matters more than an old alert.
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
                self._queue.task_done()
            self.dropped += 1
            log.warning("notification queue full: dropped the oldest", dropped=self.dropped)
        self._queue.put_nowait(n)

    # ------------------------------------------------------------------ delivery
    def _current_config(self) -> NotificationConfig | None:
        try:
            return self._config()
        except Exception as exc:  # a broken provider must not kill the delivery task
            log.warning("notification settings unreadable", error=type(exc).__name__)
            return None

    async def _deliver_loop(self) -> None:
        while True:
            n = await self._queue.get()
            try:
                config = self._current_config()
                if config is not None and n.category is not None and config.wants(n.category):
                    await self.deliver(config, n)
            except Exception:
                log.exception("notification delivery crashed", kind=n.kind)
            finally:
                self._queue.task_done()

    async def deliver(self, config: NotificationConfig, n: Notification) -> bool:
        """Send one notification now; True when delivered. Failures are logged and recorded, not raised."""
        if config.webhook_url is None:
            return False
        t0 = time.perf_counter()
        try:
            attempts = await self._sender.send(config.webhook_url, render(config, n))
        except DeliveryFailed as exc:
            self.failed += 1
            log.warning(
                "notification not delivered",
                kind=n.kind,
                format=config.format,
                reason=exc.reason,
                attempts=exc.attempts,
                seconds=round(time.perf_counter() - t0, 3),
            )
            if not self._failing:
                self._failing = True
                self._record_failure(config, n, exc)
            return False
        self.delivered += 1
        self._failing = False
        log.info("notification delivered", kind=n.kind, format=config.format, attempts=attempts)
        return True

    def _record_failure(self, config: NotificationConfig, n: Notification, exc: DeliveryFailed) -> None:
        if self._events is None:
            return
        self._events.emit(
            FAILED_KIND,
            f"A {config.format} webhook notification ({n.kind}) could not be delivered after "
            f"{exc.attempts} attempt(s): {exc.reason}. Further failures are not reported until one succeeds.",
            severity="warning",
            notification_kind=n.kind,
            format=config.format,
            attempts=exc.attempts,
            reason=exc.reason,
            status=exc.status,
        )

    # ------------------------------------------------------------------ the daily summary
    async def _build_summary(self) -> Notification | None:
        if self._summary is None:
            return None
        data = await self._summary()
        return summary_notification(data, bot=self.tenant_id, at=self._clock())

    async def send_daily_summary(self) -> bool:
        """Build and send the daily summary now, whatever the hour; True when delivered.

        Sent whenever a webhook is configured, even if `daily` is not among the chosen events:
        this is an explicit request.
        """
        config = self._current_config()
        if config is None or not config.enabled:
            return False
        n = await self._build_summary()
        return False if n is None else await self.deliver(config, n)

    async def _daily_loop(self) -> None:
        hour: int | None = None
        due: datetime | None = None
        while True:
            config = self._current_config()
            wanted_hour = config.daily_hour_utc if config is not None else 0
            now = self._clock()
            if due is None or wanted_hour != hour:
                hour, due = wanted_hour, next_daily_at(now, wanted_hour)
            if now >= due:
                due = next_daily_at(now, wanted_hour)
                if config is not None and config.wants("daily"):
                    try:
                        n = await self._build_summary()
                    except Exception:
                        log.exception("daily summary could not be built")
                        n = None
                    if n is not None:
                        self._enqueue(n)
            # Poll: the settings (hour) and the wall clock may both change while it waits.
            await asyncio.sleep(min(self._daily_poll, max((due - now).total_seconds(), 0.001)))
