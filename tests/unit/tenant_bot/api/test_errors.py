"""The bot's errors by type: one HTTP status and one exit code each."""

from __future__ import annotations

import pytest

from tenant_bot.api.app import status_of
from tenant_bot.errors import BotError, InvalidRequest, Misconfigured, NotFound, Refused, Unavailable
from tenant_bot.main import _exit_code


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (Refused("halted"), 409, 1),
        (InvalidRequest("leverage 9"), 400, 2),
        (NotFound("no position x"), 404, 2),
        (Unavailable("no rates"), 503, 3),
        (Misconfigured("bad risk file"), 409, 2),
        (BotError("something else"), 409, 1),
    ],
)
def test_each_error_has_its_status_and_exit_code(error: BotError, status: int, code: int) -> None:
    assert status_of(error) == status
    assert _exit_code(error) == code


def test_a_value_error_is_not_a_bots_refusal() -> None:
    assert not issubclass(ValueError, BotError)
