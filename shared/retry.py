"""One retry policy for every HTTP call Basis makes.

Reads retry on 429, 5xx and transport errors, with exponential back-off, jitter and the server's
`Retry-After`. Writes are different: a write is retried only when it certainly did not reach the
venue (the connection was never made, or the venue answered 429). A write that may have been
applied (read timeout, dropped connection, 5xx) raises `OutcomeUnknown`, and the caller resolves it
by asking the venue (an order by its cloid, a transaction by its signature), never by guessing.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class OutcomeUnknown(Exception):
    """A write was sent and its result is not known: query the venue before doing anything else."""

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class RetriesExhausted(Exception):
    def __init__(self, message: str, *, last_status: int | None = None) -> None:
        super().__init__(message)
        self.last_status = last_status


@dataclass(frozen=True)
class RetryPolicy:
    # How many times a call is tried in all (1 = no retry).
    attempts: int = 4
    # First back-off in seconds; doubled each time, capped at max_delay.
    base_delay: float = 0.2
    max_delay: float = 5.0
    # Fraction of each delay that is randomised, so many bots do not retry in step.
    jitter: float = 0.5
    # A Retry-After header is honoured up to this many seconds.
    max_retry_after: float = 30.0
    retry_status: frozenset[int] = field(default=RETRYABLE_STATUS)

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before attempt number `attempt + 1` (attempt counts from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        base = min(self.base_delay * (2 ** (attempt - 1)), self.max_delay)
        r = (rng or random).random()
        return base * (1 - self.jitter + self.jitter * r)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


# Transport errors raised before any byte of the request left this machine.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


async def send_with_retry(
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    policy: RetryPolicy | None = None,
    idempotent: bool = True,
    what: str = "request",
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> httpx.Response:
    """Call `send()` until it gives a response that is not retryable, following `policy`.

    Returns the last response (which may still be a 4xx: the caller reads its error). Raises
    `RetriesExhausted` when every attempt failed in a retryable way, and `OutcomeUnknown` when a
    non-idempotent request may have been applied.
    """
    policy = policy or RetryPolicy()
    last_status: int | None = None
    for attempt in range(1, policy.attempts + 1):
        try:
            response = await send()
        except _NOT_SENT as exc:
            if attempt == policy.attempts:
                raise RetriesExhausted(f"{what}: could not connect ({type(exc).__name__})") from exc
            await sleep(policy.delay(attempt))
            continue
        except httpx.TransportError as exc:
            # The request may have been received and applied.
            if not idempotent:
                raise OutcomeUnknown(f"{what}: sent, no answer ({type(exc).__name__})", cause=exc) from exc
            if attempt == policy.attempts:
                raise RetriesExhausted(f"{what}: transport error ({type(exc).__name__})") from exc
            await sleep(policy.delay(attempt))
            continue

        status = response.status_code
        if status not in policy.retry_status:
            return response
        last_status = status
        if not idempotent and status != 429:
            # A 5xx on a write says nothing about whether it was applied.
            raise OutcomeUnknown(f"{what}: venue answered HTTP {status}")
        if attempt == policy.attempts:
            raise RetriesExhausted(f"{what}: HTTP {status} after {attempt} attempts", last_status=status)
        await sleep(policy.delay(attempt, _retry_after(response)))
    raise RetriesExhausted(f"{what}: no attempt made", last_status=last_status)  # attempts < 1
