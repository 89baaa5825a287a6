"""The per-tenant token: every route but `/health` needs `X-Basis-Token` (only the control plane has it)."""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Security
from fastapi.security import APIKeyHeader

from tenant_bot.api.context import ApiContext, context

HEADER = "X-Basis-Token"
MESSAGE = f"missing or wrong {HEADER}"

_scheme = APIKeyHeader(name=HEADER, auto_error=False, description="The bot's tenant token.")


async def require_token(c: ApiContext = Depends(context), token: str | None = Security(_scheme)) -> None:
    # Constant time, and on bytes: a non-ASCII header must be refused, not crash the comparison.
    given = (token or "").encode("utf-8", "surrogateescape")
    if not token or not hmac.compare_digest(given, c.token):
        raise HTTPException(status_code=401, detail=MESSAGE, headers={"WWW-Authenticate": HEADER})
