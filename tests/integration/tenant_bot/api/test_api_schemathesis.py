"""schemathesis against the live bot's OpenAPI: generated requests (valid and invalid), never a 5xx."""

from __future__ import annotations

import time

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.bot import ServedBot

pytestmark = pytest.mark.devnet

# The stream never ends by design; it has tests of its own.
SKIP = {("GET", "/api/v1/events/stream")}
EXAMPLES = 12
BUDGET_SECONDS = 55


def test_no_server_error_on_generated_requests(served: ServedBot) -> None:
    raw = httpx.get(served.url + "/openapi.json", headers=served.headers, timeout=10).json()
    schema = schemathesis.openapi.from_dict(raw)
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [op for op in operations if (op.method.upper(), op.path) not in SKIP]
    assert len(operations) >= 20
    strategies = [
        op.as_strategy(generation_mode=mode)
        for op in operations
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    ]
    failures: list[str] = []
    seen: set[tuple[str, str]] = set()
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + BUDGET_SECONDS

    @settings(
        max_examples=EXAMPLES * len(strategies),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def run(case: schemathesis.Case) -> None:
        if time.monotonic() > deadline:
            return
        # Always the right token: the 401 paths have their own tests; here the routes must be reached.
        case.headers = {**(case.headers or {}), **served.headers}
        response = case.call(base_url=served.url, timeout=15)
        seen.add((case.operation.method.upper(), case.operation.path))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            failures.append(
                f"{case.operation.method.upper()} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:300]} (body {case.body!r}, query {case.query!r})"
            )

    run()
    print(
        f"schemathesis: {sum(statuses.values())} requests, {sorted(statuses.items())}, {len(seen)} operations"
    )
    assert not failures, "\n".join(failures[:20])
    assert len(seen) >= len(operations) // 2
    # The bot is still up and answering.
    assert httpx.get(served.url + "/health", timeout=5).status_code == 200
