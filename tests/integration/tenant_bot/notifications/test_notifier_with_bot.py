"""The notifier on a real bot (in-process) against a real devnet, delivering to a real HTTP receiver.

- a breaker trip reaches the receiver in the configured format;
- a deposit waiting for gas on Arbitrum reaches it once;
- with the receiver down, positions still open and close, ticks are not slowed, one `notify.failed`
  is recorded;
- a receiver answering 500 then 200 gets the message exactly once;
- Discord and Telegram bodies, as received, match those APIs' documented request shapes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from shared.retry import RetryPolicy
from tenant_bot.bot import Bot
from tenant_bot.config import BotSettings
from tenant_bot.notifications import NotificationConfig, Notifier
from tests.integration.tenant_bot.notifications.webhook_receiver import Received, WebhookReceiver, closed_port
from tests.support.devnet import DevnetProcess

pytestmark = pytest.mark.devnet

Configs = dict[str, NotificationConfig | None]


def _settings(dn: DevnetProcess, data_dir: Path) -> BotSettings:
    return BotSettings(
        tenant_id="inproc",
        data_dir=data_dir,
        server_secret=SecretStr("in-process-test-secret"),
        hyperliquid_url=dn.url("hyperliquid"),
        asgard_url=dn.url("asgard"),
        solana_rpc_url=dn.url("solana"),
        arbitrum_rpc_url=dn.url("arbitrum"),
    )


async def _funded_bot(dn: DevnetProcess, data_dir: Path) -> Bot:
    bot = Bot(_settings(dn, data_dir))
    await bot.start()
    me = bot.services.wallet_signer
    dn.faucet("solana", "SOL", me.solana_address, "1")
    dn.faucet("solana", "USDC", me.solana_address, "1000")
    dn.faucet("hyperliquid", "USDC", me.evm_address, "1000")
    return bot


def _config(url: str, **extra: Any) -> NotificationConfig:
    return NotificationConfig.model_validate({"webhook_url": url, **extra})


def _kind(kind: str) -> Callable[[Received], bool]:
    return lambda r: isinstance(r.body, dict) and r.body.get("kind") == kind


# ---------------------------------------------------------------------- (1) a breaker trip
async def test_a_breaker_trip_reaches_the_receiver(
    devnet_factory: Callable[..., DevnetProcess], tmp_path: Path
) -> None:
    dn = devnet_factory(seed=32, speed=1.0)
    with WebhookReceiver() as receiver:
        bot = await _funded_bot(dn, tmp_path / "bot")
        configs: Configs = {"now": _config(receiver.url(), format="json", events=["risk"])}
        notifier = Notifier.for_bot(bot.status, lambda: configs["now"])
        notifier.attach(bot.services.events)
        try:
            opened = await bot.trader.open_position(Decimal(1000), asset="jitoSOL")
            assert opened.outcome == "completed"
            await bot.tick()  # records the LST's reference rate
            dn.scenario("lst_depeg", asset="jitoSOL", discount=0.08)
            dn.advance(hours=1)
            await bot.tick()
            await bot.tick()
            [tripped] = await receiver.wait_for(
                lambda r: _kind("risk.tripped")(r) and r.body["data"]["breaker"] == "lst_depeg"
            )
            body = tripped.body
            assert set(body) == {"kind", "severity", "message", "at", "data", "bot"}
            assert body["bot"] == "inproc" and body["severity"] == "warning"
            assert body["data"]["breaker"] == "lst_depeg" and "jitoSOL" in body["message"]
            assert datetime.fromisoformat(body["at"]).tzinfo is not None
            assert tripped.headers["Content-Type"].startswith("application/json")
            # Only the chosen category: the fill (position.opened) was not sent.
            assert not [r for r in receiver.accepted() if r.body["kind"].startswith("position.")]
            await bot.trader.tasks.settle()
            assert bot.services.journal.position(opened.position_id).status == "closed"
        finally:
            await notifier.aclose()
            await bot.aclose()


# ---------------------------------------------------------------------- (1b) a deposit waiting for gas
async def test_a_deposit_waiting_for_gas_reaches_the_receiver(
    devnet_factory: Callable[..., DevnetProcess], tmp_path: Path
) -> None:
    dn = devnet_factory(seed=34, speed=1.0)
    with WebhookReceiver() as receiver:
        bot = Bot(_settings(dn, tmp_path / "bot"))
        await bot.start()
        notifier = Notifier.for_bot(
            bot.status, lambda: _config(receiver.url(), format="json", events=["risk"])
        )
        notifier.attach(bot.services.events)
        try:
            evm = bot.services.wallet_signer.evm_address
            dn.faucet("arbitrum", "USDC", evm, "50")
            await bot.services.deposits.poll()
            [waiting] = await receiver.wait_for(_kind("deposit.no_gas"))
            assert waiting.body["severity"] == "warning"
            assert "50 USDC" in waiting.body["message"] and evm in waiting.body["message"]
            await bot.services.deposits.poll()  # still no gas: said once, not at every poll
            await bot.services.deposits.poll()
            assert len([r for r in receiver.accepted() if _kind("deposit.no_gas")(r)]) == 1
        finally:
            await notifier.aclose()
            await bot.aclose()


# ---------------------------------------------------------------------- (2) the receiver is down
async def test_with_the_receiver_down_trading_goes_on(devnet: DevnetProcess, tmp_path: Path) -> None:
    bot = await _funded_bot(devnet, tmp_path / "bot")
    port = closed_port()
    url = f"http://127.0.0.1:{port}/hook"
    configs: Configs = {"now": _config(url, format="discord")}
    # Default retries (4 attempts, 0.5 s back-off doubling): each message takes seconds to give up.
    notifier = Notifier.for_bot(bot.status, lambda: configs["now"])
    notifier.attach(bot.services.events)
    try:
        baseline = [(await bot.tick()).total_ms for _ in range(3)]
        t0 = time.perf_counter()
        opened = await bot.trader.open_position(Decimal(1000), asset="SOL", protocol="kamino")
        open_seconds = time.perf_counter() - t0
        assert opened.outcome == "completed"
        # Ticks while deliveries retry in the background are as fast as before.
        during = [(await bot.tick()).total_ms for _ in range(3)]
        assert notifier.failed == 0, "no delivery has given up yet: these ticks overlapped the retries"
        assert max(during) < max(max(baseline) * 3, 250), (baseline, during)
        closed = await bot.trader.close_position(opened.position_id)
        assert closed.outcome == "completed"
        assert bot.services.journal.position(opened.position_id).status == "closed"
        assert open_seconds < 30
        await notifier.flush(timeout=60)
        assert notifier.failed >= 2 and notifier.delivered == 0
        failed = bot.services.events.since(0, kind="notify.failed")
        assert len(failed) == 1, "one notify.failed per failure streak"
        assert failed[0].data["attempts"] == 4 and failed[0].severity == "warning"
        assert str(port) not in failed[0].message and "127.0.0.1" not in failed[0].message
    finally:
        await notifier.aclose()
        await bot.aclose()


async def test_a_hanging_receiver_does_not_slow_a_tick(devnet: DevnetProcess, tmp_path: Path) -> None:
    """A receiver that accepts connections and never answers: each attempt waits for its timeout."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # never accepted, never answered
    bot = await _funded_bot(devnet, tmp_path / "bot")
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    notifier = Notifier.for_bot(
        bot.status, lambda: _config(url), timeout=1.0, retry=RetryPolicy(attempts=2, base_delay=0.1)
    )
    notifier.attach(bot.services.events)
    try:
        baseline = [(await bot.tick()).total_ms for _ in range(2)]
        for i in range(5):
            bot.services.events.emit("risk.tripped", f"synthetic trip {i}", severity="warning")
        during = [(await bot.tick()).total_ms for _ in range(3)]
        assert max(during) < max(max(baseline) * 3, 250), (baseline, during)
        assert notifier.delivered == 0
    finally:
        await notifier.aclose(drain_seconds=0)
        await bot.aclose()
        listener.close()


