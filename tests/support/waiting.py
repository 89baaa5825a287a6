"""Waiting for a condition instead of sleeping for a guess: `wait_until` (threads, plain tests) and
`wait_until_async` (inside an event loop) ask `condition` every `every` seconds until it returns
something truthy, which they return, or fail with `what` after `timeout` seconds.

A fixed sleep before an assert is either too short on a loaded machine (a flaky test) or too long
everywhere else (a slow suite); polling at a short interval is neither. The interval is short (20 ms)
because conditions here are cheap reads on loopback; pass a longer one for a costly check."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

EVERY_S = 0.02


def wait_until(condition: Callable[[], T], *, timeout: float, what: str, every: float = EVERY_S) -> T:
    """The first truthy value of `condition()`; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        time.sleep(every)


async def wait_until_async(
    condition: Callable[[], T | Awaitable[T]], *, timeout: float, what: str, every: float = EVERY_S
) -> T:
    """As `wait_until`, in an event loop; `condition` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        await asyncio.sleep(every)
