"""Delivering one signed Hyperliquid action until its outcome is certain, never guessing it.

The body is signed once (its nonce is spent the first time the venue applies it), so re-sending
the very same bytes is safe: the venue applies it at most once and refuses a second copy as a
duplicate nonce.
- 429, or a connection that was never made: certainly not applied → back off, send again.
- A timeout after sending, a dropped connection, a 5xx: maybe applied → ask the venue through the
  action's resolver (an order by its cloid, a leverage setting by the account's state); if it
  shows the effect, that is the result; if not, send the same body again. A duplicate-nonce
  refusal then proves the first copy landed, and the resolver is asked once more.
- Out of attempts, or landed with no visible effect: `HyperliquidOutcomeUnknown`, an
  `OutcomeUnknown` carrying the cloid and nonce. The caller reconciles; it does not retry blindly.

With the host's gateway (`tenant_bot.venues.gateway`), each attempt goes to its `/exchange`, which
forwards the bytes as they are. The same bytes go straight to the venue only when nothing reached it:
the gateway could not be connected to, or it answered 502 `X-Basis-Gateway: unreachable`. A 504 from
it, or a timeout after sending, is ambiguous like the venue's own. Its refusals are not the venue's:
429 (`X-Basis-Gateway: refused`, the exchange reserve spent) is waited out like a 429 without pausing
the client's reads; 401 and 403 are certain refusals (`HyperliquidError`), nothing was sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import httpx

from shared.logging import get_logger
from shared.retry import OutcomeUnknown, RetriesExhausted, RetryPolicy
from tenant_bot.venues.gateway import Gateway, refused, unreachable
from tenant_bot.venues.hyperliquid_models import HyperliquidError

log = get_logger("tenant_bot.venues.hyperliquid")

# Transport errors raised before any byte of the request left this machine.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Refusals meaning "this nonce can no longer be used": after an ambiguous send, our copy landed
# ("too low": the nonce fell out of the venue's window, so it may have landed; ask).
_NONCE_SPENT = ("Invalid nonce: duplicate nonce", "Invalid nonce: nonce too low")

T = TypeVar("T")


class HyperliquidOutcomeUnknown(OutcomeUnknown):
    """A write may or may not have been applied, and asking the venue did not settle it."""

    def __init__(
        self,
        message: str,
        *,
        action: str,
        nonce: int,
        cloid: str | None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message, cause=cause)
        self.action = action
        self.nonce = nonce
        self.cloid = cloid


@dataclass(frozen=True)
class Resolved(Generic[T]):
    """What asking the venue after an ambiguous send found: the write's effect, as its result."""

    value: T


Resolver = Callable[[], Awaitable["Resolved[T] | None"]]


@dataclass(frozen=True)
class _Sent:
    """How one POST /exchange went."""

    kind: Literal["answer", "not_sent", "busy", "ambiguous"]
    data: Any = None
    retry_after: float | None = None
    detail: str = ""
    venue_busy: bool = True  # a 429 of the venue's (not the gateway's refusal): reads make room too


