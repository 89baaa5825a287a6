"""The bot's dashboard API: FastAPI in the bot's own event loop (`basis-bot serve`)."""

from tenant_bot.api.app import create_app
from tenant_bot.api.context import ApiContext

__all__ = ["ApiContext", "create_app"]
