"""Server-sent events from the bot's event log: replay after an id, then live, with heartbeats.

Made to pass through reverse proxies: the response says `Cache-Control: no-cache` and
`X-Accel-Buffering: no`, every event is flushed as it is written, and a `: heartbeat` comment goes
out on a fixed schedule so idle-timeouts never cut a quiet stream. A client resumes with the
standard `Last-Event-ID` header (browsers send it on their own) or `?after=<id>`: it first gets
what it missed from the persisted log, then the live events, each exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from tenant_bot.storage.events import EventLog
from tenant_bot.storage.models import Event

REPLAY_LIMIT = 500
# A client that cannot keep up is dropped rather than buffered without end; it resumes by id.
QUEUE_SIZE = 2000
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


def event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "kind": event.kind,
        "severity": event.severity,
        "message": event.message,
        "data": event.data,
    }


def frame(event: Event) -> bytes:
    data = json.dumps(event_json(event), separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n".encode()


class EventHub:
    """The streams open now, so a shutdown can end them (uvicorn waits for open responses)."""

    def __init__(
        self,
        events: EventLog,
        heartbeat_seconds: float,
        *,
        on_join: Callable[[], None] | None = None,
        on_leave: Callable[[], None] | None = None,
    ) -> None:
        self.events = events
        self.heartbeat_seconds = heartbeat_seconds
        # Told when a stream opens and ends: a watched bot keeps its normal tick cadence.
        self.on_join = on_join
        self.on_leave = on_leave
        self._queues: set[asyncio.Queue[Event | None]] = set()
        self.closed = False

    @property
    def clients(self) -> int:
        return len(self._queues)

    def close(self) -> None:
        self.closed = True
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    async def stream(self, after: int | None) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=QUEUE_SIZE)
        overflowed = False

        def listener(event: Event) -> None:
            nonlocal overflowed
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                overflowed = True

        # Subscribe before reading the log: nothing emitted in between can fall through the gap.
        unsubscribe = self.events.subscribe(listener)
        self._queues.add(queue)
        if self.on_join is not None:
            self.on_join()
        try:
            yield b"retry: 2000\n\n"
            last = 0
            if after is not None:
                last = after
                for event in self.events.since(after, limit=REPLAY_LIMIT):
                    yield frame(event)
                    last = event.id
            next_beat = time.monotonic() + self.heartbeat_seconds
            while not self.closed and not overflowed:
                timeout = next_beat - time.monotonic()
                if timeout <= 0:
                    yield b": heartbeat\n\n"
                    next_beat = time.monotonic() + self.heartbeat_seconds
                    continue
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=timeout)
                except TimeoutError:
                    continue
                if event is None:
                    break
                if event.id > last:
                    yield frame(event)
                    last = event.id
        finally:
            self._queues.discard(queue)
            unsubscribe()
            if self.on_leave is not None:
                self.on_leave()