# ---------------------------------------------------------------------- (3) 500, then 200
async def test_500_then_200_is_delivered_once(devnet: DevnetProcess, tmp_path: Path) -> None:
    with WebhookReceiver(statuses=[500, 500]) as receiver:
        bot = await _funded_bot(devnet, tmp_path / "bot")
        configs: Configs = {"now": _config(receiver.url(), events=["fills"])}
        notifier = Notifier.for_bot(
            bot.status, lambda: configs["now"], retry=RetryPolicy(attempts=4, base_delay=0.2)
        )
        notifier.attach(bot.services.events)
        try:
            opened = await bot.trader.open_position(Decimal(1000), asset="SOL", protocol="kamino")
            assert opened.outcome == "completed"
            await notifier.flush()
            assert [r.status for r in receiver.requests] == [500, 500, 200]
            [delivered] = receiver.accepted()
            assert delivered.body["kind"] == "position.opened"
            assert delivered.body["data"]["position_id"] == opened.position_id
            assert all(r.body == delivered.body for r in receiver.requests), "the same body each attempt"
            assert notifier.delivered == 1 and bot.services.events.since(0, kind="notify.failed") == []
            await bot.trader.close_position(opened.position_id)
        finally:
            await notifier.aclose()
            await bot.aclose()


# ---------------------------------------------------------------------- (4) Discord and Telegram shapes
DISCORD_EMBED_KEYS = {
    "title", "type", "description", "url", "timestamp", "color", "footer", "image", "thumbnail", "video",
    "provider", "author", "fields",
}  # fmt: skip
DISCORD_BODY_KEYS = {
    "content", "username", "avatar_url", "tts", "embeds", "allowed_mentions", "components", "files",
    "payload_json", "attachments", "flags", "thread_name", "applied_tags", "poll",
}  # fmt: skip
TELEGRAM_SEND_MESSAGE_KEYS = {
    "business_connection_id", "chat_id", "message_thread_id", "text", "parse_mode", "entities",
    "link_preview_options", "disable_web_page_preview", "disable_notification", "protect_content",
    "allow_paid_broadcast", "message_effect_id", "reply_parameters", "reply_markup",
}  # fmt: skip
MARKDOWN_V2_RESERVED = set("_*[]()~`>#+-=|{}.!")


