"""The reconciler: make what runs match what the database says should run, at start-up, on a timer,
and at once when the runtime's event stream says a bot died.

- a bot that runs and answers is adopted as it is (a control-plane restart restarts nothing);
- a bot that should run and does not is started again, after a back-off that doubles per failure;
- a start that stays unhealthy past the timeout is stopped and marked failed with its reason,
  then retried: no tenant stays "starting";
- a bot that should be stopped is stopped; a bot with our marker and no tenant is reaped;
- data (a container runtime's volumes) that belongs neither to a tenant nor to a tenant deleted
  with its data kept (`RetainedData`) is reaped.

With a runtime that has an event stream (`Runtime.events`: docker and swarm), `run` follows it: a
bot's container that dies, is killed by the OOM killer or is destroyed triggers a pass after a short
debounce; the stream reconnects with back-off when the engine restarts, and the timer stays as the
safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.database.models import Tenant
from orchestrator.tenants import TenantService, as_utc, now
from shared.logging import get_logger

log = get_logger(__name__)

# Engine events about a bot's container after which it may no longer run as it should.
TRIGGERS = frozenset({"die", "oom", "destroy"})
# A burst (kill, die, destroy) yields one pass: wait this long after the first event.
DEBOUNCE_SECONDS = 0.2
# Reconnecting to the event stream after it ended (the engine restarted): doubling, capped; reset
# once a stream has stayed open this long.
EVENTS_BACKOFF_SECONDS = 0.5
EVENTS_BACKOFF_MAX_SECONDS = 30.0
EVENTS_STABLE_SECONDS = 60.0
# The timer never waits less than this, however soon a back-off is due.
MIN_DELAY_SECONDS = 0.05


@dataclass
class PassReport:
    adopted: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    reaped: list[int] = field(default_factory=list)
    # Tenant ids whose data (volume) belonged to no tenant and was removed.
    reaped_data: list[str] = field(default_factory=list)


class Reconciler:
    def __init__(self, service: TenantService) -> None:
        self.service = service
        self.runtime = service.runtime
        self.settings = service.settings
        # Since when a running bot has stopped answering /health (monotonic), per tenant.
        self._unhealthy_since: dict[str, float] = {}
        self._lock = asyncio.Lock()
        # Under `run`: a task per bot the reconciler started, waiting for its /health.
        self._settling: dict[str, asyncio.Task[object]] = {}
        self._follow_settles = False
        # Passes the event stream asked for (tests and logs read it).
        self.event_wakeups = 0

    async def reconcile_once(self) -> PassReport:
        async with self._lock:
            return await self._pass()

    async def _pass(self) -> PassReport:
        report = PassReport()
        # What runs is observed before the database is read: a tenant is committed before its bot
        # or its volume is created, so whatever is seen here of a tenant is known below.
        observed = await self.runtime.list()
        volumes = await self.runtime.volumes()
        tenants = {t.id: t for t in self.service.all()}
        for bot in observed:
            if bot.tenant_id not in tenants:
                log.warning("reaping a bot that belongs to no tenant", tenant_id=bot.tenant_id, pid=bot.pid)
                await self.runtime.kill_stray(bot)
                if bot.pid is not None:
                    report.reaped.append(bot.pid)
        await self._reap_data(volumes, set(tenants), report)
        for tenant in tenants.values():
            try:
                await self._one(tenant, report)
            except Exception as exc:  # one tenant's trouble must not stop the others' reconciliation
                log.error("reconciling a tenant failed", tenant_id=tenant.id, error=str(exc))
        return report

    async def _reap_data(self, volumes: list[str] | None, tenants: set[str], report: PassReport) -> None:
        if volumes is None:  # a runtime that does not list its data reaps it itself
            report.reaped_data.extend(await self.runtime.reap(self.service.data_owners()))
            return
        strays = [v for v in volumes if v not in tenants]
        if not strays:
            return
        retained = {r.tenant_id for r in self.service.retained()}
        for tenant_id in strays:
            # Asked again right before removing: the id may have been provisioned since the listing.
            if tenant_id in retained or self.service.owns_data(tenant_id):
                continue
            log.warning("reaping the data of no tenant", tenant_id=tenant_id)
            try:
                await self.runtime.remove(tenant_id, purge=True)
            except Exception as exc:  # in use or gone meanwhile: the next pass sees it again
                log.error("reaping data failed", tenant_id=tenant_id, error=str(exc))
                continue
            report.reaped_data.append(tenant_id)

    async def _one(self, tenant: Tenant, report: PassReport) -> None:
        status = await self.runtime.status(tenant.id)
        if tenant.desired_state == "stopped":
            if status.alive:
                await self.runtime.stop(tenant.id)
                report.stopped.append(tenant.id)
            if tenant.status != "stopped":
                await self.service.stop(tenant.id)
            return

        if status.state == "running":
            self._unhealthy_since.pop(tenant.id, None)
            if tenant.status != "running" or tenant.pid != status.pid or tenant.port != status.port:
                self.service.mark_running(tenant.id, status)
                report.adopted.append(tenant.id)
            return

        if status.state == "starting":
            timeout = self.settings.bot_start_timeout_seconds
            if tenant.status == "starting":
                started = as_utc(tenant.started_at) or now()
                overdue = (now() - started).total_seconds() > timeout
            else:
                # A bot that answered before and stopped answering (hung): give it the same grace.
                since = self._unhealthy_since.setdefault(tenant.id, time.monotonic())
                overdue = time.monotonic() - since > timeout
            if overdue:
                self._unhealthy_since.pop(tenant.id, None)
                await self.runtime.stop(tenant.id)
                self.service.mark_failed(tenant.id, f"the bot did not answer /health within {timeout:g} s")
                report.failed.append(tenant.id)
            return

        # Nothing runs although it should: crashed, killed, never started, or a failed start.
        self._unhealthy_since.pop(tenant.id, None)
        # A start that exited because its port was taken before it listened: on another port at once,
        # counted as a restart (no failure, no back-off).
        taken = await self.service.port_taken(tenant.id) if tenant.status == "starting" else None
        if taken is not None and await self.service.move_port(tenant.id, taken):
            report.started.append(tenant.id)
            if self._follow_settles:
                self._settle(tenant.id)
            return
        if tenant.status in ("running", "starting"):
            tail = (await self.runtime.logs(tenant.id, 3)).strip().splitlines()
            reason = "the bot exited" + (f": {tail[-1][:300]}" if tail else "")
            tenant = self.service.mark_failed(tenant.id, reason)
            report.failed.append(tenant.id)
        due = as_utc(tenant.next_attempt_at)
        if due is not None and due > now():
            return
        await self.service.launch(tenant.id)
        with self.service.sessions.begin() as s:
            row = s.get(Tenant, tenant.id)
            if row is not None and tenant.status != "provisioned":
                row.restarts += 1
        log.info("starting a bot that should run", tenant_id=tenant.id, failures=tenant.failures)
        report.started.append(tenant.id)
        if self._follow_settles:
            self._settle(tenant.id)

    def _settle(self, tenant_id: str) -> None:
        """Watch a bot the reconciler started until it answers (or fails): its routes work the moment
        it is ready rather than at the next pass."""
        self._settling = {k: t for k, t in self._settling.items() if not t.done()}
        if tenant_id in self._settling:
            return

        async def settle() -> None:
            try:
                await self.service.wait_until_settled(tenant_id)
            except Exception as exc:  # deleted meanwhile, or the database hiccuped: the timer retries
                log.warning("waiting for a restarted bot failed", tenant_id=tenant_id, error=str(exc))

        self._settling[tenant_id] = asyncio.create_task(settle(), name=f"settle-{tenant_id}")

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile now, then whenever the timer (`reconcile_interval_seconds`, sooner when a restart's
        back-off is due) or the runtime's event stream says so, until `stop` is set."""
        interval = self.settings.reconcile_interval_seconds
        wake = asyncio.Event()
        follower: asyncio.Task[None] | None = None
        stream = self.runtime.events()
        if stream is not None:
            follower = asyncio.create_task(self._follow_events(stream, stop, wake), name="reconciler-events")
        self._follow_settles = True
        try:
            while not stop.is_set():
                wake.clear()  # events during the pass set it again: one more pass after this one
                try:
                    await self.reconcile_once()
                    delay = self._next_delay(interval)
                except Exception as exc:  # a database or engine hiccup: try again at the next tick
                    log.error("reconciliation pass failed", error=str(exc))
                    delay = interval
                if await _wait_either(stop, wake, delay) is wake and not stop.is_set():
                    await asyncio.sleep(DEBOUNCE_SECONDS)
        finally:
            self._follow_settles = False
            tasks = [t for t in (follower, *self._settling.values()) if t is not None and not t.done()]
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._settling.clear()

    def _next_delay(self, interval: float) -> float:
        """The timer's next period: the interval, or less when a failed bot's back-off ends sooner."""
        current = now()
        # Only back-offs still ahead: one in the past belongs to a bot already relaunched (or whose
        # launch failed, which the interval retries rather than a tight loop).
        due: list[datetime] = [
            d
            for t in self.service.all()
            if t.desired_state == "running"
            and t.status == "failed"
            and (d := as_utc(t.next_attempt_at)) is not None
            and d > current
        ]
        if not due:
            return interval
        return max(MIN_DELAY_SECONDS, min(interval, (min(due) - current).total_seconds()))

    async def _follow_events(
        self, stream: AsyncIterator[tuple[str, str]] | None, stop: asyncio.Event, wake: asyncio.Event
    ) -> None:
        """Wake the loop on a bot's death; reconnect with back-off when the stream ends or fails."""
        backoff = EVENTS_BACKOFF_SECONDS
        while not stop.is_set():
            opened = time.monotonic()
            try:
                if stream is None:
                    raise RuntimeError("the runtime no longer has an event stream")
                async for tenant_id, action in stream:
                    if action in TRIGGERS:
                        log.info("a bot's container changed", tenant_id=tenant_id, action=action)
                        self.event_wakeups += 1
                        wake.set()
                reason = "the stream ended"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the engine is down or restarting
                reason = f"{type(exc).__name__}: {exc}"
            if stop.is_set():
                return
            if time.monotonic() - opened > EVENTS_STABLE_SECONDS:
                backoff = EVENTS_BACKOFF_SECONDS
            log.warning("the runtime's event stream is gone; reconnecting", reason=reason, seconds=backoff)
            wake.set()  # while the stream was away, a bot may have died unseen: look now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff)
            backoff = min(backoff * 2, EVENTS_BACKOFF_MAX_SECONDS)
            stream = self.runtime.events()


async def _wait_either(first: asyncio.Event, second: asyncio.Event, timeout: float) -> asyncio.Event | None:
    """Wait until either event is set (returns it; `first` when both are) or the timeout passes (None)."""
    if first.is_set():
        return first
    if second.is_set():
        return second
    waiters = {asyncio.create_task(first.wait()): first, asyncio.create_task(second.wait()): second}
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiters:
            task.cancel()
    if first.is_set():
        return first
    return second if second.is_set() else None
