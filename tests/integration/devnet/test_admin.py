"""The admin API and the `basis devnet` CLI, against a real devnet process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal

import pytest
from eth_account import Account
from solders.keypair import Keypair

from tests.support.devnet import DevnetProcess


def _cli(dn: DevnetProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "devnet", *args, "--base-port", str(dn.base_port)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_state_reports_clock_market_urls_and_privy_credentials(devnet: DevnetProcess) -> None:
    state = devnet.state()
    assert state["seed"] == 7
    assert set(state["urls"]) == {"admin", "hyperliquid", "asgard", "privy", "solana", "arbitrum"}
    assert state["urls"]["asgard"].endswith("/margin-trading")
    assert Decimal(state["market"]["prices_usd"]["SOL"]) > 0
    assert state["market"]["scenario"]["name"] == "calm"
    assert state["privy"]["app_id"] and state["privy"]["app_secret"]
    assert state["solana"]["last_valid_block_height"] == state["solana"]["block_height"] + 150


def test_faucet_credits_solana_and_reports_the_balance(devnet: DevnetProcess) -> None:
    owner = str(Keypair().pubkey())
    first = devnet.faucet("solana", "USDC", owner, "12.5")
    assert first["raw"] == 12_500_000 and Decimal(first["balance"]) == Decimal("12.5")
    second = devnet.faucet("solana", "usdc", owner, "0.5")
    assert Decimal(second["balance"]) == Decimal("13")
    sol = devnet.faucet("solana", "SOL", owner, "2")
    assert Decimal(sol["balance"]) == Decimal("2")
    lst = devnet.faucet("solana", "jitoSOL", owner, "1.25")
    assert lst["raw"] == 1_250_000_000


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (
            {"chain": "solana", "asset": "USDC", "address": "not-a-key", "amount": "1"},
            422,
            "not a Solana address",
        ),
        (
            {
                "chain": "solana",
                "asset": "DOGE",
                "address": "11111111111111111111111111111111",
                "amount": "1",
            },
            422,
            "unknown asset",
        ),
        (
            {
                "chain": "solana",
                "asset": "USDC",
                "address": "11111111111111111111111111111111",
                "amount": "-3",
            },
            422,
            "positive",
        ),
        (
            {
                "chain": "solana",
                "asset": "USDC",
                "address": "11111111111111111111111111111111",
                "amount": "lots",
            },
            422,
            "decimal string",
        ),
        (
            {"chain": "arbitrum", "asset": "USDC", "address": "0x123", "amount": "1"},
            422,
            "not an EVM address",
        ),
        (
            {"chain": "arbitrum", "asset": "jitoSOL", "address": "0x" + "12" * 20, "amount": "1"},
            422,
            "not held on arbitrum",
        ),
        ({"chain": "bitcoin", "asset": "BTC", "address": "x", "amount": "1"}, 422, "chain"),
        (
            {
                "chain": "solana",
                "asset": "SOL",
                "address": "11111111111111111111111111111111",
                "amount": "1e9",
            },
            422,
            "at most",
        ),
    ],
)
def test_faucet_refuses_bad_input_with_a_sentence(devnet: DevnetProcess, body, status, fragment) -> None:
    r = devnet.admin("POST", "/faucet", json=body)
    assert r.status_code == status, r.text
    assert fragment in r.text


def test_faucet_arbitrum_and_hyperliquid(devnet: DevnetProcess) -> None:
    address = Account.create().address
    r = devnet.faucet("arbitrum", "USDC", address.lower(), "250")
    assert r["address"] == address and r["raw"] == 250_000_000
    r = devnet.faucet("arbitrum", "ETH", address, "0.1")
    assert r["raw"] == 10**17
    r = devnet.faucet("hyperliquid", "USDC", address, "100")
    assert r["address"] == address.lower()


def test_mailbox_validates_and_returns_newest_first(devnet: DevnetProcess) -> None:
    assert devnet.admin("GET", "/mailbox", params={"email": "nobody"}).status_code == 422
    r = devnet.admin("GET", "/mailbox", params={"email": "nobody@example.com"})
    assert r.status_code == 200 and r.json()["messages"] == []


def test_bad_scenario_faults_and_clock_requests_are_4xx(devnet: DevnetProcess) -> None:
    assert devnet.admin("POST", "/scenario", json={"name": "moon"}).status_code == 422
    r = devnet.admin("POST", "/scenario", json={"name": "lst_depeg", "params": {"asset": "USDC"}})
    assert r.status_code == 400 and "not an LST" in r.text
    r = devnet.admin("POST", "/scenario", json={"name": "venue_outage", "params": {"venue": "binance"}})
    assert r.status_code == 400 and "unknown venue" in r.text
    assert devnet.admin("POST", "/faults", json={"venue": "solana", "error_rate": 3}).status_code == 422
    assert devnet.admin("POST", "/faults", json={"venue": "mars"}).status_code == 422
    assert devnet.admin("POST", "/clock/advance", json={"hours": -1}).status_code == 422
    assert devnet.admin("POST", "/clock/speed", json={"speed": 0}).status_code == 422
    assert (
        devnet.admin(
            "POST", "/faucet", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )


def test_cli_wraps_the_admin_api_with_meaningful_exit_codes(devnet: DevnetProcess) -> None:
    owner = str(Keypair().pubkey())
    ok = _cli(devnet, "faucet", "solana", "USDC", owner, "3")
    assert ok.returncode == 0, ok.stderr
    assert f"credited 3 USDC to {owner} on solana" in ok.stdout
    refused = _cli(devnet, "faucet", "solana", "USDC", "nope", "3")
    assert refused.returncode == 1 and "not a Solana address" in refused.stderr
    assert "Traceback" not in refused.stderr
    state = _cli(devnet, "state", "--json")
    assert state.returncode == 0 and json.loads(state.stdout)["seed"] == 7
    table = _cli(devnet, "state")
    assert table.returncode == 0 and "SOL" in table.stdout
    empty = _cli(devnet, "mailbox", "nobody@example.com")
    assert empty.returncode == 0 and "no messages" in empty.stdout


def test_state_prints_dates_and_its_json_keeps_epoch_milliseconds() -> None:
    """`basis devnet state` says when things are as ISO 8601 UTC dates (the simulated and the real
    clock, the scenario's start, an outage's end); `--json` stays the admin API's numbers."""
    from datetime import UTC, datetime

    from tests.support.devnet import start_devnet

    dn = start_devnet(only=["hyperliquid"], scenario="venue_outage")  # of its own: an outage is global
    try:
        raw = json.loads(_cli(dn, "state", "--json").stdout)
        clock, outage = raw["clock"], raw["outages"]["hyperliquid"]
        assert isinstance(clock["sim_ms"], int) and isinstance(outage["until_sim_ms"], int)
        shown = _cli(dn, "state")
        assert shown.returncode == 0, shown.stderr
        dates = re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", shown.stdout)
        assert re.search(r"simulated time \S+Z  \(real time \S+Z\)", shown.stdout), shown.stdout
        assert re.search(r"outage: hyperliquid down until \S+Z \(\d+ simulated s left\)", shown.stdout)
        assert len(dates) == 4, shown.stdout  # scenario start, simulated, real, the outage's end
        real = datetime.strptime(dates[2], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs(real.timestamp() * 1000 - clock["real_ms"]) < 60_000
        assert not re.search(r"\b1\d{9,12}\b", shown.stdout), shown.stdout  # no epoch seconds or ms
    finally:
        dn.stop()


def test_cli_says_when_the_devnet_is_not_running() -> None:
    from tests.support.devnet import free_port_block

    r = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "devnet", "state", "--base-port", str(free_port_block())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 3
    assert "not answering" in r.stderr and "basis devnet up" in r.stderr


def test_up_refuses_bad_options_without_a_traceback() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "devnet", "up", "--speed", "0"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "speed" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "devnet", "up", "--scenario", "moon"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "unknown scenario" in r.stderr


def test_up_prints_every_url_and_what_to_do_next(devnet: DevnetProcess) -> None:
    log = devnet.log()
    for service in ("hyperliquid", "asgard", "privy", "solana", "arbitrum", "admin"):
        assert devnet.url(service) in log, service
    assert "What to do next" in log and "basis devnet faucet" in log
    assert "Privy app id:" in log
