"""The dashboard page and its assets (`tenant_bot/web/`), under the API's prefix and token."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from shared.web_files import file_below
from tenant_bot.api.context import Context

router = APIRouter(tags=["page"])


@router.get("/", summary="The dashboard page", response_class=FileResponse)
async def index(c: Context) -> FileResponse:
    page = c.web_dir / "index.html"
    if not page.is_file():
        raise HTTPException(
            404, "the dashboard page is not installed in this build (tenant_bot/web/index.html)"
        )
    return FileResponse(page, media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/static/{path:path}", summary="An asset of the page", response_class=FileResponse)
async def static(path: str, c: Context) -> FileResponse:
    target = file_below((c.web_dir / "static").resolve(), path)
    if target is None:
        raise HTTPException(404, f"no asset {path!r}")
    return FileResponse(target, headers={"Cache-Control": "no-cache"})
