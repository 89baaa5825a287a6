"""Pause controller (several pauses, resume one or all, JSON round trip) and the kill switch file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenant_bot.risk.kill_switch import KillSwitch
from tenant_bot.risk.pause import PauseController
from tests.unit.tenant_bot.risk.inputs import NOW


def test_pause_until_every_pause_is_lifted() -> None:
    p = PauseController()
    assert not p.paused and p.reasons == []
    p.pause("funding looks odd", "user", now=NOW)
    p.pause("deploying", "operator", now=NOW)
    assert p.paused and [r.key for r in p.reasons] == ["operator", "user"]
    assert p.resume("user", by="user")[0].reason == "funding looks odd"
    assert p.paused
    assert p.resume("user", by="user") == []  # idempotent
    p.resume("operator", by="operator")
    assert not p.paused


def test_same_key_replaces_and_all_resumes_everything() -> None:
    p = PauseController()
    p.pause("first", "user", now=NOW)
    p.pause("second", "user", now=NOW)
    p.pause("risk check", "engine", key="auto", now=NOW)
    assert {(r.key, r.reason) for r in p.reasons} == {("user", "second"), ("auto", "risk check")}
    assert len(p.resume("all", by="operator")) == 2 and not p.paused
    with pytest.raises(ValueError):
        p.pause("", "user")
    with pytest.raises(ValueError):
        p.pause("x", "user", key="all")


def test_pause_survives_a_json_round_trip() -> None:
    p = PauseController()
    p.pause("deploying", "operator", now=NOW)
    restored = PauseController.from_json(p.to_json())
    assert restored.paused and restored.reasons == p.reasons
    assert restored.reasons[0].at == NOW
    assert not PauseController.from_json("").paused
    with pytest.raises(ValueError, match="not a saved pause state"):
        PauseController.from_json('[{"key": "x"}]')


def test_kill_switch_follows_the_file(tmp_path: Path) -> None:
    k = KillSwitch(tmp_path / "sub" / "KILL")
    assert not k.engaged and k.reason is None
    k.engage("incident 42", "ops")
    assert k.engaged and k.reason and "ops: incident 42" in k.reason
    k.release()
    assert not k.engaged
    k.release()  # idempotent
    (tmp_path / "plain").write_text("")
    assert not KillSwitch(tmp_path / "plain" / "KILL").engaged  # a parent that is a file


def test_kill_switch_os_error_counts_as_engaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(_path: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tenant_bot.risk.kill_switch.os.stat", denied)
    assert KillSwitch(tmp_path / "KILL").engaged
