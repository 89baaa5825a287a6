"""The control plane's errors as HTTP answers, mapped by type: each is a sentence for a person in
`{"detail": ...}` (`ErrorBody`), never a stack trace. What is not listed here is a bug (500)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from orchestrator.runtimes.base import RuntimeUnavailable
from orchestrator.runtimes.process import BotIsolationError
from orchestrator.tenants import TenantError
from orchestrator.withdrawals import InvalidAddress, NoSuchUser
from shared.logging import get_logger

log = get_logger(__name__)


class ErrorBody(BaseModel):
    """What an error answer holds: a sentence for a person, or FastAPI's list of field errors."""

    detail: str | list[dict[str, Any]]


# Bad input about an address: 422 with its sentence. Gone since the session began: sign in again.
ANSWERS: dict[type[Exception], int] = {InvalidAddress: 422, NoSuchUser: 401, TenantError: 409}
# The runtime cannot start bots just now: the operator's problem, said to the user without its details.
UNAVAILABLE: tuple[type[Exception], ...] = (RuntimeUnavailable, BotIsolationError)


async def _answer(_request: Request, exc: Exception) -> JSONResponse:
    status = next(code for cls, code in ANSWERS.items() if isinstance(exc, cls))
    detail = "Sign in first." if isinstance(exc, NoSuchUser) else str(exc)
    return JSONResponse({"detail": detail}, status_code=status)


async def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.error("the runtime cannot start a bot", error=str(exc))
    return JSONResponse(
        {"detail": "Your bot cannot be started just now; try again in a few minutes."}, status_code=503
    )


def install_error_handlers(app: FastAPI) -> None:
    for error in ANSWERS:
        app.add_exception_handler(error, _answer)
    for error in UNAVAILABLE:
        app.add_exception_handler(error, _unavailable)
