"""Issue 12, point 2: the signing broker signed drains. Each attack is replayed against a real
`basis serve` (process runtime, SQLite) on a real devnet, as a compromised bot would: with its own
tenant token, straight at `POST /internal/sign`. Each must now be refused (403 with a sentence, no
signature) and move nothing on the devnet; the legitimate paths (a funded user's bot opening and
closing a position, a withdrawal to the address the user registered) must still work.

The control plane here narrows one number of the policy (BASIS_CP_BROKER_POLICY_FILE): the SOL
outflow budget, to 0.03 SOL a day, so that "many small transfers" needs four requests, not a
thousand. A registered withdrawal address becomes usable after 2 s instead of a day.
"""

from __future__ import annotations

import asyncio
import base64
import json
import select
import socket
import struct
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_abi import encode
from hyperliquid.utils.signing import (
    WITHDRAW_SIGN_TYPES,
    action_hash,
    construct_phantom_agent,
    l1_payload,
    user_signed_payload,
)
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.token.associated import get_associated_token_address
from solders.transaction import VersionedTransaction

from shared.assets import HYPERLIQUID_BRIDGE, TOKENS, Asset, Chain
from shared.transaction_policy import DEVNET_ASGARD_CUSTODY, TOKEN_PROGRAM, USDC_ARBITRUM
from tenant_bot.signing.broker import BrokerSigner
from tenant_bot.venues.hyperliquid import HyperliquidClient, OrderState, cloid_for
from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.devnet import DevnetProcess, start_devnet

pytestmark = pytest.mark.devnet

USDC = Pubkey.from_string(TOKENS[(Asset.USDC, Chain.SOLANA)].address or "")
JITOSOL = Pubkey.from_string(TOKENS[(Asset.JITOSOL, Chain.SOLANA)].address or "")
TOKEN = Pubkey.from_string(TOKEN_PROGRAM)
ATA_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
SYSTEM = Pubkey.from_string("11111111111111111111111111111111")
CUSTODY = Pubkey.from_string(DEVNET_ASGARD_CUSTODY)
OUTSIDER = Keypair().pubkey()  # the attacker's wallet
OUTSIDER_EVM = "0x" + "66" * 20
DELAY_S = 2.0


# ---------------------------------------------------------------------- the devnet's Solana
class Solana:
    def __init__(self, dn: DevnetProcess) -> None:
        self.url = dn.url("solana")

    def rpc(self, method: str, params: list[Any]) -> Any:
        body = httpx.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=30
        ).json()
        assert "error" not in body, body
        return body["result"]

    def blockhash(self) -> Hash:
        return Hash.from_string(
            self.rpc("getLatestBlockhash", [{"commitment": "confirmed"}])["value"]["blockhash"]
        )

    def tokens(self, owner: Pubkey, mint: Pubkey) -> int:
        """Raw units in `owner`'s associated token account for `mint` (0 if it has none)."""
        found = self.rpc(
            "getAccountInfo", [str(ata(owner, mint)), {"encoding": "base64", "commitment": "processed"}]
        )
        if found["value"] is None:
            return 0
        raw = self.rpc("getTokenAccountBalance", [str(ata(owner, mint)), {"commitment": "processed"}])
        return int(raw["value"]["amount"])

    def send_and_wait(self, message: MessageV0, signature: bytes) -> None:
        tx = VersionedTransaction.populate(message, [Signature.from_bytes(signature)])
        sent = self.rpc("sendTransaction", [base64.b64encode(bytes(tx)).decode(), {"encoding": "base64"}])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status = self.rpc("getSignatureStatuses", [[sent]])["value"][0]
            if status is not None:
                assert status["err"] is None, status
                return
            time.sleep(0.1)
        raise AssertionError(f"transaction {sent} did not land")


def ata(owner: Pubkey, mint: Pubkey) -> Pubkey:
    return get_associated_token_address(owner, mint)


def create_ata(payer: Pubkey, owner: Pubkey, mint: Pubkey) -> Instruction:
    return Instruction(
        ATA_PROGRAM,
        b"\x01",
        [
            AccountMeta(payer, True, True),
            AccountMeta(ata(owner, mint), False, True),
            AccountMeta(owner, False, False),
            AccountMeta(mint, False, False),
            AccountMeta(SYSTEM, False, False),
            AccountMeta(TOKEN, False, False),
        ],
    )


