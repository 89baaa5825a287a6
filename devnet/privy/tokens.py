"""Access and identity tokens: ES256 JWTs with the claims Privy issues.

Access token (docs.privy.io "Access tokens"): header `{"alg": "ES256", "typ": "JWT", "kid"}`,
claims `sid` (session id), `sub` (the user's `did:privy:` id), `iss` "privy.io", `aud` (the app
id), `iat`, `exp` (one hour after issue). Identity token: the same header and registered claims
plus `linked_accounts` as a JSON *string* of light accounts (`lv` = latest verified) and `cr`
(created-at seconds, a string), as Privy's SDK parsers read them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from devnet.privy.errors import MISSING_AUTH_TOKEN, PrivyError, invalid_token
from devnet.privy.signing_keys import SigningKeyRing

ISSUER = "privy.io"
ACCESS_TOKEN_TTL_S = 3600
IDENTITY_TOKEN_TTL_S = 3600


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str
    issued_at: int
    expiration: int


class TokenIssuer:
    def __init__(self, app_id: str, keys: SigningKeyRing, now_ms: Callable[[], int]) -> None:
        self.app_id = app_id
        self.keys = keys
        self._now_ms = now_ms

    def _sign(self, claims: dict[str, Any]) -> str:
        key = self.keys.current
        return jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": "JWT"})

    def access_token(self, user_id: str, session_id: str) -> str:
        now = self._now_ms() // 1000
        return self._sign(
            {
                "sid": session_id,
                "sub": user_id,
                "iss": ISSUER,
                "aud": self.app_id,
                "iat": now,
                "exp": now + ACCESS_TOKEN_TTL_S,
            }
        )

    def identity_token(self, user: dict[str, Any]) -> str:
        now = self._now_ms() // 1000
        claims: dict[str, Any] = {
            "sub": user["id"],
            "iss": ISSUER,
            "aud": self.app_id,
            "iat": now,
            "exp": now + IDENTITY_TOKEN_TTL_S,
            "cr": str(user["created_at"]),
            "linked_accounts": json.dumps(
                [_light_account(a) for a in user["linked_accounts"]], separators=(",", ":")
            ),
        }
        if user.get("custom_metadata"):
            claims["custom_metadata"] = json.dumps(user["custom_metadata"], separators=(",", ":"))
        return self._sign(claims)

    def verify_access_token(self, token: str) -> AccessClaims:
        """Check signature, kid, issuer, audience and expiry, as Privy's server SDKs do."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise invalid_token() from None
        if header.get("alg") != "ES256" or header.get("typ") != "JWT":
            raise invalid_token()
        key = self.keys.find(header.get("kid"))
        if key is None:
            raise invalid_token()
        try:
            claims = jwt.decode(
                token,
                key.public_key,
                algorithms=["ES256"],
                audience=self.app_id,
                issuer=ISSUER,
                # Expiry is checked below against the service's clock (tests move it), not PyJWT's.
                options={
                    "require": ["exp", "iat", "sub", "sid", "iss", "aud"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            raise invalid_token() from None
        if not all(isinstance(claims[k], int) for k in ("exp", "iat")):
            raise invalid_token()
        if not isinstance(claims["sub"], str) or not isinstance(claims["sid"], str):
            raise invalid_token()
        if claims["exp"] <= self._now_ms() // 1000:
            raise invalid_token()
        return AccessClaims(claims["sub"], claims["sid"], claims["iat"], claims["exp"])


def _light_account(account: dict[str, Any]) -> dict[str, Any]:
    """An account as the identity token carries it: few keys, `lv` for the latest verification."""
    if account["type"] == "email":
        return {"type": "email", "address": account["address"], "lv": account["latest_verified_at"]}
    light = {
        "type": account["type"],
        "id": account.get("id"),
        "address": account["address"],
        "chain_type": account["chain_type"],
        "wallet_client_type": account.get("wallet_client_type"),
        "lv": account["latest_verified_at"],
    }
    return {k: v for k, v in light.items() if v is not None}


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise PrivyError(401, MISSING_AUTH_TOKEN, "missing_or_invalid_token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise invalid_token()
    return token.strip()
