"""Webhook targets outside the devnet: only public addresses, checked at save and at delivery, and the
connection goes to the address that was checked (a resolver stands in for DNS; the network is a mock)."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from shared.retry import RetryPolicy
from tenant_bot.notifications.delivery import DeliveryFailed, WebhookSender
from tenant_bot.notifications.targets import (
    UnsafeTarget,
    check_target,
    check_webhook_target,
    vetted_addresses,
)
from tenant_bot.preferences import SettingsError

PUBLIC = "93.184.216.34"


class Resolver:
    """Answers each lookup with the next list of addresses (the last one repeats)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if not self.answers:
            raise OSError("no such host")
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


async def test_addresses_are_vetted_all_of_them() -> None:
    assert await vetted_addresses(PUBLIC, 443) == [PUBLIC]
    assert await vetted_addresses("hooks.example", 443, resolve=Resolver([PUBLIC])) == [PUBLIC]
    for host in (
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "::1",
        "::ffff:127.0.0.1",
        "localhost",
        "a.localhost",
    ):
        with pytest.raises(UnsafeTarget):
            await vetted_addresses(host, 443, resolve=Resolver([PUBLIC]))
    # One private address among public ones is enough to refuse: the client could pick it.
    with pytest.raises(UnsafeTarget):
        await vetted_addresses("hooks.example", 443, resolve=Resolver([PUBLIC, "10.0.0.1"]))
    with pytest.raises(OSError):
        await vetted_addresses("hooks.example", 443, resolve=Resolver())


async def test_what_may_be_saved() -> None:
    assert await check_target(f"https://{PUBLIC}/hook") is None
    assert await check_target("https://hooks.example/x", resolve=Resolver([PUBLIC])) is None
    assert "private, loopback or link-local" in str(await check_target("http://[::1]:9/x"))
    assert "could not be resolved" in str(await check_target("https://nowhere.example/x", resolve=Resolver()))
    assert await check_target("https:///x") == "has no host"


async def test_the_settings_check_is_a_422_at_the_field_and_off_on_the_devnet() -> None:
    with pytest.raises(SettingsError) as info:
        await check_webhook_target("http://127.0.0.1:9/hook?token=secret", public_only=True)
    (error,) = info.value.errors
    assert error["loc"] == ["body", "notifications", "webhook_url"]
    assert error["msg"].startswith("The webhook URL points at a private") and "secret" not in error["msg"]
    await check_webhook_target("http://127.0.0.1:9/hook", public_only=False)
    await check_webhook_target(None, public_only=True)


def _sender(resolve: Resolver, handle: object, attempts: int = 3) -> WebhookSender:
    async def no_sleep(_: float) -> None:
        return None

    return WebhookSender(
        public_only=True,
        retry=RetryPolicy(attempts=attempts, base_delay=0.01),
        transport=httpx.MockTransport(handle),  # type: ignore[arg-type]
        resolve=resolve,
        sleep=no_sleep,
    )


async def test_delivery_connects_to_the_checked_address_with_the_name_kept() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    sender = _sender(Resolver([PUBLIC]), handle)
    assert await sender.send(SecretStr("https://hooks.example:8443/api/x?t=1"), {"a": 1}) == 1
    (request,) = seen
    assert request.url.host == PUBLIC and request.url.port == 8443 and request.url.query == b"t=1"
    assert request.headers["host"] == "hooks.example:8443"
    assert request.extensions["sni_hostname"] == "hooks.example"  # the certificate is checked for the name
    await sender.aclose()


async def test_a_name_that_rebinds_to_loopback_is_refused_at_the_next_delivery_without_a_retry() -> None:
    calls: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url.host))
        return httpx.Response(200)

    resolver = Resolver([PUBLIC], ["127.0.0.1"])
    sender = _sender(resolver, handle)
    assert await sender.send(SecretStr("https://hooks.example/x"), {}) == 1
    with pytest.raises(DeliveryFailed) as info:
        await sender.send(SecretStr("https://hooks.example/x"), {})
    assert calls == [PUBLIC] and info.value.attempts == 1
    assert "refused" in info.value.reason and "hooks.example" not in info.value.reason
    await sender.aclose()


async def test_a_literal_private_address_never_reaches_the_network() -> None:
    calls: list[httpx.Request] = []
    sender = _sender(Resolver([PUBLIC]), lambda r: calls.append(r) or httpx.Response(200))
    for url in (
        "http://127.0.0.1:9/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://localhost/x",
    ):
        with pytest.raises(DeliveryFailed, match="refused"):
            await sender.send(SecretStr(url), {})
    assert calls == []
    await sender.aclose()


async def test_an_unresolvable_name_is_retried_like_a_refused_connection() -> None:
    sender = _sender(Resolver(), lambda r: httpx.Response(200), attempts=3)
    with pytest.raises(DeliveryFailed, match="could not connect") as info:
        await sender.send(SecretStr("https://hooks.example/x"), {})
    assert info.value.attempts == 3
    await sender.aclose()


async def test_redirects_are_not_followed() -> None:
    calls: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://127.0.0.1:9/steal"})

    sender = _sender(Resolver([PUBLIC]), handle)
    with pytest.raises(DeliveryFailed) as info:
        await sender.send(SecretStr("https://hooks.example/x"), {})
    assert info.value.status == 302 and len(calls) == 1
    await sender.aclose()