def assert_discord_webhook_body(body: dict[str, Any]) -> None:
    """Discord "Execute Webhook": JSON params and embed limits as documented by Discord."""
    assert set(body) <= DISCORD_BODY_KEYS
    assert body.get("content") or body.get("embeds")
    assert isinstance(body["content"], str) and len(body["content"]) <= 2000
    embeds = body["embeds"]
    assert isinstance(embeds, list) and 1 <= len(embeds) <= 10
    for embed in embeds:
        assert set(embed) <= DISCORD_EMBED_KEYS
        assert isinstance(embed["title"], str) and len(embed["title"]) <= 256
        assert len(embed["description"]) <= 4096
        assert isinstance(embed["color"], int) and 0 <= embed["color"] <= 0xFFFFFF
        assert datetime.fromisoformat(embed["timestamp"]).tzinfo is not None
        assert len(embed["fields"]) <= 25
        total = len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
        for field in embed["fields"]:
            assert set(field) <= {"name", "value", "inline"}
            assert 1 <= len(field["name"]) <= 256 and 1 <= len(field["value"]) <= 1024
            assert isinstance(field.get("inline", False), bool)
            total += len(field["name"]) + len(field["value"])
        assert len(embed["footer"]["text"]) <= 2048 and total <= 6000
    mentions = body["allowed_mentions"]
    assert set(mentions) <= {"parse", "roles", "users", "replied_user"} and mentions["parse"] == []


