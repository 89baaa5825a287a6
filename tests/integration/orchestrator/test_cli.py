"""The `basis` CLI as a real process: JSON output that parses, exit codes that mean something."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.runtimes.process import ProcessRuntime
from tests.support.control_plane import ControlPlane
from tests.support.devnet import ROOT, DevnetProcess
from tests.support.tenants import (
    health,
    kill_all,
    pid_alive,
    settings_env,
    settings_for,
    wait_for,
)

pytestmark = pytest.mark.devnet


class Cli:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def json(self, *args: str) -> object:
        out = self(*args, "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)


@pytest.fixture
def cli(devnet: DevnetProcess, tmp_path: Path, control_plane_db_url: str) -> Iterator[Cli]:
    settings = settings_for(devnet, tmp_path, database_url=control_plane_db_url)
    yield Cli(settings_env(settings))
    kill_all(ProcessRuntime(settings.data_root))


def test_tenant_lifecycle_through_the_cli(cli: Cli) -> None:
    assert cli.json("tenants", "list") == []
    created = cli.json("tenants", "create", "cli-one")
    assert isinstance(created, dict)
    assert created["status"] == "running" and health(created["port"])

    listed = cli.json("tenants", "list")
    assert isinstance(listed, list) and [t["id"] for t in listed] == ["cli-one"]

    logs = cli.json("tenants", "logs", "cli-one", "--lines", "5")
    assert isinstance(logs, dict) and len(logs["lines"]) <= 5

    stopped = cli.json("tenants", "stop", "cli-one")
    assert isinstance(stopped, dict) and stopped["status"] == "stopped"
    assert not pid_alive(created["pid"])

    upgraded = cli.json("tenants", "upgrade", "cli-one", "0.1.1")
    assert isinstance(upgraded, dict) and upgraded["version"] == "0.1.1" and upgraded["status"] == "stopped"

    restarted = cli.json("tenants", "restart", "cli-one")
    assert isinstance(restarted, dict) and restarted["status"] == "running"

    deleted = cli.json("tenants", "delete", "cli-one", "--purge")
    assert deleted == {"id": "cli-one", "deleted": True, "purged": True}
    assert not pid_alive(restarted["pid"])
    assert cli.json("users", "list") == []


def test_bad_input_exits_2_with_a_sentence(cli: Cli) -> None:
    for args in (
        ("tenants", "start", "nobody"),
        ("tenants", "create", "Not_Valid"),
        ("tenants", "logs", "nobody"),
        ("tenants", "delete", "nobody"),
    ):
        out = cli(*args, "--json")
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert out.stderr.startswith("error: "), out.stderr
        assert "Traceback" not in out.stderr
    out = cli("tenants", "upgrade", "nobody", "bad version!")
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_bad_settings_exit_2(cli: Cli) -> None:
    cli.env["BASIS_CP_PORT"] = "not-a-port"
    out = cli("tenants", "list")
    assert out.returncode == 2 and "invalid settings" in out.stderr and "Traceback" not in out.stderr


def test_doctor_reports_every_check(cli: Cli) -> None:
    out = cli("doctor", "--json")
    report = json.loads(out.stdout)
    names = {c["name"] for c in report["checks"]}
    assert {"configuration", "database", "runtime", "hyperliquid", "asgard", "solana", "privy"} <= names
    assert report["ok"] and out.returncode == 0, report
    cli.env["BASIS_CP_SOLANA_RPC_URL"] = "http://127.0.0.1:9"  # nothing listens there
    out = cli("doctor", "--json")
    assert out.returncode == 1
    assert not next(c for c in json.loads(out.stdout)["checks"] if c["name"] == "solana")["ok"]


def test_serve_on_port_0_tells_the_bots_the_port_it_listens_on(devnet: DevnetProcess, tmp_path: Path) -> None:
    """`basis serve --port 0 --broker-port 0` picks free ports before the bots learn the signing
    broker's address: its internal listener's, not the public one's."""
    # No spare: a bot started cold shows its whole environment in /proc (one that was the spare shows the
    # spare's, which has no settings in it).
    plane = ControlPlane(devnet, tmp_path, overrides={"port": 0, "broker_port": 0, "bot_spare": False})
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "serve", "--port", "0", "--broker-port", "0"],
            cwd=ROOT,
            env=settings_env(plane.settings),
            stdout=out,
            stderr=out,
        )
    try:
        deadline, ports = time.monotonic() + 60, {}
        while len(ports) < 2 and time.monotonic() < deadline:
            assert serve.poll() is None, log.read_text()
            for listener in ("public", "internal"):
                found = re.search(rf'"{listener}": "http://127\.0\.0\.1:(\d+)"', log.read_text())
                if found:
                    ports[listener] = int(found.group(1))
            time.sleep(0.1)
        assert len(ports) == 2, log.read_text()
        port, broker_port = ports["public"], ports["internal"]
        assert 0 not in (port, broker_port) and port != broker_port
        plane.settings = plane.settings.model_copy(update={"port": port, "broker_port": broker_port})
        wait_for(lambda: health(port), 30, "the public listener")
        user = plane.sign_in("port0")
        plane.wait_running(user)
        tenant = plane.tenant(user.tenant_id)
        assert tenant.pid is not None
        with open(f"/proc/{tenant.pid}/environ", "rb") as f:
            env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        assert env[b"BASIS_BROKER_URL"].decode() == f"http://127.0.0.1:{broker_port}"
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{broker_port}/health").status_code == 200
    finally:
        serve.terminate()
        serve.wait(timeout=30)
        plane.stop()
