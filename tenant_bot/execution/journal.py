"""The execution journal: intent written before every side effect, outcome written after.

Every write commits at once (SQLite in WAL with synchronous=FULL), so what the journal says
happened survives a crash at any instant. Re-entering a step finds its row and resumes it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tenant_bot.storage.events import plain
from tenant_bot.storage.models import Execution, Position, Step

TERMINAL = frozenset({"done", "unwound", "failed"})


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

    def execution(self, execution_id: str) -> Execution:
        with self.db() as s:
            ex = s.get(Execution, execution_id)
            if ex is None:
                raise KeyError(execution_id)
            return ex

    def unfinished(self) -> list[Execution]:
        with self.db() as s:
            q = select(Execution).where(Execution.outcome.is_(None)).order_by(Execution.created_at)
            return list(s.scalars(q))

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

    # -- steps
    def steps(self, execution_id: str, name: str | None = None) -> list[Step]:
        with self.db() as s:
            q = select(Step).where(Step.execution_id == execution_id)
            if name is not None:
                q = q.where(Step.name == name)
            return list(s.scalars(q.order_by(Step.name, Step.attempt)))

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
                status="intent",
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
