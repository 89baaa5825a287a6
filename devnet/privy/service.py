"""`PrivyService`: the state of one emulated Privy app and every operation of both its APIs.

The HTTP front (`devnet.privy.app`) only parses requests and calls methods here; each method
returns the JSON body Privy answers with or raises a `PrivyError`. Time is the real clock
(`SimClock.real_ms`): token lifetimes, code expiry and request expiry are wall-clock rules.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
from dataclasses import dataclass
from typing import Any

from devnet.clock import SimClock
from devnet.config import DevnetConfig
from devnet.mailbox import Mailbox, Message
from devnet.privy import rpc
from devnet.privy.authorization import authorize, check_expiry, signature_payload
from devnet.privy.bodies import (
    AdditionalSigner,
    CreateKeyQuorum,
    CreateUser,
    CreateWallet,
    EmailAddress,
    OwnerInput,
    PasswordlessAuthenticate,
    PasswordlessInit,
    PregenerateWallets,
    RefreshInput,
    UpdateWallet,
    WalletSpec,
    parse,
)
from devnet.privy.codes import CodePolicy, OneTimeCodes
from devnet.privy.errors import (
    INVALID_APP_CREDENTIALS,
    MISSING_AUTH_TOKEN,
    PrivyError,
    invalid_data,
    invalid_token,
    not_found,
)
from devnet.privy.idempotency import IdempotencyCache
from devnet.privy.ids import app_id_from_seed, app_secret_from_seed
from devnet.privy.key_quorums import KeyQuorum, KeyQuorums
from devnet.privy.origins import AllowedOrigins
from devnet.privy.sessions import Session, Sessions
from devnet.privy.signing_keys import SigningKeyRing
from devnet.privy.tokens import ACCESS_TOKEN_TTL_S, AccessClaims, TokenIssuer, bearer_token
from devnet.privy.users import User, Users, normalise_email
from devnet.privy.wallets import CHAIN_TYPES, Wallet, Wallets
from shared.logging import get_logger, register_secret

log = get_logger("devnet.privy")

APP_NAME = "Basis (devnet)"
PAGE_LIMIT = 100
# A retired signing key stays in the JWKS until every token it signed has expired, plus a margin
# for clock skew and JWKS caches.
KEY_GRACE_MS = (ACCESS_TOKEN_TTL_S + 300) * 1000


@dataclass(frozen=True)
class SignedRequest:
    """What an authorization signature covers, as the client sent it."""

    method: str
    url: str
    body: Any
    signature: str | None
    idempotency_key: str | None
    expiry: str | None


def _page(items: list[Any], cursor: str | None, limit: int | None, key: Any) -> dict[str, Any]:
    """Privy's cursor page: `{data, next_cursor}`; the cursor is the id of the next item."""
    size = PAGE_LIMIT if limit is None else limit
    if not 1 <= size <= PAGE_LIMIT:
        raise invalid_data(f"limit must be between 1 and {PAGE_LIMIT}")
    start = 0
    if cursor:
        ids = [key(item) for item in items]
        if cursor not in ids:
            raise invalid_data("cursor is not valid")
        start = ids.index(cursor)
    chunk = items[start : start + size]
    following = items[start + size : start + size + 1]
    return {"data": chunk, "next_cursor": key(following[0]) if following else None}


