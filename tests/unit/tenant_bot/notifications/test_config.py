"""Reading the `notifications` section of the runtime settings."""

from __future__ import annotations

import pytest

from tenant_bot.notifications.config import NotificationConfig
from tenant_bot.notifications.messages import FILL_KINDS, RISK_KINDS, category_of

TELEGRAM = "https://api.telegram.org/bot123456:ABC-secret-token/sendMessage"


def test_from_full_settings_and_from_the_section() -> None:
    section = {"webhook_url": TELEGRAM, "format": "telegram", "telegram_chat_id": "-100", "events": ["risk"]}
    full = {"leverage": "3", "notifications": section}
    for source in (full, section):
        config = NotificationConfig.from_settings(source)
        assert config is not None
        assert config.format == "telegram" and config.telegram_chat_id == "-100"
        assert config.events == frozenset({"risk"})
        assert config.wants("risk") and not config.wants("fills") and not config.wants("daily")


def test_the_url_is_a_secret() -> None:
    config = NotificationConfig.from_settings({"notifications": {"webhook_url": TELEGRAM}})
    assert config is not None
    assert "secret-token" not in repr(config) and "secret-token" not in str(config.model_dump())
    assert config.webhook_url is not None and config.webhook_url.get_secret_value() == TELEGRAM


@pytest.mark.parametrize(
    "settings",
    [None, {}, {"notifications": None}, {"notifications": {"webhook_url": None}}, {"leverage": "3"}],
)
def test_not_configured(settings: dict[str, object] | None) -> None:
    assert NotificationConfig.from_settings(settings) is None


def test_invalid_section_is_ignored_not_raised() -> None:
    assert (
        NotificationConfig.from_settings({"notifications": {"webhook_url": "ftp://x", "format": "json"}})
        is None
    )
    assert (
        NotificationConfig.from_settings({"notifications": {"webhook_url": TELEGRAM, "format": "sms"}})
        is None
    )


def test_defaults_and_telegram_needs_a_chat_id() -> None:
    config = NotificationConfig.from_settings({"webhook_url": "http://127.0.0.1:9/x"})
    assert config is not None and config.format == "json"
    assert config.events == frozenset({"risk", "fills", "daily"}) and config.daily_hour_utc == 0
    telegram = NotificationConfig.from_settings({"webhook_url": TELEGRAM, "format": "telegram"})
    assert telegram is not None and not telegram.enabled
    numeric = NotificationConfig.from_settings(
        {"webhook_url": TELEGRAM, "format": "telegram", "telegram_chat_id": 42}
    )
    assert numeric is not None and numeric.telegram_chat_id == "42" and numeric.enabled


def test_event_filter() -> None:
    for kind in (
        "risk.tripped",
        "risk.changed",
        "risk.halted",
        "risk.resumed",
        "execution.hedge_failed",
        "position.unwound",
        "bot.tick_failed",
        "execution.failed",
    ):
        assert kind in RISK_KINDS and category_of(kind) == "risk"
    for kind in ("position.opened", "position.closed", "position.reduced", "position.rebalanced"):
        assert kind in FILL_KINDS and category_of(kind) == "fills"
    assert category_of("daily.summary") == "daily"
    for kind in (
        "notify.failed",
        "rates.tick",
        "pnl.tick",
        "job.progress",
        "execution.started",
        "risk.cleared",
    ):
        assert category_of(kind) is None
