"""POST a notification body to the webhook, with a short timeout and retries.

Connect errors, timeouts, 429 (its `Retry-After` honoured) and 5xx are retried with back-off, up to
`RetryPolicy.attempts` tries in all; another 4xx is final (the receiver refused this body, and the
same body would be refused again). Error texts name the failure, never the URL: it holds tokens.

Outside the devnet (`public_only`) every request goes through `PublicOnlyTransport` (targets.py):
the host is resolved, every address must be public, and the connection goes to the checked address;
a refused target is final, not retried. Redirects are never followed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from pydantic import SecretStr

from shared.retry import RetriesExhausted, RetryPolicy, send_with_retry
from tenant_bot.notifications.formats import body_bytes
from tenant_bot.notifications.targets import PublicOnlyTransport, Resolver, UnsafeTarget, resolve_host
from tenant_bot.tls import ssl_context

DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_RETRY = RetryPolicy(attempts=4, base_delay=0.5, max_delay=8.0, max_retry_after=60.0)


class DeliveryFailed(Exception):
    """A notification could not be delivered; the message names the cause, not the URL."""

    def __init__(self, reason: str, *, attempts: int, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts
        self.status = status


class WebhookSender:
    """`public_only` (everywhere but the devnet): only public addresses are reached. `transport` and
    `resolve` replace the network and the resolver in tests; the address check wraps the transport."""

    def __init__(
        self,
        *,
        public_only: bool = True,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy = DEFAULT_RETRY,
        transport: httpx.AsyncBaseTransport | None = None,
        resolve: Resolver = resolve_host,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.retry = retry
        self._sleep = sleep
        if public_only:
            inner = transport or httpx.AsyncHTTPTransport(verify=ssl_context())
            transport = PublicOnlyTransport(inner, resolve=resolve)
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": "basis-bot-notifier/1"},
            verify=ssl_context(),
            # No proxy from the environment: a proxy would connect to the name itself, unchecked.
            trust_env=not public_only,
        )

    async def send(self, url: SecretStr, body: dict[str, Any]) -> int:
        """Deliver `body`; returns how many attempts it took. Raises `DeliveryFailed`."""
        content = body_bytes(body)
        attempts = 0

        async def post() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            return await self._client.post(
                url.get_secret_value(),
                content=content,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )

        try:
            response = await send_with_retry(post, policy=self.retry, what="webhook", sleep=self._sleep)
        except RetriesExhausted as exc:
            raise DeliveryFailed(str(exc), attempts=attempts, status=exc.last_status) from None
        except UnsafeTarget as exc:
            raise DeliveryFailed(f"webhook: refused, the URL {exc}", attempts=attempts) from None
        except Exception as exc:
            # Anything else (an invalid URL, say): its text may quote the URL, so only its type is kept.
            raise DeliveryFailed(f"webhook: {type(exc).__name__}", attempts=attempts) from None
        if not response.is_success:
            raise DeliveryFailed(
                f"webhook: HTTP {response.status_code}", attempts=attempts, status=response.status_code
            )
        return attempts

    async def aclose(self) -> None:
        await self._client.aclose()
