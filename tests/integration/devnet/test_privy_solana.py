"""Privy-signed Solana transactions land on the devnet's Solana (`--only privy,solana`).

The wallet is a Privy wallet held through a server-side additional signer, as the control plane
will hold users' wallets: every `/rpc` call carries an authorization signature.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from tests.support.devnet import DevnetProcess, start_devnet

pytestmark = pytest.mark.devnet

LAMPORTS = 10**9


@pytest.fixture(scope="module")
def dn() -> Iterator[DevnetProcess]:
    process = start_devnet(only=["privy", "solana"])
    yield process
    process.stop()


class Env:
    def __init__(self, dn: DevnetProcess) -> None:
        self.dn = dn
        state = dn.state()["privy"]
        self.app_id = state["app_id"]
        basic = base64.b64encode(f"{self.app_id}:{state['app_secret']}".encode()).decode()
        self.headers = {"authorization": f"Basic {basic}", "privy-app-id": self.app_id}
        self.privy = httpx.Client(base_url=dn.url("privy"), headers=self.headers, timeout=30)
        self.signer = ec.generate_private_key(ec.SECP256R1())
        spki = self.signer.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        quorum = self.privy.post("/v1/key_quorums", json={"public_keys": [base64.b64encode(spki).decode()]})
        assert quorum.status_code == 200, quorum.text
        self.signer_id = quorum.json()["id"]

    def user_solana_wallet(self) -> str:
        user = self.privy.post(
            "/v1/users",
            json={
                "linked_accounts": [{"type": "email", "address": f"sol-{time.time_ns()}@example.com"}],
                "wallets": [{"chain_type": "solana", "additional_signers": [{"signer_id": self.signer_id}]}],
            },
        )
        assert user.status_code == 200, user.text
        return user.json()["linked_accounts"][1]["id"]

    def sign(self, wallet_id: str, tx: VersionedTransaction) -> VersionedTransaction:
        path = f"/v1/wallets/{wallet_id}/rpc"
        body = {
            "method": "signTransaction",
            "params": {"transaction": base64.b64encode(bytes(tx)).decode(), "encoding": "base64"},
        }
        payload = {
            "version": 1,
            "method": "POST",
            "url": self.dn.url("privy") + path,
            "body": body,
            "headers": {"privy-app-id": self.app_id},
        }
        data = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        signature = base64.b64encode(self.signer.sign(data, ec.ECDSA(hashes.SHA256()))).decode()
        r = self.privy.post(path, json=body, headers={"privy-authorization-signature": signature})
        assert r.status_code == 200, r.text
        return VersionedTransaction.from_bytes(base64.b64decode(r.json()["data"]["signed_transaction"]))

    def rpc(self, method: str, params: list[Any]) -> Any:
        r = httpx.post(
            self.dn.url("solana"),
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
            timeout=30,
        )
        body = r.json()
        assert "error" not in body, body
        return body["result"]

    def blockhash(self) -> Hash:
        return Hash.from_string(
            self.rpc("getLatestBlockhash", [{"commitment": "confirmed"}])["value"]["blockhash"]
        )

    def balance(self, owner: Pubkey) -> int:
        return int(self.rpc("getBalance", [str(owner), {"commitment": "processed"}])["value"])

    def send_and_wait(self, tx: VersionedTransaction) -> None:
        signature = self.rpc(
            "sendTransaction", [base64.b64encode(bytes(tx)).decode(), {"encoding": "base64"}]
        )
        assert signature == str(tx.signatures[0])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status = self.rpc("getSignatureStatuses", [[signature]])["value"][0]
            if status is not None:
                assert status["err"] is None, status
                return
            time.sleep(0.1)
        raise AssertionError(f"transaction {signature} did not land")


@pytest.fixture(scope="module")
def env(dn: DevnetProcess) -> Env:
    return Env(dn)


def test_a_privy_signed_transfer_lands(env: Env) -> None:
    wallet_id = env.user_solana_wallet()
    wallet = env.privy.get(f"/v1/wallets/{wallet_id}").json()
    owner = Pubkey.from_string(wallet["address"])
    env.dn.faucet("solana", "SOL", str(owner), "2")
    to = Keypair().pubkey()
    ix = transfer(TransferParams(from_pubkey=owner, to_pubkey=to, lamports=LAMPORTS // 4))
    message = MessageV0.try_compile(owner, [ix], [], env.blockhash())
    signed = env.sign(wallet_id, VersionedTransaction.populate(message, [Signature.default()]))
    assert signed.verify_with_results() == [True]
    env.send_and_wait(signed)
    assert env.balance(to) == LAMPORTS // 4
    assert env.balance(owner) == 2 * LAMPORTS - LAMPORTS // 4 - 5000


def test_a_transaction_signed_first_by_another_party_lands_with_both_signatures(env: Env) -> None:
    wallet_id = env.user_solana_wallet()
    owner = Pubkey.from_string(env.privy.get(f"/v1/wallets/{wallet_id}").json()["address"])
    custody = Keypair()  # pays the fee and signs first, as Asgard's custody key does on a close
    env.dn.faucet("solana", "SOL", str(custody.pubkey()), "1")
    env.dn.faucet("solana", "SOL", str(owner), "1")
    ixs = [
        transfer(TransferParams(from_pubkey=custody.pubkey(), to_pubkey=owner, lamports=3_000_000)),
        transfer(TransferParams(from_pubkey=owner, to_pubkey=custody.pubkey(), lamports=1_000_000)),
    ]
    message = MessageV0.try_compile(custody.pubkey(), ixs, [], env.blockhash())
    first = custody.sign_message(to_bytes_versioned(message))
    signed = env.sign(wallet_id, VersionedTransaction.populate(message, [first, Signature.default()]))
    assert signed.signatures[0] == first
    env.send_and_wait(signed)
    assert env.balance(owner) == LAMPORTS + 2_000_000