def transfer_checked(owner: Pubkey, to: Pubkey, mint: Pubkey, raw: int, decimals: int) -> Instruction:
    return Instruction(
        TOKEN,
        bytes([12]) + struct.pack("<QB", raw, decimals),
        [
            AccountMeta(ata(owner, mint), False, True),
            AccountMeta(mint, False, False),
            AccountMeta(ata(to, mint), False, True),
            AccountMeta(owner, True, False),
        ],
    )


def compile_message(owner: Pubkey, ixs: list[Instruction], blockhash: Hash) -> MessageV0:
    return MessageV0.try_compile(owner, ixs, [], blockhash)


def solana_body(message: MessageV0) -> dict[str, Any]:
    return {"kind": "solana_message", "payload": base64.b64encode(to_bytes_versioned(message)).decode()}


def usdc_transfer(to: str, raw: int, **fees: int) -> dict[str, Any]:
    data = "0xa9059cbb" + encode(["address", "uint256"], [to, raw]).hex()
    tx = {"type": 2, "chainId": 42161, "nonce": 0, "to": USDC_ARBITRUM, "value": 0, "data": data}
    return {**tx, "gas": 100_000, "maxFeePerGas": 20_000_000, "maxPriorityFeePerGas": 0, **fees}


def hl_withdraw(destination: str, amount: str) -> dict[str, Any]:
    action = {
        "hyperliquidChain": "Testnet",
        "signatureChainId": "0x66eee",
        "destination": destination,
        "amount": amount,
        "time": int(time.time() * 1000),
    }
    return user_signed_payload("HyperliquidTransaction:Withdraw", WITHDRAW_SIGN_TYPES, action)


def l1_body(action: dict[str, Any], vault: str | None = None) -> dict[str, Any]:
    payload = {
        "action": action,
        "nonce": int(time.time() * 1000),
        "vaultAddress": vault,
        "expiresAfter": None,
    }
    return {"kind": "hyperliquid_l1", "payload": payload}


def refused(plane: ControlPlane, user: SignedIn, body: dict[str, Any]) -> str:
    r = plane.sign_as(user, body)
    assert r.status_code == 403, r.text
    assert set(r.json()) == {"detail"}  # a sentence, no signature
    return str(r.json()["detail"])


def signed(plane: ControlPlane, user: SignedIn, body: dict[str, Any]) -> dict[str, Any]:
    r = plane.sign_as(user, body)
    assert r.status_code == 200, r.text
    return dict(r.json())


# ---------------------------------------------------------------------- the control plane
@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    dn = start_devnet(seed=53, speed=1.0)
    root = Path(tmp_path_factory.mktemp("broker-drains"))
    policy = root / "policy.yaml"
    policy.write_text("transactions:\n  outflow_budget:\n    SOL: 0.03\n")
    cp = ControlPlane(dn, root, overrides={"broker_policy_file": policy, "withdrawal_delay_seconds": DELAY_S})
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()
        dn.stop()


@pytest.fixture(scope="module")
def chain(plane: ControlPlane) -> Solana:
    return Solana(plane.dn)


@pytest.fixture(scope="module")
def mallory(plane: ControlPlane) -> SignedIn:
    """A user whose bot is compromised: the attacks are made with its tenant token."""
    user = plane.sign_in("mallory")
    owner = user.solana_address
    plane.dn.faucet("solana", "SOL", owner, "1")
    plane.dn.faucet("solana", "USDC", owner, "5000")
    plane.dn.faucet("solana", "jitoSOL", owner, "20")
    return user


@pytest.fixture(scope="module")
def alice(plane: ControlPlane) -> SignedIn:
    """A user whose bot trades normally."""
    user = plane.sign_in("alice")
    plane.dn.faucet("solana", "SOL", user.solana_address, "2")
    plane.dn.faucet("solana", "USDC", user.solana_address, "5000")
    plane.dn.faucet("hyperliquid", "USDC", user.evm_address, "2000")
    return user


