"""The signing broker: `POST /internal/sign` (orchestrator/routes/signing.py), through which a bot signs
with its user's Privy wallets.

The Privy app secret never leaves the control plane. A bot started for a signed-in user holds only
its tenant token (the one the proxy sends it) and asks here for each signature:

    POST /internal/sign
    Authorization: Bearer <the tenant's token (BASIS_API_TOKEN)>
    X-Basis-Tenant: <tenant id>
    {"kind": "solana_message" | "typed_data" | "evm_transaction" | "hyperliquid_l1",
     "address": "<the wallet's address; optional, checked when given>",
     "payload": ...}

Payloads, as the bot's `Signer` interface takes them:
- `solana_message`: the serialized transaction message (legacy, or v0 with its 0x80 prefix), base64
  (standard alphabet, padded). Answer `{"signature": "<64 bytes, base64>"}`.
- `typed_data`: EIP-712 typed data as eth_signTypedData_v4 takes it (`domain`, `types`,
  `primaryType`, `message`; bytes as 0x-hex): Hyperliquid's user-signed actions. Answer
  `{"r": "0x…", "s": "0x…", "v": 27|28}`. Hyperliquid's phantom `Agent` is refused here.
- `hyperliquid_l1`: a Hyperliquid L1 action to sign, `{"action": {...}, "nonce": int,
  "vaultAddress": null, "expiresAfter": int | null}`. The broker checks the action, orders against the
  venue's mark prices that it reads itself (`orchestrator/marks.py`: each limit price within a band
  around the mark, the size within a notional cap; with the venue unreadable, only reduce-only orders
  and cancels), hashes it itself (`shared.hyperliquid_l1`, the official SDK's functions) with the
  source of its own network setting ("a" on mainnet, "b" otherwise; never the bot's word), and signs
  that phantom agent. Answer as `typed_data`.
- `evm_transaction`: an EVM transaction as eth_account takes it (`chainId`, `nonce`, `to`, `value`,
  `data` as 0x-hex, `gas`, `maxFeePerGas` / `maxPriorityFeePerGas` or `gasPrice`, `type`).
  Answer `{"raw_transaction": "0x…"}`.

Checks, in order: the declared body size (413 above 64 KiB), the token is the tenant's (401); then
at most 64 KiB of body is read, chunked or not, before anything is parsed (413); the tenant's user
has Privy wallets and the named wallet is theirs (403), the tenant is within its signing rate (429),
the payload passes the shared transaction policy (`shared.transaction_policy`, the bot's own rules,
with the user's registered withdrawal addresses that are usable now: 403 with the reason; a payload
that cannot be read is a 422), and what it lets flow out fits the tenant's outflow budget
(orchestrator/outflow.py: 403 with the reason). Only then is Privy asked; its answer is verified
against the wallet's address before it is returned (a signature that does not verify, or Privy
failing, is a 502, and the outflow is refunded). Each signing is logged with tenant, kind, outcome
and duration; never a payload, a token or a signature.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, NoReturn, Protocol

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.auth.privy import PrivyClient, PrivyError
from orchestrator.config import ControlPlaneSettings
from orchestrator.database.models import Tenant, User
from orchestrator.marks import VenueMarks
from orchestrator.outflow import OutflowBudget, OverBudget
from orchestrator.tenants import TENANT_ID
from orchestrator.withdrawals import WithdrawalBook
from shared.launch import bot_token
from shared.logging import get_logger
from shared.transaction_config import load_transactions_config
from shared.transaction_policy import (
    Outflow,
    PerpMarks,
    TransactionPolicy,
    TransactionRejected,
    TransactionValidator,
    WithdrawalAddresses,
)

log = get_logger("orchestrator.broker")

SIGN_PATH = "/internal/sign"
# Read-only: the tenant's registered EVM withdrawal address, for the bot to show before it asks for a
# withdrawal's signature (which `sign` still checks against the same book).
WITHDRAWAL_ADDRESS_PATH = "/internal/withdrawal-address"
TENANT_HEADER = "X-Basis-Tenant"
# A Solana transaction is at most 1232 bytes; typed data and EVM transactions are far smaller.
MAX_BODY_BYTES = 64 * 1024
Kind = Literal["solana_message", "typed_data", "evm_transaction", "hyperliquid_l1"]

# eth_account's transaction fields → Privy's snake-case ones (eth_signTransaction).
_EVM_QUANTITIES = {
    "chainId": "chain_id",
    "nonce": "nonce",
    "gas": "gas_limit",
    "gasPrice": "gas_price",
    "maxFeePerGas": "max_fee_per_gas",
    "maxPriorityFeePerGas": "max_priority_fee_per_gas",
    "value": "value",
    "type": "type",
}


class SignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    address: str | None = Field(default=None, min_length=1, max_length=64)
    # Base64 message for `solana_message`; a JSON object for the others.
    payload: str | dict[str, Any]


class HyperliquidL1(BaseModel):
    """The `hyperliquid_l1` payload: what the venue's envelope carries besides the signature."""

    model_config = ConfigDict(extra="forbid")

    action: dict[str, Any]
    nonce: StrictInt = Field(ge=0, lt=2**64)
    vaultAddress: str | None = Field(default=None, max_length=64)  # the venue's field names
    expiresAfter: StrictInt | None = Field(default=None, ge=0, lt=2**64)