def envelope(action: dict[str, Any], nonce: int, signature: dict[str, Any]) -> bytes:
    """The /exchange body, as the SDK lays it out."""
    body = {
        "action": action,
        "nonce": nonce,
        "signature": signature,
        "vaultAddress": None,
        "expiresAfter": None,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def accepted(data: Any) -> dict[str, Any]:
    """The `response` of an accepted action; HyperliquidError with the venue's text otherwise."""
    if not isinstance(data, dict) or data.get("status") != "ok":
        text = data.get("response") if isinstance(data, dict) else data
        raise HyperliquidError(str(text))
    return data["response"]


def nonce_spent(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and data.get("status") == "err"
        and isinstance(data.get("response"), str)
        and data["response"].startswith(_NONCE_SPENT)
    )


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _venue_answer(response: httpx.Response) -> _Sent:
    """What the venue's answer to one POST /exchange says (relayed by the gateway or not)."""
    status = response.status_code
    if status == 429:
        return _Sent("busy", retry_after=_retry_after(response), detail="HTTP 429")
    if status >= 500:
        return _Sent("ambiguous", detail=f"HTTP {status}")
    if status != 200:
        # The venue could not read the body (422): certain, and the same body would fail again.
        raise HyperliquidError(f"HTTP {status}: {response.text[:300]}")
    try:
        return _Sent("answer", data=response.json())
    except ValueError:
        return _Sent("ambiguous", detail="HTTP 200 with an unreadable body")


class ExchangeSender:
    """POST /exchange with the retry and resolution rules above."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        policy: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_busy: Callable[[float | None], None] | None = None,
        gateway: Gateway | None = None,
    ) -> None:
        self._http = http
        self._gateway = gateway
        self._policy = policy
        self._sleep = sleep
        # Told of every 429 (with its Retry-After), so the client's reads make room for writes.
        self._on_busy = on_busy

    async def _post(self, body: bytes) -> _Sent:
        if self._gateway is not None:
            sent = await self._post_gateway(self._gateway, body)
            if sent is not None:
                return sent
        try:
            response = await self._http.post("/exchange", content=body)
        except _NOT_SENT as exc:
            return _Sent("not_sent", detail=type(exc).__name__)
        except httpx.TransportError as exc:
            return _Sent("ambiguous", detail=type(exc).__name__)
        return _venue_answer(response)

    async def _post_gateway(self, gateway: Gateway, body: bytes) -> _Sent | None:
        """One attempt through the gateway; None when nothing reached the venue (send it directly)."""
        try:
            response = await gateway.send("POST", "/hyperliquid/exchange", body)
        except _NOT_SENT as exc:
            log.warning("gateway not reachable: sending directly", detail=type(exc).__name__)
            return None
        except httpx.TransportError as exc:
            return _Sent("ambiguous", detail=f"gateway: {type(exc).__name__}")
        if unreachable(response):
            log.warning("the gateway could not reach hyperliquid: sending directly")
            return None
        if refused(response):
            if response.status_code == 429:
                retry = _retry_after(response)
                return _Sent("busy", retry_after=retry, detail="gateway HTTP 429", venue_busy=False)
            raise HyperliquidError(
                f"the gateway refused (HTTP {response.status_code}): {response.text[:300]}"
            )
        return _venue_answer(response)

    async def deliver(
        self,
        body: bytes,
        *,
        what: str,
        nonce: int,
        cloid: str | None,
        parse: Callable[[Any], T],
        resolve: Resolver[T] | None = None,
        sent_before: bool = False,
    ) -> T:
        """Send one signed body until its outcome is certain; `parse` reads a clear answer.

        `sent_before`: the body may have been sent by an earlier call (or process), so a
        duplicate-nonce refusal, even to the first copy sent here, means it landed.
        """
        policy = self._policy
        maybe_applied = False  # a copy was sent and its answer lost
        landed = False  # the venue said this nonce is spent
        delay_hint: float | None = None
        last: _Sent | None = None
        for attempt in range(1, policy.attempts + 1):
            if attempt > 1:
                await self._sleep(policy.delay(attempt - 1, delay_hint))
                delay_hint = None
            if maybe_applied:
                found = await self._resolve(resolve, what=what, nonce=nonce, cloid=cloid)
                if found is not None:
                    return found.value
                if landed:
                    raise HyperliquidOutcomeUnknown(
                        f"hyperliquid {what} (nonce {nonce}, cloid {cloid}) landed but its effect is "
                        "not visible on the venue",
                        action=what,
                        nonce=nonce,
                        cloid=cloid,
                    )
            sent = await self._post(body)
            last = sent
            log.info(
                "hyperliquid write attempt",
                action=what,
                nonce=nonce,
                cloid=cloid,
                attempt=attempt,
                result=sent.kind,
                detail=sent.detail or None,
            )
            if sent.kind == "answer":
                if (maybe_applied or sent_before) and nonce_spent(sent.data):
                    landed = maybe_applied = True
                    continue
                return parse(sent.data)
            if sent.kind == "busy":
                delay_hint = sent.retry_after
                if self._on_busy is not None and sent.venue_busy:
                    self._on_busy(sent.retry_after)
            elif sent.kind == "ambiguous":
                maybe_applied = True
        detail = last.detail if last is not None else "no attempt"
        if maybe_applied:
            found = await self._resolve(resolve, what=what, nonce=nonce, cloid=cloid)
            if found is not None:
                return found.value
            raise HyperliquidOutcomeUnknown(
                f"hyperliquid {what} (nonce {nonce}, cloid {cloid}): outcome unknown after "
                f"{policy.attempts} attempts ({detail})",
                action=what,
                nonce=nonce,
                cloid=cloid,
            )
        raise RetriesExhausted(
            f"hyperliquid {what}: not sent after {policy.attempts} attempts ({detail})",
            last_status=429 if last is not None and last.kind == "busy" else None,
        )

    async def _resolve(
        self, resolve: Resolver[T] | None, *, what: str, nonce: int, cloid: str | None
    ) -> Resolved[T] | None:
        if resolve is None:
            return None
        try:
            found = await resolve()
        except (RetriesExhausted, HyperliquidError, httpx.TransportError) as exc:
            log.warning(
                "hyperliquid write: could not ask the venue",
                action=what,
                nonce=nonce,
                error=type(exc).__name__,
            )
            return None
        log.info(
            "hyperliquid write resolved" if found is not None else "hyperliquid write not visible",
            action=what,
            nonce=nonce,
            cloid=cloid,
        )
        return found
