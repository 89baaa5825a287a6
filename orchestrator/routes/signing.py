"""The signing broker's route, `POST /internal/sign`, on the internal listener only (the wire format and
the checks are `orchestrator/broker.py`'s). Each signing is logged with tenant, kind, outcome and
duration; never a payload, a token or a signature."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from orchestrator.broker import (
    MAX_BODY_BYTES,
    SIGN_PATH,
    WITHDRAWAL_ADDRESS_PATH,
    Refusal,
    SignRequest,
    read_body,
    refuse_too_large,
)
from orchestrator.context import BrokerDep
from orchestrator.database.models import Tenant
from orchestrator.tenants import TENANT_ID
from shared.logging import get_logger

log = get_logger("orchestrator.broker")

router = APIRouter(tags=["internal"])


def _log(
    tenant_id: str, kind: str, outcome: str, status: int, started: float, reason: str | None = None
) -> None:
    ms = round((time.perf_counter() - started) * 1000, 1)
    log.info("signing", tenant=tenant_id, kind=kind, outcome=outcome, status=status, reason=reason, ms=ms)


async def tenant_of(
    request: Request,
    broker: BrokerDep,
    authorization: str = Header(default=""),
    x_basis_tenant: str = Header(default=""),
) -> Tenant:
    """Runs before the body is read: a caller without the token learns nothing about it."""
    request.state.broker_started = time.perf_counter()
    try:
        if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
            refuse_too_large()
        return broker.authenticate(authorization, x_basis_tenant)
    except Refusal as exc:
        shown = x_basis_tenant if TENANT_ID.match(x_basis_tenant) else "?"
        _log(shown, "?", exc.outcome, exc.status, request.state.broker_started)
        raise HTTPException(exc.status, exc.detail, headers=exc.headers) from None
    except ValueError:  # a content-length that is not a number
        raise HTTPException(400, "The Content-Length header is not a number.") from None


@router.post(
    SIGN_PATH,
    summary="Sign for a bot with its user's Privy wallet, after checking ownership and policy",
    responses={
        401: {"description": "missing or wrong tenant token"},
        403: {"description": "not the tenant's wallet, outside policy, or over the outflow budget"},
        413: {"description": "the request is larger than 64 KiB"},
        422: {"description": "the payload cannot be read"},
        429: {"description": "too many signing requests from this tenant"},
        502: {"description": "Privy failed, or its signature did not verify"},
    },
    # The body is read by hand (at most 64 KiB, then parsed): described here for the schema.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SignRequest.model_json_schema()}},
        }
    },
)
async def sign(request: Request, broker: BrokerDep, tenant: Tenant = Depends(tenant_of)) -> dict[str, Any]:
    started = request.state.broker_started
    kind = "?"
    try:
        body = await _request(request, tenant, started)
        kind = body.kind
        answer = await broker.sign(tenant, body)
    except Refusal as exc:
        _log(tenant.id, kind, exc.outcome, exc.status, started, exc.detail)
        raise HTTPException(exc.status, exc.detail, headers=exc.headers) from None
    _log(tenant.id, kind, "signed", 200, started)
    return answer


@router.get(
    WITHDRAWAL_ADDRESS_PATH,
    summary="The tenant's user's registered EVM withdrawal address, and whether it is usable yet",
    responses={401: {"description": "missing or wrong tenant token"}},
)
async def withdrawal_address(broker: BrokerDep, tenant: Tenant = Depends(tenant_of)) -> dict[str, Any]:
    """`{"evm": {"address", "registered_at", "usable_at", "usable"} | null}`: only the bot's own user's,
    only the EVM one (where Hyperliquid withdrawals go); setting it takes the user's session."""
    if tenant.user_id is None:
        return {"evm": None}
    view = await run_in_threadpool(broker.withdrawals.view, tenant.user_id)
    return {"evm": view["evm"]}


async def _request(request: Request, tenant: Tenant, started: float) -> SignRequest:
    """The signing request in the body: at most 64 KiB read, then parsed (422 with the fields)."""
    raw = await read_body(request)
    try:
        return SignRequest.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        _log(tenant.id, "?", "malformed", 422, started)
        raise HTTPException(422, errors) from None
