"""Webhook targets on private, loopback or link-local addresses, replayed against bots outside the
devnet (network `testnet`, a server secret and an API token of their own, the venues of a real devnet).

Before: a user could set `notifications.webhook_url` to http://127.0.0.1:<port>/..., a private
address or the cloud metadata service, and the bot would POST there from inside our network. Now,
outside the devnet, such URLs are refused at save (422 with a sentence) and at delivery (the name is
resolved, every address checked, the connection made to the checked address, redirects not followed).
On the devnet they stay allowed: the devnet's own tests deliver to loopback receivers.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from shared.network_addresses import is_loopback_host
from tenant_bot.bot import Bot
from tenant_bot.config import BotSettings
from tenant_bot.notifications.targets import PublicOnlyTransport
from tests.integration.tenant_bot.notifications.webhook_receiver import WebhookReceiver
from tests.support.bot import BotProcess, ServedBot, serve
from tests.support.devnet import DevnetProcess

pytestmark = pytest.mark.devnet

FIELD = ["body", "notifications", "webhook_url"]


def _loopback_names() -> list[str]:
    """`localhost`, and this machine's name when the resolver maps it to loopback only (Debian's
    /etc/hosts does): a name that is not `localhost` but resolves there, checked by resolution."""
    names = ["localhost"]
    try:
        infos = socket.getaddrinfo(socket.gethostname(), 80, type=socket.SOCK_STREAM)
    except OSError:
        return names
    if infos and all(is_loopback_host(str(info[4][0])) for info in infos):
        names.append(socket.gethostname())
    return names


def _targets(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/hook",
        f"http://127.0.0.2:{port}/hook",
        "http://10.0.0.1/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hook",
        f"http://[::1]:{port}/hook",
        f"http://[::ffff:127.0.0.1]:{port}/hook",
        f"http://0.0.0.0:{port}/hook",
        *(f"http://{name}:{port}/hook" for name in _loopback_names()),
    ]


@pytest.fixture(scope="module")
def outside(devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedBot]:
    bot = BotProcess(devnet, Path(tmp_path_factory.mktemp("testnet-bot")), tenant_id="hooks-testnet")
    served = serve(bot, BASIS_NETWORK="testnet")
    yield served
    served.stop()


def test_private_webhook_targets_are_refused_at_save(outside: ServedBot) -> None:
    with WebhookReceiver() as receiver, outside.client() as api:
        before = api.get("/api/v1/settings").json()
        for url in _targets(receiver.port):
            r = api.post("/api/v1/settings", json={"notifications": {"webhook_url": url, "format": "json"}})
            assert r.status_code == 422, (url, r.text)
            (error,) = r.json()["detail"]
            assert error["loc"] == FIELD, url
            assert error["msg"].startswith("The webhook URL ") and error["msg"].endswith("."), error
            assert url not in error["msg"] and str(receiver.port) not in error["msg"]
        assert api.get("/api/v1/settings").json() == before
        assert receiver.requests == []
        # A public address is accepted (nothing is sent at save).
        public = "https://93.184.216.34/hook"
        r = api.post("/api/v1/settings", json={"notifications": {"webhook_url": public}})
        assert r.status_code == 200 and r.json()["notifications"]["webhook_url"] == public


def test_private_webhook_targets_are_allowed_on_the_devnet(devnet: DevnetProcess, tmp_path: Path) -> None:
    served = serve(BotProcess(devnet, tmp_path / "devnet-bot", tenant_id="hooks-devnet"))
    try:
        with WebhookReceiver() as receiver, served.client() as api:
            r = api.post("/api/v1/settings", json={"notifications": {"webhook_url": receiver.url()}})
            assert r.status_code == 200, r.text
    finally:
        served.stop()


async def test_private_webhook_targets_are_refused_at_delivery(devnet: DevnetProcess, tmp_path: Path) -> None:
    """A private URL already stored (saved before this check, or while the data folder served a
    devnet bot) is refused when the bot's own notifier delivers: the receiver gets nothing."""
    settings = BotSettings(
        tenant_id="hooks-delivery",
        data_dir=tmp_path / "bot",
        network="testnet",
        server_secret=SecretStr("delivery-test-secret-0123456789"),
        hyperliquid_url=devnet.url("hyperliquid"),
        asgard_url=devnet.url("asgard"),
        asgard_api_key=SecretStr("test-key"),  # required on testnet (shared/networks.py)
        solana_rpc_url=devnet.url("solana"),
        arbitrum_rpc_url=devnet.url("arbitrum"),
    )
    bot = Bot(settings)
    await bot.start()
    try:
        with WebhookReceiver() as receiver:
            for url in _targets(receiver.port):
                # Stored directly, as an older version or a devnet run would have left it.
                bot.services.preferences.update({"notifications": {"webhook_url": url, "format": "json"}})
                bot.services.events.emit(
                    "risk.tripped", "A breaker tripped (test)", severity="warning", breaker="test"
                )
                assert bot.notifier is not None
                await bot.notifier.flush(timeout=30)
            assert receiver.requests == []
            assert bot.notifier.delivered == 0 and bot.notifier.failed == len(_targets(receiver.port))
            (failed,) = bot.services.events.since(0, kind="notify.failed")  # one per failure streak
            assert "refused" in failed.data["reason"] and failed.data["attempts"] == 1
            assert str(receiver.port) not in failed.message
    finally:
        await bot.aclose()


async def test_delivery_connects_to_the_address_it_checked() -> None:
    """Over real sockets: a name that exists in no DNS, vetted through a resolver that says
    127.0.0.1, reaches the receiver on 127.0.0.1 with `Host` still the name. The connection went to
    the checked address, so a resolver answering differently a moment later could not redirect it."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    with WebhookReceiver() as receiver:
        transport = PublicOnlyTransport(
            httpx.AsyncHTTPTransport(), resolve=resolve, allowed=lambda address: address == "127.0.0.1"
        )
        async with httpx.AsyncClient(transport=transport, timeout=10) as client:
            r = await client.post(f"http://hooks.invalid:{receiver.port}/hook", json={"ok": True})
        assert r.status_code == 200 and asked == ["hooks.invalid"]
        (got,) = receiver.requests
        assert got.headers["Host"] == f"hooks.invalid:{receiver.port}" and got.body == {"ok": True}
