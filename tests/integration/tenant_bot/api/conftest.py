"""A real `basis-bot serve` process on a real devnet, shared by the tests of one module."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.bot import ServedBot, funded_bot_on_own_devnet
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedBot]:
    folder = Path(tmp_path_factory.mktemp("api"))
    with funded_bot_on_own_devnet(folder, seed=23, usdc="6000", BASIS_SSE_HEARTBEAT_SECONDS="0.5") as sb:
        yield sb


@pytest.fixture
def api(served: ServedBot) -> Iterator[httpx.Client]:
    with served.client() as client:
        yield client


def wait_job(api: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = api.get(f"/api/v1/jobs/{job_id}")
        assert r.status_code == 200, r.text
        job = r.json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {json.dumps(job)}")


def wait_for(predicate: Any, timeout: float = 20, every: float = 0.2) -> Any:
    return wait_until(predicate, timeout=timeout, what="the bot's answer", every=every)


def read_sse(
    client: httpx.Client, path: str, *, until: Any, headers: dict[str, str] | None = None, timeout: float = 20
) -> tuple[list[dict[str, Any]], list[str]]:
    """Events (id, event, data) and comment lines read from a stream until `until(events, comments)`."""
    events: list[dict[str, Any]] = []
    comments: list[str] = []
    current: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    with client.stream("GET", path, headers=headers or {}, timeout=timeout) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-accel-buffering"] == "no"
        assert r.headers["cache-control"] == "no-cache"
        for line in r.iter_lines():
            if line.startswith(":"):
                comments.append(line)
            elif line.startswith("id: "):
                current["id"] = int(line[4:])
            elif line.startswith("event: "):
                current["event"] = line[7:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and current:
                events.append(current)
                current = {}
            if until(events, comments) or time.monotonic() > deadline:
                break
    return events, comments