# ---------------------------------------------------------------------- Solana tokens
def test_token_transfers_to_an_outside_address_are_refused_and_nothing_moves(
    plane: ControlPlane, chain: Solana, mallory: SignedIn
) -> None:
    owner = Pubkey.from_string(mallory.solana_address)
    before = (chain.tokens(owner, USDC), chain.tokens(owner, JITOSOL))
    assert before == (5000 * 10**6, 20 * 10**9)
    attacks = {
        "4000 USDC": [
            create_ata(owner, OUTSIDER, USDC),
            transfer_checked(owner, OUTSIDER, USDC, 4000 * 10**6, 6),
        ],
        "10 jitoSOL": [
            create_ata(owner, OUTSIDER, JITOSOL),
            transfer_checked(owner, OUTSIDER, JITOSOL, 10**10, 9),
        ],
    }
    for what, ixs in attacks.items():
        detail = refused(plane, mallory, solana_body(compile_message(owner, ixs, chain.blockhash())))
        assert what in detail and str(ata(OUTSIDER, USDC if "USDC" in what else JITOSOL)) in detail, detail
        assert "registered withdrawal address" in detail
    # Nothing moved: the wallet holds what it held, the outsider holds nothing.
    assert (chain.tokens(owner, USDC), chain.tokens(owner, JITOSOL)) == before
    assert chain.tokens(OUTSIDER, USDC) == chain.tokens(OUTSIDER, JITOSOL) == 0
    # A refusal is logged with its reason, never the payload.
    payload = solana_body(compile_message(owner, attacks["4000 USDC"], chain.blockhash()))["payload"]
    lines = [json.loads(line) for line in plane.logs().splitlines() if '"signing"' in line]
    assert any(e.get("tenant") == mallory.tenant_id and e.get("outcome") == "refused" for e in lines)
    assert payload not in plane.logs() and mallory.token not in plane.logs()


def test_eight_times_the_cap_in_one_transaction_is_refused(
    plane: ControlPlane, chain: Solana, mallory: SignedIn
) -> None:
    owner = Pubkey.from_string(mallory.solana_address)
    # To the venue's own deposit account (Asgard's custody on the devnet): 100,000 each is within the
    # per-transaction cap, eight of them in one transaction are not.
    eight = [transfer_checked(owner, CUSTODY, USDC, 100_000 * 10**6, 6) for _ in range(8)]
    detail = refused(plane, mallory, solana_body(compile_message(owner, eight, chain.blockhash())))
    assert "800000 USDC" in detail and "100000 USDC allowed per transaction" in detail
    detail = refused(plane, mallory, solana_body(compile_message(owner, eight[:1] * 2, chain.blockhash())))
    assert "200000 USDC" in detail
    # To the outsider, eight at once are refused for where they go before their sum.
    outside = [transfer_checked(owner, OUTSIDER, USDC, 100_000 * 10**6, 6) for _ in range(8)]
    assert str(ata(OUTSIDER, USDC)) in refused(
        plane, mallory, solana_body(compile_message(owner, outside, chain.blockhash()))
    )
    assert chain.tokens(owner, USDC) == 5000 * 10**6


def test_many_small_transfers_each_within_the_cap_are_stopped_by_the_budget_across_a_restart(
    plane: ControlPlane, chain: Solana, mallory: SignedIn
) -> None:
    owner = Pubkey.from_string(mallory.solana_address)

    def tip(lamports: int) -> dict[str, Any]:
        ix = transfer(TransferParams(from_pubkey=owner, to_pubkey=Keypair().pubkey(), lamports=lamports))
        return solana_body(compile_message(owner, [ix], chain.blockhash()))

    # 0.01 SOL to a stranger is the most one transaction may send elsewhere (a tip, some rent): each
    # of these passes that cap; the narrowed budget (0.03 SOL a day) stops the fourth.
    for _ in range(3):
        signed(plane, mallory, tip(10_000_000))
    detail = refused(plane, mallory, tip(10_000_000))
    assert "outflow budget of 0.03 SOL" in detail and "after 0.03 SOL in the last 24 h" in detail
    # The budget is in the database: a control plane killed and started again still refuses.
    plane.kill()
    plane.start()
    assert "outflow budget of 0.03 SOL" in refused(plane, mallory, tip(1))


