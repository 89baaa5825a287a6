"""The execution journal: intent written before every side effect, outcome written after.

Every write commits at once (SQLite in WAL with synchronous=FULL), so what the journal says
happened survives a crash at any instant. Re-entering a step finds its row and resumes it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tenant_bot.execution.states import SETTLED_POSITIONS, Flow, Outcome, State, StepStatus
from tenant_bot.storage.events import plain
from tenant_bot.storage.models import Execution, Position, Step

# How far back `consecutive_failures` looks: more failures than this in a row read as this many.
FAILURE_WINDOW = 20


class Journal:
    def __init__(self, db: sessionmaker[Session]) -> None:
        self.db = db
        # Counts every write, so a reader can tell whether the journal moved while it looked away
        # (the bot compares venue readings with the journal only when it did not).
        self.writes = 0

    # -- executions
    def create(self, position: Position, execution: Execution) -> None:
        self.writes += 1
        with self.db() as s:
            if s.get(Position, position.id) is None:
                s.add(position)
                s.flush()  # the execution row refers to it
            s.add(execution)
            s.commit()

    def begin(
        self,
        position: Position,
        flow: Flow,
        state: State,
        plan: dict[str, Any],
        *,
        requested_by: str,
        outcome: Outcome | None = None,
    ) -> str:
        """Write a new execution of `flow` (and `position`, if new); returns its id.

        With an `outcome` the execution is written finished (the shadow executor's hypothetical ones).
        """
        execution_id = str(uuid.uuid4())
        finished = datetime.now(UTC) if outcome is not None else None
        execution = Execution(
            id=execution_id,
            kind=flow,
            state=state,
            position_id=position.id,
            plan=plan,
            requested_by=requested_by,
            outcome=outcome,
            finished_at=finished,
        )
        self.create(position, execution)
        return execution_id

    def execution(self, execution_id: str) -> Execution:
        with self.db() as s:
            ex = s.get(Execution, execution_id)
            if ex is None:
                raise KeyError(execution_id)
            return ex

    def executions(self) -> list[Execution]:
        """Every execution, oldest first."""
        with self.db() as s:
            return list(s.scalars(select(Execution).order_by(Execution.created_at)))

    def unfinished(self) -> list[Execution]:
        with self.db() as s:
            q = select(Execution).where(Execution.outcome.is_(None)).order_by(Execution.created_at)
            return list(s.scalars(q))

    def unfinished_for(self, position_id: str) -> Execution | None:
        """The execution still running on `position_id`, if any (at most one runs per position)."""
        return next((ex for ex in self.unfinished() if ex.position_id == position_id), None)

    def executions_of(self, position_id: str, flow: Flow | None = None) -> list[Execution]:
        with self.db() as s:
            q = select(Execution).where(Execution.position_id == position_id)
            if flow is not None:
                q = q.where(Execution.kind == flow)
            return list(s.scalars(q.order_by(Execution.created_at)))

    def consecutive_failures(self, flow: Flow = Flow.OPEN) -> int:
        """How many of the latest finished `flow` executions in a row did not complete."""
        with self.db() as s:
            rows = s.scalars(
                select(Execution.outcome)
                .where(Execution.outcome.is_not(None), Execution.kind == flow)
                .order_by(Execution.finished_at.desc())
                .limit(FAILURE_WINDOW)
            )
            count = 0
            for outcome in rows:
                if outcome == Outcome.COMPLETED:
                    break
                count += 1
            return count

    def set_state(
        self,
        execution_id: str,
        state: str,
        *,
        plan_update: dict[str, Any] | None = None,
        outcome: str | None = None,
        error: str | None = None,
    ) -> Execution:
        self.writes += 1
        with self.db() as s:
            ex = s.get(Execution, execution_id)
            assert ex is not None
            ex.state = state
            if plan_update:
                ex.plan = {**ex.plan, **plain(plan_update)}
            if outcome is not None:
                ex.outcome = outcome
                ex.finished_at = datetime.now(UTC)
            if error is not None:
                ex.error = error
            s.commit()
            return ex

    # -- positions
    def position(self, position_id: str) -> Position:
        with self.db() as s:
            p = s.get(Position, position_id)
            if p is None:
                raise KeyError(position_id)
            return p

    def update_position(self, position_id: str, **fields: Any) -> Position:
        self.writes += 1
        with self.db() as s:
            p = s.get(Position, position_id)
            assert p is not None
            for name, value in fields.items():
                if name == "ledger":
                    value = {**p.ledger, **plain(value)}
                setattr(p, name, value)
            s.commit()
            return p

    def positions(self, *statuses: str) -> list[Position]:
        with self.db() as s:
            q = select(Position).order_by(Position.created_at)
            if statuses:
                q = q.where(Position.status.in_(statuses))
            return list(s.scalars(q))

    def holds_anything(self) -> bool:
        """Whether any position may still hold something on the venues (any status but settled)."""
        with self.db() as s:
            q = select(Position.id).where(Position.status.not_in(SETTLED_POSITIONS)).limit(1)
            return s.scalar(q) is not None

    # -- steps
    def steps(self, execution_id: str, name: str | None = None) -> list[Step]:
        with self.db() as s:
            q = select(Step).where(Step.execution_id == execution_id)
            if name is not None:
                q = q.where(Step.name == name)
            return list(s.scalars(q.order_by(Step.name, Step.attempt)))

    def latest_step(self, execution_id: str, name: str) -> Step | None:
        """The newest attempt of step `name`, or None before its first."""
        steps = self.steps(execution_id, name)
        return steps[-1] if steps else None

    def step(self, execution_id: str, name: str, attempt: int) -> Step | None:
        with self.db() as s:
            q = select(Step).where(
                Step.execution_id == execution_id, Step.name == name, Step.attempt == attempt
            )
            return s.scalars(q).first()

    def intent(
        self, execution_id: str, name: str, attempt: int, *, key: str | None, request: dict[str, Any]
    ) -> Step:
        self.writes += 1
        with self.db() as s:
            step = Step(
                execution_id=execution_id,
                name=name,
                attempt=attempt,
                status=StepStatus.INTENT,
                key=key,
                request=plain(request),
            )
            s.add(step)
            s.commit()
            return step

    def finish(self, step_id: int, status: str, result: dict[str, Any]) -> Step:
        self.writes += 1
        with self.db() as s:
            step = s.get(Step, step_id)
            assert step is not None
            step.status = status
            step.result = plain(result)
            s.commit()
            return step
