"""A client of Privy's two hosts: access tokens and users, wallets and signing on the REST API.

Sign-in follows Privy's supported path: the portal page runs Privy's browser SDK (bundled from
portal-sdk/) to send and check the email code against the auth API, and posts the
access token it gets; `user_from_token` verifies it and reads the user with the app secret.
Access tokens are ES256 JWTs checked against the app's JWKS (iss "privy.io", aud = the app id,
exp, sub = the user's DID), the keys cached by `kid` and refetched when a token names a key the
cache does not hold (Privy rotates its signing key); no other algorithm is accepted.

`initiate`/`verify` are the older server-driven sign-in over the auth API's client endpoints. A
production app refuses those without an allowed `Origin` (and may demand a captcha), so they send
the page's origin; they stay only until their callers move to the page's path.

The paths, headers and fields are Privy's own (shared/research/privy.md), so pointing the client
at https://auth.privy.io and https://api.privy.io instead of the devnet is configuration only.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import jwt
from pydantic import SecretStr

from shared.logging import get_logger, register_secret

log = get_logger("orchestrator.auth.privy")

ISSUER = "privy.io"
ChainType = Literal["solana", "ethereum"]
# After a refetch that did not find a kid, unknown kids are refused without asking again for this
# long, so a stream of forged tokens cannot turn into a stream of JWKS requests.
JWKS_MISS_COOLDOWN_S = 1.0


@dataclass(frozen=True)
class PrivyUser:
    id: str
    email: str
    access_token: str


@dataclass(frozen=True)
class Wallet:
    id: str
    address: str
    chain_type: str


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str
    expires_at: int


class PrivyError(Exception):
    """Privy refused or could not be reached. `message` is safe to show: it never holds a secret."""

    def __init__(
        self, status: int, message: str, code: str = "", *, retry_after_s: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.retry_after_s = retry_after_s


class InvalidCode(PrivyError):
    """The email code was wrong, expired, reused or dead."""


class RateLimited(PrivyError):
    """Privy's own limits (429)."""


class InvalidAccessToken(PrivyError):
    """The access token did not verify (signature, kid, issuer, audience or expiry)."""

    def __init__(self, reason: str) -> None:
        super().__init__(401, f"Privy access token refused: {reason}.", "invalid_token")


# Why PyJWT refused a token, in words a user (or an operator reading a 401) can act on.
_TOKEN_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "it has expired; sign in again"),
    (jwt.InvalidAudienceError, "it was issued for another Privy app"),
    (jwt.InvalidIssuerError, "it was not issued by Privy"),
    (jwt.ImmatureSignatureError, "it is not valid yet"),
    (jwt.MissingRequiredClaimError, "a required claim is missing"),
    (jwt.InvalidSignatureError, "its signature does not verify"),
    (jwt.DecodeError, "it is not a well-formed JWT"),
)


def _token_reason(exc: jwt.PyJWTError) -> str:
    return next((reason for kind, reason in _TOKEN_REASONS if isinstance(exc, kind)), "it did not verify")


class PrivyUnavailable(PrivyError):
    """Privy could not be reached or answered with a 5xx."""