# ---------------------------------------------------------------------- Hyperliquid
def test_a_phantom_agent_with_an_arbitrary_connection_id_is_refused(
    plane: ControlPlane, mallory: SignedIn
) -> None:
    # The hash of an action the bot never showed: an order on another perp (BTC, asset 0).
    hidden = {
        "type": "order",
        "orders": [
            {"a": 0, "b": True, "p": "1000000", "s": "10", "r": False, "t": {"limit": {"tif": "Ioc"}}}
        ],
        "grouping": "na",
    }
    for connection_id in ("0x" + action_hash(hidden, None, 1, None).hex(), "0x" + "11" * 32):
        for mainnet in (False, True):
            typed = l1_payload(construct_phantom_agent(connection_id, mainnet))
            detail = refused(plane, mallory, {"kind": "typed_data", "payload": typed})
            assert "phantom Agent" in detail
    # Shown as an action, that order is refused for its perp.
    assert "perp 0" in refused(plane, mallory, l1_body(hidden))


def test_the_l1_kind_signs_an_order_the_devnet_accepts_and_refuses_actions_outside_the_list(
    plane: ControlPlane, alice: SignedIn
) -> None:
    dn = plane.dn

    async def trade() -> tuple[Any, Any, Any]:
        # The bot's own client and signer, as its process would use them (its token, no key).
        signer = BrokerSigner(
            plane.internal_url, alice.tenant_id, alice.token, alice.solana_address, alice.evm_address
        )
        try:
            async with HyperliquidClient(dn.url("hyperliquid"), signer) as hl:
                await hl.update_leverage("SOL", 3, cross=True)
                mid = (await hl.mids())["SOL"]
                # 1% from the mid: within the band the broker signs around the venue's mark (3%).
                up, down = ((mid * Decimal(x)).quantize(Decimal("0.01")) for x in ("1.01", "0.99"))
                bought = await hl.place_ioc(
                    "SOL", True, Decimal("0.1"), up, cloid=cloid_for("drains", "l1", 1)
                )
                held = await hl.user_state()
                sold = await hl.place_ioc(
                    "SOL", False, Decimal("0.1"), down, cloid=cloid_for("drains", "l1", 2), reduce_only=True
                )
                return bought, held, sold
        finally:
            await signer.aclose()

    bought, held, sold = asyncio.run(trade())
    # The devnet recovered the user's own address from each signature: the orders filled.
    assert bought.state is OrderState.FILLED and bought.filled_size == Decimal("0.1"), bought
    assert held.positions["SOL"].size == Decimal("0.1"), held
    assert sold.state is OrderState.FILLED, sold  # flat again, for the bot's own trading below
    for action, reason in [
        (
            {"type": "vaultTransfer", "vaultAddress": OUTSIDER_EVM, "isDeposit": True, "usd": 10**9},
            "not allowed",
        ),
        ({"type": "withdraw3", "destination": OUTSIDER_EVM, "amount": "1000"}, "not allowed"),
        ({"type": "approveAgent", "agentAddress": OUTSIDER_EVM}, "not allowed"),
        ({"type": "updateLeverage", "asset": 5, "isCross": False, "leverage": 40}, "leverage 40"),
    ]:
        assert reason in refused(plane, alice, l1_body(action))
    leverage = {"type": "updateLeverage", "asset": 5, "isCross": True, "leverage": 3}
    assert "vault" in refused(plane, alice, l1_body(leverage, vault=OUTSIDER_EVM))
    # User-signed approvals (an agent key the bot would hold) are refused as typed data too.
    approve = hl_withdraw(alice.evm_address, "1")
    approve["primaryType"] = "HyperliquidTransaction:ApproveAgent"
    assert "ApproveAgent" in refused(plane, alice, {"kind": "typed_data", "payload": approve})