def load_policy(settings: ControlPlaneSettings) -> TransactionPolicy:
    """The broker's policy: the shared transaction defaults (the bots' too), narrowed by the
    `transactions` section of the operator's `broker_policy_file` (a risk config's format), so both
    ends enforce the same numbers."""
    return TransactionPolicy.from_config(
        load_transactions_config(settings.broker_policy_file), network=settings.network
    )


class MarkSource(Protocol):
    """Where the broker gets the venue's mark prices (`orchestrator.marks.VenueMarks`)."""

    async def current(self) -> PerpMarks: ...


@dataclass
class _Bucket:
    tokens: float
    at: float


class _RateLimiter:
    """A token bucket per tenant, in memory: a light brake on a runaway bot, not an accounting."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, _Bucket] = {}

    def retry_after(self, tenant_id: str) -> float | None:
        """None when this tenant may sign now (and takes a token), else seconds until it may."""
        now = time.monotonic()
        bucket = self._buckets.setdefault(tenant_id, _Bucket(self.burst, now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / self.rate


@dataclass(frozen=True)
class _Wallet:
    wallet_id: str
    address: str


class Refusal(Exception):
    """An answer other than a signature: status, sentence, and the outcome word for the log."""

    def __init__(self, status: int, detail: str, outcome: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.outcome = outcome
        self.headers = headers


def refuse(status: int, detail: str, outcome: str, headers: dict[str, str] | None = None) -> NoReturn:
    raise Refusal(status, detail, outcome, headers)


class SigningBroker:
    def __init__(
        self,
        settings: ControlPlaneSettings,
        sessions: sessionmaker[Session],
        privy: PrivyClient,
        policy: TransactionPolicy | None = None,
        marks: MarkSource | None = None,
    ) -> None:
        """`marks`: where the venue's mark prices come from (default: read from `hyperliquid_url`)."""
        self.settings = settings
        self.sessions = sessions
        self.privy = privy
        policy = policy or load_policy(settings)
        self.validator = TransactionValidator(policy)
        self.limiter = _RateLimiter(settings.broker_rate_per_second, settings.broker_burst)
        self.budget = OutflowBudget(sessions, policy.outflow_budget, policy.outflow_budget_window)
        self.withdrawals = WithdrawalBook(sessions, timedelta(seconds=settings.withdrawal_delay_seconds))
        # Hyperliquid's L1 source: the control plane's network decides, never the bot.
        self.hyperliquid_mainnet = settings.facts.hyperliquid_mainnet
        self.marks = marks or VenueMarks(
            settings.hyperliquid_url, max_age=settings.broker_mark_max_age_seconds
        )

    # ------------------------------------------------------------------ who asks
    def authenticate(self, authorization: str, tenant_id: str) -> Tenant:
        """The tenant whose token this is; the same 401 whatever was wrong, so nothing can be probed."""
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or not TENANT_ID.match(tenant_id):
            refuse(
                401,
                f"Send the tenant's token as Authorization: Bearer, and its id as {TENANT_HEADER}.",
                "unauthenticated",
            )
        with self.sessions() as s:
            tenant = s.get(Tenant, tenant_id)
        # The expected token is derived only for tenants that exist, so random ids cost nothing.
        expected = bot_token(self.settings.server_secret_value(), tenant_id) if tenant is not None else None
        if expected is None or not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
            refuse(401, "This token is not the tenant's.", "unauthenticated")
        assert tenant is not None
        return tenant

    def wallets(self, tenant: Tenant) -> tuple[_Wallet, _Wallet]:
        user = None
        if tenant.user_id is not None:
            with self.sessions() as s:
                user = s.get(User, tenant.user_id)
        if user is None or not (
            user.solana_wallet_id and user.solana_address and user.evm_wallet_id and user.evm_address
        ):
            refuse(
                403,
                f"Tenant {tenant.id} has no Privy wallets: its bot signs with its own keys, not through "
                "the broker.",
                "no_wallets",
            )
        return _Wallet(user.solana_wallet_id, user.solana_address), _Wallet(
            user.evm_wallet_id, user.evm_address
        )

    # ------------------------------------------------------------------ one request
    async def sign(self, tenant: Tenant, body: SignRequest) -> dict[str, Any]:
        solana, evm = self.wallets(tenant)
        wallet = solana if body.kind == "solana_message" else evm
        if body.address is not None and not _same_address(body.address, wallet.address, body.kind):
            refuse(
                403,
                f"The wallet {body.address} is not this tenant's {_chain(body.kind)} wallet.",
                "foreign_wallet",
            )
        wait = self.limiter.retry_after(tenant.id)
        if wait is not None:
            refuse(
                429,
                "Too many signing requests from this tenant; retry shortly.",
                "rate_limited",
                {"Retry-After": str(max(1, round(wait)))},
            )
        withdrawal = await run_in_threadpool(self.withdrawals.usable, tenant.user_id)
        if body.kind == "solana_message":
            outflow, make = self._solana(wallet, body.payload, withdrawal)
        elif body.kind == "typed_data":
            outflow, make = self._typed_data(wallet, body.payload, withdrawal)
        elif body.kind == "hyperliquid_l1":
            outflow, make = await self._hyperliquid_l1(wallet, body.payload)
        else:
            outflow, make = self._evm_transaction(wallet, body.payload, withdrawal)
        return await self._within_budget(tenant.id, outflow, make)

    async def _within_budget(
        self, tenant_id: str, outflow: Outflow, make: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        """Count the outflow against the tenant's budget, then sign; refunded if no signature came."""
        try:
            # In a worker thread: it may wait for another request's lock on the tenant's budget.
            spent = await run_in_threadpool(self.budget.spend, tenant_id, outflow)
        except OverBudget as exc:
            retry = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
            refuse(403, f"Refused: {exc.reason}.", "over_budget", retry)
        try:
            return await make()
        except BaseException:
            self.budget.refund(spent)  # here, not awaited: it must run even when the request is cancelled
            raise

    def _check(self, check: Callable[[], Outflow], what: str) -> Outflow:
        try:
            return check()
        except TransactionRejected as exc:
            refuse(403, exc.reason, "refused")
        except Exception as exc:  # the validator read a payload that is not what it claims to be
            refuse(422, f"The payload cannot be read as {what} ({type(exc).__name__}).", "malformed")

    async def _privy(self, call: Any) -> str:
        try:
            return str(await call)
        except PrivyError as exc:  # its message never holds a secret
            refuse(502, f"Privy could not sign: {exc.message}", "privy_error")
        except ValueError:
            refuse(502, "The tenant's Privy wallet id is not valid.", "privy_error")

    # ------------------------------------------------------------------ Solana
    def _solana(
        self, wallet: _Wallet, payload: str | dict[str, Any], withdrawal: WithdrawalAddresses
    ) -> tuple[Outflow, Callable[[], Awaitable[dict[str, Any]]]]:
        if not isinstance(payload, str):
            refuse(422, "A solana_message payload is the serialized message, base64.", "malformed")
        try:
            message = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            refuse(422, "The solana_message payload is not valid base64.", "malformed")
        outflow = self._check(
            lambda: self.validator.check_solana_message(message, owner=wallet.address, withdrawal=withdrawal),
            "a Solana message",
        )
        return outflow, lambda: self._sign_solana(wallet, message)

    async def _sign_solana(self, wallet: _Wallet, message: bytes) -> dict[str, Any]:
        from solders.message import from_bytes_versioned, to_bytes_versioned
        from solders.pubkey import Pubkey
        from solders.signature import Signature
        from solders.transaction import VersionedTransaction

        try:
            parsed = from_bytes_versioned(message)
            signers = [str(k) for k in parsed.account_keys[: parsed.header.num_required_signatures]]
            # Privy's signTransaction takes a transaction: the message with an empty slot per signer.
            unsigned = VersionedTransaction.populate(parsed, [Signature.default()] * len(signers))
        except Exception as exc:
            refuse(422, f"The Solana message cannot be read ({type(exc).__name__}).", "malformed")
        signed_b64 = await self._privy(
            self.privy.sign_solana_transaction(wallet.wallet_id, base64.b64encode(bytes(unsigned)).decode())
        )
        try:
            signed = VersionedTransaction.from_bytes(base64.b64decode(signed_b64, validate=True))
            same = to_bytes_versioned(signed.message) == message
            signature = signed.signatures[signers.index(wallet.address)]
            valid = same and signature.verify(Pubkey.from_string(wallet.address), message)
        except Exception:
            valid = False
        if not valid:
            refuse(
                502, f"Privy's signature does not verify for the wallet {wallet.address}.", "bad_signature"
            )
        return {"signature": base64.b64encode(bytes(signature)).decode()}

    # ------------------------------------------------------------------ EIP-712
    def _typed_data(
        self, wallet: _Wallet, payload: str | dict[str, Any], withdrawal: WithdrawalAddresses
    ) -> tuple[Outflow, Callable[[], Awaitable[dict[str, Any]]]]:
        if not isinstance(payload, dict):
            refuse(
                422,
                "A typed_data payload is an object with domain, types, primaryType and message.",
                "malformed",
            )
        outflow = self._check(
            lambda: self.validator.check_typed_data(payload, owner_evm=wallet.address, withdrawal=withdrawal),
            "EIP-712 typed data",
        )
        return outflow, lambda: self._sign_typed(wallet, payload)

    async def _hyperliquid_l1(
        self, wallet: _Wallet, payload: str | dict[str, Any]
    ) -> tuple[Outflow, Callable[[], Awaitable[dict[str, Any]]]]:
        from shared.hyperliquid_l1 import l1_typed_data

        try:
            request = HyperliquidL1.model_validate(payload)
        except ValidationError:
            refuse(
                422,
                "A hyperliquid_l1 payload is {action: object, nonce: integer, vaultAddress: null, "
                "expiresAfter: integer or null}.",
                "malformed",
            )
        # Orders are bounded by the venue's own prices (read only for them: nothing else has a price).
        marks = await self.marks.current() if request.action.get("type") == "order" else None
        outflow = self._check(
            lambda: self.validator.check_hyperliquid_l1(
                request.action,
                nonce=request.nonce,
                vault_address=request.vaultAddress,
                expires_after=request.expiresAfter,
                marks=marks,
            ),
            "a Hyperliquid action",
        )
        try:
            # The connectionId is computed here, from the action just checked: nothing else is signed.
            typed = l1_typed_data(
                request.action,
                request.nonce,
                mainnet=self.hyperliquid_mainnet,
                expires_after=request.expiresAfter,
            )
        except Exception as exc:  # msgpack cannot encode it (a number out of range, ...)
            refuse(422, f"The Hyperliquid action cannot be hashed ({type(exc).__name__}).", "malformed")
        return outflow, lambda: self._sign_typed(wallet, typed)

    async def _sign_typed(self, wallet: _Wallet, payload: dict[str, Any]) -> dict[str, Any]:
        from eth_account import Account
        from eth_account.messages import encode_typed_data
        from eth_utils import to_hex

        try:
            signable = encode_typed_data(full_message=payload)
        except Exception as exc:  # eth_account raises many types for bad typed data
            refuse(422, f"The typed data cannot be encoded as EIP-712 ({type(exc).__name__}).", "malformed")
        signature = await self._privy(self.privy.sign_typed_data(wallet.wallet_id, payload))
        try:
            raw = bytes.fromhex(signature.removeprefix("0x"))
            valid = len(raw) == 65 and _same_evm(
                Account.recover_message(signable, signature=raw), wallet.address
            )
        except Exception:
            valid = False
        if not valid:
            refuse(
                502, f"Privy's signature does not verify for the wallet {wallet.address}.", "bad_signature"
            )
        # Big-endian, int.from_bytes's default.
        r, s, v = int.from_bytes(raw[:32]), int.from_bytes(raw[32:64]), raw[64]
        if v < 27:  # some signers answer v as 0/1
            v += 27
        # The shape of LocalSigner's (and the Hyperliquid SDK's): to_hex of the ints.
        return {"r": to_hex(r), "s": to_hex(s), "v": v}

    # ------------------------------------------------------------------ EVM transactions
    def _evm_transaction(
        self, wallet: _Wallet, payload: str | dict[str, Any], withdrawal: WithdrawalAddresses
    ) -> tuple[Outflow, Callable[[], Awaitable[dict[str, Any]]]]:
        if not isinstance(payload, dict):
            refuse(422, "An evm_transaction payload is a transaction object.", "malformed")
        outflow = self._check(
            lambda: self.validator.check_evm_transaction(payload, withdrawal=withdrawal), "an EVM transaction"
        )
        sender = payload.get("from")
        if sender is not None and not _same_evm(str(sender), wallet.address):
            refuse(403, f"The transaction's sender {sender} is not this tenant's wallet.", "foreign_wallet")
        wanted: dict[str, Any] = {}
        privy_tx: dict[str, Any] = {"from": wallet.address, "to": payload.get("to")}
        for ours, theirs in _EVM_QUANTITIES.items():
            if payload.get(ours) is not None:
                number = _quantity(payload[ours])
                if number is None:
                    refuse(422, f"The transaction's {ours} is not a number.", "malformed")
                wanted[ours] = privy_tx[theirs] = number
        data = payload.get("data", payload.get("input")) or "0x"
        if not isinstance(data, str) or not _is_hex(data):
            refuse(422, "The transaction's data is not 0x-hex.", "malformed")
        privy_tx["data"] = data
        return outflow, lambda: self._sign_evm(wallet, payload, privy_tx, wanted, data)

    async def _sign_evm(
        self,
        wallet: _Wallet,
        payload: dict[str, Any],
        privy_tx: dict[str, Any],
        wanted: dict[str, Any],
        data: str,
    ) -> dict[str, Any]:
        raw_hex = await self._privy(self.privy.sign_evm_transaction(wallet.wallet_id, privy_tx))
        problem = _signed_evm_mismatch(raw_hex, wallet.address, payload, wanted, data)
        if problem:
            log.warning("privy evm signature rejected", wallet=wallet.address, problem=problem)
            refuse(
                502, f"Privy's signed transaction does not match the request ({problem}).", "bad_signature"
            )
        return {"raw_transaction": raw_hex if raw_hex.startswith("0x") else "0x" + raw_hex}


def _signed_evm_mismatch(
    raw_hex: str, address: str, payload: dict[str, Any], wanted: dict[str, Any], data: str
) -> str | None:
    """What differs between the transaction Privy signed and the one asked for, or None."""
    from eth_account import Account
    from eth_account._utils.legacy_transactions import Transaction as LegacyTransaction
    from eth_account.typed_transactions import TypedTransaction
    from hexbytes import HexBytes

    try:
        raw = HexBytes(raw_hex)
        if not _same_evm(Account.recover_transaction(raw), address):
            return "signed by another key"
        if raw[0] <= 0x7F:
            signed = TypedTransaction.from_bytes(raw).as_dict()
        else:
            signed = LegacyTransaction.from_bytes(raw).as_dict()
            signed["chainId"] = (signed["v"] - 35) // 2 if signed["v"] >= 35 else None
    except Exception:
        return "not a signed transaction"
    # bytes.hex(): lower case, no 0x.
    if bytes(signed.get("to") or b"").hex() != str(payload.get("to", "")).lower().removeprefix("0x"):
        return "recipient"
    if bytes(signed.get("data") or b"") != bytes.fromhex(data.removeprefix("0x")):
        return "data"
    for name in ("chainId", "nonce", "gas", "value", "maxFeePerGas", "maxPriorityFeePerGas", "gasPrice"):
        if name in wanted and signed.get(name, wanted[name]) != wanted[name]:
            return name
    return None


def _quantity(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str):
        try:
            number = int(value, 16) if value.lower().startswith("0x") else int(value)
        except ValueError:
            return None
        return number if number >= 0 else None
    return None


def _is_hex(text: str) -> bool:
    digits = text.removeprefix("0x")
    if len(digits) % 2:
        return False
    try:
        bytes.fromhex(digits)
    except ValueError:
        return False
    return True


def _same_evm(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _same_address(given: str, ours: str, kind: Kind) -> bool:
    return given == ours if kind == "solana_message" else _same_evm(given, ours)


def _chain(kind: Kind) -> str:
    return "Solana" if kind == "solana_message" else "EVM"


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request's body, read chunk by chunk (chunked transfer encoding included) and refused with
    a 413 as soon as it passes `limit` bytes: nothing larger is ever held, nothing is parsed first."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            refuse_too_large(limit)
    return bytes(body)


def refuse_too_large(limit: int = MAX_BODY_BYTES) -> NoReturn:
    """413, and the connection closed: the rest of the body is never read."""
    refuse(
        413,
        f"The signing request is larger than {limit // 1024} KiB; a signing request is far smaller.",
        "too_large",
        {"Connection": "close"},
    )
