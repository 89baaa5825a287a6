"""`basis doctor --network ...` against a real devnet: the preflight before users' bots trade there.

All green with the devnet verifying as mainnet; each failure (a wrong Privy secret, no Asgard key, a
venue verifying as the other network, allow-lists missing the network's chain) is one clear line with
its fix, a non-zero exit and a closing sentence, and no secret appears anywhere in the output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import ControlPlaneSettings
from tests.support.devnet import ROOT, DevnetProcess, start_devnet
from tests.support.home_namespace import crossable_root
from tests.support.privileges import needs_root
from tests.support.tenants import settings_env, settings_for

pytestmark = pytest.mark.devnet

ASGARD_KEY = "asgard-key-never-printed"


@pytest.fixture(scope="module")
def mainnet_devnet() -> Iterator[DevnetProcess]:
    dn = start_devnet(seed=43, speed=1.0, hyperliquid_network="mainnet")
    try:
        yield dn
    finally:
        dn.stop()


def _settings(dn: DevnetProcess, root: Path, **overrides: Any) -> ControlPlaneSettings:
    return settings_for(dn, root, network="mainnet", asgard_api_key=ASGARD_KEY, bot_spare=False, **overrides)


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    needs_root("outside the devnet the process runtime (which doctor checks) runs bots as users of their own")
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "doctor", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=crossable_root(),
    )


def _checks(out: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in json.loads(out.stdout)["checks"]}


def _no_secret(out: subprocess.CompletedProcess[str], settings: ControlPlaneSettings, *more: str) -> None:
    secrets = [settings.server_secret_value().get_secret_value(), ASGARD_KEY, *more]
    assert settings.privy_app_secret is not None
    secrets.append(settings.privy_app_secret.get_secret_value())
    for secret in secrets:
        assert secret not in out.stdout and secret not in out.stderr
    assert "Traceback" not in out.stderr


def test_all_green_against_a_devnet_verifying_as_mainnet(
    mainnet_devnet: DevnetProcess, tmp_path: Path
) -> None:
    settings = _settings(mainnet_devnet, tmp_path)
    out = doctor(settings_env(settings), "--network", "mainnet", "--json")
    checks = _checks(out)
    assert out.returncode == 0 and all(c["ok"] for c in checks.values()), checks
    assert {"privy credentials", "asgard credentials", "hyperliquid signature", "allow-lists"} <= set(checks)
    assert "Mainnet (L1 source a" in checks["network"]["detail"]
    assert "recovers to its signer" in checks["hyperliquid signature"]["detail"]
    _no_secret(out, settings)
    # The table a person reads says the same.
    table = doctor(settings_env(settings), "--network", "mainnet")
    assert table.returncode == 0 and "hyperliquid signature" in table.stdout


def test_a_wrong_privy_secret_and_a_missing_asgard_key_are_named_with_their_fix(
    mainnet_devnet: DevnetProcess, tmp_path: Path
) -> None:
    settings = _settings(mainnet_devnet, tmp_path)
    env = settings_env(settings)
    env["BASIS_CP_PRIVY_APP_SECRET"] = wrong = "wrong-privy-secret-never-printed"
    del env["BASIS_CP_ASGARD_API_KEY"]
    out = doctor(env, "--network", "mainnet", "--json")
    checks = _checks(out)
    assert out.returncode == 1
    privy = checks["privy credentials"]
    assert not privy["ok"] and "Privy refused app id" in privy["detail"]
    assert "BASIS_CP_PRIVY_APP_SECRET" in privy["detail"]
    asgard = checks["asgard credentials"]
    assert not asgard["ok"] and "BASIS_CP_ASGARD_API_KEY is not set and mainnet needs one" in asgard["detail"]
    assert checks["hyperliquid signature"]["ok"] and checks["allow-lists"]["ok"]
    assert "doctor: 2 check(s) failed: privy credentials, asgard credentials" in out.stderr
    _no_secret(out, settings, wrong)


def test_a_venue_verifying_as_testnet_fails_the_signature_check(tmp_path: Path) -> None:
    testnet_devnet = start_devnet(
        seed=44, speed=1.0, only=["hyperliquid", "asgard", "privy", "solana", "arbitrum"]
    )
    try:
        settings = _settings(testnet_devnet, tmp_path)
        out = doctor(settings_env(settings), "--network", "mainnet", "--json")
    finally:
        testnet_devnet.stop()
    check = _checks(out)["hyperliquid signature"]
    assert out.returncode == 1 and not check["ok"]
    assert "that venue verifies as testnet" in check["detail"], check
    assert "not to its signer" in check["detail"]
    _no_secret(out, settings)


def test_testnet_gets_arbitrum_sepolia_from_the_switch(mainnet_devnet: DevnetProcess, tmp_path: Path) -> None:
    settings = _settings(mainnet_devnet, tmp_path)
    out = doctor({**settings_env(settings), "BASIS_CP_NETWORK": "mainnet"}, "--network", "testnet", "--json")
    checks = _checks(out)
    assert out.returncode == 1  # the venue below verifies as mainnet
    lists = checks["allow-lists"]
    # Arbitrum Sepolia's chain, USDC2 and bridge come with BASIS_NETWORK=testnet, nothing to add by hand.
    assert lists["ok"], lists
    assert "chain 421614" in lists["detail"]
    assert "USDC 0x1870Dc7A474e045026F9ef053d5bB20a250Cc084" in lists["detail"]
    assert "Bridge2 0x279c9462FDba349550b49a23DE27dd19d5891baA" in lists["detail"]
    # And the mainnet devnet is not a testnet venue: a testnet signature recovers to someone else.
    assert "that venue verifies as mainnet" in checks["hyperliquid signature"]["detail"]


def test_an_unknown_network_is_refused_with_a_sentence(mainnet_devnet: DevnetProcess, tmp_path: Path) -> None:
    out = doctor(settings_env(_settings(mainnet_devnet, tmp_path)), "--network", "moon")
    assert out.returncode == 2
    assert "--network: unknown network 'moon': choose one of devnet, testnet, mainnet" in out.stderr
    assert "Traceback" not in out.stderr