# ---------------------------------------------------------------------- EVM
def test_evm_transactions_with_excessive_gas_or_fees_are_refused(
    plane: ControlPlane, mallory: SignedIn
) -> None:
    for fees, reason in [
        ({"gas": 30_000_000}, "gas limit 30000000"),
        ({"maxFeePerGas": 10**12}, "per gas"),
        ({"maxPriorityFeePerGas": 10**11, "maxFeePerGas": 10**11}, "per gas"),
        ({"gas": 1_900_000, "maxFeePerGas": 5 * 10**9}, "0.0095 ETH in gas"),
    ]:
        body = {"kind": "evm_transaction", "payload": usdc_transfer(HYPERLIQUID_BRIDGE, 10 * 10**6, **fees)}
        assert reason in refused(plane, mallory, body)
    no_gas = {k: v for k, v in usdc_transfer(HYPERLIQUID_BRIDGE, 10 * 10**6).items() if k != "gas"}
    assert "gas limit" in refused(plane, mallory, {"kind": "evm_transaction", "payload": no_gas})
    signed(
        plane, mallory, {"kind": "evm_transaction", "payload": usdc_transfer(HYPERLIQUID_BRIDGE, 10 * 10**6)}
    )


# ---------------------------------------------------------------------- withdrawals
def test_withdrawals_go_to_the_registered_address_after_its_delay_and_nowhere_else(
    plane: ControlPlane, chain: Solana, alice: SignedIn
) -> None:
    owner = Pubkey.from_string(alice.solana_address)
    mine = Keypair().pubkey()  # the user's own wallet elsewhere
    mine_evm = "0x" + "5a" * 20
    api, csrf = alice.client, {"X-CSRF-Token": alice.csrf}
    assert api.get("/api/v1/withdrawals").json()["solana"] is None
    # Only the signed-in user sets it: not without the CSRF token, not with the bot's token.
    assert api.put("/api/v1/withdrawals/solana", json={"address": str(mine)}).status_code == 403
    bot = httpx.put(
        plane.url + "/api/v1/withdrawals/solana",
        json={"address": str(OUTSIDER)},
        headers={"Authorization": f"Bearer {alice.token}", "X-Basis-Tenant": alice.tenant_id},
    )
    assert bot.status_code == 401
    r = api.put("/api/v1/withdrawals/solana", json={"address": str(mine)}, headers=csrf)
    assert r.status_code == 200 and r.json()["solana"]["usable"] is False, r.text
    assert api.put("/api/v1/withdrawals/evm", json={"address": mine_evm}, headers=csrf).status_code == 200
    assert api.put("/api/v1/withdrawals/evm", json={"address": "nope"}, headers=csrf).status_code == 422

    def withdrawal(to: Pubkey, raw: int) -> tuple[MessageV0, dict[str, Any]]:
        message = compile_message(
            owner, [create_ata(owner, to, USDC), transfer_checked(owner, to, USDC, raw, 6)], chain.blockhash()
        )
        return message, solana_body(message)

    # Registered, but not usable yet: refused like any other address.
    refused(plane, alice, withdrawal(mine, 1000 * 10**6)[1])
    time.sleep(DELAY_S + 0.5)  # the scenario: the address's waiting period passes
    assert api.get("/api/v1/withdrawals").json()["solana"]["usable"] is True
    before = chain.tokens(owner, USDC)
    message, body = withdrawal(mine, 1000 * 10**6)
    chain.send_and_wait(message, base64.b64decode(signed(plane, alice, body)["signature"]))
    assert chain.tokens(mine, USDC) == 1000 * 10**6 and chain.tokens(owner, USDC) == before - 1000 * 10**6
    assert str(ata(OUTSIDER, USDC)) in refused(plane, alice, withdrawal(OUTSIDER, 10**6)[1])
    # Hyperliquid and Arbitrum: to the registered EVM address, not to another.
    signed(plane, alice, {"kind": "typed_data", "payload": hl_withdraw(mine_evm, "250")})
    assert OUTSIDER_EVM in refused(
        plane, alice, {"kind": "typed_data", "payload": hl_withdraw(OUTSIDER_EVM, "250")}
    )
    signed(plane, alice, {"kind": "evm_transaction", "payload": usdc_transfer(mine_evm, 100 * 10**6)})
    assert "registered withdrawal" in refused(
        plane, alice, {"kind": "evm_transaction", "payload": usdc_transfer(OUTSIDER_EVM, 10**6)}
    )
    # Withdrawals are outflow: 1,350 USDC so far; two of 10,000 fit the 25,000 USDC a day, a third not.
    for _ in range(2):
        signed(plane, alice, {"kind": "typed_data", "payload": hl_withdraw(mine_evm, "10000")})
    detail = refused(plane, alice, {"kind": "typed_data", "payload": hl_withdraw(mine_evm, "10000")})
    assert "after 21350 USDC in the last 24 h" in detail and "25000 USDC" in detail
    # Replacing the address makes the old one unusable at once.
    other = Keypair().pubkey()
    assert (
        api.put("/api/v1/withdrawals/solana", json={"address": str(other)}, headers=csrf).status_code == 200
    )
    refused(plane, alice, withdrawal(mine, 10**6)[1])


