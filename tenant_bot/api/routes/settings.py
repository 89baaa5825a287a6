"""Runtime settings and the three presets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from tenant_bot.api.context import EventsDep, PreferencesDep, PublicWebhooksDep
from tenant_bot.notifications.targets import check_webhook_target
from tenant_bot.preferences import PresetError, PresetName, Settings, SettingsError, SettingsUpdate
from tenant_bot.storage.events import EventLog

router = APIRouter(prefix="/api/v1", tags=["settings"])

Slot = Path(description="Preset slot, 1 to 3")


class PresetSave(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: PresetName | None = None


class PresetRename(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: PresetName


def _changed(events: EventLog, settings: Settings, what: str) -> dict[str, Any]:
    # Field names only: a webhook URL may hold a token and events are logged.
    events.emit("settings.changed", f"Settings {what}", what=what)
    return settings.model_dump(mode="json")


def _invalid(exc: SettingsError) -> JSONResponse:
    return JSONResponse({"detail": exc.errors}, status_code=422)


def _preset_error(exc: PresetError) -> HTTPException:
    return HTTPException(409 if exc.empty else 404, str(exc))


@router.get("/settings", summary="The settings in force")
async def get_settings(prefs: PreferencesDep) -> dict[str, Any]:
    return prefs.current.model_dump(mode="json")


@router.post("/settings", summary="Change any subset of the settings", response_model=None)
async def post_settings(
    prefs: PreferencesDep,
    events: EventsDep,
    public_only: PublicWebhooksDep,
    changes: SettingsUpdate = Body(default_factory=SettingsUpdate),
) -> dict[str, Any] | JSONResponse:
    notifications = changes.notifications
    try:
        if notifications is not None and "webhook_url" in notifications.model_fields_set:
            await check_webhook_target(notifications.webhook_url, public_only=public_only)
        settings = prefs.update(changes)
    except SettingsError as exc:
        return _invalid(exc)
    fields = sorted(changes.model_dump(exclude_unset=True))
    return _changed(events, settings, "changed: " + (", ".join(fields) or "nothing"))


@router.post("/settings/reset", summary="Back to the defaults")
async def reset_settings(prefs: PreferencesDep, events: EventsDep) -> dict[str, Any]:
    return _changed(events, prefs.reset(), "reset to the defaults")


@router.get("/settings/presets", summary="The three preset slots")
async def presets(prefs: PreferencesDep) -> dict[str, Any]:
    return {"presets": prefs.presets()}


@router.post("/settings/presets/{slot}/save", summary="Save the current settings into a slot")
async def save_preset(
    prefs: PreferencesDep, slot: int = Slot, body: PresetSave | None = Body(default=None)
) -> dict[str, Any]:
    try:
        return prefs.save_preset(slot, body.name if body else None)
    except PresetError as exc:
        raise _preset_error(exc) from None


@router.post(
    "/settings/presets/{slot}/load", summary="Make a preset the settings in force", response_model=None
)
async def load_preset(
    prefs: PreferencesDep, events: EventsDep, public_only: PublicWebhooksDep, slot: int = Slot
) -> dict[str, Any] | JSONResponse:
    try:
        stored = prefs.preset(slot)["settings"] or {}
        url = (stored.get("notifications") or {}).get("webhook_url")
        await check_webhook_target(url, public_only=public_only, loc=("preset", str(slot), "webhook_url"))
        settings = prefs.load_preset(slot)
    except PresetError as exc:
        raise _preset_error(exc) from None
    except SettingsError as exc:
        return _invalid(exc)
    return _changed(events, settings, f"loaded from preset {slot}")


@router.post("/settings/presets/{slot}/rename", summary="Rename a preset")
async def rename_preset(
    prefs: PreferencesDep, slot: int = Slot, body: PresetRename = Body()
) -> dict[str, Any]:
    try:
        return prefs.rename_preset(slot, body.name)
    except PresetError as exc:
        raise _preset_error(exc) from None
