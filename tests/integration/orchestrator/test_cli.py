"""The `basis` CLI as a real process: JSON output that parses, exit codes that mean something."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from orchestrator.config import ControlPlaneSettings
from orchestrator.runtimes.process import ProcessRuntime
from shared.launch import bot_secret, bot_token
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
from tests.support.waiting import wait_until

pytestmark = pytest.mark.devnet


class Cli:
    def __init__(self, env: dict[str, str], settings: ControlPlaneSettings) -> None:
        self.env = env
        self.settings = settings

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
    # No `basis serve` here, so nothing serves the venue gateway: the bots read the venues themselves.
    settings = settings_for(devnet, tmp_path, database_url=control_plane_db_url, gateway_for_bots=False)
    yield Cli(settings_env(settings), settings)
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
    solana = next(c for c in json.loads(out.stdout)["checks"] if c["name"] == "solana")
    assert not solana["ok"]
    assert solana["detail"] == (
        "nothing answers at http://127.0.0.1:9 (the connection was refused): is solana up, and is "
        "BASIS_CP_SOLANA_RPC_URL right?"
    )


def test_doctor_says_a_healthy_venue_is_reachable_in_words(cli: Cli) -> None:
    """Each venue is probed with a request it answers 200 to (Hyperliquid's allMids, Asgard's markets,
    a JSON-RPC getHealth and eth_chainId, Privy's JWKS): a healthy one reads "reachable", never a raw
    HTTP status, on the terminal's table and in --json."""
    s = cli.settings
    urls = {
        "hyperliquid": f"{s.hyperliquid_url}/info",
        "asgard": f"{s.asgard_url}/markets",
        "solana": s.solana_rpc_url,
        "arbitrum": s.arbitrum_rpc_url,
        "privy": f"{s.privy_api_url}/v1/apps/{s.privy_app_id}/jwks.json",
    }
    checks = {c["name"]: c for c in json.loads(cli("doctor", "--json").stdout)["checks"]}
    for name, url in urls.items():
        assert checks[name] == {"name": name, "ok": True, "detail": f"reachable at {url}"}
    table = cli("doctor")
    assert table.returncode == 0, table.stderr
    assert table.stdout.count("reachable at") == len(urls) and "answered" not in table.stdout
    # A venue that answers but refuses the probe's request is up: said so, in words.
    cli.env["BASIS_CP_HYPERLIQUID_URL"] = f"{s.hyperliquid_url}/no-such-path"
    checks = {c["name"]: c for c in json.loads(cli("doctor", "--json").stdout)["checks"]}
    assert checks["hyperliquid"]["ok"], checks["hyperliquid"]
    assert checks["hyperliquid"]["detail"] == (
        f"reachable at {s.hyperliquid_url}/no-such-path/info; it refused the probe's request (not found), "
        "which proves it is up"
    )


def test_tests_run_the_control_plane_on_ports_of_their_own(cli: Cli) -> None:
    """`settings_for` never leaves a listener on its default port: a `make run` on this machine holds
    8000 and 8001, and a bot told the default broker address would sign through that control plane."""
    defaults = ControlPlaneSettings.model_fields
    ports = {cli.settings.port, cli.settings.broker_port}
    assert len(ports) == 2
    assert not ports & {defaults["port"].default, defaults["broker_port"].default}
    assert cli.settings.broker_url_value() == f"http://127.0.0.1:{cli.settings.broker_port}"


def test_tenants_list_shows_each_users_email(devnet: DevnetProcess, tmp_path: Path) -> None:
    """A tenant's user e-mail (from the sign-in, table users) is a column of `tenants list` and a field
    of its --json; a tenant made with the CLI has no user and so no e-mail."""
    plane = ControlPlane(devnet, tmp_path, overrides={"bot_spare": False})
    plane.start()
    try:
        user = plane.sign_in("listed")
        cli = Cli(settings_env(plane.settings), plane.settings)
        cli.json("tenants", "create", "cli-nobody", "--no-start")
        rows = cli.json("tenants", "list")
        assert isinstance(rows, list)
        emails = {r["id"]: r["email"] for r in rows}
        assert emails == {user.tenant_id: user.email, "cli-nobody": None}
        table = cli("tenants", "list")  # piped: PIPED_WIDTH columns, each tenant's e-mail on its line
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        assert [c.strip() for c in lines[1].split("┃")[1:4]] == ["tenant", "user", "email"]
        mine = next(line for line in lines if user.tenant_id in line)
        assert [c.strip() for c in mine.split("│")[1:4]] == [user.tenant_id, user.user_id, user.email]
        nobody = next(line for line in lines if "cli-nobody" in line)
        assert [c.strip() for c in nobody.split("│")[1:4]] == ["cli-nobody", "-", "-"]
    finally:
        plane.stop()


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


def trade_by_hand(cli: Cli, devnet: DevnetProcess, tenant_id: str, *, sell: bool) -> None:
    """Someone with the bot's own key (its keystore, as the operator's host holds it) trades 0.5 SOL of
    the perp on Hyperliquid behind the bot's back: a sale opens a short, a buy closes it."""
    import asyncio

    from tenant_bot.signing.local import LocalSigner
    from tenant_bot.venues.hyperliquid import HyperliquidClient, cloid_for

    settings = cli.settings
    secret = bot_secret(settings.server_secret_value(), tenant_id)
    signer = LocalSigner.load(settings.data_root / tenant_id / "keystore.json", tenant_id, secret)

    async def go() -> None:
        async with HyperliquidClient(devnet.url("hyperliquid"), signer) as hl:
            mid = (await hl.mids())["SOL"]
            px = (mid * (Decimal("0.97") if sell else Decimal("1.03"))).quantize(Decimal("0.01"))
            cloid = cloid_for("by-hand", "sell" if sell else "buy", 1)
            await hl.place_ioc("SOL", not sell, Decimal("0.5"), px, cloid=cloid, reduce_only=not sell)

    asyncio.run(go())


def test_an_operator_sees_a_halted_bot_reads_why_and_resumes_it_after_a_review(
    cli: Cli, devnet: DevnetProcess
) -> None:
    """A bot halts (a short on its account that its journal does not know): `tenants list` flags it,
    `tenants show` says why with its events, `doctor` fails on it; after the short is closed (the
    review), `tenants resume` lets it trade again, and everything is green."""
    tid = "cli-halt"
    assert cli.json("tenants", "create", tid)["status"] == "running"  # type: ignore[index]
    shown = cli.json("tenants", "show", tid)
    assert isinstance(shown, dict) and shown["attention"] is None, shown
    assert shown["trading_state"] == "active" and shown["bot"]["error"] is None
    devnet.faucet("hyperliquid", "USDC", shown["bot"]["status"]["wallets"]["evm"], "500")

    trade_by_hand(cli, devnet, tid, sell=True)

    def row() -> dict[str, object] | None:
        listed = cli.json("tenants", "list")
        assert isinstance(listed, list)
        [found] = [r for r in listed if r["id"] == tid]
        return found if found["trading_state"] == "halted" else None

    halted = wait_until(row, timeout=60, what="the bot to halt on the short it does not know", every=0.5)
    attention = str(halted["attention"])
    assert attention.startswith("halted: Hyperliquid holds a SOL short of 0.5"), attention
    table = cli("tenants", "list")
    assert table.returncode == 0 and "halted" in table.stdout
    assert "need an operator: basis tenants show" in table.stderr
    shown = cli.json("tenants", "show", tid)
    assert isinstance(shown, dict) and shown["attention"] == attention
    assert shown["bot"]["status"]["halt_reason"] in attention
    assert "risk.halted" in [e["kind"] for e in shown["bot"]["events"]]
    text = cli("tenants", "show", tid)
    assert text.returncode == 0 and f"attention: {attention}" in text.stdout
    doctor = cli("doctor", "--json")
    assert doctor.returncode == 1
    [bots] = [c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "bots"]
    assert not bots["ok"] and tid in bots["detail"] and "halted" in bots["detail"], bots

    # The review: the short is closed; then the operator resumes the bot.
    trade_by_hand(cli, devnet, tid, sell=False)
    resumed = cli.json("tenants", "resume", tid)
    assert isinstance(resumed, dict) and resumed["trading_state"] == "active", resumed
    # It stays resumed after its next tick, and nothing needs an operator any more.
    ticked = {str(resumed["last_tick_at"])}
    port = int(shown["port"])
    token = bot_token(cli.settings.server_secret_value(), tid).get_secret_value()

    def ticks_after_resume() -> bool:
        r = httpx.get(f"http://127.0.0.1:{port}/api/v1/status", headers={"X-Basis-Token": token}, timeout=5)
        ticked.add(str(r.json()["last_tick_at"]))
        return len(ticked) >= 2

    # The resume wakes the bot for a tick at once (an idle bot reading the venues itself ticks slowly).
    wait_until(ticks_after_resume, timeout=90, what="a tick after the resume", every=0.2)
    shown = cli.json("tenants", "show", tid)
    assert isinstance(shown, dict) and shown["trading_state"] == "active" and shown["attention"] is None
    assert "control.resumed" in [e["kind"] for e in shown["bot"]["events"]]
    doctor = cli("doctor", "--json")
    assert doctor.returncode == 0, doctor.stdout

    # A bot holding a position is not stopped without a word: its legs would go unwatched.
    wallets = shown["bot"]["status"]["wallets"]
    devnet.faucet("solana", "SOL", wallets["solana"], "2")
    devnet.faucet("solana", "USDC", wallets["solana"], "2000")
    devnet.faucet("hyperliquid", "USDC", wallets["evm"], "1500")
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-Basis-Token": token}, timeout=30)
    r = api.post("/api/v1/positions/open", json={"capital_usd": "1000", "asset": "SOL"})
    assert r.status_code == 202, r.text
    job = wait_until(
        lambda: (j := api.get(f"/api/v1/jobs/{r.json()['id']}").json())["state"] in ("done", "failed") and j,
        timeout=120,
        what="the open",
        every=0.2,
    )
    assert job["outcome"] == "completed", job
    refused = cli("tenants", "stop", tid)
    assert refused.returncode == 2, refused.stderr
    assert f"{tid} holds 1 open position(s) ({job['position_id']})" in refused.stderr
    assert "--force stops it anyway" in refused.stderr
    assert health(port)  # still running, still watching
    stopped = cli.json("tenants", "stop", tid, "--force")
    assert isinstance(stopped, dict) and stopped["status"] == "stopped"
    # What it held, read just before it stopped: kept for the user's read-only view, and shown here.
    kept = stopped["positions_when_stopped"]
    assert [(p["id"], p["status"]) for p in kept["positions"]] == [(job["position_id"], "open")], kept
    text = cli("tenants", "show", tid)
    assert "positions when it was stopped" in text.stdout and job["position_id"] in text.stdout, text.stdout
    cli.json("tenants", "delete", tid, "--purge")


def test_show_resume_and_stop_of_an_unknown_or_stopped_tenant_say_why(cli: Cli) -> None:
    for args in (["show", "nobody-here"], ["resume", "nobody-here"], ["stop", "nobody-here"]):
        out = cli("tenants", *args)
        assert out.returncode == 2 and "no tenant 'nobody-here'" in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr
    cli.json("tenants", "create", "cli-idle", "--no-start")
    out = cli("tenants", "resume", "cli-idle")
    assert out.returncode == 1 and "is not running: basis tenants start cli-idle first" in out.stderr
    shown = cli.json("tenants", "show", "cli-idle")
    assert isinstance(shown, dict) and shown["bot"] is None and shown["attention"] is None
    cli.json("tenants", "delete", "cli-idle", "--purge")