class PrivyClient:
    def __init__(
        self,
        auth_url: str,
        api_url: str,
        app_id: str,
        app_secret: SecretStr,
        *,
        timeout_s: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
        origin: str | None = None,
    ) -> None:
        self.auth_url = auth_url.rstrip("/")
        # The portal page's origin, one of the app's allowed origins: sent on the auth API's client
        # endpoints by the server-driven sign-in (`initiate`/`verify`), which Privy refuses without it.
        self.origin = origin
        self.api_url = api_url.rstrip("/")
        self.app_id = app_id
        self._app_secret = app_secret
        # Scrubbed from every log line of this process, whatever logs it (httpx, tracebacks).
        register_secret(app_secret.get_secret_value())
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport, follow_redirects=False)
        self._jwks: dict[str, Any] = {}
        self._jwks_lock = asyncio.Lock()
        self._last_miss = 0.0

    def __repr__(self) -> str:
        return f"PrivyClient(auth_url={self.auth_url!r}, api_url={self.api_url!r}, app_id={self.app_id!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ transport
    async def _send(self, method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
        try:
            response = await self._http.request(method, url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            # The exception text names the URL only; never the request headers (the Basic secret).
            log.warning("privy unreachable", method=method, url=url, error=type(exc).__name__)
            raise PrivyUnavailable(
                503, "The sign-in service (Privy) cannot be reached.", "unreachable"
            ) from None
        if response.status_code >= 400:
            raise _error(response)
        try:
            return response.json()
        except ValueError:
            raise PrivyUnavailable(
                502, "Privy answered with something that is not JSON.", "bad_gateway"
            ) from None

    async def _auth(self, path: str, body: Any) -> Any:
        headers = {"privy-app-id": self.app_id, **({"origin": self.origin} if self.origin else {})}
        return await self._send("POST", f"{self.auth_url}/api/v1{path}", headers, body)

    def _rest_headers(self) -> dict[str, str]:
        pair = f"{self.app_id}:{self._app_secret.get_secret_value()}".encode()
        return {"authorization": "Basic " + base64.b64encode(pair).decode(), "privy-app-id": self.app_id}

    async def _rest(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        return await self._send(method, f"{self.api_url}/v1{path}", {**self._rest_headers(), **headers}, body)

    # ------------------------------------------------------------------ email sign-in
    async def initiate(self, email: str) -> None:
        """Have Privy send a one-time code to `email`."""
        await self._auth("/passwordless/init", {"email": email})

    async def verify(self, email: str, code: str) -> PrivyUser:
        """Exchange the code for a Privy user and a verified access token."""
        answer = await self._auth("/passwordless/authenticate", {"email": email, "code": code})
        token = answer.get("token") or answer.get("privy_access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str):
            raise PrivyUnavailable(502, "Privy's sign-in answer has no access token.", "bad_gateway")
        claims = await self.verify_access_token(token)
        user = answer.get("user") or {}
        if user.get("id") != claims.user_id:
            raise InvalidAccessToken("the token's subject is not the signed-in user")
        address = _email_of(user) or email
        return PrivyUser(id=claims.user_id, email=address, access_token=token)

    async def user_from_token(self, token: str) -> PrivyUser:
        """The Privy user an access token from the page's SDK sign-in belongs to: the token verified,
        then the user (and their email) read from the REST API with the app secret."""
        claims = await self.verify_access_token(token)
        user = await self._rest("GET", f"/users/{claims.user_id}")
        if not isinstance(user, dict) or user.get("id") != claims.user_id:
            raise PrivyUnavailable(502, "Privy's user answer is not the token's user.", "bad_gateway")
        email = _email_of(user)
        if email is None:
            raise PrivyError(422, "This Privy account has no email address; sign in with your email.")
        return PrivyUser(id=claims.user_id, email=email, access_token=token)

    # ------------------------------------------------------------------ access tokens
    async def _fetch_jwks(self) -> None:
        url = f"{self.auth_url}/api/v1/apps/{self.app_id}/jwks.json"
        answer = await self._send("GET", url, {})
        keys: dict[str, Any] = {}
        for jwk in answer.get("keys", []) if isinstance(answer, dict) else []:
            try:
                key = jwt.PyJWK(jwk, algorithm="ES256")
            except jwt.PyJWTError:
                continue
            if key.key_id:
                keys[key.key_id] = key.key
        self._jwks = keys
        log.info("privy jwks fetched", kids=sorted(keys))

    async def _key(self, kid: str) -> Any:
        if kid in self._jwks:
            return self._jwks[kid]
        async with self._jwks_lock:
            if kid in self._jwks:  # another task refetched while this one waited
                return self._jwks[kid]
            if time.monotonic() - self._last_miss < JWKS_MISS_COOLDOWN_S:
                return None
            await self._fetch_jwks()
            if kid not in self._jwks:
                self._last_miss = time.monotonic()
            return self._jwks.get(kid)

    async def verify_access_token(self, token: str) -> AccessClaims:
        """The claims of a Privy access token, or InvalidAccessToken saying what is wrong with it."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidAccessToken("it is not a JWT") from None
        if header.get("alg") != "ES256":
            raise InvalidAccessToken(f"it is signed with {str(header.get('alg'))[:20]!r}, not ES256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidAccessToken("it names no signing key (kid)")
        key = await self._key(kid)
        if key is None:
            raise InvalidAccessToken("it is signed by a key that is not in the app's JWKS")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["ES256"],
                audience=self.app_id,
                issuer=ISSUER,
                leeway=30,
                options={"require": ["exp", "iat", "sub", "sid", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidAccessToken(_token_reason(exc)) from None
        if not isinstance(claims["sub"], str) or not claims["sub"].startswith("did:privy:"):
            raise InvalidAccessToken("its subject is not a Privy user")
        if not isinstance(claims["sid"], str):
            raise InvalidAccessToken("its session id is malformed")
        return AccessClaims(user_id=claims["sub"], session_id=claims["sid"], expires_at=int(claims["exp"]))

    # ------------------------------------------------------------------ wallets
    async def create_wallet(self, chain_type: ChainType, *, idempotency_key: str | None = None) -> Wallet:
        """A server wallet of the app (no owner), which the app signs with through its credentials."""
        if chain_type not in ("solana", "ethereum"):
            raise ValueError(f"chain_type must be solana or ethereum, not {chain_type!r}")
        headers = {"privy-idempotency-key": idempotency_key} if idempotency_key else {}
        answer = await self._rest("POST", "/wallets", {"chain_type": chain_type}, **headers)
        return Wallet(id=answer["id"], address=answer["address"], chain_type=answer["chain_type"])

    async def _rpc(self, wallet_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if not wallet_id or "/" in wallet_id:
            raise ValueError("wallet_id is not a Privy wallet id")
        answer = await self._rest("POST", f"/wallets/{wallet_id}/rpc", body)
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict):
            raise PrivyUnavailable(502, "Privy's wallet answer has no data.", "bad_gateway")
        return data

    async def sign_solana_transaction(self, wallet_id: str, tx_b64: str) -> str:
        """The transaction (base64, wire format) with the wallet's signature added, base64."""
        params = {"transaction": tx_b64, "encoding": "base64"}
        data = await self._rpc(wallet_id, {"method": "signTransaction", "params": params})
        return _answer_field(data, "signed_transaction")

    async def sign_typed_data(self, wallet_id: str, typed_data: dict[str, Any]) -> str:
        """The EIP-712 signature (0x + 65 bytes r‖s‖v hex). Privy spells the primary type `primary_type`."""
        typed = dict(typed_data)
        if "primaryType" in typed and "primary_type" not in typed:
            typed["primary_type"] = typed.pop("primaryType")
        data = await self._rpc(wallet_id, {"method": "eth_signTypedData_v4", "params": {"typed_data": typed}})
        return _answer_field(data, "signature")

    async def sign_evm_transaction(self, wallet_id: str, transaction: dict[str, Any]) -> str:
        """The signed raw transaction (0x-hex RLP). `transaction` uses Privy's snake-case fields
        (`chain_id`, `nonce`, `gas_limit`, `max_fee_per_gas`, ..., `to`, `data`, `value`, `type`)."""
        data = await self._rpc(
            wallet_id, {"method": "eth_signTransaction", "params": {"transaction": transaction}}
        )
        return _answer_field(data, "signed_transaction")


def _email_of(user: dict[str, Any]) -> str | None:
    """The email address linked to a Privy user (lower case), if any."""
    for account in user.get("linked_accounts") or []:
        if isinstance(account, dict) and account.get("type") == "email" and account.get("address"):
            return str(account["address"]).lower()
    return None


def _answer_field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise PrivyUnavailable(502, f"Privy's wallet answer has no {name}.", "bad_gateway")
    return value


def _error(response: httpx.Response) -> PrivyError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    message = (
        str(body.get("error") or f"Privy answered {response.status_code}") if isinstance(body, dict) else ""
    )
    code = str(body.get("code") or "") if isinstance(body, dict) else ""
    status = response.status_code
    if status == 429:
        retry = response.headers.get("retry-after", "")
        return RateLimited(429, message, code, retry_after_s=int(retry) if retry.isdigit() else None)
    if code == "invalid_credentials" and "code" in message.lower():
        return InvalidCode(status, message, code)
    if status >= 500:
        return PrivyUnavailable(502, f"Privy failed ({status}).", code)
    return PrivyError(status, message, code)
