"""The operator CLI's wording, against real HTTP servers on loopback: `basis doctor` says in words
whether a venue is reachable (an answer, even a refusal of the probe, proves it is up), and why not."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rich.console import Console

from orchestrator.cli import PIPED_WIDTH, VenueProbe, _check, _reach, _tenant_table


class _Venue(BaseHTTPRequestHandler):
    """Answers `/<status>` with that status; `/rpc-error` with a JSON-RPC node's error."""

    def _answer(self) -> None:
        if self.path == "/rpc-error":
            status = 200
            body = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32005, "message": "Node is unhealthy"}}
        else:
            status, body = int(self.path.strip("/")), {"ok": True}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def venue() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Venue)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _doctor(url: str, method: str = "POST") -> dict[str, object]:
    probe = VenueProbe("solana", "BASIS_CP_SOLANA_RPC_URL", method, url, {"jsonrpc": "2.0", "id": 1})
    return _check("solana", lambda: _reach(probe))


def test_a_venue_that_answers_200_reads_reachable(venue: str) -> None:
    assert _doctor(f"{venue}/200") == {"name": "solana", "ok": True, "detail": f"reachable at {venue}/200"}


@pytest.mark.parametrize("status", [400, 404, 405, 422])
def test_a_venue_that_refuses_the_probe_is_reachable_in_words_not_a_status(venue: str, status: int) -> None:
    check = _doctor(f"{venue}/{status}")
    assert check["ok"], check
    detail = str(check["detail"])
    assert detail.startswith(f"reachable at {venue}/{status}; it refused the probe's request (")
    assert "which proves it is up" in detail
    assert "answered" not in detail and str(status) not in detail.replace(f"/{status}", "")


def test_a_rate_limited_venue_is_reachable(venue: str) -> None:
    check = _doctor(f"{venue}/429", "GET")
    assert check["ok"] and "limiting this address's requests now" in str(check["detail"]), check


def test_a_failing_venue_says_why(venue: str) -> None:
    check = _doctor(f"{venue}/503")
    assert not check["ok"]
    assert check["detail"] == (
        f"solana answers at {venue}/503 but is failing (service unavailable, HTTP 503): "
        "try again later, or check its status page"
    )


def test_a_node_that_reports_an_error_fails_with_its_words(venue: str) -> None:
    check = _doctor(f"{venue}/rpc-error")
    assert not check["ok"]
    assert check["detail"] == f"solana answers at {venue}/rpc-error but reports an error: Node is unhealthy"


def test_nothing_listening_says_so_and_names_the_setting() -> None:
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        check = _doctor(url)
    assert not check["ok"]
    assert check["detail"] == (
        f"nothing answers at {url} (the connection was refused): is solana up, and is "
        "BASIS_CP_SOLANA_RPC_URL right?"
    )


def _row(**values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": "t-0123456789ab",
        "user_id": "u-0123456789abcdef",
        "email": "someone.with.a.long.address@example-company.com",
        "desired_state": "running",
        "status": "running",
        "trading_state": "halted",
        "version": "0.1.0",
        "port": 20001,
        "pid": 4242,
        "restarts": 3,
        "attention": "halted: the hedge drifted beyond its band three checks in a row; review it " * 3,
    }
    return {**row, **values}


def test_the_tenant_table_shows_each_email_whole_on_its_tenants_line_when_piped() -> None:
    """Piped (`PIPED_WIDTH` columns), a long reason folds in its own column; the tenant, its user and
    e-mail stay whole on the tenant's first line, so `basis tenants list | grep` finds a tenant by its
    user."""
    rows = [_row(), _row(id="t-ba9876543210", user_id=None, email=None, attention=None)]
    out = io.StringIO()
    Console(width=PIPED_WIDTH, file=out).print(_tenant_table(rows))
    lines = out.getvalue().splitlines()
    assert all(len(line) <= PIPED_WIDTH for line in lines)
    assert [c.strip() for c in lines[1].split("┃")[1:4]] == ["tenant", "user", "email"]
    mine = next(line for line in lines if "t-0123456789ab" in line)
    assert "u-0123456789abcdef" in mine and "someone.with.a.long.address@example-company.com" in mine
    operators = next(line for line in lines if "t-ba9876543210" in line)
    assert operators.split("│")[3].strip() == "-"  # a tenant made without a user: no e-mail
