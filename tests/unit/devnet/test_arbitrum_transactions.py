"""Decoding of raw Ethereum transactions and the USDC contract's ABI encoding."""

from __future__ import annotations

import pytest
import rlp
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from devnet.arbitrum.rpc import bloom, logs_bloom
from devnet.arbitrum.transactions import TxDecodeError, decode_raw_transaction
from devnet.arbitrum.usdc import (
    TRANSFER_TOPIC,
    USDC_ADDRESS,
    CallResult,
    UsdcToken,
    revert_data,
    transfer_log,
)

ACCOUNT = Account.from_key("0x" + "11" * 32)
OTHER = Account.from_key("0x" + "22" * 32).address


def sign(tx: dict) -> bytes:
    return bytes(ACCOUNT.sign_transaction(tx).raw_transaction)


def test_eip1559_fields_and_sender() -> None:
    raw = sign(
        {
            "type": 2,
            "chainId": 42161,
            "nonce": 7,
            "to": USDC_ADDRESS,
            "value": 0,
            "data": "0xa9059cbb" + "00" * 64,
            "gas": 90_000,
            "maxFeePerGas": 20_000_000,
            "maxPriorityFeePerGas": 1,
            "accessList": [{"address": OTHER, "storageKeys": ["0x" + "00" * 31 + "01"]}],
        }
    )
    tx = decode_raw_transaction(raw)
    assert tx.type == 2 and tx.chain_id == 42161 and tx.nonce == 7 and tx.gas == 90_000
    assert tx.max_fee_per_gas == 20_000_000 and tx.max_priority_fee_per_gas == 1 and tx.gas_price is None
    assert tx.fee_cap == 20_000_000 and tx.to == USDC_ADDRESS and tx.data[:4] == bytes.fromhex("a9059cbb")
    assert tx.sender == ACCOUNT.address
    assert tx.hash == keccak(raw)
    assert tx.access_list[0].address == OTHER and tx.access_list[0].storage_keys == (bytes(31) + b"\x01",)


def test_legacy_eip155_and_eip2930() -> None:
    legacy = decode_raw_transaction(
        sign({"chainId": 42161, "nonce": 0, "to": OTHER, "value": 5, "gas": 30_000, "gasPrice": 10**8})
    )
    assert legacy.type == 0 and legacy.chain_id == 42161 and legacy.gas_price == 10**8
    assert (
        legacy.value == 5
        and legacy.sender == ACCOUNT.address
        and legacy.v in (42161 * 2 + 35, 42161 * 2 + 36)
    )
    typed = decode_raw_transaction(
        sign(
            {
                "type": 1,
                "chainId": 42161,
                "nonce": 1,
                "to": OTHER,
                "value": 0,
                "gas": 30_000,
                "gasPrice": 10**8,
                "accessList": [],
            }
        )
    )
    assert typed.type == 1 and typed.fee_cap == 10**8 and typed.sender == ACCOUNT.address


def test_unprotected_legacy_has_no_chain_id() -> None:
    # A pre-EIP-155 signature: v is 27 or 28.
    unsigned = [0, 10**8, 21_000, bytes.fromhex(OTHER[2:]), 1, b""]
    digest = keccak(rlp.encode(unsigned))
    signature = Account._keys.PrivateKey(ACCOUNT.key).sign_msg_hash(digest)
    raw = rlp.encode([*unsigned, signature.v + 27, signature.r, signature.s])
    tx = decode_raw_transaction(raw)
    assert tx.chain_id is None and tx.sender == ACCOUNT.address


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "typed transaction too short"),
        (b"\x03\xc0", "transaction type not supported"),
        (b"\xc0", "rlp: too few elements for types.LegacyTx"),
        (b"\x02\xc0", "rlp:"),
        (b"\xff\x00", "rlp: expected input list"),
    ],
)
def test_garbage_is_refused_with_geth_wording(raw: bytes, message: str) -> None:
    with pytest.raises(TxDecodeError, match=message.replace("(", r"\(")):
        decode_raw_transaction(raw)


