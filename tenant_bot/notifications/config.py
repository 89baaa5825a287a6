"""Where and what the bot notifies: read from the `notifications` section of the runtime settings.

The webhook URL is a secret: Discord webhook URLs and Telegram bot URLs carry the token that lets
anyone post as the bot. It is kept as a `SecretStr` and registered with the log scrubber, so it
never appears in a log line or an error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from shared.logging import register_secret

Format = Literal["json", "discord", "telegram"]
Category = Literal["risk", "fills", "daily"]
CATEGORIES: tuple[Category, ...] = ("risk", "fills", "daily")


class NotificationConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    webhook_url: SecretStr | None = None
    format: Format = "json"
    telegram_chat_id: str | None = None
    events: frozenset[Category] = frozenset(CATEGORIES)
    # Hour of the day (UTC) at which the daily summary goes out.
    daily_hour_utc: int = Field(default=0, ge=0, le=23)

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        url = value.get_secret_value().strip()
        if not url:
            return None
        if not url.startswith(("http://", "https://")):
            # The URL itself is not repeated: it may hold a token.
            raise ValueError("webhook_url must start with http:// or https://")
        register_secret(url)
        return SecretStr(url)

    @field_validator("telegram_chat_id", mode="before")
    @classmethod
    def _chat_id_text(cls, value: Any) -> Any:
        # Telegram chat ids are often written as numbers (-1001234567890); keep them as text.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def enabled(self) -> bool:
        return self.webhook_url is not None and (self.format != "telegram" or bool(self.telegram_chat_id))

    def wants(self, category: str) -> bool:
        return self.enabled and category in self.events

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> NotificationConfig | None:
        """The config from the runtime Settings JSON (or its `notifications` section alone).

        None when notifications are not configured or the section is invalid: a bad section must
        never stop the bot, and the settings API validates it before storing anyway.
        """
        if not settings:
            return None
        section = settings.get("notifications", settings)
        if not isinstance(section, Mapping) or not section.get("webhook_url"):
            return None
        try:
            return cls.model_validate(dict(section))
        except ValidationError:
            return None
