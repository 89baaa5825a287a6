"""The bot's refusals and failures, by type: the CLI maps each to an exit code, the API to a status.

Each carries one sentence for the user. The CLI's exit codes (`tenant_bot/main.py`): 1 `Refused`
(and any other `BotError`), 2 `InvalidRequest`, `NotFound` and `Misconfigured`, 3 `Unavailable`.
The API's statuses (`tenant_bot/api/app.py`): 409, 400, 404, and 503.
"""

from __future__ import annotations


class BotError(Exception):
    """Something the bot will not or cannot do now, said in a sentence."""


class Refused(BotError):
    """Not now: trading is halted or paused, no market matches, the position cannot be sized."""


class InvalidRequest(BotError):
    """The request itself is wrong: an unknown collateral, a leverage out of range."""


class NotFound(BotError):
    """What the request names does not exist (a position id)."""


class Misconfigured(BotError):
    """The bot cannot start with its settings (a bad risk file, a broker signer without its address)."""


class Unavailable(BotError):
    """A venue, a chain or the bot's own database could not be reached."""
