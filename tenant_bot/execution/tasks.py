"""Executions driven as tasks of the bot's event loop: one task per execution, driven again if it parked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from tenant_bot.execution.engine import ExecutionEngine
from tenant_bot.storage.models import Execution


class ExecutionTasks:
    def __init__(self, engine: ExecutionEngine, on_start: Callable[[], None] = lambda: None) -> None:
        self.engine = engine
        # Told whenever a task starts: a position is (or may soon be) at stake.
        self.on_start = on_start
        self._tasks: dict[str, asyncio.Task[Execution]] = {}

    def drive(self, execution_id: str) -> asyncio.Task[Execution]:
        """Drive an execution (or return the task already driving it)."""
        task = self._tasks.get(execution_id)
        if task is None or task.done():
            name = f"execution-{execution_id[:8]}"
            task = asyncio.create_task(self.engine.run(execution_id), name=name)
            self._tasks[execution_id] = task
            self.on_start()
        return task

    def drive_all(self, executions: Iterable[Execution]) -> None:
        """Drive again every one of `executions` no task is driving now (a parked one, say)."""
        for ex in executions:
            self.drive(ex.id)

    async def wait(self, execution_id: str) -> None:
        """Until the task driving `execution_id` ends (at once when there is none)."""
        task = self._tasks.get(execution_id)
        if task is not None:
            await task

    @property
    def in_flight(self) -> bool:
        return any(not t.done() for t in self._tasks.values())

    async def settle(self, timeout: float = 60) -> None:
        """Give the tasks in flight `timeout` seconds to reach a journaled point."""
        pending = [t for t in self._tasks.values() if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