def assert_markdown_v2(text: str) -> None:
    """Every reserved character is escaped, except the `*` pairs of bold entities (balanced)."""
    i, stars = 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            assert i + 1 < len(text) and 1 <= ord(text[i + 1]) <= 126, f"bad escape at {i}"
            i += 2
            continue
        if ch == "*":
            stars += 1
        else:
            assert ch not in MARKDOWN_V2_RESERVED, (
                f"unescaped {ch!r} at {i}: {text[max(0, i - 20) : i + 20]!r}"
            )
        i += 1
    assert stars % 2 == 0, "unbalanced bold entity"


def assert_telegram_send_message(received: Received, chat_id: int) -> None:
    """Telegram Bot API `sendMessage`: POST /bot<token>/sendMessage with documented parameters."""
    assert re.fullmatch(r"/bot\d+:[A-Za-z0-9_-]+/sendMessage", received.path)
    body = received.body
    assert set(body) <= TELEGRAM_SEND_MESSAGE_KEYS
    assert body["chat_id"] == chat_id
    assert isinstance(body["text"], str) and 1 <= len(body["text"].encode("utf-16-le")) // 2 <= 4096
    assert body.get("parse_mode") in (None, "MarkdownV2", "HTML", "Markdown")
    if body.get("parse_mode") == "MarkdownV2":
        assert_markdown_v2(body["text"])
    assert body["disable_web_page_preview"] is True


async def test_discord_and_telegram_bodies_match_their_apis(devnet: DevnetProcess, tmp_path: Path) -> None:
    with WebhookReceiver(style="discord") as discord, WebhookReceiver(style="telegram") as telegram:
        bot = await _funded_bot(devnet, tmp_path / "bot")
        configs: Configs = {"now": _config(discord.url("/api/webhooks/123/tok-en"), format="discord")}
        notifier = Notifier.for_bot(bot.status, lambda: configs["now"])
        notifier.attach(bot.services.events)
        try:
            opened = await bot.trader.open_position(Decimal(1000), asset="SOL", protocol="kamino")
            await notifier.flush()
            [discord_open] = await discord.wait_for(lambda r: "opened" in r.body["embeds"][0]["title"])
            assert_discord_webhook_body(discord_open.body)
            assert discord_open.body["embeds"][0]["color"] == 0x3498DB  # info
            assert await notifier.send_daily_summary()
            [daily] = await discord.wait_for(lambda r: r.body["embeds"][0]["title"] == "Daily summary")
            assert_discord_webhook_body(daily.body)
            fields = {f["name"]: f["value"] for f in daily.body["embeds"][0]["fields"]}
            assert fields["Open positions"] == "1" and fields["Trading state"].startswith("active")
            assert fields["Funding, last 24 h"].endswith("USDC")
            # A critical event, with text full of Markdown-reserved characters, to Telegram.
            configs["now"] = _config(
                telegram.url("/bot123456:AA-secret_token/sendMessage"),
                format="telegram",
                telegram_chat_id="-1001234567890",
            )
            bot.trader.halt("Hyperliquid holds a SOL short of 0.5 [x] (closed_by_hand?) #1 > -2!")
            await notifier.flush()
            [halted] = await telegram.wait_for(lambda r: "halted" in r.body["text"])
            assert_telegram_send_message(halted, -1001234567890)
            assert "🚨" in halted.body["text"]
            assert "\\(closed\\_by\\_hand?\\) \\#1 \\> \\-2\\!" in halted.body["text"]
            assert await notifier.send_daily_summary()
            [daily_tg] = await telegram.wait_for(lambda r: "Daily summary" in r.body["text"])
            assert_telegram_send_message(daily_tg, -1001234567890)
            bot.trader.resume_from_halt("test")
            await bot.trader.close_position(opened.position_id)
            await notifier.flush()
            closed = await telegram.wait_for(lambda r: "Position closed" in r.body["text"])
            assert_telegram_send_message(closed[0], -1001234567890)
        finally:
            await notifier.aclose()
            await bot.aclose()