class PrivyService:
    def __init__(
        self,
        config: DevnetConfig,
        clock: SimClock,
        mailbox: Mailbox,
        code_policy: CodePolicy | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.mailbox = mailbox
        self.app_id = app_id_from_seed(config.seed)
        self._app_secret = app_secret_from_seed(config.seed)
        register_secret(self._app_secret)
        self._lock = threading.RLock()
        self.keys = SigningKeyRing(config.seed, clock.real_ms, KEY_GRACE_MS)
        self.tokens = TokenIssuer(self.app_id, self.keys, clock.real_ms)
        self.codes = OneTimeCodes(code_policy or CodePolicy())
        self.origins = AllowedOrigins(config.privy_allowed_origins)
        self.sessions = Sessions()
        self.users = Users()
        self.wallets = Wallets()
        self.quorums = KeyQuorums()
        self.idempotency = IdempotencyCache()
        self._user_quorums: dict[str, str] = {}  # user id → the quorum that owns their wallets

    # ------------------------------------------------------------------ app
    def app_secret_value(self) -> str:
        """Devnet only: the app secret, for the banner and the admin state."""
        return self._app_secret

    def rotate_signing_key(self) -> str:
        kid = self.keys.rotate()
        log.info("privy signing key rotated", kid=kid, grace_s=KEY_GRACE_MS // 1000)
        return kid

    def jwks(self, app_id: str) -> dict[str, Any]:
        if app_id != self.app_id:
            raise not_found("App not found")
        return self.keys.jwks()

    def check_app_header(self, app_id: str | None) -> None:
        """The auth API's `privy-app-id` header."""
        if not app_id:
            raise PrivyError(400, "Missing privy-app-id header", "missing_or_invalid_privy_app_id")
        if app_id != self.app_id:
            raise PrivyError(401, "Invalid Privy app ID", "missing_or_invalid_privy_app_id")

    def check_app_credentials(self, authorization: str | None, app_id_header: str | None) -> None:
        """The REST API's Basic auth (app id : app secret) and `privy-app-id` header."""
        refused = PrivyError(401, INVALID_APP_CREDENTIALS, "invalid_credentials")
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise refused
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise refused from None
        app_id, sep, secret = decoded.partition(":")
        if not sep or app_id != self.app_id:
            raise refused
        if not hmac.compare_digest(secret.encode(), self._app_secret.encode()):
            raise refused
        if app_id_header != self.app_id:
            raise PrivyError(401, "Missing or invalid privy-app-id header", "missing_or_invalid_privy_app_id")

    def app_settings(self, app_id: str) -> dict[str, Any]:
        if app_id != self.app_id:
            raise not_found("App not found")
        return {
            "id": self.app_id,
            "name": APP_NAME,
            "verification_key": self.keys.current.public_pem(),
            "logo_url": None,
            "icon_url": None,
            "accent_color": None,
            "theme": "light",
            "email_auth": True,
            "sms_auth": False,
            "wallet_auth": False,
            "solana_wallet_auth": False,
            "passkey_auth": False,
            "guest_auth": False,
            "google_oauth": False,
            "apple_oauth": False,
            "custom_jwt_auth": False,
            "allowlist_enabled": False,
            "allowed_domains": self.origins.listed(),
            "allowed_native_app_ids": [],
            "captcha_enabled": False,
            "disable_plus_emails": False,
            "mfa_methods": [],
            "require_users_accept_terms": False,
            "max_linked_wallets_per_user": None,
            "embedded_wallet_config": {"create_on_login": "off"},
        }

    # ------------------------------------------------------------------ auth API
    def passwordless_init(self, body: Any) -> dict[str, Any]:
        request = parse(PasswordlessInit, body)
        email = normalise_email(request.email)
        now = self.clock.real_ms()
        code = self.codes.issue(email, now)
        minutes = self.codes.policy.code_ttl_ms // 60_000
        self.mailbox.deliver(
            Message(
                to=email,
                subject=f"Your {APP_NAME} login code",
                body=f"Your login code is {code}. It expires in {minutes} minutes. "
                "If you did not try to sign in, ignore this email.",
                code=code,
                sent_ms=now,
            )
        )
        return {"success": True}

    def passwordless_authenticate(self, body: Any) -> dict[str, Any]:
        request = parse(PasswordlessAuthenticate, body)
        email = normalise_email(request.email)
        now = self.clock.real_ms()
        self.codes.check(email, request.code.strip(), now)
        with self._lock:
            user = self.users.by_email(email)
            is_new = user is None
            if user is None:
                if request.mode == "no-signup":
                    raise PrivyError(400, "There is no user with this login method", "user_does_not_exist")
                user = self.users.create(email, now // 1000)
                log.info("privy user created", user_id=user.id, via="email code")
            else:
                self.users.record_login(user, now // 1000)
            session, refresh_token = self.sessions.open(user.id, now)
        log.info("privy sign-in", user_id=user.id, session_id=session.id, new_user=is_new)
        return self._authenticated(user, session, refresh_token, is_new)

    def refresh_session(self, body: Any, authorization: str | None) -> dict[str, Any]:
        request = parse(RefreshInput, body)
        if not request.refresh_token:
            raise invalid_token("Missing refresh token.")
        now = self.clock.real_ms()
        # The access token sent along may have expired (that is why one refreshes); a valid one
        # must belong to the session being refreshed.
        claims = self._valid_claims(authorization) if authorization else None
        with self._lock:
            session, refresh_token = self.sessions.refresh(
                request.refresh_token, now, claims.session_id if claims else None
            )
            user = self.users.get(session.user_id)
            if user is None:
                raise invalid_token()
        return self._authenticated(user, session, refresh_token, is_new=False)

    def logout(self, body: Any, authorization: str | None) -> dict[str, Any]:
        """End the session of the Bearer access token, or (when that has expired) of the
        `refresh_token` in the body, as Privy's OptionalRefreshTokenInput allows."""
        request = parse(RefreshInput, body)
        claims = self._valid_claims(authorization) if authorization else None
        if claims is not None:
            session_id = claims.session_id
        elif request.refresh_token:
            session_id = self.sessions.session_of(request.refresh_token) or ""
            if not session_id:
                raise invalid_token("Invalid refresh token.")
        else:
            raise invalid_token() if authorization else invalid_token(MISSING_AUTH_TOKEN)
        if not self.sessions.revoke(session_id):
            raise PrivyError(400, "This session is already logged out", "already_logged_out")
        log.info("privy logout", session_id=session_id)
        return {"success": True}

    def me(self, authorization: str | None) -> dict[str, Any]:
        claims = self._active_claims(authorization)
        user = self.users.get(claims.user_id)
        if user is None:
            raise invalid_token()
        return {"user": self._user_json(user)}

    def _valid_claims(self, authorization: str) -> AccessClaims | None:
        try:
            return self.tokens.verify_access_token(bearer_token(authorization))
        except PrivyError:
            return None

    def _active_claims(self, authorization: str | None) -> AccessClaims:
        claims = self.tokens.verify_access_token(bearer_token(authorization))
        if self.sessions.get_active(claims.session_id) is None:
            raise invalid_token()
        return claims

    def _authenticated(
        self, user: User, session: Session, refresh_token: str, is_new: bool
    ) -> dict[str, Any]:
        user_json = self._user_json(user)
        access = self.tokens.access_token(user.id, session.id)
        return {
            "user": user_json,
            "token": access,
            "privy_access_token": access,
            "refresh_token": refresh_token,
            "identity_token": self.tokens.identity_token(user_json),
            "is_new_user": is_new,
            "session_update_action": "set",
        }

    # ------------------------------------------------------------------ users
    def _user_json(self, user: User) -> dict[str, Any]:
        return user.as_json(self.wallets.of_user(user.id))

    def _user(self, user_id: str) -> User:
        user = self.users.get(user_id)
        if user is None:
            raise not_found("User not found")
        return user

    def create_user(self, body: Any) -> dict[str, Any]:
        request = parse(CreateUser, body)
        emails = [a for a in request.linked_accounts if a.type == "email"]
        others = [a.type for a in request.linked_accounts if a.type != "email"]
        if others:
            raise invalid_data(
                f"linked account type {others[0]!r} is not supported by the devnet (email only)"
            )
        if len(emails) != 1 or emails[0].address is None:
            raise invalid_data("exactly one linked account of type 'email' with an address is required")
        email = normalise_email(emails[0].address)
        specs = list(request.wallets or [])
        if request.create_ethereum_wallet:
            specs.append(WalletSpec(chain_type="ethereum"))
        if request.create_solana_wallet:
            specs.append(WalletSpec(chain_type="solana"))
        now = self.clock.real_ms()
        with self._lock:
            for spec in specs:
                self._check_wallet_spec(spec)
            user = self.users.create(email, now // 1000, request.custom_metadata)
            for spec in specs:
                self._create_user_wallet(user, spec, now)
        log.info("privy user created", user_id=user.id, via="rest", wallets=len(specs))
        return self._user_json(user)

    def list_users(self, cursor: str | None, limit: int | None) -> dict[str, Any]:
        page = _page(self.users.all(), cursor, limit, lambda u: u.id)
        page["data"] = [self._user_json(u) for u in page["data"]]
        return page

    def get_user(self, user_id: str) -> dict[str, Any]:
        return self._user_json(self._user(user_id))

    def user_by_email(self, body: Any) -> dict[str, Any]:
        request = parse(EmailAddress, body)
        user = self.users.by_email(normalise_email(request.address))
        if user is None:
            raise not_found("User not found")
        return self._user_json(user)

    def delete_user(self, user_id: str) -> None:
        with self._lock:
            user = self.users.delete(user_id)
            if user is None:
                raise not_found("User not found")
            self.sessions.revoke_user(user_id)
            # The wallets stay (funds may sit there) but belong to nobody's account any more.
            for wallet in self.wallets.of_user(user_id):
                wallet.user_id = None
        log.info("privy user deleted", user_id=user_id)

    def pregenerate_wallets(self, user_id: str, body: Any) -> dict[str, Any]:
        request = parse(PregenerateWallets, body)
        now = self.clock.real_ms()
        with self._lock:
            user = self._user(user_id)
            for spec in request.wallets:
                self._check_wallet_spec(spec)
            for spec in request.wallets:
                self._create_user_wallet(user, spec, now)
        return self._user_json(user)

    # ------------------------------------------------------------------ wallets
    def _check_chain_type(self, chain_type: str) -> None:
        if chain_type not in CHAIN_TYPES:
            raise invalid_data(
                f"chain_type {chain_type!r} is not supported by the devnet ({', '.join(CHAIN_TYPES)})"
            )

    def _signers(self, signers: list[AdditionalSigner] | None) -> list[dict[str, Any]]:
        out = []
        for signer in signers or []:
            if self.quorums.get(signer.signer_id) is None:
                raise invalid_data(f"additional signer {signer.signer_id} is not a key quorum of this app")
            out.append(signer.as_json())
        return out

    def _check_wallet_spec(self, spec: WalletSpec) -> None:
        self._check_chain_type(spec.chain_type)
        self._signers(spec.additional_signers)
        if spec.create_smart_wallet:
            raise invalid_data("smart wallets are not supported by the devnet")
        if spec.external_id is not None and self.wallets.by_external_id(spec.external_id) is not None:
            raise invalid_data(f"a wallet with external_id {spec.external_id} already exists")

    def _user_quorum(self, user_id: str) -> str:
        quorum_id = self._user_quorums.get(user_id)
        if quorum_id is None:
            quorum_id = self.quorums.create([], user_ids=[user_id]).id
            self._user_quorums[user_id] = quorum_id
        return quorum_id

    def _create_user_wallet(self, user: User, spec: WalletSpec, now_ms: int) -> Wallet:
        wallet = self.wallets.create(
            spec.chain_type,
            now_ms,
            owner_id=self._user_quorum(user.id),
            additional_signers=self._signers(spec.additional_signers),
            policy_ids=spec.policy_ids,
            external_id=spec.external_id,
            user_id=user.id,
        )
        log.info(
            "privy wallet created",
            wallet_id=wallet.id,
            chain_type=wallet.chain_type,
            address=wallet.address,
            user_id=user.id,
            delegated=wallet.delegated,
        )
        return wallet

    def _owner(self, owner: OwnerInput | None, owner_id: str | None) -> tuple[str | None, str | None]:
        """(owner quorum id, user id if a user owns it) from `owner` / `owner_id`."""
        if owner is not None and owner_id is not None:
            raise invalid_data("give either owner or owner_id, not both")
        if owner_id is not None:
            if self.quorums.get(owner_id) is None:
                raise invalid_data(f"owner_id {owner_id} is not a key quorum of this app")
            return owner_id, None
        if owner is None:
            return None, None
        if (owner.user_id is None) == (owner.public_key is None):
            raise invalid_data("owner must have exactly one of user_id or public_key")
        if owner.user_id is not None:
            user = self.users.get(owner.user_id)
            if user is None:
                raise invalid_data(f"owner user {owner.user_id} does not exist")
            return self._user_quorum(user.id), user.id
        return self.quorums.create([owner.public_key or ""]).id, None

    def create_wallet(self, body: Any, idempotency_key: str | None) -> dict[str, Any]:
        now = self.clock.real_ms()
        fingerprint = IdempotencyCache.fingerprint("POST /v1/wallets", body)
        if idempotency_key:
            replay = self.idempotency.replay(idempotency_key, fingerprint, now)
            if replay is not None:
                return replay
        request = parse(CreateWallet, body)
        self._check_chain_type(request.chain_type)
        with self._lock:
            if request.external_id is not None and self.wallets.by_external_id(request.external_id):
                raise invalid_data(f"a wallet with external_id {request.external_id} already exists")
            signers = self._signers(request.additional_signers)
            owner_id, user_id = self._owner(request.owner, request.owner_id)
            wallet = self.wallets.create(
                request.chain_type,
                now,
                owner_id=owner_id,
                additional_signers=signers,
                policy_ids=request.policy_ids,
                display_name=request.display_name,
                external_id=request.external_id,
                user_id=user_id,
            )
            answer = wallet.as_json()
            if idempotency_key:
                self.idempotency.store(idempotency_key, fingerprint, answer, now)
        log.info(
            "privy wallet created",
            wallet_id=wallet.id,
            chain_type=wallet.chain_type,
            address=wallet.address,
            owner_id=owner_id,
            delegated=wallet.delegated,
        )
        return answer

    def _wallet(self, wallet_id: str) -> Wallet:
        wallet = self.wallets.get(wallet_id)
        if wallet is None:
            raise not_found("Wallet not found")
        return wallet

    def get_wallet(self, wallet_id: str) -> dict[str, Any]:
        return self._wallet(wallet_id).as_json()

    def list_wallets(
        self, filters: dict[str, str | None], cursor: str | None, limit: int | None
    ) -> dict[str, Any]:
        wallets = self.wallets.all()
        if filters.get("chain_type"):
            self._check_chain_type(filters["chain_type"] or "")
            wallets = [w for w in wallets if w.chain_type == filters["chain_type"]]
        if filters.get("user_id"):
            wallets = [w for w in wallets if w.user_id == filters["user_id"]]
        if filters.get("address"):
            wanted = (filters["address"] or "").lower()
            wallets = [w for w in wallets if w.address.lower() == wanted]
        if filters.get("external_id"):
            wallets = [w for w in wallets if w.external_id == filters["external_id"]]
        page = _page(wallets, cursor, limit, lambda w: w.id)
        page["data"] = [w.as_json() for w in page["data"]]
        return page

    def _authorize(self, request: SignedRequest, allowed: list[KeyQuorum]) -> None:
        check_expiry(request.expiry, self.clock.real_ms())
        payload = signature_payload(
            request.method, request.url, request.body, self.app_id, request.idempotency_key, request.expiry
        )
        authorize(request.signature, payload, allowed, self.quorums.get)

    def _quorums(self, ids: list[str | None]) -> list[KeyQuorum]:
        return [q for q in (self.quorums.get(i) for i in ids if i) if q is not None]

    def wallet_rpc(self, wallet_id: str, request: SignedRequest) -> dict[str, Any]:
        if not isinstance(request.body, dict):
            raise invalid_data("the request body must be a JSON object")
        wallet = self._wallet(wallet_id)
        now = self.clock.real_ms()
        if wallet.owner_id or wallet.additional_signers:
            # The owner, or any one additional signer, may have the wallet sign.
            allowed = self._quorums([wallet.owner_id, *(s["signer_id"] for s in wallet.additional_signers)])
            self._authorize(request, allowed)
        fingerprint = IdempotencyCache.fingerprint(f"POST /v1/wallets/{wallet_id}/rpc", request.body)
        if request.idempotency_key:
            replay = self.idempotency.replay(request.idempotency_key, fingerprint, now)
            if replay is not None:
                return replay
        answer = rpc.execute(wallet, self.wallets.key(wallet.id), request.body)
        if request.idempotency_key:
            self.idempotency.store(request.idempotency_key, fingerprint, answer, now)
        log.info("privy wallet rpc", wallet_id=wallet.id, method=answer["method"])
        return answer

    def update_wallet(self, wallet_id: str, request: SignedRequest) -> dict[str, Any]:
        body = parse(UpdateWallet, request.body)
        with self._lock:
            wallet = self._wallet(wallet_id)
            if wallet.owner_id:
                # Only the owner may change a wallet that has one.
                self._authorize(request, self._quorums([wallet.owner_id]))
            fields = body.model_fields_set
            if "owner" in fields or "owner_id" in fields:
                if wallet.user_id is not None:
                    raise invalid_data(
                        "the owner of a user's embedded wallet cannot be changed on the devnet"
                    )
                owner_id, user_id = self._owner(body.owner, body.owner_id)
                wallet.owner_id, wallet.user_id = owner_id, user_id
            if "additional_signers" in fields:
                wallet.additional_signers = self._signers(body.additional_signers)
            if "policy_ids" in fields:
                wallet.policy_ids = list(body.policy_ids or [])
            if "display_name" in fields:
                wallet.display_name = body.display_name
            answer = wallet.as_json()
        log.info("privy wallet updated", wallet_id=wallet.id, delegated=wallet.delegated)
        return answer

    # ------------------------------------------------------------------ key quorums
    def create_key_quorum(self, body: Any) -> dict[str, Any]:
        request = parse(CreateKeyQuorum, body)
        for user_id in request.user_ids or []:
            if self.users.get(user_id) is None:
                raise invalid_data(f"user {user_id} does not exist")
        quorum = self.quorums.create(
            request.public_keys or [],
            request.authorization_threshold,
            request.display_name,
            request.user_ids,
            request.key_quorum_ids,
        )
        log.info("privy key quorum created", key_quorum_id=quorum.id, members=quorum.member_count)
        return quorum.as_json()

    def get_key_quorum(self, quorum_id: str) -> dict[str, Any]:
        quorum = self.quorums.get(quorum_id)
        if quorum is None:
            raise not_found("Key quorum not found")
        return quorum.as_json()

    # ------------------------------------------------------------------ devnet admin
    def snapshot(self) -> dict[str, Any]:
        """For the admin `GET /state`: credentials (devnet only), keys, users and wallets; no secrets
        beyond the app secret (no wallet keys, codes, refresh tokens)."""
        users = self.users.all()
        return {
            "url": self.config.url("privy"),
            "app_id": self.app_id,
            "app_secret": self._app_secret,
            "jwks_url": f"{self.config.url('privy')}/v1/apps/{self.app_id}/jwks.json",
            "signing_key": {"current_kid": self.keys.current.kid, "jwks_kids": self.keys.kids()},
            "allowed_origins": self.origins.listed(),
            "users": [
                {
                    "id": u.id,
                    "email": u.email,
                    "created_at": u.created_s,
                    "wallet_ids": [w.id for w in self.wallets.of_user(u.id)],
                }
                for u in users
            ],
            "wallets": [
                {
                    "id": w.id,
                    "chain_type": w.chain_type,
                    "address": w.address,
                    "owner_id": w.owner_id,
                    "user_id": w.user_id,
                    "delegated": w.delegated,
                }
                for w in self.wallets.all()
            ],
            "key_quorums": self.quorums.count(),
            "active_sessions": self.sessions.active_count(),
            "pending_codes": self.codes.pending_count(),
        }
