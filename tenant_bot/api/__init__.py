"""The bot's dashboard API: FastAPI in the bot's own event loop (`basis-bot serve`)."""

from tenant_bot.api.app import ApiContext, create_app

__all__ = ["ApiContext", "create_app"]
