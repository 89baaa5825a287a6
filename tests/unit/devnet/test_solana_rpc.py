"""The Solana JSON-RPC front, called in-process over a SolanaChain on a fake clock."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.rpc.responses import (
    GetLatestBlockhashResp,
    GetSignatureStatusesResp,
    GetTokenAccountsByOwnerJsonParsedResp,
    GetTransactionResp,
    SimulateTransactionResp,
)
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from devnet.solana.chain import BLOCKHASH_VALIDITY, FINALIZED_AFTER, SolanaChain, describe_error
from devnet.solana.rpc import SolanaRpc, b58decode, b58encode, message_fee, ui_amount_string

USDC = Pubkey.from_string("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")


class FakeTime:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def slots(self, n: int, slot_ms: int = 400) -> None:
        self.t += n * slot_ms / 1000


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def chain(clock: FakeTime) -> SolanaChain:
    chain = SolanaChain(seed=7, slot_ms=400, real=clock)
    clock.slots(100)  # a cluster that has been running for a while: finalized slots exist
    return chain


@pytest.fixture
def rpc(chain: SolanaChain) -> SolanaRpc:
    return SolanaRpc(chain)


def call(rpc: SolanaRpc, method: str, *params: Any) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    return json.loads(rpc.handle_body(body))


def result(rpc: SolanaRpc, method: str, *params: Any) -> Any:
    answer = call(rpc, method, *params)
    assert "error" not in answer, answer
    return answer["result"]


def error(rpc: SolanaRpc, method: str, *params: Any) -> dict[str, Any]:
    answer = call(rpc, method, *params)
    assert "error" in answer, answer
    return answer["error"]


def sol_transfer(
    chain: SolanaChain, payer: Keypair, to: Pubkey, lamports: int, blockhash: Hash | None = None
) -> str:
    blockhash = blockhash or chain.latest_blockhash()[0]
    message = Message.new_with_blockhash(
        [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=lamports))],
        payer.pubkey(),
        blockhash,
    )
    return base64.b64encode(bytes(VersionedTransaction(message, [payer]))).decode()


# ---------------------------------------------------------------------------------------------- pure logic
@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00",
        b"\x00\x00\x01",
        bytes(range(32)),
        bytes(Keypair.from_seed(bytes([7] * 32)).pubkey()),
        b"\xff" * 64,
    ],
)
def test_base58_round_trips_and_matches_solders(raw: bytes) -> None:
    text = b58encode(raw)
    assert b58decode(text) == raw
    if len(raw) == 32:
        assert text == str(Pubkey.from_bytes(raw))
    if len(raw) == 64:
        assert text == str(Signature.from_bytes(raw))


def test_base58_rejects_characters_outside_the_alphabet() -> None:
    with pytest.raises(ValueError, match="InvalidCharacter"):
        b58decode("abc0")


@pytest.mark.parametrize(
    ("amount", "decimals", "text"),
    [
        (0, 6, "0"),
        (1, 6, "0.000001"),
        (1_500_000, 6, "1.5"),
        (100_000_000, 6, "100"),
        (42, 0, "42"),
        (10**9, 9, "1"),
    ],
)
def test_ui_amount_string_trims_like_the_validator(amount: int, decimals: int, text: str) -> None:
    assert ui_amount_string(amount, decimals) == text


def test_fee_counts_signatures_and_the_priority_fee() -> None:
    payer, other = Keypair(), Keypair()
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=other.pubkey(), lamports=1))
    plain = Message.new_with_blockhash([ix], payer.pubkey(), Hash.default())
    assert message_fee(plain) == 5_000
    priced = Message.new_with_blockhash(
        [set_compute_unit_limit(300_000), set_compute_unit_price(10_000), ix], payer.pubkey(), Hash.default()
    )
    # 10,000 micro-lamports per unit × 300,000 units = 3,000 lamports on top of the base fee.
    assert message_fee(priced) == 5_000 + 3_000
    unlimited = Message.new_with_blockhash(
        [set_compute_unit_price(1_000_000), ix], payer.pubkey(), Hash.default()
    )
    # Without a limit each non-budget instruction gets 200,000 units.
    assert message_fee(unlimited) == 5_000 + 200_000


def test_transaction_errors_read_like_the_validator() -> None:
    from solders.transaction_status import (
        InstructionErrorCustom,
        TransactionErrorFieldless,
        TransactionErrorInstructionError,
    )

    assert describe_error(TransactionErrorInstructionError(0, InstructionErrorCustom(1))) == (
        "Error processing Instruction 0: custom program error: 0x1"
    )
    assert describe_error(TransactionErrorFieldless.AccountNotFound) == (
        "Attempt to debit an account but found no record of a prior credit."
    )
    assert describe_error("BlockhashNotFound") == "Blockhash not found"


# ---------------------------------------------------------------------------------------------- envelope
def test_envelope_errors_use_json_rpc_codes(rpc: SolanaRpc) -> None:
    assert json.loads(rpc.handle_body(b"{not json"))["error"] == {"code": -32700, "message": "Parse error"}
    assert json.loads(rpc.handle_body(b"[]"))["error"]["code"] == -32600
    assert json.loads(rpc.handle_body(b'"hello"'))["error"]["code"] == -32600
    assert json.loads(rpc.handle_body(b'{"jsonrpc":"2.0","id":1}'))["error"]["code"] == -32600
    assert error(rpc, "getBalanze")["code"] == -32601
    assert error(rpc, "getBalance") == {
        "code": -32602,
        "message": "`params` should have at least 1 argument(s)",
    }
    assert (
        error(rpc, "getBalance", 5)["message"]
        == "Invalid params: invalid type: integer `5`, expected a string."
    )
    assert error(rpc, "getBalance", "abc")["message"] == "Invalid param: WrongSize"
    assert error(rpc, "getBalance", "0" * 32)["message"] == "Invalid param: Invalid"
    bad_commitment = error(rpc, "getBalance", str(Pubkey.default()), {"commitment": "soon"})
    assert bad_commitment["code"] == -32602 and "unknown variant `soon`" in bad_commitment["message"]


def test_batches_answer_each_call_and_skip_notifications(rpc: SolanaRpc) -> None:
    body = json.dumps(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "getSlot"},
            {"jsonrpc": "2.0", "method": "getSlot"},
            {"jsonrpc": "2.0", "id": "b", "method": "nope"},
            7,
        ]
    ).encode()
    answers = json.loads(rpc.handle_body(body))
    assert [a["id"] for a in answers] == [1, "b", None]
    assert answers[0]["result"] == rpc.chain.slot - FINALIZED_AFTER
    assert answers[1]["error"]["code"] == -32601
    assert answers[2]["error"]["code"] == -32600
    assert rpc.handle_body(b'{"jsonrpc":"2.0","method":"getSlot"}') == b""


def test_min_context_slot_not_reached(rpc: SolanaRpc) -> None:
    slot = rpc.chain.slot
    err = error(rpc, "getBalance", str(Pubkey.default()), {"minContextSlot": slot + 10})
    assert err["code"] == -32016 and err["data"] == {"contextSlot": slot - FINALIZED_AFTER}


# ---------------------------------------------------------------------------------------------- reads
def test_commitment_picks_the_slot_and_the_blockhash(
    rpc: SolanaRpc, chain: SolanaChain, clock: FakeTime
) -> None:
    clock.slots(100)
    head = chain.slot
    assert result(rpc, "getSlot", {"commitment": "processed"}) == head
    assert result(rpc, "getSlot", {"commitment": "confirmed"}) == head - 1
    assert result(rpc, "getSlot") == head - FINALIZED_AFTER
    latest = result(rpc, "getLatestBlockhash", {"commitment": "processed"})
    assert latest["context"]["slot"] == head
    assert latest["value"]["lastValidBlockHeight"] == chain.block_height + BLOCKHASH_VALIDITY
    finalized = GetLatestBlockhashResp.from_json(json.dumps(call(rpc, "getLatestBlockhash")))
    assert (
        finalized.value.last_valid_block_height == chain.block_height - FINALIZED_AFTER + BLOCKHASH_VALIDITY
    )
    assert result(rpc, "isBlockhashValid", str(finalized.value.blockhash))["value"] is True
    assert result(rpc, "getBlockHeight", {"commitment": "processed"}) == chain.block_height


def test_token_accounts_by_owner_parse_with_solders(rpc: SolanaRpc, chain: SolanaChain) -> None:
    owner = Keypair().pubkey()
    ata = chain.mint_to(owner, USDC, 12_345_678)
    answer = call(rpc, "getTokenAccountsByOwner", str(owner), {"mint": str(USDC)}, {"encoding": "jsonParsed"})
    parsed = GetTokenAccountsByOwnerJsonParsedResp.from_json(json.dumps(answer))
    assert [a.pubkey for a in parsed.value] == [ata]
    info = answer["result"]["value"][0]["account"]["data"]["parsed"]["info"]
    assert info["tokenAmount"] == {
        "amount": "12345678",
        "decimals": 6,
        "uiAmount": 12.345678,
        "uiAmountString": "12.345678",
    }
    assert info["owner"] == str(owner) and info["mint"] == str(USDC) and info["state"] == "initialized"
    by_program = result(
        rpc,
        "getTokenAccountsByOwner",
        str(owner),
        {"programId": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"},
        {"encoding": "base64"},
    )
    data = base64.b64decode(by_program["value"][0]["account"]["data"][0])
    assert len(data) == 165 and data[:32] == bytes(USDC) and data[32:64] == bytes(owner)
    assert error(rpc, "getTokenAccountsByOwner", str(owner), {"mint": str(owner)})["message"] == (
        "Invalid param: could not find mint"
    )
    assert error(rpc, "getTokenAccountsByOwner", str(owner), {"programId": str(owner)})["message"] == (
        "Invalid param: unrecognized Token program id"
    )
    balance = result(rpc, "getTokenAccountBalance", str(ata))["value"]
    assert balance["amount"] == "12345678" and balance["uiAmountString"] == "12.345678"
    assert (
        error(rpc, "getTokenAccountBalance", str(owner))["message"] == "Invalid param: could not find account"
    )


# ---------------------------------------------------------------------------------------------- transactions
def test_signature_status_goes_processed_confirmed_finalized(
    rpc: SolanaRpc, chain: SolanaChain, clock: FakeTime
) -> None:
    payer = Keypair()
    chain.airdrop(payer.pubkey(), 10**9)
    signature = result(
        rpc,
        "sendTransaction",
        sol_transfer(chain, payer, Pubkey.new_unique(), 1_000_000),
        {"encoding": "base64"},
    )

    def status() -> Any:
        answer = call(rpc, "getSignatureStatuses", [signature])
        return GetSignatureStatusesResp.from_json(json.dumps(answer)).value[0]

    first = status()
    assert first.confirmation_status is not None and str(first.confirmation_status).endswith("Processed")
    assert first.confirmations == 0
    clock.slots(1)
    assert str(status().confirmation_status).endswith("Confirmed") and status().confirmations == 1
    clock.slots(FINALIZED_AFTER)
    final = status()
    assert str(final.confirmation_status).endswith("Finalized") and final.confirmations is None
    # Past the status cache only a history search finds it.
    clock.slots(400)
    assert result(rpc, "getSignatureStatuses", [signature])["value"] == [None]
    found = result(rpc, "getSignatureStatuses", [signature], {"searchTransactionHistory": True})["value"][0]
    assert found["status"] == {"Ok": None} and found["confirmationStatus"] == "finalized"


def test_send_rejects_bad_signatures_unless_preflight_is_skipped(rpc: SolanaRpc, chain: SolanaChain) -> None:
    payer = Keypair()
    chain.airdrop(payer.pubkey(), 10**9)
    raw = bytearray(base64.b64decode(sol_transfer(chain, payer, Pubkey.new_unique(), 1_000_000)))
    raw[5] ^= 0xFF  # inside the first signature
    tampered = base64.b64encode(bytes(raw)).decode()
    err = error(rpc, "sendTransaction", tampered, {"encoding": "base64"})
    assert err == {"code": -32003, "message": "Transaction signature verification failure"}
    # With skipPreflight the node forwards it; the leader drops it, so it never gets a status.
    signature = result(rpc, "sendTransaction", tampered, {"encoding": "base64", "skipPreflight": True})
    assert result(rpc, "getSignatureStatuses", [signature], {"searchTransactionHistory": True})["value"] == [
        None
    ]
    assert chain.balance(payer.pubkey()) == 10**9


def test_preflight_failure_carries_the_simulation(rpc: SolanaRpc, chain: SolanaChain) -> None:
    payer = Keypair()
    chain.airdrop(payer.pubkey(), 10**9)
    overdraw = sol_transfer(chain, payer, Pubkey.new_unique(), 5 * 10**9)
    err = error(rpc, "sendTransaction", overdraw, {"encoding": "base64"})
    assert err["code"] == -32002
    assert (
        err["message"]
        == "Transaction simulation failed: Error processing Instruction 0: custom program error: 0x1"
    )
    assert err["data"]["err"] == {"InstructionError": [0, {"Custom": 1}]}
    assert any("insufficient lamports" in line for line in err["data"]["logs"])
    # skipPreflight lands it as a failed transaction: the fee is charged.
    signature = result(rpc, "sendTransaction", overdraw, {"encoding": "base64", "skipPreflight": True})
    status = result(rpc, "getSignatureStatuses", [signature])["value"][0]
    assert status["err"] == {"InstructionError": [0, {"Custom": 1}]}
    assert status["status"] == {"Err": {"InstructionError": [0, {"Custom": 1}]}}
    assert chain.balance(payer.pubkey()) == 10**9 - 5_000


def test_base58_encoding_is_the_default(rpc: SolanaRpc, chain: SolanaChain) -> None:
    payer, to = Keypair(), Pubkey.new_unique()
    chain.airdrop(payer.pubkey(), 10**9)
    raw = base64.b64decode(sol_transfer(chain, payer, to, 2_000_000))
    signature = result(rpc, "sendTransaction", b58encode(raw))
    assert signature == str(VersionedTransaction.from_bytes(raw).signatures[0])
    assert chain.balance(to) == 2_000_000


def test_simulate_reports_accounts_and_replaces_the_blockhash(
    rpc: SolanaRpc, chain: SolanaChain, clock: FakeTime
) -> None:
    payer, to = Keypair(), Pubkey.new_unique()
    chain.airdrop(payer.pubkey(), 10**9)
    stale = sol_transfer(chain, payer, to, 3_000_000)
    clock.slots(BLOCKHASH_VALIDITY + 5)
    expired = result(rpc, "simulateTransaction", stale, {"encoding": "base64"})["value"]
    assert expired["err"] == "BlockhashNotFound"
    answer = call(
        rpc,
        "simulateTransaction",
        stale,
        {
            "encoding": "base64",
            "replaceRecentBlockhash": True,
            "accounts": {"addresses": [str(to)], "encoding": "base64"},
        },
    )
    value = SimulateTransactionResp.from_json(json.dumps(answer)).value
    assert value.err is None and value.units_consumed and value.logs
    assert value.accounts is not None and value.accounts[0].lamports == 3_000_000
    assert answer["result"]["value"]["replacementBlockhash"]["blockhash"] == str(chain.latest_blockhash()[0])
    assert chain.balance(to) == 0  # a simulation changes nothing
    both = error(
        rpc,
        "simulateTransaction",
        stale,
        {"encoding": "base64", "sigVerify": True, "replaceRecentBlockhash": True},
    )
    assert both["message"] == "sigVerify may not be used with replaceRecentBlockhash"


def test_get_transaction_shows_balances_and_parses_with_solders(
    rpc: SolanaRpc, chain: SolanaChain, clock: FakeTime
) -> None:
    payer, to = Keypair(), Pubkey.new_unique()
    chain.airdrop(payer.pubkey(), 10**9)
    signature = result(
        rpc, "sendTransaction", sol_transfer(chain, payer, to, 7_000_000), {"encoding": "base64"}
    )
    assert result(rpc, "getTransaction", signature, {"commitment": "confirmed"}) is None  # not confirmed yet
    clock.slots(1)
    answer = call(
        rpc, "getTransaction", signature, {"commitment": "confirmed", "maxSupportedTransactionVersion": 0}
    )
    parsed = GetTransactionResp.from_json(json.dumps(answer))
    assert parsed.value is not None and parsed.value.slot == chain.status(signature)[0].slot  # type: ignore[index]
    meta = answer["result"]["meta"]
    assert meta["fee"] == 5_000 and meta["err"] is None
    assert meta["preBalances"][0] - meta["postBalances"][0] == 7_005_000
    assert meta["postBalances"][1] == 7_000_000
    assert answer["result"]["version"] == "legacy"
    as_parsed = result(
        rpc, "getTransaction", signature, {"commitment": "confirmed", "encoding": "jsonParsed"}
    )
    instruction = as_parsed["transaction"]["message"]["instructions"][0]
    assert instruction["parsed"] == {
        "info": {"destination": str(to), "lamports": 7_000_000, "source": str(payer.pubkey())},
        "type": "transfer",
    }
    assert error(rpc, "getTransaction", signature, {"commitment": "processed"})["code"] == -32602


def test_airdrops_get_distinct_signatures_with_a_status(rpc: SolanaRpc, chain: SolanaChain) -> None:
    owner = Keypair().pubkey()
    first = result(rpc, "requestAirdrop", str(owner), 10**9)
    second = result(rpc, "requestAirdrop", str(owner), 10**9)
    assert first != second
    assert chain.balance(owner) == 2 * 10**9
    statuses = result(rpc, "getSignatureStatuses", [first, second])["value"]
    assert all(s is not None and s["err"] is None for s in statuses)


def test_dropped_transactions_are_acknowledged_and_never_land(rpc: SolanaRpc, chain: SolanaChain) -> None:
    payer, to = Keypair(), Pubkey.new_unique()
    chain.airdrop(payer.pubkey(), 10**9)
    chain.drop_hook = lambda: True
    signature = result(
        rpc, "sendTransaction", sol_transfer(chain, payer, to, 1_000_000), {"encoding": "base64"}
    )
    assert result(rpc, "getSignatureStatuses", [signature], {"searchTransactionHistory": True})["value"] == [
        None
    ]
    assert chain.balance(to) == 0


def test_halted_chain_is_unhealthy_and_stops_its_slot(
    rpc: SolanaRpc, chain: SolanaChain, clock: FakeTime
) -> None:
    chain.halt(True)
    slot = chain.slot
    clock.slots(50)
    assert chain.slot == slot
    assert error(rpc, "getHealth")["code"] == -32005
    payer = Keypair()
    chain.airdrop(payer.pubkey(), 10**9)
    err = error(
        rpc, "sendTransaction", sol_transfer(chain, payer, Pubkey.new_unique(), 1), {"encoding": "base64"}
    )
    assert err["code"] == -32005
    chain.halt(False)
    clock.slots(1)
    assert chain.slot == slot + 1 and result(rpc, "getHealth") == "ok"


def test_account_encodings_and_data_slices(rpc: SolanaRpc, chain: SolanaChain) -> None:
    from solders.rpc.responses import GetAccountInfoResp

    owner = Keypair().pubkey()
    ata = chain.mint_to(owner, USDC, 5)
    raw = bytes(chain.account(ata).data)  # type: ignore[union-attr]
    for encoding in ("base64", "base64+zstd"):
        answer = call(rpc, "getAccountInfo", str(ata), {"encoding": encoding})
        assert bytes(GetAccountInfoResp.from_json(json.dumps(answer)).value.data) == raw  # type: ignore[union-attr]
    sliced = result(
        rpc, "getAccountInfo", str(ata), {"encoding": "base64", "dataSlice": {"offset": 32, "length": 32}}
    )
    assert base64.b64decode(sliced["value"]["data"][0]) == bytes(owner)
    assert sliced["value"]["space"] == 165
    too_big = error(rpc, "getAccountInfo", str(ata), {"encoding": "base58"})
    assert too_big["message"].startswith("Encoded binary (base 58) data should be less than 128 bytes")
    small = result(
        rpc, "getAccountInfo", str(ata), {"encoding": "base58", "dataSlice": {"offset": 0, "length": 32}}
    )
    assert b58decode(small["value"]["data"][0]) == bytes(USDC)
    assert result(rpc, "getAccountInfo", str(USDC))["value"]["data"] == b58encode(
        bytes(chain.account(USDC).data)
    )  # type: ignore[union-attr]
    assert "unknown variant `hex`" in error(rpc, "getAccountInfo", str(ata), {"encoding": "hex"})["message"]


def test_input_limits(rpc: SolanaRpc) -> None:
    keys = [str(Pubkey.new_unique()) for _ in range(101)]
    assert error(rpc, "getMultipleAccounts", keys)["message"] == "Too many inputs provided; max 100"
    sigs = [str(Signature.default())] * 257
    assert error(rpc, "getSignatureStatuses", sigs)["message"] == "Too many inputs provided; max 256"
    assert error(rpc, "sendTransaction", "A" * 2000, {"encoding": "base64"})["message"].startswith(
        "base64 encoded solana_transaction::versioned::VersionedTransaction too large: 2000 bytes"
    )


def test_fee_for_message_is_null_once_the_blockhash_expired(
    rpc: SolanaRpc, chain: SolanaChain, clock: FakeTime
) -> None:
    payer = Keypair()
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Pubkey.new_unique(), lamports=1))
    message = Message.new_with_blockhash([ix], payer.pubkey(), chain.latest_blockhash()[0])
    encoded = base64.b64encode(bytes(message)).decode()
    assert result(rpc, "getFeeForMessage", encoded, {"commitment": "processed"})["value"] == 5_000
    clock.slots(BLOCKHASH_VALIDITY + 1)
    assert result(rpc, "getFeeForMessage", encoded, {"commitment": "processed"})["value"] is None
    assert error(rpc, "getFeeForMessage", "@@")["message"] == "invalid base64 encoding: InvalidByte(0, 64)"
