"""The Asgard "rogue program" fault by its operator names: `POST /faults {"rogue_program": true}` and
`python -m devnet faults asgard --rogue-program` (aliases of `foreign_program`)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest
from solders.keypair import Keypair
from solders.transaction import VersionedTransaction

from tests.support.devnet import ROOT, DevnetProcess

pytestmark = pytest.mark.devnet

USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


def programs_of_an_open(dn: DevnetProcess) -> set[str]:
    kp = Keypair()
    dn.faucet("solana", "SOL", str(kp.pubkey()), "1")
    dn.faucet("solana", "USDC", str(kp.pubkey()), "1000")
    http = httpx.Client(base_url=dn.url("asgard"), headers={"X-API-Key": "t"}, timeout=30)
    markets = http.get("/markets").json()
    src = next(s for s in markets["strategies"]["SOL/USDC"]["liquiditySources"] if s["lendingProtocol"] == 1)
    body = {
        "protocol": 1,
        "tokenABank": src["tokenABank"],
        "tokenBBank": src["tokenBBank"],
        "direction": 0,
        "collateralType": 1,
        "collateralAmountNative": 100 * 10**6,
        "collateralMint": USDC,
        "collateralUnitPrice": 1.0,
        "leverage": 2,
        "jitoTipLamport": 0,
        "slippageBps": 50,
        "walletPubkey": str(kp.pubkey()),
        "useDirectRoute": False,
    }
    r = http.post("/create-position", json=body)
    assert r.status_code == 200, r.text
    programs: set[str] = set()
    for text in r.json()["signedTxs"]:  # a Kamino open: the obligation's set-up, then the open
        tx = VersionedTransaction.from_bytes(base64.b64decode(text))
        keys = tx.message.account_keys
        programs |= {str(keys[ix.program_id_index]) for ix in tx.message.instructions}
    return programs


def cli(dn: DevnetProcess, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "devnet", "faults", *args, "--base-port", str(dn.base_port), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


def test_rogue_program_over_http_and_cli(devnet_factory: Callable[..., DevnetProcess]) -> None:
    dn = devnet_factory(seed=5, only=["asgard"])
    rogue = dn.state()["asgard"]["foreign_program"]
    assert rogue not in programs_of_an_open(dn)

    assert dn.faults("asgard", rogue_program=True)["faults"]["asgard"]["foreign_program"] is True
    assert rogue in programs_of_an_open(dn)
    r = dn.admin("POST", "/faults", json={"venue": "asgard", "rogue_program": True, "foreign_program": False})
    assert r.status_code == 422 and "disagree" in r.text
    assert "asgard" not in dn.faults("asgard", rogue_program=False)["faults"]
    assert rogue not in programs_of_an_open(dn)

    assert cli(dn, "asgard", "--rogue-program")["faults"]["asgard"]["foreign_program"] is True
    assert rogue in programs_of_an_open(dn)
    assert "asgard" not in cli(dn, "asgard", "--no-rogue-program")["faults"]
