"""The bot's Solana JSON-RPC client: balances, blockhashes, what became of a signature, and the LSTs'
stake pool accounts (decoded by `tenant_bot.chain.stake_pools`).

A thin wrapper of solana-py's `AsyncClient` (which talks to the devnet's RPC unchanged) that answers
in Basis's types: Decimal whole units, assets by mint from `shared.assets.TOKENS`, and signature
states a caller can branch on. Reads use the `confirmed` commitment: recent enough for a bot, and never
a state that a fork can take back in practice.

`wait_for_signature` is how a transaction's fate is settled, above all after a submit whose answer
was lost: CONFIRMED or FAILED when the chain says so, EXPIRED only once the block height has passed
the transaction's `lastValidBlockHeight` *and* the signature is still unknown, checked once more after
the expiry was seen (a transaction can land in the last valid block while we look at the height).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import itertools
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from shared.assets import TARGET_SLOT_SECONDS, TOKENS, Asset, Chain, PoolLayout, StakePool
from shared.retry import RetryPolicy
from tenant_bot.chain.stake_pools import (
    EpochSamples,
    PoolRate,
    decode_marinade_state,
    decode_stake_pool,
    marinade_rate,
    pool_rate,
)
from tenant_bot.tls import ssl_context

if TYPE_CHECKING:
    from solana.rpc.async_api import AsyncClient
    from solana.rpc.core import RPCException

T = TypeVar("T")

# solana-py and solders are imported where they are used: slow to import and about 20 MB, and a
# tick only reads the slot, which a plain JSON-RPC request does.
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
SOL_DECIMALS = TOKENS[(Asset.SOL, Chain.SOLANA)].decimals
# SPL tokens Basis holds on Solana, by mint: USDC and the LSTs.
SPL_BY_MINT: dict[str, tuple[Asset, int]] = {
    t.address: (t.asset, t.decimals) for t in TOKENS.values() if t.chain is Chain.SOLANA and t.address
}


class SolanaRpcError(Exception):
    """The RPC node answered an error or could not be reached (after the read retries)."""


@dataclass(frozen=True)
class SolanaBalances:
    owner: str
    sol: Decimal
    tokens: dict[Asset, Decimal]  # every SPL asset of SPL_BY_MINT, 0 when the wallet has no account


class SignatureState(StrEnum):
    PROCESSED = "processed"
    CONFIRMED = "confirmed"
    FINALIZED = "finalized"
    FAILED = "failed"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class SignatureStatus:
    signature: str
    state: SignatureState
    slot: int | None
    error: str | None


class ConfirmResult(StrEnum):
    CONFIRMED = "confirmed"
    FAILED = "failed"
    EXPIRED = "expired"  # certain never to land: build and sign a new transaction


class SolanaClient:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`transport`: for the plain JSON-RPC reads (the tick's), as the other clients take one."""
        self.url = url
        self.retry = retry or RetryPolicy(attempts=3)
        self._timeout = timeout
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport, verify=ssl_context())
        self._ids = itertools.count(1)
        self._epoch_length: timedelta | None = None
        self._epoch_samples = EpochSamples()  # pools that keep no previous epoch (Marinade)

    def __repr__(self) -> str:
        return f"SolanaClient({self.url!r})"

    @functools.cached_property
    def _rpc(self) -> AsyncClient:
        from solana.rpc.async_api import AsyncClient
        from solana.rpc.commitment import Confirmed

        # HTTP/1.1: RPC nodes behind plain HTTP (and the devnet) do not speak h2c.
        return AsyncClient(self.url, commitment=Confirmed, timeout=self._timeout, http2=False)

    async def aclose(self) -> None:
        await self._http.aclose()
        if "_rpc" in self.__dict__:
            await self._rpc.close()

    async def __aenter__(self) -> SolanaClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def _read(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """A read, retried on transport and HTTP errors; a JSON-RPC error is an answer, not retried."""
        from solana.exceptions import SolanaRpcException
        from solana.rpc.core import RPCException

        for attempt in range(1, self.retry.attempts + 1):
            try:
                return await call()
            except RPCException as exc:
                raise SolanaRpcError(f"solana {what}: {_rpc_message(exc)}") from exc
            except SolanaRpcException as exc:
                if attempt == self.retry.attempts:
                    raise SolanaRpcError(f"solana {what}: {type(exc.__cause__ or exc).__name__}") from exc
                await asyncio.sleep(self.retry.delay(attempt))
        raise SolanaRpcError(f"solana {what}: no attempt made")

    # ------------------------------------------------------------------ reads
    async def _plain_read(self, method: str, params: list[Any]) -> Any:
        """`_read` without solana-py: one JSON-RPC request over httpx, retried the same way."""
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        for attempt in range(1, self.retry.attempts + 1):
            try:
                response = await self._http.post(self.url, json=body)
                response.raise_for_status()
                answer = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                if attempt == self.retry.attempts:
                    raise SolanaRpcError(f"solana {method}: {type(exc).__name__}") from exc
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            error = answer.get("error") if isinstance(answer, dict) else None
            if error is not None:
                message = error.get("message") if isinstance(error, dict) else None
                raise SolanaRpcError(f"solana {method}: {message or error}")
            if not isinstance(answer, dict) or "result" not in answer:
                raise SolanaRpcError(f"solana {method}: an answer without a result")
            return answer["result"]
        raise SolanaRpcError(f"solana {method}: no attempt made")

    async def stake_pool_rates(self, pools: Iterable[StakePool]) -> dict[Asset, PoolRate]:
        """Each pool's fair value and staking growth, read from its state account (getMultipleAccounts,
        base64) in one request. A pool whose account is missing or not a stake pool raises: a wrong
        address must not pass as "no yield"."""
        pools = list(pools)
        if not pools:
            return {}
        length = await self.epoch_length()
        answer = await self._plain_read(
            "getMultipleAccounts",
            [[p.address for p in pools], {"encoding": "base64", "commitment": "confirmed"}],
        )
        out: dict[Asset, PoolRate] = {}
        for pool, account in zip(pools, answer.get("value") or [], strict=True):
            if account is None or account.get("owner") != pool.program:
                raise SolanaRpcError(f"solana: {pool.address} is not a {pool.asset.value} stake pool account")
            try:
                data = base64.b64decode(account["data"][0], validate=True)
                if pool.layout is PoolLayout.MARINADE:
                    state = decode_marinade_state(data)
                    out[pool.asset] = marinade_rate(pool.asset, state, self._epoch_samples, length)
                else:
                    out[pool.asset] = pool_rate(pool.asset, decode_stake_pool(data), length)
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise SolanaRpcError(f"solana: the {pool.asset.value} stake pool account: {exc}") from exc
        return out

    async def epoch_length(self) -> timedelta:
        """An epoch's nominal length: `slotsPerEpoch` (getEpochSchedule, read once) x the 400 ms slot."""
        if self._epoch_length is None:
            schedule = await self._plain_read("getEpochSchedule", [])
            slots = Decimal(int(schedule["slotsPerEpoch"]))
            self._epoch_length = timedelta(seconds=float(slots * TARGET_SLOT_SECONDS))
        return self._epoch_length

    async def balances(self, owner: str) -> SolanaBalances:
        from solana.rpc.models import TokenAccountOpts
        from solders.pubkey import Pubkey
        from solders.token.state import TokenAccount

        key = Pubkey.from_string(owner)
        program = Pubkey.from_string(TOKEN_PROGRAM)
        lamports = await self._read("getBalance", lambda: self._rpc.get_balance(key))
        accounts = await self._read(
            "getTokenAccountsByOwner",
            lambda: self._rpc.get_token_accounts_by_owner(key, TokenAccountOpts(program_id=program)),
        )
        raw: dict[Asset, int] = {asset: 0 for asset, _ in SPL_BY_MINT.values()}
        for keyed in accounts.value:
            state = TokenAccount.from_bytes(bytes(keyed.account.data))
            known = SPL_BY_MINT.get(str(state.mint))
            if known is not None:
                raw[known[0]] += state.amount
        decimals = {asset: d for asset, d in SPL_BY_MINT.values()}
        return SolanaBalances(
            owner=owner,
            sol=Decimal(lamports.value).scaleb(-SOL_DECIMALS),
            tokens={asset: Decimal(amount).scaleb(-decimals[asset]) for asset, amount in raw.items()},
        )

    async def latest_blockhash(self) -> tuple[str, int]:
        """(blockhash, last valid block height) at the confirmed commitment."""
        answer = await self._read("getLatestBlockhash", lambda: self._rpc.get_latest_blockhash())
        return str(answer.value.blockhash), int(answer.value.last_valid_block_height)

    async def block_height(self) -> int:
        return int((await self._read("getBlockHeight", lambda: self._rpc.get_block_height())).value)

    async def slot(self) -> int:
        return int(await self._plain_read("getSlot", [{"commitment": "confirmed"}]))

    async def signature_status(self, signature: str) -> SignatureStatus:
        """Where a transaction is: searched in the whole history, not just the recent status cache."""
        from solders.signature import Signature

        sig = Signature.from_string(signature)
        answer = await self._read(
            "getSignatureStatuses",
            lambda: self._rpc.get_signature_statuses([sig], search_transaction_history=True),
        )
        status = answer.value[0]
        if status is None:
            return SignatureStatus(signature, SignatureState.NOT_FOUND, None, None)
        if status.err is not None:
            return SignatureStatus(signature, SignatureState.FAILED, int(status.slot), str(status.err))
        level = (
            str(status.confirmation_status).rsplit(".", 1)[-1].lower() if status.confirmation_status else ""
        )
        state = {
            "finalized": SignatureState.FINALIZED,
            "confirmed": SignatureState.CONFIRMED,
        }.get(level, SignatureState.PROCESSED)
        return SignatureStatus(signature, state, int(status.slot), None)

    async def wait_for_signature(
        self,
        signature: str,
        last_valid_block_height: int | None,
        *,
        poll: float = 0.4,
        timeout: float = 90,
    ) -> tuple[ConfirmResult, SignatureStatus]:
        """Wait until the transaction is confirmed, failed, or certainly expired.

        Raises `TimeoutError` when none of those is known within `timeout` seconds (with no
        `last_valid_block_height`, an unseen transaction can only end that way): its fate stays unknown.
        """
        deadline = time.monotonic() + timeout
        while True:
            status = await self.signature_status(signature)
            settled = _settled(status)
            if settled is not None:
                return settled, status
            if (
                status.state is SignatureState.NOT_FOUND
                and last_valid_block_height is not None
                and await self.block_height() > last_valid_block_height
            ):
                # The height passed: one more look, in case it landed in the last valid block.
                status = await self.signature_status(signature)
                settled = _settled(status)
                if settled is not None:
                    return settled, status
                if status.state is SignatureState.NOT_FOUND:
                    return ConfirmResult.EXPIRED, status
            if time.monotonic() + poll > deadline:
                raise TimeoutError(f"signature {signature} neither confirmed nor expired within {timeout}s")
            await asyncio.sleep(poll)


def _settled(status: SignatureStatus) -> ConfirmResult | None:
    if status.state is SignatureState.FAILED:
        return ConfirmResult.FAILED
    if status.state in (SignatureState.CONFIRMED, SignatureState.FINALIZED):
        return ConfirmResult.CONFIRMED
    return None


def _rpc_message(exc: RPCException) -> str:
    arg: Any = exc.args[0] if exc.args else exc
    message = getattr(arg, "message", None)
    return str(message) if message else str(arg)
