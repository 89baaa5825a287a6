"""A public default secret: `basis serve` and the bot refuse to start with the built-in devnet secret
(or none) unless everything they talk to, and the address they listen on, is on loopback.

Before: only `network != devnet` required a secret, so `BASIS_CP_NETWORK=devnet` with real upstreams
(or listening on every interface) ran with a secret printed in the source, from which every bot's
API token is HMAC(secret, tenant id). Now that exits 2 with a sentence naming the settings to fix.
Nothing is contacted at start: the non-loopback URLs below are never reached.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from orchestrator.config import DEVNET_SERVER_SECRET
from shared.launch import bot_token
from tenant_bot.config import DEVNET_SERVER_SECRET as BOT_DEVNET_SECRET
from tests.security.signin_support import control_plane
from tests.support.devnet import ROOT, DevnetProcess

OUTSIDE = "http://10.20.30.40:3001"  # never contacted: the settings are refused first


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    env.update(
        BASIS_CP_DATABASE_URL=f"sqlite:///{tmp_path / 'control.sqlite3'}",
        BASIS_CP_DATA_ROOT=str(tmp_path / "tenants"),
        BASIS_DATA_DIR=str(tmp_path / "bot"),
        BASIS_LOG_JSON="true",
        BASIS_CP_BROKER_PORT=str(_free_port()),  # never the default: `make run` may hold it
    )
    env.update(values)
    return env


def _run(module: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("BASIS_CP_HYPERLIQUID_URL", OUTSIDE),
        ("BASIS_CP_PRIVY_AUTH_URL", "https://auth.privy.io"),
        ("BASIS_CP_SOLANA_RPC_URL", "https://api.mainnet-beta.solana.com"),
        ("BASIS_CP_BROKER_URL", "http://172.17.0.1:8000"),
    ],
)
def test_the_control_plane_refuses_the_public_secret_with_a_real_upstream(
    tmp_path: Path, setting: str, value: str
) -> None:
    port = _free_port()
    env = _env(tmp_path, BASIS_CP_NETWORK="devnet", BASIS_CP_PORT=str(port), **{setting: value})
    # Every command reads the same settings: `serve` for each upstream, the others for one.
    commands = [["serve"]] + (
        [["tenants", "list"], ["users", "list"], ["doctor", "--json"]]
        if setting == "BASIS_CP_HYPERLIQUID_URL"
        else []
    )
    for args in commands:
        out = _run("orchestrator.cli", args, env)
        assert out.returncode == 2, (args, out.stderr)
        said = out.stderr + out.stdout  # doctor reports on stdout (JSON: not wrapped)
        assert "BASIS_CP_SERVER_SECRET must be set" in said and setting in said
        assert "Traceback" not in said and value not in said  # a URL may hold a key
    # It never listened.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
    # The devnet secret written out is the same public secret.
    out = _run("orchestrator.cli", ["serve"], {**env, "BASIS_CP_SERVER_SECRET": DEVNET_SERVER_SECRET})
    assert out.returncode == 2 and "built-in devnet secret is public" in out.stderr


def test_the_control_plane_refuses_the_public_secret_on_a_public_address(tmp_path: Path) -> None:
    port = _free_port()
    out = _run("orchestrator.cli", ["serve", "--host", "0.0.0.0", "--port", str(port)], _env(tmp_path))
    assert out.returncode == 2 and "BASIS_CP_HOST" in out.stderr, out.stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
    out = _run(
        "orchestrator.cli", ["serve"], _env(tmp_path, BASIS_CP_HOST="0.0.0.0", BASIS_CP_PORT=str(port))
    )
    assert out.returncode == 2 and "BASIS_CP_HOST" in out.stderr, out.stderr


@pytest.mark.devnet
def test_the_devnet_on_loopback_still_runs_without_a_secret(devnet: DevnetProcess, tmp_path: Path) -> None:
    """`make run`: no configuration, everything on loopback. Starts, and signs a user in."""
    with control_plane(devnet, tmp_path, server_secret=None) as plane:
        assert plane.cp.settings.server_secret is None
        browser = plane.browser()
        email = "devnet-user@example.com"
        assert browser.initiate(email).status_code == 202
        r = browser.verify(email, plane.code(email))
        assert r.status_code == 200, r.text
        # The token anyone could compute: acceptable only because nothing here is reachable from elsewhere.
        expected = bot_token(plane.cp.settings.server_secret_value(), r.json()["tenant_id"])
        assert expected.get_secret_value()


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("BASIS_HYPERLIQUID_URL", OUTSIDE),
        ("BASIS_ASGARD_URL", "https://v2-ultra-edge.asgard.finance/margin-trading"),
    ],
)
def test_the_bot_refuses_the_public_secret_with_a_real_upstream(
    tmp_path: Path, setting: str, value: str
) -> None:
    env = _env(tmp_path, BASIS_NETWORK="devnet", BASIS_API_PORT=str(_free_port()), **{setting: value})
    for args in [["serve"]] + ([["status"], ["init"]] if setting == "BASIS_HYPERLIQUID_URL" else []):
        out = _run("tenant_bot.main", args, env)
        assert out.returncode == 2, (args, out.stderr)
        assert "BASIS_SERVER_SECRET must be set" in out.stderr and setting in out.stderr
        assert "Traceback" not in out.stderr
    out = _run("tenant_bot.main", ["serve"], {**env, "BASIS_SERVER_SECRET": BOT_DEVNET_SECRET})
    assert out.returncode == 2 and "built-in devnet secret is public" in out.stderr
    # No keystore was sealed under the public secret.
    assert not (tmp_path / "bot" / "keystore.json").exists()


def test_the_bot_refuses_the_public_secret_on_a_public_address(tmp_path: Path) -> None:
    port = _free_port()
    out = _run("tenant_bot.main", ["serve", "--host", "0.0.0.0", "--port", str(port)], _env(tmp_path))
    assert out.returncode == 2 and "BASIS_API_HOST" in out.stderr, out.stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
