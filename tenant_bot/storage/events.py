"""The bot's event log: every event is written to SQLite first, then handed to live listeners.

The dashboard's event stream replays from this table (resume by last event id), so an event a
user should see is never only in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tenant_bot.storage.models import Event

log = structlog.get_logger("basis.bot.events")

Listener = Callable[[Event], None]


def plain(value: Any) -> Any:
    """JSON-safe copy of `value`: Decimals and datetimes as strings, enums as their values."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if hasattr(value, "value") and isinstance(value.value, (str, int)):
        return value.value
    return value


class EventLog:
    def __init__(self, db: sessionmaker[Session]) -> None:
        self._db = db
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, kind: str, message: str, *, severity: str = "info", **data: Any) -> Event:
        with self._db() as s:
            event = Event(kind=kind, severity=severity, message=message, data=plain(data))
            s.add(event)
            s.commit()
        level = {"critical": "error", "warning": "warning"}.get(severity, "info")
        getattr(log, level)(message, kind=kind, event_id=event.id, **plain(data))
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not stop the engine
                log.exception("event listener failed", event=kind)
        return event

    def latest(self, limit: int) -> list[Event]:
        """The last `limit` events, oldest first."""
        with self._db() as s:
            newest = list(s.scalars(select(Event).order_by(Event.id.desc()).limit(limit)))
        return newest[::-1]

    def since(self, after_id: int = 0, limit: int = 500, kind: str | None = None) -> list[Event]:
        with self._db() as s:
            q = select(Event).where(Event.id > after_id).order_by(Event.id).limit(limit)
            if kind is not None:
                q = q.where(Event.kind == kind)
            return list(s.scalars(q))
