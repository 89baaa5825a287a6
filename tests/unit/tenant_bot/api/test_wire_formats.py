"""Pure pieces of the API: SSE frames, Prometheus labels, the devnet token."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pydantic import SecretStr

from tenant_bot.api.metrics import _label
from tenant_bot.api.sse import frame
from tenant_bot.config import BotSettings
from tenant_bot.storage.models import Event


def test_sse_frame_carries_id_kind_and_one_line_of_json() -> None:
    event = Event(
        id=7,
        at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        kind="position.opened",
        severity="info",
        message="line one\nline two",
        data={"x": "1.5"},
    )
    text = frame(event).decode()
    assert text.endswith("\n\n")
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "id: 7" and lines[1] == "event: position.opened"
    assert len(lines) == 3 and lines[2].startswith("data: ")
    body = json.loads(lines[2][6:])
    assert body == {
        "id": 7,
        "at": "2026-01-02T03:04:05+00:00",
        "kind": "position.opened",
        "severity": "info",
        "message": "line one\nline two",
        "data": {"x": "1.5"},
    }


def test_prometheus_labels_are_escaped() -> None:
    assert _label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_devnet_token_is_derived_and_an_explicit_one_wins(monkeypatch: object) -> None:
    a = BotSettings(tenant_id="t1", server_secret=SecretStr("s1"))
    b = BotSettings(tenant_id="t2", server_secret=SecretStr("s1"))
    c = BotSettings(tenant_id="t1", server_secret=SecretStr("s2"))
    ta, tb, tc = (x.api_token_value() for x in (a, b, c))
    assert ta is not None and tb is not None and tc is not None
    assert len({ta.get_secret_value(), tb.get_secret_value(), tc.get_secret_value()}) == 3
    assert a.api_token_value() == ta
    explicit = BotSettings(api_token=SecretStr("given"))
    assert explicit.api_token_value() == SecretStr("given")
    assert "given" not in repr(explicit)
    outside = BotSettings(network="mainnet", server_secret=SecretStr("x"))
    assert outside.api_token_value() is None
    assert a.api_host == "127.0.0.1" and a.api_port == 8080 and a.sse_heartbeat_seconds == 15
