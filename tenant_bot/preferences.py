"""Runtime settings a user changes from the dashboard, and the three named presets.

`BotSettings` (environment) gives the defaults; once a user saves settings, the full `Settings`
is stored in the bot's SQLite (KV table `state`, key `settings`; presets under `presets`) and
applied to the running bot at once (risk thresholds through `RiskConfig.with_overrides`).
A change is all or nothing: every field is validated, including the orderings the risk engine
requires (alert before reduce before close), before anything is stored. Outside the devnet a new
webhook URL must also reach only public addresses (`notifications.targets.check_webhook_target`,
awaited by the settings API before it stores a change, since it resolves the URL's host name).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from shared.config_files import merge
from tenant_bot.risk.config import RiskConfig, RiskConfigError
from tenant_bot.storage.state import KeyValueStore

ProtocolName = Literal["kamino", "marginfi", "solend", "drift"]
AssetName = Literal["SOL", "jitoSOL", "mSOL", "jupSOL", "INF"]
NotifyEvents = Literal["risk", "fills", "daily"]
ALL_PROTOCOLS: list[ProtocolName] = ["kamino", "marginfi", "solend", "drift"]
ALL_ASSETS: list[AssetName] = ["SOL", "jitoSOL", "mSOL", "jupSOL", "INF"]
SLOTS = (1, 2, 3)
PresetName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]

# Exact decimals with a bounded size: a 10,000-digit "number" is bad input, not a setting.
Dec = Annotated[Decimal, Field(allow_inf_nan=False, max_digits=30, decimal_places=18)]
Fraction = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False, max_digits=30, decimal_places=18)]

# Which RiskConfig key each dashboard threshold sets.
RISK_KEYS: dict[str, tuple[str, str]] = {
    "asgard_health_close_below": ("asgard_health", "close_below"),
    "asgard_health_reduce_below": ("asgard_health", "reduce_below"),
    "hl_liquidation_distance_close_below": ("hyperliquid_margin", "liquidation_distance_close_below"),
    "delta_drift_close_above": ("delta_drift", "close_above"),
    "funding_close_after_negative_intervals": ("funding", "close_after_negative_intervals"),
    "lst_depeg_close_above": ("lst_depeg", "close_above"),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RiskSettings(_Model):
    asgard_health_close_below: Fraction
    asgard_health_reduce_below: Fraction
    hl_liquidation_distance_close_below: Fraction
    delta_drift_close_above: Fraction
    funding_close_after_negative_intervals: int = Field(ge=1, le=24 * 30)
    lst_depeg_close_above: Fraction


def _check_webhook(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
        raise ValueError("must be an http:// or https:// URL")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain spaces")
    return value


class NotificationSettings(_Model):
    # May hold a token (Discord, Telegram): never logged, never put in an event.
    webhook_url: str | None = Field(default=None, max_length=2000)
    format: Literal["json", "discord", "telegram"] = "json"
    telegram_chat_id: str | None = Field(default=None, max_length=64)
    events: list[NotifyEvents] = Field(default_factory=lambda: ["risk", "fills", "daily"], max_length=3)

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _check_webhook(value)


class Settings(_Model):
    leverage: Dec = Field(ge=2, le=4)
    auto_entry: bool = False
    entry_capital_usd: Dec = Field(gt=0, le=10**12)
    min_entry_net_apy: Dec = Field(ge=-1, le=1)
    max_position_usd: Dec = Field(gt=0, le=10**12)
    allowed_protocols: list[ProtocolName] = Field(min_length=1, max_length=4)
    allowed_assets: list[AssetName] = Field(min_length=1, max_length=5)
    risk: RiskSettings
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)

    @field_validator("allowed_protocols", "allowed_assets")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class RiskSettingsUpdate(_Model):
    asgard_health_close_below: Fraction | None = None
    asgard_health_reduce_below: Fraction | None = None
    hl_liquidation_distance_close_below: Fraction | None = None
    delta_drift_close_above: Fraction | None = None
    funding_close_after_negative_intervals: int | None = Field(default=None, ge=1, le=24 * 30)
    lst_depeg_close_above: Fraction | None = None


class NotificationSettingsUpdate(_Model):
    webhook_url: str | None = Field(default=None, max_length=2000)
    format: Literal["json", "discord", "telegram"] | None = None
    telegram_chat_id: str | None = Field(default=None, max_length=64)
    events: list[NotifyEvents] | None = Field(default=None, max_length=3)

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _check_webhook(value)


class SettingsUpdate(_Model):
    """Any subset of `Settings`; a field left out keeps its value (`null` clears the webhook)."""

    leverage: Dec | None = Field(default=None, ge=2, le=4)
    auto_entry: bool | None = None
    entry_capital_usd: Dec | None = Field(default=None, gt=0, le=10**12)
    min_entry_net_apy: Dec | None = Field(default=None, ge=-1, le=1)
    max_position_usd: Dec | None = Field(default=None, gt=0, le=10**12)
    allowed_protocols: list[ProtocolName] | None = Field(default=None, min_length=1, max_length=4)
    allowed_assets: list[AssetName] | None = Field(default=None, min_length=1, max_length=5)
    risk: RiskSettingsUpdate | None = None
    notifications: NotificationSettingsUpdate | None = None


class SettingsError(ValueError):
    """Settings that cannot be used, one entry per field in FastAPI's 422 shape."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
        self.errors = errors


class PresetError(LookupError):
    """An unknown slot (404) or an empty one (409)."""

    def __init__(self, message: str, *, empty: bool = False) -> None:
        super().__init__(message)
        self.empty = empty


