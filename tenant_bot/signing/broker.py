"""`BrokerSigner`: signs with the user's Privy wallets through the control plane's signing broker.

The bot holds no key and no Privy credential: it sends each payload to `POST {url}/internal/sign`
with its tenant token, and the control plane checks ownership and policy before it asks Privy (see
`orchestrator/broker.py` for the wire format). The bot still wraps this signer in `ValidatingSigner`,
so a payload outside its own policy never leaves the process.

Failures map onto what the execution engine already handles:
- the broker refused the payload (403 policy or wallet, 413, 422): `TransactionRejected`, exactly
  like a local policy rejection;
- the broker or Privy cannot answer now (connection failure, timeout, 429, 5xx): `BrokerUnavailable`,
  an `OSError` like any unreachable venue, so the step is retried or parked, never marked done;
- the broker does not accept the bot's token (401): `BrokerError`, a configuration fault.
Only failures to connect are retried here (nothing was sent, so nothing can be signed twice).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any

import httpx
from pydantic import SecretStr

from shared.logging import get_logger, register_secret
from shared.transaction_policy import TransactionRejected
from tenant_bot.signing.withdrawal_address import RegisteredAddress
from tenant_bot.tls import ssl_context

log = get_logger("tenant_bot.signing.broker")

SIGN_PATH = "/internal/sign"
WITHDRAWAL_ADDRESS_PATH = "/internal/withdrawal-address"
TENANT_HEADER = "X-Basis-Tenant"
# Failures to connect are retried after these pauses (seconds); anything after the send is not.
CONNECT_RETRY_DELAYS = (0.2, 0.5, 1.0)


class BrokerError(Exception):
    """The signing broker refused this bot itself (its token), or answered something unreadable."""


class BrokerUnavailable(BrokerError, ConnectionError):
    """The signing broker, or Privy behind it, cannot sign now; retry later."""


class BrokerSigner:
    """Implements `tenant_bot.signing.Signer` over HTTP to the control plane's signing broker."""

    def __init__(
        self,
        url: str,
        tenant_id: str,
        token: SecretStr | str,
        solana_address: str,
        evm_address: str,
        *,
        timeout_s: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.tenant_id = tenant_id
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        register_secret(self._token.get_secret_value())
        self._solana = solana_address
        self._evm = evm_address
        # One keep-alive client: a hedge signs within milliseconds of the long confirming.
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=5.0),
            transport=transport,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=4),
            verify=ssl_context(),
        )

    @property
    def solana_address(self) -> str:
        return self._solana

    @property
    def evm_address(self) -> str:
        return self._evm

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return (
            f"BrokerSigner(url={self.url!r}, tenant_id={self.tenant_id!r}, "
            f"solana_address={self._solana!r}, evm_address={self._evm!r})"
        )

    __str__ = __repr__

    # ------------------------------------------------------------------ Signer
    async def sign_solana_message(self, message: bytes) -> bytes:
        answer = await self._sign(
            "solana_message", base64.b64encode(bytes(message)).decode("ascii"), self._solana
        )
        try:
            signature = base64.b64decode(str(answer["signature"]), validate=True)
        except (KeyError, binascii.Error, ValueError):
            raise BrokerError("the signing broker's answer has no base64 signature") from None
        if len(signature) != 64:
            raise BrokerError(f"the signing broker's signature is {len(signature)} bytes, not 64")
        return signature

    async def sign_typed_data(self, typed_data: dict[str, Any]) -> dict[str, Any]:
        return self._rsv(await self._sign("typed_data", typed_data, self._evm))

    async def sign_hyperliquid_l1(
        self, action: dict[str, Any], nonce: int, *, mainnet: bool, expires_after: int | None = None
    ) -> dict[str, Any]:
        # `mainnet` is not sent: the broker signs for its own network, whatever a bot claims.
        payload = {"action": action, "nonce": nonce, "vaultAddress": None, "expiresAfter": expires_after}
        return self._rsv(await self._sign("hyperliquid_l1", payload, self._evm))

    @staticmethod
    def _rsv(answer: dict[str, Any]) -> dict[str, Any]:
        if not {"r", "s", "v"} <= answer.keys():
            raise BrokerError("the signing broker's answer has no r, s and v")
        return {"r": answer["r"], "s": answer["s"], "v": answer["v"]}

    async def sign_evm_transaction(self, tx: dict[str, Any]) -> bytes:
        answer = await self._sign("evm_transaction", tx, self._evm)
        try:
            return bytes.fromhex(str(answer["raw_transaction"]).removeprefix("0x"))
        except (KeyError, ValueError):
            raise BrokerError("the signing broker's answer has no raw transaction") from None

    # ------------------------------------------------------------------ withdrawals
    async def registered_withdrawal_address(self) -> RegisteredAddress | None:
        """The user's registered EVM withdrawal address as the control plane keeps it (a read; the
        broker checks a withdrawal's signature against the same book)."""
        try:
            response = await self._http.get(self.url + WITHDRAWAL_ADDRESS_PATH, headers=self._headers())
        except httpx.HTTPError as exc:
            raise BrokerUnavailable(
                f"the control plane at {self.url} cannot be reached ({type(exc).__name__})"
            ) from None
        evm = self._answer(response, "withdrawal-address").get("evm")
        if not isinstance(evm, dict) or not isinstance(evm.get("address"), str):
            return None
        return RegisteredAddress(
            evm["address"], usable=bool(evm.get("usable")), usable_at=evm.get("usable_at")
        )

    # ------------------------------------------------------------------ transport
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token.get_secret_value()}", TENANT_HEADER: self.tenant_id}

    async def _sign(self, kind: str, payload: Any, address: str) -> dict[str, Any]:
        body = {"kind": kind, "address": address, "payload": payload}
        headers = self._headers()
        for attempt, delay in enumerate((*CONNECT_RETRY_DELAYS, None)):
            try:
                response = await self._http.post(self.url + SIGN_PATH, json=body, headers=headers)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached the broker: safe to try again.
                if delay is None:
                    raise BrokerUnavailable(
                        f"the signing broker at {self.url} cannot be reached ({type(exc).__name__})"
                    ) from None
                log.warning(
                    "signing broker unreachable; retrying", attempt=attempt + 1, error=type(exc).__name__
                )
                await asyncio.sleep(delay)
            except httpx.HTTPError as exc:
                # Sent, answer lost: not retried here (the caller's step decides).
                raise BrokerUnavailable(f"the signing broker did not answer ({type(exc).__name__})") from None
        return self._answer(response, kind)

    @staticmethod
    def _answer(response: httpx.Response, kind: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        detail = data.get("detail") if isinstance(data, dict) else None
        reason = detail if isinstance(detail, str) else f"HTTP {response.status_code}"
        status = response.status_code
        if status == 200 and isinstance(data, dict):
            return data
        if status in (403, 413, 422):
            log.warning("signature refused by the broker", kind=kind, reason=reason)
            raise TransactionRejected(f"the signing broker refused: {reason}")
        if status == 401:
            raise BrokerError(f"the signing broker does not accept this bot's token: {reason}")
        if status == 429 or status >= 500:
            raise BrokerUnavailable(f"the signing broker cannot sign now: {reason}")
        raise BrokerError(f"the signing broker answered {status}: {reason}")
