"""The per-tenant token: every route but `/health` needs `X-Basis-Token` (only the control plane has it)."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader

HEADER = "X-Basis-Token"
MESSAGE = f"missing or wrong {HEADER}"

_scheme = APIKeyHeader(name=HEADER, auto_error=False, description="The bot's tenant token.")


async def require_token(request: Request, token: str | None = Security(_scheme)) -> None:
    expected: bytes = request.app.state.ctx.token
    # Constant time, and on bytes: a non-ASCII header must be refused, not crash the comparison.
    given = (token or "").encode("utf-8", "surrogateescape")
    if not token or not hmac.compare_digest(given, expected):
        raise HTTPException(status_code=401, detail=MESSAGE, headers={"WWW-Authenticate": HEADER})
