"""Webhook notifications of risk alerts, fills and a daily summary (generic JSON, Discord, Telegram).

Wiring, in the bot process, once the bot has started:

    notifier = Notifier.for_bot(status_view, lambda: NotificationConfig.from_settings(current_settings()))
    notifier.attach(events)
    ...
    await notifier.aclose()
"""

from tenant_bot.notifications.config import NotificationConfig
from tenant_bot.notifications.delivery import DeliveryFailed, WebhookSender
from tenant_bot.notifications.messages import FILL_KINDS, RISK_KINDS, Notification, category_of
from tenant_bot.notifications.notifier import Notifier, next_daily_at
from tenant_bot.notifications.summary import bot_summary

__all__ = [
    "FILL_KINDS",
    "RISK_KINDS",
    "DeliveryFailed",
    "Notification",
    "NotificationConfig",
    "Notifier",
    "WebhookSender",
    "bot_summary",
    "category_of",
    "next_daily_at",
]
