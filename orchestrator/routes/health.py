"""`GET /health`: the listener answers (each of the control plane's two has it)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()


@router.get("/health", summary="This listener answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}
