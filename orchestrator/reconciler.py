"""The reconciler: make what runs match what the database says should run, at start-up and on a timer.

- a bot that runs and answers is adopted as it is (a control-plane restart restarts nothing);
- a bot that should run and does not is started again, after a back-off that doubles per failure;
- a start that stays unhealthy past the timeout is stopped and marked failed with its reason,
  then retried: no tenant stays "starting";
- a bot that should be stopped is stopped; a process with our marker and no tenant is reaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from orchestrator.database.models import Tenant
from orchestrator.runtimes.base import BotStatus
from orchestrator.tenants import TenantService, as_utc, now
from shared.logging import get_logger

log = get_logger(__name__)


@dataclass
class PassReport:
    adopted: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    reaped: list[int] = field(default_factory=list)


class Reconciler:
    def __init__(self, service: TenantService) -> None:
        self.service = service
        self.runtime = service.runtime
        self.settings = service.settings
        # Since when a running bot has stopped answering /health (monotonic), per tenant.
        self._unhealthy_since: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def reconcile_once(self) -> PassReport:
        async with self._lock:
            return await self._pass()

    async def _pass(self) -> PassReport:
        report = PassReport()
        tenants = {t.id: t for t in self.service.all()}
        observed = await self.runtime.list()
        for bot in observed:
            if bot.tenant_id not in tenants:
                log.warning("reaping a bot that belongs to no tenant", tenant_id=bot.tenant_id, pid=bot.pid)
                await self._kill_stray(bot)
                if bot.pid is not None:
                    report.reaped.append(bot.pid)
        for tenant in tenants.values():
            try:
                await self._one(tenant, report)
            except Exception as exc:  # one tenant's trouble must not stop the others' reconciliation
                log.error("reconciling a tenant failed", tenant_id=tenant.id, error=str(exc))
        return report

    async def _kill_stray(self, bot: BotStatus) -> None:
        kill = getattr(self.runtime, "kill_stray", None)
        if kill is not None and bot.pid is not None:
            await kill(bot.pid)
        else:
            await self.runtime.stop(bot.tenant_id)

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

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile now, then every `reconcile_interval_seconds`, until `stop` is set."""
        interval = self.settings.reconcile_interval_seconds
        while not stop.is_set():
            try:
                await self.reconcile_once()
            except Exception as exc:  # a database hiccup: try again at the next tick
                log.error("reconciliation pass failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
