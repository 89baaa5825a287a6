"""schemathesis against the running control plane's OpenAPI: generated requests, never a 5xx.

The control plane (`create_app`, reconciler included) is served on `basis serve`'s two loopback
listeners against the devnet (Privy included), on SQLite and on PostgreSQL. Requests are generated
from the public listener's own `/openapi.json`, valid and invalid, twice: as a visitor without
cookies, and as a signed-in user with a real session cookie and its CSRF token; and from the
internal listener's (the signing broker), as a caller without a tenant token. Every answer must be
below 500, and where the schema documents the status, its body and content type must match it. The
proxy to the user's bot (`/app/...`) is a mount the schema does not describe; it has tests of its own.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from orchestrator.app import BOT_PREFIX, create_app
from orchestrator.auth.router import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from orchestrator.runtimes.process import ProcessRuntime
from tests.support.devnet import DevnetProcess
from tests.support.portal import Listeners, loopback_sockets
from tests.support.postgres import BACKENDS, database_url_for
from tests.support.tenants import kill_all, settings_for

pytestmark = pytest.mark.devnet

EXAMPLES = 10
BUDGET_SECONDS = 30
# Signing out in the middle of the signed-in run would turn the rest of it into the visitor's.
SIGNED_IN_SKIP = {("POST", "/api/v1/auth/logout")}
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@dataclass
class ControlPlane:
    url: str
    internal_url: str
    dn: DevnetProcess

    def sign_in(self) -> tuple[dict[str, str], str]:
        """A real sign-in through the API: (the cookies, the CSRF token)."""
        email = f"schema-{secrets.token_hex(4)}@example.com"
        with httpx.Client(base_url=self.url, timeout=30) as client:
            csrf = client.get("/api/v1/auth/csrf").json()["csrf_token"]
            r = client.post("/api/v1/auth/privy/initiate", json={"email": email}, headers={CSRF_HEADER: csrf})
            assert r.status_code == 202, r.text
            mail = self.dn.admin("GET", "/mailbox", params={"email": email})
            code = str(mail.json()["messages"][0]["code"])
            r = client.post(
                "/api/v1/auth/privy/verify",
                json={"email": email, "code": code},
                headers={CSRF_HEADER: csrf},
            )
            assert r.status_code == 200, r.text
            token = r.json()["csrf_token"]
            return {SESSION_COOKIE: client.cookies[SESSION_COOKIE], CSRF_COOKIE: token}, token


@pytest.fixture(scope="module", params=BACKENDS)
def control_plane(
    request: pytest.FixtureRequest, devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    root = Path(tmp_path_factory.mktemp("schema"))
    with database_url_for(request.param, root / "control.sqlite3") as db_url:
        sockets = loopback_sockets()
        port, broker_port = (sock.getsockname()[1] for sock in sockets)
        cp_settings = settings_for(devnet, root, database_url=db_url, port=port, broker_port=broker_port)
        app = create_app(cp_settings)
        listeners = Listeners(app, cp_settings, sockets)
        listeners.start(timeout=30)
        try:
            yield ControlPlane(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{broker_port}", devnet)
        finally:
            listeners.stop(timeout=30)
            kill_all(ProcessRuntime(cp_settings.data_root))
            app.state.ctx.db.kw["bind"].dispose()


def _run(
    base_url: str,
    raw: dict[str, Any],
    *,
    cookies: dict[str, str] | None,
    headers: dict[str, str],
    skip: set[tuple[str, str]],
) -> tuple[list[str], set[tuple[str, str]], dict[int, int], int]:
    schema = schemathesis.openapi.from_dict(raw)
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [op for op in operations if (op.method.upper(), op.path) not in skip]
    strategies = [
        op.as_strategy(generation_mode=mode)
        for op in operations
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    ]
    failures: list[str] = []
    seen: set[tuple[str, str]] = set()
    statuses: dict[int, int] = {}
    answered: list[tuple[schemathesis.Case, Any]] = []
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
        case.headers = {**(case.headers or {}), **headers}
        response = case.call(base_url=base_url, cookies=cookies, timeout=30)
        seen.add((case.operation.method.upper(), case.operation.path))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        answered.append((case, response))

    run()
    # Checked outside the hypothesis run, which would stop at the first failure: collect them all.
    for case, response in answered:
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # FailureGroup is a BaseExceptionGroup
            found = [line.strip() for line in str(exc).splitlines() if line.strip()][1:4]
            failures.append(
                f"{case.operation.method.upper()} {case.operation.path} -> {response.status_code}: "
                f"{' / '.join(found)[:300]} (e.g. body {case.body!r:.150}, query {case.query!r:.100})"
            )
    return failures, seen, statuses, len(operations)


def test_no_server_error_on_generated_requests(control_plane: ControlPlane) -> None:
    cp = control_plane
    raw = httpx.get(cp.url + "/openapi.json", timeout=10).json()
    assert not any(path.startswith(BOT_PREFIX + "/") for path in raw["paths"]), (
        "the proxy is not in the schema"
    )
    internal = httpx.get(cp.internal_url + "/openapi.json", timeout=10).json()
    assert "/internal/sign" in internal["paths"] and "/internal/sign" not in raw["paths"]
    cookies, csrf = cp.sign_in()
    report: list[str] = []
    failures: list[str] = []
    for who, base_url, schema, run_cookies, headers, skip in (
        ("visitor", cp.url, raw, None, {}, set()),
        ("signed in", cp.url, raw, cookies, {CSRF_HEADER: csrf}, SIGNED_IN_SKIP),
        ("bot without a token", cp.internal_url, internal, None, {}, set()),
    ):
        found, seen, statuses, total = _run(base_url, schema, cookies=run_cookies, headers=headers, skip=skip)
        failures += [f"[{who}] {f}" for f in found]
        report.append(
            f"{who}: {sum(statuses.values())} requests, {sorted(statuses.items())}, {len(seen)}/{total}"
        )
        assert len(seen) >= total // 2, f"{who}: only {sorted(seen)} of {total} operations were reached"
    print("schemathesis: " + "; ".join(report))
    # One line per distinct finding (operation, status and check), with one example each.
    distinct = {f.split(" (e.g.")[0]: f for f in failures}
    assert not distinct, f"{len(failures)} failed checks:\n" + "\n".join(list(distinct.values())[:30])
    # Still up, and the session survived everything the signed-in run sent.
    assert httpx.get(cp.url + "/health", timeout=10).status_code == 200
    me = httpx.get(cp.url + "/api/v1/auth/me", cookies=cookies, timeout=10)
    assert me.status_code == 200, me.text