def risk_overrides(risk: RiskSettings) -> dict[str, Any]:
    overrides: dict[str, dict[str, Any]] = {}
    for name, (section, key) in RISK_KEYS.items():
        overrides.setdefault(section, {})[key] = getattr(risk, name)
    return overrides


def risk_settings_from(config: RiskConfig) -> RiskSettings:
    values = {name: getattr(getattr(config, section), key) for name, (section, key) in RISK_KEYS.items()}
    return RiskSettings.model_validate(values)


def _field_errors(exc: ValidationError, prefix: tuple[str, ...] = ("body",)) -> list[dict[str, Any]]:
    return [
        {"loc": [*prefix, *map(str, e["loc"])], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


class Preferences:
    """The stored settings and presets of one bot; `on_change` applies them to the running bot."""

    def __init__(
        self,
        store: KeyValueStore,
        defaults: Settings,
        base_risk: RiskConfig,
        on_change: Callable[[Settings], None] | None = None,
    ) -> None:
        self._kv = store
        self.defaults = defaults
        self.base_risk = base_risk
        self.on_change = on_change
        saved = self._kv.get("settings")
        self.current = self.defaults
        if saved:
            try:
                self.current = self.validate(Settings.model_validate(saved))
            except (ValidationError, SettingsError):
                # Saved under other thresholds (a changed risk file): fall back to the defaults.
                self.current = self.defaults

    # ------------------------------------------------------------------ settings
    def risk_config(self, settings: Settings | None = None) -> RiskConfig:
        return self.base_risk.with_overrides(risk_overrides((settings or self.current).risk))

    def validate(self, settings: Settings) -> Settings:
        """The settings if the risk engine accepts their thresholds, else a SettingsError per field."""
        try:
            self.risk_config(settings)
        except RiskConfigError as exc:
            problems = str(exc).split(": ", 1)[-1].split("; ")
            errors = [
                {"loc": ["body", "risk", name], "msg": problem, "type": "value_error"}
                for problem in problems
                for name, (section, key) in RISK_KEYS.items()
                if problem.startswith(section) and key in problem
            ]
            raise SettingsError(
                errors or [{"loc": ["body", "risk"], "msg": "; ".join(problems), "type": "value_error"}]
            ) from None
        return settings

    def update(self, changes: SettingsUpdate | dict[str, Any]) -> Settings:
        """Apply a partial change; nothing is stored unless the whole result is valid."""
        if isinstance(changes, dict):
            try:
                changes = SettingsUpdate.model_validate(changes)
            except ValidationError as exc:
                raise SettingsError(_field_errors(exc)) from None
        patch = changes.model_dump(mode="python", exclude_unset=True)
        merged = merge(self.current.model_dump(mode="python"), patch)
        try:
            settings = Settings.model_validate(merged)
        except ValidationError as exc:
            raise SettingsError(_field_errors(exc)) from None
        return self._store(self.validate(settings))

    def reset(self) -> Settings:
        return self._store(self.defaults)

    def _store(self, settings: Settings) -> Settings:
        self._kv.set("settings", settings.model_dump(mode="json"))
        self.current = settings
        if self.on_change is not None:
            self.on_change(settings)
        return settings

    # ------------------------------------------------------------------ presets
    def presets(self) -> list[dict[str, Any]]:
        stored = self._kv.get("presets") or {}
        out = []
        for slot in SLOTS:
            entry = stored.get(str(slot)) or self._builtin(slot)
            out.append({"slot": slot, "name": entry["name"], "settings": entry.get("settings")})
        return out

    def preset(self, slot: int) -> dict[str, Any]:
        self._check_slot(slot)
        return self.presets()[slot - 1]

    def save_preset(self, slot: int, name: str | None = None) -> dict[str, Any]:
        entry = self.preset(slot)
        entry = {"name": name or entry["name"], "settings": self.current.model_dump(mode="json")}
        self._put_preset(slot, entry)
        return {"slot": slot, **entry}

    def load_preset(self, slot: int) -> Settings:
        entry = self.preset(slot)
        if not entry["settings"]:
            raise PresetError(f"preset {slot} is empty", empty=True)
        try:
            settings = Settings.model_validate(entry["settings"])
        except ValidationError as exc:
            raise SettingsError(_field_errors(exc, ("preset", str(slot)))) from None
        return self._store(self.validate(settings))

    def rename_preset(self, slot: int, name: str) -> dict[str, Any]:
        entry = self.preset(slot)
        entry = {"name": name, "settings": entry["settings"]}
        self._put_preset(slot, entry)
        return {"slot": slot, **entry}

    def _builtin(self, slot: int) -> dict[str, Any]:
        """The three starting presets: the defaults at 2x, 3x and 4x, stricter to looser on entry."""
        base = self.defaults.model_dump(mode="python")
        name, changes = {
            1: ("Conservative", {"leverage": Decimal(2), "min_entry_net_apy": Decimal("0.08")}),
            2: ("Balanced", {"leverage": Decimal(3)}),
            3: ("Aggressive", {"leverage": Decimal(4), "min_entry_net_apy": Decimal("0.03")}),
        }[slot]
        settings = Settings.model_validate({**base, **changes})
        return {"name": name, "settings": settings.model_dump(mode="json")}

    @staticmethod
    def _check_slot(slot: int) -> None:
        if slot not in SLOTS:
            raise PresetError(f"there is no preset {slot}; the slots are 1, 2 and 3")

    def _put_preset(self, slot: int, entry: dict[str, Any]) -> None:
        stored = dict(self._kv.get("presets") or {})
        stored[str(slot)] = entry
        self._kv.set("presets", stored)
