"""The bot's Arbitrum One client: ETH and native-USDC balances, USDC transfers, Hyperliquid deposits.

Plain Ethereum JSON-RPC over httpx with eth-abi for the calldata (web3 is not a dependency: the bot
needs five methods of it). Transactions are EIP-1559 (type 2) with a zero priority fee, because
Arbitrum charges the base fee only; the fee cap is twice the current base fee, head-room for a rise
between estimate and inclusion (only the base fee is paid).

Sending is a write: it is retried only when it certainly did not reach the node. The transaction hash
is keccak(raw) and known before sending, so a send whose answer is lost raises
`TransactionOutcomeUnknown` carrying that hash: resolve it with `receipt(tx_hash)`.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from shared.assets import HYPERLIQUID_BRIDGE, HYPERLIQUID_MIN_DEPOSIT_USDC, Asset, Chain, token
from shared.money import to_raw
from shared.retry import OutcomeUnknown, RetryPolicy, send_with_retry
from tenant_bot.signing.signer import Signer
from tenant_bot.tls import ssl_context

USDC = token(Asset.USDC, Chain.ARBITRUM)
USDC_ADDRESS = USDC.address or ""
ETH_DECIMALS = token(Asset.ETH, Chain.ARBITRUM).decimals
BALANCE_OF = bytes.fromhex("70a08231")  # balanceOf(address)
TRANSFER = bytes.fromhex("a9059cbb")  # transfer(address,uint256)
# Margin over eth_estimateGas: Arbitrum's estimate includes an L1 data cost that moves with L1 prices.
GAS_MARGIN = Decimal("1.2")
FEE_CAP_MULTIPLIER = 2


class ArbitrumRpcError(Exception):
    """The node answered a JSON-RPC error (a revert, a rejected transaction, a bad argument)."""

    def __init__(self, message: str, *, code: int | None = None, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class TransactionOutcomeUnknown(OutcomeUnknown):
    """A transaction was sent and the answer lost: ask `receipt(tx_hash)` before doing anything else."""

    def __init__(self, message: str, *, tx_hash: str, cause: BaseException | None = None) -> None:
        super().__init__(message, cause=cause)
        self.tx_hash = tx_hash


@dataclass(frozen=True)
class SignedTransaction:
    """A signed transaction not yet sent: its bytes, its hash (keccak of them) and its nonce."""

    raw: bytes
    tx_hash: str
    nonce: int


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


class ArbitrumClient:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        usdc_address: str = USDC_ADDRESS,
        bridge_address: str = HYPERLIQUID_BRIDGE,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        # The network's native USDC and Hyperliquid's Bridge2 (shared/networks.py; Arbitrum One's by
        # default, which the devnet emulates).
        self._usdc_address = usdc_address
        self.bridge_address = bridge_address
        self.retry = retry or RetryPolicy(attempts=3)
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport, verify=ssl_context())
        self._ids = itertools.count(1)
        self._chain_id: int | None = None

    def __repr__(self) -> str:
        return f"ArbitrumClient({self.url!r})"

    @functools.cached_property
    def usdc_address(self) -> str:
        # Checksummed on first use: eth_utils is slow to import and a tick never needs it.
        from eth_utils import to_checksum_address

        return str(to_checksum_address(self._usdc_address))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ArbitrumClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def _rpc(self, method: str, params: list[Any], *, idempotent: bool = True) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}

        async def send() -> httpx.Response:
            return await self._http.post(self.url, json=body)

        response = await send_with_retry(
            send, policy=self.retry, idempotent=idempotent, what=f"arbitrum {method}"
        )
        try:
            answer = response.json()
        except ValueError:
            raise ArbitrumRpcError(f"{method}: HTTP {response.status_code}, not JSON") from None
        if not isinstance(answer, dict):
            raise ArbitrumRpcError(f"{method}: unexpected answer")
        if "error" in answer:
            err = answer["error"] if isinstance(answer["error"], dict) else {"message": str(answer["error"])}
            raise ArbitrumRpcError(
                f"{method}: {err.get('message', 'error')}", code=err.get("code"), data=err.get("data")
            )
        if response.status_code >= 400:
            raise ArbitrumRpcError(f"{method}: HTTP {response.status_code}")
        return answer.get("result")

    # ------------------------------------------------------------------ reads
    async def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = _int(await self._rpc("eth_chainId", []))
        return self._chain_id

    async def block_number(self) -> int:
        return _int(await self._rpc("eth_blockNumber", []))

    async def eth_balance(self, address: str) -> Decimal:
        """ETH (for gas), in whole ETH."""
        from eth_utils import to_checksum_address

        wei = _int(await self._rpc("eth_getBalance", [to_checksum_address(address), "latest"]))
        return Decimal(wei).scaleb(-ETH_DECIMALS)

    async def usdc_balance(self, address: str) -> Decimal:
        from eth_abi import decode, encode
        from eth_utils import to_checksum_address

        data = BALANCE_OF + encode(["address"], [to_checksum_address(address)])
        result = await self._rpc("eth_call", [{"to": self.usdc_address, "data": "0x" + data.hex()}, "latest"])
        (raw,) = decode(["uint256"], bytes.fromhex(str(result).removeprefix("0x")))
        return Decimal(raw).scaleb(-USDC.decimals)

    async def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        """The mined transaction's receipt (`status` "0x1" success, "0x0" reverted), None if not mined."""
        return await self._rpc("eth_getTransactionReceipt", [tx_hash])

    async def wait_for_receipt(
        self, tx_hash: str, *, poll: float = 0.25, timeout: float = 60
    ) -> dict[str, Any]:
        """The receipt once mined; `TimeoutError` if it is not mined within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = await self.receipt(tx_hash)
            if found is not None:
                return found
            if time.monotonic() + poll > deadline:
                raise TimeoutError(f"transaction {tx_hash} not mined within {timeout}s")
            await asyncio.sleep(poll)

    async def nonce(self, address: str, *, pending: bool = False) -> int:
        """The address's transaction count: mined only, or with the node's pending ones."""
        from eth_utils import to_checksum_address

        tag = "pending" if pending else "latest"
        return _int(await self._rpc("eth_getTransactionCount", [to_checksum_address(address), tag]))

    # ------------------------------------------------------------------ writes
    async def transfer_usdc(self, signer: Signer, to: str, amount: Decimal) -> str:
        """Send `amount` native USDC from the signer's EVM wallet to `to`; returns the tx hash once the
        node accepted it (mined or not: confirm with `receipt`)."""
        signed = await self.sign_usdc_transfer(signer, to, amount)
        return await self.send_raw_transaction(signed.raw)

    async def sign_usdc_transfer(
        self, signer: Signer, to: str, amount: Decimal, *, nonce: int | None = None
    ) -> SignedTransaction:
        """A signed USDC transfer, not sent: its hash and nonce are known before anything leaves, so a
        caller can journal them first. Sending the same bytes twice moves the money once (one nonce)."""
        raw_amount = to_raw(amount, USDC.decimals)
        if raw_amount <= 0:
            raise ValueError("amount must be at least one raw unit of USDC (0.000001)")
        from eth_abi import encode
        from eth_utils import keccak, to_checksum_address

        sender = to_checksum_address(signer.evm_address)
        data = "0x" + (TRANSFER + encode(["address", "uint256"], [to_checksum_address(to), raw_amount])).hex()
        call = {"from": sender, "to": self.usdc_address, "data": data}
        chain_id = await self.chain_id()
        if nonce is None:
            nonce = await self.nonce(sender, pending=True)
        estimate = _int(await self._rpc("eth_estimateGas", [call]))
        base_fee = _int(await self._rpc("eth_gasPrice", []))
        tx = {
            "type": 2,
            "chainId": chain_id,
            "nonce": nonce,
            "to": self.usdc_address,
            "value": 0,
            "data": data,
            "gas": int(Decimal(estimate) * GAS_MARGIN),
            "maxFeePerGas": base_fee * FEE_CAP_MULTIPLIER,
            "maxPriorityFeePerGas": 0,
        }
        raw = await signer.sign_evm_transaction(tx)
        return SignedTransaction(raw=raw, tx_hash="0x" + keccak(raw).hex(), nonce=nonce)

    async def send_raw_transaction(self, raw: bytes) -> str:
        from eth_utils import keccak

        tx_hash = "0x" + keccak(raw).hex()
        try:
            answer = await self._rpc("eth_sendRawTransaction", ["0x" + raw.hex()], idempotent=False)
        except TransactionOutcomeUnknown:
            raise
        except OutcomeUnknown as exc:
            raise TransactionOutcomeUnknown(str(exc), tx_hash=tx_hash, cause=exc.cause) from exc
        if str(answer).lower() != tx_hash:
            raise ArbitrumRpcError(f"the node answered hash {answer}, expected {tx_hash}")
        return tx_hash

    async def sign_hyperliquid_deposit(
        self, signer: Signer, amount: Decimal, *, nonce: int | None = None
    ) -> SignedTransaction:
        """A signed USDC transfer to Hyperliquid's Bridge2 (credited to the same address's perp
        account), not sent; `ValueError` under the bridge's minimum, which it would keep."""
        if amount < HYPERLIQUID_MIN_DEPOSIT_USDC:
            raise ValueError(
                f"a Hyperliquid deposit under {HYPERLIQUID_MIN_DEPOSIT_USDC} USDC is lost by the bridge"
            )
        return await self.sign_usdc_transfer(signer, self.bridge_address, amount, nonce=nonce)

    async def deposit_to_hyperliquid(self, signer: Signer, amount: Decimal) -> str:
        """Send USDC to Hyperliquid's Bridge2; it is credited to the same address's perp account."""
        signed = await self.sign_hyperliquid_deposit(signer, amount)
        return await self.send_raw_transaction(signed.raw)
