"""The event stream of a real `basis-bot serve`: live events, resume by Last-Event-ID, heartbeats."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.integration.tenant_bot.api.conftest import read_sse
from tests.support.bot import ServedBot

pytestmark = pytest.mark.devnet

STREAM = "/api/v1/events/stream"


def _later(seconds: float, action: object) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()), daemon=True)  # type: ignore[operator]
    thread.start()
    return thread


def _kinds(events: list[dict]) -> list[str]:
    return [e["event"] for e in events]


def test_live_events_arrive_on_a_connected_stream(served: ServedBot, api: httpx.Client) -> None:
    _later(0.5, lambda: api.post("/api/v1/control/pause", json={"reason": "sse test"}))
    events, _ = read_sse(api, STREAM, until=lambda ev, _c: "control.paused" in _kinds(ev))
    [paused] = [e for e in events if e["event"] == "control.paused"]
    assert paused["data"]["kind"] == "control.paused" and paused["data"]["id"] == paused["id"]
    assert paused["data"]["data"] == {"by": "dashboard", "reason": "sse test"}
    assert set(paused["data"]) == {"id", "at", "kind", "severity", "message", "data"}
    ids = [e["id"] for e in events]
    assert ids == sorted(set(ids))
    api.post("/api/v1/control/resume")


def test_resume_with_last_event_id_gets_exactly_the_missed_events(
    served: ServedBot, api: httpx.Client
) -> None:
    last = api.get("/api/v1/events", params={"after": 0, "limit": 500}).json()["events"]
    while len(
        batch := api.get("/api/v1/events", params={"after": last[-1]["id"], "limit": 500}).json()["events"]
    ):
        last += batch
    mark = last[-1]["id"]
    # While no client is connected: three control events (and maybe rate ticks) go into the log.
    api.post("/api/v1/control/pause", json={"reason": "one"})
    api.post("/api/v1/control/pause", json={"reason": "two"})
    api.post("/api/v1/control/resume")
    missed = api.get("/api/v1/events", params={"after": mark, "limit": 500}).json()["events"]
    expected = [e["id"] for e in missed]
    assert len(expected) >= 3

    for how in ({"headers": {"Last-Event-ID": str(mark)}}, {"params": f"?after={mark}"}):
        path = STREAM + how.get("params", "")
        events, _ = read_sse(
            api,
            path,
            headers=how.get("headers"),
            until=lambda ev, _c: len(ev) >= len(expected),
        )
        got = [e["id"] for e in events]
        assert got[: len(expected)] == expected
        assert len(got) == len(set(got))
        assert _kinds(events)[: len(expected)] == [e["kind"] for e in missed]

    bad = api.get(STREAM, headers={"Last-Event-ID": "abc"})
    assert bad.status_code == 422 and "Last-Event-ID" in bad.json()["detail"]
    assert api.get(STREAM, params={"after": -1}).status_code == 422


def test_heartbeats_keep_a_quiet_stream_alive(served: ServedBot, api: httpx.Client) -> None:
    start = time.monotonic()
    _, comments = read_sse(api, STREAM, until=lambda _e, c: len(c) >= 3, timeout=10)
    assert comments[:3] == [": heartbeat"] * 3
    assert time.monotonic() - start < 5  # BASIS_SSE_HEARTBEAT_SECONDS=0.5 in this module's bot
