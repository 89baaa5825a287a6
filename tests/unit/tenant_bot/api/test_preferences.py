"""Runtime settings and presets (tenant_bot/preferences.py) on a real SQLite file: pure logic, no venue."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tenant_bot.preferences import (
    ALL_ASSETS,
    ALL_PROTOCOLS,
    Preferences,
    PresetError,
    Settings,
    SettingsError,
    risk_settings_from,
)
from tenant_bot.risk.config import RiskConfig
from tenant_bot.storage.database import open_database
from tenant_bot.storage.state import KeyValueStore


def _prefs(tmp_path: Path, applied: list[Settings] | None = None) -> Preferences:
    base = RiskConfig.defaults()
    defaults = Settings(
        leverage=Decimal(3),
        entry_capital_usd=Decimal(1000),
        min_entry_net_apy=Decimal("0.05"),
        max_position_usd=Decimal(250_000),
        allowed_protocols=list(ALL_PROTOCOLS),
        allowed_assets=list(ALL_ASSETS),
        risk=risk_settings_from(base),
    )
    sink = applied if applied is not None else []
    return Preferences(
        KeyValueStore(open_database(tmp_path / "bot.sqlite3")), defaults, base, on_change=sink.append
    )


def test_defaults_mirror_the_risk_file(tmp_path: Path) -> None:
    prefs = _prefs(tmp_path)
    risk = prefs.current.risk
    cfg = RiskConfig.defaults()
    assert risk.asgard_health_close_below == cfg.asgard_health.close_below
    assert risk.funding_close_after_negative_intervals == cfg.funding.close_after_negative_intervals
    assert prefs.risk_config() == cfg


def test_partial_update_is_stored_applied_and_survives_a_restart(tmp_path: Path) -> None:
    applied: list[Settings] = []
    prefs = _prefs(tmp_path, applied)
    out = prefs.update({"leverage": "2.5", "risk": {"lst_depeg_close_above": "0.04"}})
    assert out.leverage == Decimal("2.5") and out.risk.lst_depeg_close_above == Decimal("0.04")
    assert out.risk.asgard_health_close_below == prefs.defaults.risk.asgard_health_close_below
    assert applied == [out]
    assert prefs.risk_config().lst_depeg.close_above == Decimal("0.04")
    again = _prefs(tmp_path)
    assert again.current == out


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"leverage": "4.5"}, ["body", "leverage"]),
        ({"leverage": "NaN"}, ["body", "leverage"]),
        ({"entry_capital_usd": "0"}, ["body", "entry_capital_usd"]),
        ({"min_entry_net_apy": "2"}, ["body", "min_entry_net_apy"]),
        ({"allowed_assets": []}, ["body", "allowed_assets"]),
        ({"allowed_assets": ["DOGE"]}, ["body", "allowed_assets", "0"]),
        ({"risk": {"asgard_health_close_below": "1.5"}}, ["body", "risk", "asgard_health_close_below"]),
        ({"risk": {"asgard_health_close_below": "0.09"}}, ["body", "risk", "asgard_health_close_below"]),
        ({"risk": {"delta_drift_close_above": "0.01"}}, ["body", "risk", "delta_drift_close_above"]),
        ({"notifications": {"webhook_url": "javascript:alert(1)"}}, ["body", "notifications", "webhook_url"]),
        ({"unknown": 1}, ["body", "unknown"]),
    ],
)
def test_a_bad_field_is_refused_with_its_location_and_nothing_changes(
    tmp_path: Path, change: dict, loc: list[str]
) -> None:
    applied: list[Settings] = []
    prefs = _prefs(tmp_path, applied)
    with pytest.raises(SettingsError) as info:
        prefs.update(change)
    assert loc in [e["loc"] for e in info.value.errors]
    assert all(e["msg"] for e in info.value.errors)
    assert prefs.current == prefs.defaults and applied == []


def test_webhook_url_can_be_set_and_cleared(tmp_path: Path) -> None:
    prefs = _prefs(tmp_path)
    url = "https://api.telegram.org/bot123:abc/sendMessage"
    out = prefs.update(
        {"notifications": {"webhook_url": url, "format": "telegram", "telegram_chat_id": "42"}}
    )
    assert out.notifications.webhook_url == url and out.notifications.format == "telegram"
    out = prefs.update({"notifications": {"webhook_url": None}})
    assert out.notifications.webhook_url is None and out.notifications.format == "telegram"


def test_duplicates_in_lists_are_collapsed(tmp_path: Path) -> None:
    out = _prefs(tmp_path).update({"allowed_protocols": ["kamino", "kamino", "drift"]})
    assert out.allowed_protocols == ["kamino", "drift"]


def test_reset_stores_the_defaults(tmp_path: Path) -> None:
    prefs = _prefs(tmp_path)
    prefs.update({"leverage": 2})
    assert prefs.reset() == prefs.defaults
    assert _prefs(tmp_path).current == prefs.defaults


def test_presets_start_filled_and_save_load_rename(tmp_path: Path) -> None:
    prefs = _prefs(tmp_path)
    presets = prefs.presets()
    assert [(p["slot"], p["name"]) for p in presets] == [
        (1, "Conservative"),
        (2, "Balanced"),
        (3, "Aggressive"),
    ]
    assert [p["settings"]["leverage"] for p in presets] == ["2", "3", "4"]
    prefs.update({"leverage": "3.3"})
    saved = prefs.save_preset(3, "Mine")
    assert saved == {"slot": 3, "name": "Mine", "settings": prefs.current.model_dump(mode="json")}
    assert prefs.load_preset(1).leverage == Decimal(2)
    assert prefs.load_preset(3).leverage == Decimal("3.3")
    assert prefs.rename_preset(3, "Weekend")["name"] == "Weekend"
    assert _prefs(tmp_path).presets()[2]["name"] == "Weekend"


@pytest.mark.parametrize("slot", [0, 4, -1])
def test_unknown_slots(tmp_path: Path, slot: int) -> None:
    prefs = _prefs(tmp_path)
    for action in (prefs.load_preset, lambda s: prefs.save_preset(s), lambda s: prefs.rename_preset(s, "x")):
        with pytest.raises(PresetError) as info:
            action(slot)
        assert not info.value.empty


def test_an_empty_slot_cannot_be_loaded(tmp_path: Path) -> None:
    prefs = _prefs(tmp_path)
    prefs._put_preset(2, {"name": "Blank", "settings": None})
    with pytest.raises(PresetError, match="preset 2 is empty") as info:
        prefs.load_preset(2)
    assert info.value.empty
