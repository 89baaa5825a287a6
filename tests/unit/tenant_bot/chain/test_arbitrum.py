"""ArbitrumClient against a scripted JSON-RPC node: the transfer it signs, balances, lost answers."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from eth_abi import decode, encode
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak
from hexbytes import HexBytes

from shared.assets import HYPERLIQUID_BRIDGE
from shared.retry import OutcomeUnknown, RetryPolicy
from tenant_bot.chain.arbitrum import (
    USDC_ADDRESS,
    ArbitrumClient,
    ArbitrumRpcError,
    TransactionOutcomeUnknown,
)

FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0, jitter=0.0)


class EvmSigner:
    """A test-only `Signer` with an eth-account key (the Solana side is not used here)."""

    def __init__(self) -> None:
        self.account = Account.create()

    @property
    def solana_address(self) -> str:
        raise NotImplementedError

    @property
    def evm_address(self) -> str:
        return self.account.address

    async def sign_solana_message(self, message: bytes) -> bytes:
        raise NotImplementedError

    async def sign_typed_data(self, typed_data: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def sign_evm_transaction(self, tx: dict[str, Any]) -> bytes:
        return bytes(self.account.sign_transaction(tx).raw_transaction)


class Node:
    """Answers the methods a transfer needs; records what was sent."""

    def __init__(self, send_failure: Exception | None = None) -> None:
        self.sent: list[bytes] = []
        self.calls: list[str] = []
        self.send_failure = send_failure

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        method, params = body["method"], body["params"]
        self.calls.append(method)
        results: dict[str, Any] = {
            "eth_chainId": "0xa4b1",
            "eth_getTransactionCount": "0x7",
            "eth_estimateGas": hex(50_000),
            "eth_gasPrice": hex(10_000_000),
            "eth_blockNumber": "0x11e1a300",
            "eth_getBalance": hex(12 * 10**15),
            "eth_call": "0x" + encode(["uint256"], [123_456_789]).hex(),
        }
        if method == "eth_sendRawTransaction":
            if self.send_failure is not None:
                raise self.send_failure
            raw = bytes.fromhex(params[0][2:])
            self.sent.append(raw)
            return httpx.Response(
                200, json={"jsonrpc": "2.0", "id": body["id"], "result": "0x" + keccak(raw).hex()}
            )
        if method == "eth_estimateGas" and params[0]["data"].endswith("f" * 8):
            error = {"code": 3, "message": "execution reverted: ERC20: transfer amount exceeds balance"}
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "error": error})
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": results[method]})


def client(node: Node) -> ArbitrumClient:
    return ArbitrumClient("http://arb.test", retry=FAST, transport=httpx.MockTransport(node))


async def test_balances_and_block_number_in_whole_units() -> None:
    arb = client(Node())
    assert await arb.usdc_balance(EvmSigner().evm_address) == Decimal("123.456789")
    assert await arb.eth_balance(EvmSigner().evm_address) == Decimal("0.012")
    assert await arb.block_number() == 0x11E1A300
    assert await arb.chain_id() == 42161


async def test_deposit_signs_a_type2_usdc_transfer_to_the_bridge() -> None:
    node, signer = Node(), EvmSigner()
    tx_hash = await client(node).deposit_to_hyperliquid(signer, Decimal("25.5"))
    (raw,) = node.sent
    assert tx_hash == "0x" + keccak(raw).hex()
    assert Account.recover_transaction(raw) == signer.evm_address
    tx = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
    assert tx["chainId"] == 42161 and tx["nonce"] == 7 and tx["value"] == 0
    assert "0x" + bytes(tx["to"]).hex() == USDC_ADDRESS.lower()
    assert tx["gas"] == 60_000  # the estimate plus the 20% margin
    assert tx["maxFeePerGas"] == 20_000_000 and tx["maxPriorityFeePerGas"] == 0
    data = bytes(tx["data"])
    assert data[:4] == bytes.fromhex("a9059cbb")
    to, amount = decode(["address", "uint256"], data[4:])
    assert to.lower() == HYPERLIQUID_BRIDGE.lower() and amount == 25_500_000


async def test_deposits_under_the_bridge_minimum_are_refused_before_anything_is_sent() -> None:
    node = Node()
    with pytest.raises(ValueError, match="lost"):
        await client(node).deposit_to_hyperliquid(EvmSigner(), Decimal("4.99"))
    assert node.calls == []


async def test_a_lost_send_answer_is_outcome_unknown_with_the_tx_hash() -> None:
    node = Node(send_failure=httpx.ReadTimeout("slow"))
    with pytest.raises(TransactionOutcomeUnknown) as info:
        await client(node).transfer_usdc(EvmSigner(), HYPERLIQUID_BRIDGE, Decimal(10))
    assert isinstance(info.value, OutcomeUnknown)
    assert info.value.tx_hash.startswith("0x") and len(info.value.tx_hash) == 66
    assert node.calls.count("eth_sendRawTransaction") == 1


async def test_a_revert_in_estimation_is_an_rpc_error() -> None:
    # An amount whose calldata ends in ffffffff makes the scripted node revert.
    with pytest.raises(ArbitrumRpcError, match="exceeds balance") as info:
        await client(Node()).transfer_usdc(EvmSigner(), HYPERLIQUID_BRIDGE, Decimal(0xFFFFFFFF) / 10**6)
    assert info.value.code == 3
