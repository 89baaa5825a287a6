"""Jobs: an open or close asked for through the API, answered at once (202) and followed to its end.

The execution itself is a task of the bot (the engine's `run`, as for any other execution); a job
follows its state in the journal and tells each step as a `job.progress` event. Jobs are stored
(table `jobs`), so `GET /jobs/{id}` answers after a restart too; an execution left unfinished by a
restart is resumed by the bot's recovery, and its job is followed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tenant_bot.errors import BotError
from tenant_bot.execution.journal import Journal
from tenant_bot.execution.states import Outcome, State
from tenant_bot.storage.events import EventLog
from tenant_bot.storage.models import Job
from tenant_bot.trader import PreparedOpen, Trader

log = structlog.get_logger("basis.api.jobs")

# How often a running job looks at its execution's state (a read of one SQLite row).
POLL_SECONDS = 0.05


def job_json(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "position_id": job.position_id,
        "execution_id": job.execution_id,
        "outcome": job.outcome,
        "error": job.error,
        "steps": list(job.steps or []),
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


class JobManager:
    def __init__(self, trader: Trader, journal: Journal, events: EventLog) -> None:
        self.trader = trader
        self.journal = journal
        self.events = events
        self._db: sessionmaker[Session] = journal.db
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # ------------------------------------------------------------------ reads
    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._db() as s:
            job = s.get(Job, job_id)
            return None if job is None else job_json(job)

    def unfinished(self) -> list[dict[str, Any]]:
        with self._db() as s:
            q = select(Job).where(Job.state.in_(("queued", "running"))).order_by(Job.created_at)
            return [job_json(j) for j in s.scalars(q)]

    # ------------------------------------------------------------------ starting jobs
    def open(self, prepared: PreparedOpen, *, requested_by: str = "manual") -> dict[str, Any]:
        job = self._create("open")
        self._run(job["id"], self._open(job["id"], prepared, requested_by))
        return job

    def close(self, position_id: str, *, requested_by: str = "manual", reason: str = "") -> dict[str, Any]:
        job = self._create("close", position_id=position_id)
        self._run(job["id"], self._close(job["id"], position_id, requested_by, reason))
        return job

    def resume(self) -> None:
        """Follow again the jobs a previous run left unfinished (their executions are recovered)."""
        for job in self.unfinished():
            if job["execution_id"]:
                self._run(job["id"], self._follow(job["id"], job["execution_id"]))
            else:  # never got to start its execution: nothing was sent
                self._finish(job["id"], "failed", None, "interrupted by a restart before it started")

    async def aclose(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ------------------------------------------------------------------ internals
    def _run(self, job_id: str, body: Any) -> None:
        task = asyncio.create_task(body, name=f"job-{job_id[:8]}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job_id, None))

    async def _open(self, job_id: str, prepared: PreparedOpen, requested_by: str) -> None:
        self._update(job_id, state="running", step=("preflight", "running"))
        try:
            ex_id = await self.trader.start_open(prepared, requested_by=requested_by)
        except BotError as exc:
            self._finish(job_id, "failed", None, str(exc))
            return
        except Exception as exc:  # a venue error before anything was sent
            self._finish(job_id, "failed", None, f"the open could not start: {type(exc).__name__}: {exc}")
            return
        ex = self.journal.execution(ex_id)
        self._update(job_id, execution_id=ex_id, position_id=ex.position_id, step=("preflight", "done"))
        await self._follow(job_id, ex_id)

    async def _close(self, job_id: str, position_id: str, requested_by: str, reason: str) -> None:
        self._update(job_id, state="running")
        try:
            ex_id = await self.trader.start_close(position_id, requested_by=requested_by, reason=reason)
        except BotError as exc:
            self._finish(job_id, "failed", None, str(exc))
            return
        self._update(job_id, execution_id=ex_id)
        await self._follow(job_id, ex_id)

    async def _follow(self, job_id: str, ex_id: str) -> None:
        seen: str | None = None
        while True:
            ex = self.journal.execution(ex_id)
            if ex.state != seen:
                seen = ex.state
                status = "running"
                if State(ex.state).terminal:
                    status = "done" if ex.outcome == Outcome.COMPLETED else "failed"
                self._update(job_id, step=(ex.state, status))
            if ex.outcome is not None:
                state = "done" if ex.outcome == Outcome.COMPLETED else "failed"
                self._finish(job_id, state, ex.outcome, ex.error)
                return
            # A parked execution is driven again by the bot's next tick; keep following.
            await asyncio.sleep(POLL_SECONDS)

    def _create(self, kind: str, *, position_id: str | None = None) -> dict[str, Any]:
        job = Job(id=str(uuid.uuid4()), kind=kind, state="queued", position_id=position_id, steps=[])
        with self._db() as s:
            s.add(job)
            s.commit()
            return job_json(job)

    def _update(
        self,
        job_id: str,
        *,
        state: str | None = None,
        step: tuple[str, str] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        with self._db() as s:
            job = s.get(Job, job_id)
            assert job is not None
            if state is not None:
                job.state = state
            for name, value in fields.items():
                setattr(job, name, value)
            if step is not None:
                name, status = step
                steps = [dict(x) for x in job.steps or []]
                for earlier in steps:  # reaching a new state finishes the previous ones
                    if earlier["status"] == "running" and earlier["name"] != name:
                        earlier["status"] = "done"
                existing = next((x for x in steps if x["name"] == name), None)
                if existing is None:
                    steps.append({"name": name, "status": status, "at": now})
                else:
                    existing["status"] = status
                job.steps = steps
            s.commit()
            view = job_json(job)
        self._emit(view)
        return view

    def _finish(self, job_id: str, state: str, outcome: str | None, error: str | None) -> None:
        with self._db() as s:
            job = s.get(Job, job_id)
            assert job is not None
            job.state, job.outcome, job.error, job.finished_at = state, outcome, error, datetime.now(UTC)
            # Whatever was still running ends with the job.
            job.steps = [
                {**x, "status": ("done" if state == "done" else "failed")} if x["status"] == "running" else x
                for x in job.steps or []
            ]
            s.commit()
            view = job_json(job)
        self._emit(view)

    def _emit(self, view: dict[str, Any]) -> None:
        last = view["steps"][-1]["name"] if view["steps"] else view["state"]
        self.events.emit(
            "job.progress",
            f"{view['kind'].title()} job {view['id'][:8]}: {view['state']} ({last})"
            + (f": {view['error']}" if view["error"] and view["state"] == "failed" else ""),
            severity="warning" if view["state"] == "failed" else "info",
            job=view,
        )
