"""Webhook delivery: retries on 5xx, 429 (Retry-After) and connect errors; 4xx is final; no URL in errors."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from shared.retry import RetryPolicy
from tenant_bot.notifications.delivery import DEFAULT_RETRY, DeliveryFailed, WebhookSender

URL = SecretStr("https://discord.example/api/webhooks/1/very-secret-token")


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _sender(handler: httpx.MockTransport, sleeps: Sleeps, attempts: int = 4) -> WebhookSender:
    # public_only=False: as on the devnet (the address checks have tests of their own, test_targets.py).
    return WebhookSender(
        public_only=False,
        retry=RetryPolicy(attempts=attempts, base_delay=0.5),
        transport=handler,
        sleep=sleeps,
    )


async def test_500_then_200_is_delivered_once_after_a_back_off() -> None:
    answers = iter([500, 503, 200])
    bodies: list[bytes] = []

    def handle(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        assert request.headers["content-type"].startswith("application/json")
        return httpx.Response(next(answers))

    sleeps = Sleeps()
    sender = _sender(httpx.MockTransport(handle), sleeps)
    assert await sender.send(URL, {"kind": "risk.tripped"}) == 3
    assert len(bodies) == 3 and len(sleeps.calls) == 2
    assert sleeps.calls[1] >= sleeps.calls[0] * 0.5  # exponential, with jitter
    await sender.aclose()


async def test_429_honours_retry_after() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(204)])
    sleeps = Sleeps()
    sender = _sender(httpx.MockTransport(lambda r: next(answers)), sleeps)
    assert await sender.send(URL, {}) == 2
    assert sleeps.calls == [7.0]
    await sender.aclose()


async def test_a_4xx_is_final() -> None:
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(400, json={"message": "Invalid Form Body"})

    sender = _sender(httpx.MockTransport(handle), Sleeps())
    with pytest.raises(DeliveryFailed) as info:
        await sender.send(URL, {})
    assert calls == 1 and info.value.status == 400 and info.value.attempts == 1
    await sender.aclose()


async def test_gives_up_after_n_attempts_and_never_names_the_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)

    sleeps = Sleeps()
    sender = _sender(httpx.MockTransport(refuse), sleeps, attempts=4)
    with pytest.raises(DeliveryFailed) as info:
        await sender.send(URL, {})
    assert info.value.attempts == 4 and len(sleeps.calls) == 3
    assert "very-secret-token" not in str(info.value) and "discord.example" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    await sender.aclose()


async def test_persistent_5xx_gives_up_with_its_status() -> None:
    sender = _sender(httpx.MockTransport(lambda r: httpx.Response(502)), Sleeps(), attempts=3)
    with pytest.raises(DeliveryFailed) as info:
        await sender.send(URL, {})
    assert info.value.status == 502 and info.value.attempts == 3
    await sender.aclose()


def test_defaults() -> None:
    assert DEFAULT_RETRY.attempts == 4
    sender = WebhookSender()
    assert sender._client.timeout.connect == 5.0 and sender._client.timeout.read == 5.0
