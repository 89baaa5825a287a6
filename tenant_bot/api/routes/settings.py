"""Runtime settings and the three presets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from tenant_bot.api.app import ApiContext, ctx
from tenant_bot.preferences import (
    PresetError,
    PresetName,
    Settings,
    SettingsError,
    SettingsUpdate,
    check_webhook_target,
)

router = APIRouter(prefix="/api/v1", tags=["settings"])

Slot = Path(description="Preset slot, 1 to 3")


class PresetSave(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: PresetName | None = None


class PresetRename(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: PresetName


def _changed(c: ApiContext, settings: Settings, what: str) -> dict[str, Any]:
    # Field names only: a webhook URL may hold a token and events are logged.
    c.bot.events.emit("settings.changed", f"Settings {what}", what=what)
    return settings.model_dump(mode="json")


def _invalid(exc: SettingsError) -> JSONResponse:
    return JSONResponse({"detail": exc.errors}, status_code=422)


def _public_only(c: ApiContext) -> bool:
    # Webhooks may reach loopback and private addresses on the devnet only.
    return c.bot.settings.network != "devnet"


def _preset_error(exc: PresetError) -> HTTPException:
    return HTTPException(409 if exc.empty else 404, str(exc))


@router.get("/settings", summary="The settings in force")
async def get_settings(c: ApiContext = Depends(ctx)) -> dict[str, Any]:
    return c.bot.preferences.current.model_dump(mode="json")


@router.post("/settings", summary="Change any subset of the settings", response_model=None)
async def post_settings(
    changes: SettingsUpdate = Body(default_factory=SettingsUpdate), c: ApiContext = Depends(ctx)
) -> dict[str, Any] | JSONResponse:
    notifications = changes.notifications
    try:
        if notifications is not None and "webhook_url" in notifications.model_fields_set:
            await check_webhook_target(notifications.webhook_url, public_only=_public_only(c))
        settings = c.bot.preferences.update(changes)
    except SettingsError as exc:
        return _invalid(exc)
    fields = sorted(changes.model_dump(exclude_unset=True))
    return _changed(c, settings, "changed: " + (", ".join(fields) or "nothing"))


@router.post("/settings/reset", summary="Back to the defaults")
async def reset_settings(c: ApiContext = Depends(ctx)) -> dict[str, Any]:
    return _changed(c, c.bot.preferences.reset(), "reset to the defaults")


@router.get("/settings/presets", summary="The three preset slots")
async def presets(c: ApiContext = Depends(ctx)) -> dict[str, Any]:
    return {"presets": c.bot.preferences.presets()}


@router.post("/settings/presets/{slot}/save", summary="Save the current settings into a slot")
async def save_preset(
    slot: int = Slot, body: PresetSave | None = Body(default=None), c: ApiContext = Depends(ctx)
) -> dict[str, Any]:
    try:
        return c.bot.preferences.save_preset(slot, body.name if body else None)
    except PresetError as exc:
        raise _preset_error(exc) from None


@router.post(
    "/settings/presets/{slot}/load", summary="Make a preset the settings in force", response_model=None
)
async def load_preset(slot: int = Slot, c: ApiContext = Depends(ctx)) -> dict[str, Any] | JSONResponse:
    try:
        stored = c.bot.preferences.preset(slot)["settings"] or {}
        url = (stored.get("notifications") or {}).get("webhook_url")
        await check_webhook_target(url, public_only=_public_only(c), loc=("preset", str(slot), "webhook_url"))
        settings = c.bot.preferences.load_preset(slot)
    except PresetError as exc:
        raise _preset_error(exc) from None
    except SettingsError as exc:
        return _invalid(exc)
    return _changed(c, settings, f"loaded from preset {slot}")


@router.post("/settings/presets/{slot}/rename", summary="Rename a preset")
async def rename_preset(
    slot: int = Slot, body: PresetRename = Body(), c: ApiContext = Depends(ctx)
) -> dict[str, Any]:
    try:
        return c.bot.preferences.rename_preset(slot, body.name)
    except PresetError as exc:
        raise _preset_error(exc) from None