def test_high_s_signatures_are_refused() -> None:
    raw = sign({"chainId": 42161, "nonce": 0, "to": OTHER, "value": 1, "gas": 30_000, "gasPrice": 10**8})
    fields = rlp.decode(raw)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(fields[8], "big")
    fields[8] = (n - s).to_bytes(32, "big")  # the malleable twin of the same signature
    with pytest.raises(TxDecodeError, match="invalid transaction v, r, s values"):
        decode_raw_transaction(rlp.encode(fields))


def test_usdc_calls_encode_like_the_contract() -> None:
    token = UsdcToken()
    holder = to_checksum_address("0x" + "ab" * 20)
    token.mint(holder, 1_234_567)
    balance = token.execute(
        OTHER, bytes.fromhex("70a08231") + bytes(12) + bytes.fromhex(holder[2:]), 0, commit=False
    )
    assert balance.success and int.from_bytes(balance.output, "big") == 1_234_567
    assert decode(["uint8"], token.execute(OTHER, bytes.fromhex("313ce567"), 0, commit=False).output) == (6,)
    assert decode(["string"], token.execute(OTHER, bytes.fromhex("95d89b41"), 0, commit=False).output) == (
        "USDC",
    )
    assert decode(["string"], token.execute(OTHER, bytes.fromhex("06fdde03"), 0, commit=False).output) == (
        "USD Coin",
    )
    assert token.execute(OTHER, bytes.fromhex("deadbeef"), 0, commit=False) == CallResult(False, b"", 24_000)
    # balanceOf with its argument cut short reverts, as the compiled ABI decoder does.
    assert not token.execute(OTHER, bytes.fromhex("70a08231") + bytes(10), 0, commit=False).success


def test_transfer_moves_balances_and_logs_like_mainnet() -> None:
    token = UsdcToken()
    sender = ACCOUNT.address
    token.mint(sender, 10_000_000)
    call = bytes.fromhex("a9059cbb") + encode(["address", "uint256"], [OTHER, 4_000_000])
    dry = token.execute(sender, call, 0, commit=False)
    assert dry.success and token.balance_of(sender) == 10_000_000
    result = token.execute(sender, call, 0, commit=True)
    assert result.success and decode(["bool"], result.output) == (True,)
    assert token.balance_of(sender) == 6_000_000 and token.balance_of(OTHER) == 4_000_000
    (entry,) = result.logs
    assert entry.topics[0].hex() == "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    assert entry.topics[1] == bytes(12) + bytes.fromhex(sender[2:])
    assert entry.topics[2] == bytes(12) + bytes.fromhex(OTHER[2:])
    assert int.from_bytes(entry.data, "big") == 4_000_000
    too_much = token.execute(
        sender, bytes.fromhex("a9059cbb") + encode(["address", "uint256"], [OTHER, 10**9]), 0, commit=True
    )
    assert not too_much.success and too_much.revert_reason == "ERC20: transfer amount exceeds balance"
    assert token.balance_of(sender) == 6_000_000


def test_revert_data_is_error_string() -> None:
    data = revert_data("ERC20: transfer amount exceeds balance")
    assert data[:4].hex() == "08c379a0"
    assert decode(["string"], data[4:]) == ("ERC20: transfer amount exceeds balance",)


def test_logs_bloom_sets_three_bits_per_item() -> None:
    entry = transfer_log(ACCOUNT.address, OTHER, 5)
    bloom = int.from_bytes(logs_bloom([entry]), "big")
    for item in (bytes.fromhex(USDC_ADDRESS[2:]), TRANSFER_TOPIC, *entry.topics[1:]):
        digest = keccak(item)
        for i in (0, 2, 4):
            assert bloom >> (int.from_bytes(digest[i : i + 2], "big") & 2047) & 1
    assert 1 <= bin(bloom).count("1") <= 12
    assert logs_bloom([]) == bytes(256)


def test_bloom_matches_geths_vector() -> None:
    # go-ethereum core/types/bloom9_test.go, TestBloomExtensively.
    items = [f"xxxxxxxxxx data {i} yyyyyyyyyyyyyy".encode() for i in range(100)]
    assert keccak(bloom(items)).hex() == "c8d3ca65cdb4874300a9e39475508f23ed6da09fdbc487f89a2dcf50b09eb263"