# ---------------------------------------------------------------------- the body
def _chunked_post(plane: ControlPlane, user: SignedIn, total: int) -> tuple[int, bytes, int]:
    """POST `total` bytes to the broker with chunked transfer encoding, stopping once it answers:
    (status, body, bytes sent before the answer)."""
    port = plane.settings.broker_port  # the internal listener
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    head = (
        f"POST /internal/sign HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {user.token}\r\nX-Basis-Tenant: {user.tenant_id}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    sock.sendall(head.encode())
    sent, chunk = 0, b'{"kind": "typed_data", "payload": "' + b"A" * 16_000
    try:
        while sent < total and not select.select([sock], [], [], 0.01)[0]:
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
        if sent >= total:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed while we were still sending: read its answer
    answer = b""
    while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < 20:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        answer += data
    sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, answer.split(b"\r\n\r\n", 1)[-1], sent


def test_a_chunked_megabyte_is_refused_with_413(plane: ControlPlane, mallory: SignedIn) -> None:
    status, body, sent = _chunked_post(plane, mallory, 1024 * 1024)
    assert status == 413, (status, body, sent)
    assert b"larger than 64 KiB" in body
    # It answered long before the megabyte was sent, and is still answering everyone.
    assert sent < 1024 * 1024
    assert httpx.get(plane.url + "/health", timeout=5).status_code == 200
    # A declared length over the limit is refused before a byte of the body is read.
    r = httpx.post(
        plane.internal_url + "/internal/sign",
        content=b"x" * (64 * 1024 + 1),
        headers={"Authorization": f"Bearer {mallory.token}", "X-Basis-Tenant": mallory.tenant_id},
    )
    assert r.status_code == 413 and "64 KiB" in r.json()["detail"]


# ---------------------------------------------------------------------- the legitimate path
def test_a_funded_users_bot_still_opens_and_closes_through_the_broker(
    plane: ControlPlane, alice: SignedIn
) -> None:
    plane.wait_running(alice)
    api, csrf = alice.client, {"X-CSRF-Token": alice.csrf}

    def run(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = api.post(path, json=body, headers=csrf)
        assert r.status_code == 202, r.text
        job_id, deadline, job = r.json()["id"], time.monotonic() + 120, {}
        while time.monotonic() < deadline:
            job = api.get(f"/app/api/v1/jobs/{job_id}").json()
            if job["state"] in ("done", "failed"):
                break
            time.sleep(0.25)
        assert job.get("state") == "done" and job.get("outcome") == "completed", (job, plane.logs()[-3000:])
        return job

    opened = run("/app/api/v1/positions/open", {"capital_usd": "1000", "asset": "SOL"})
    asgard = httpx.post(
        plane.dn.url("asgard") + "/positions/open",
        json={"walletPubkey": alice.solana_address},
        headers={"X-API-Key": "test-key"},
    ).json()
    assert asgard, "the long is open on Asgard"
    run(f"/app/api/v1/positions/{opened['position_id']}/close")
    asgard = httpx.post(
        plane.dn.url("asgard") + "/positions/open",
        json={"walletPubkey": alice.solana_address},
        headers={"X-API-Key": "test-key"},
    ).json()
    assert asgard == []
    # Every signature of both went through the broker: Asgard transactions and Hyperliquid actions.
    kinds = {
        e["kind"]
        for e in (json.loads(line) for line in plane.logs().splitlines() if '"signing"' in line)
        if e.get("tenant") == alice.tenant_id and e.get("outcome") == "signed"
    }
    assert {"solana_message", "hyperliquid_l1"} <= kinds
