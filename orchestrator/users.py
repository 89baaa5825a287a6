"""Users: the `UserDirectory` the sign-in router calls once Privy has verified an email code.

On a first sign-in: the user is recorded, a Solana and an Ethereum server wallet are created
through Privy (idempotency keys derived from the Privy user id, so a retried sign-in never makes
a second pair), then the tenant is provisioned and its bot started in the background: the
sign-in answers at once and the portal shows the start's progress (`GET /api/v1/tenant`).
An e-mail that comes back under a new Privy id is the same user (Privy checked the address with a
code): the new id is recorded and nothing else changes.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.auth.privy import PrivyClient, PrivyUser
from orchestrator.auth.router import SignedInUser
from orchestrator.database.models import User, utcnow
from orchestrator.tenants import TenantService
from shared.logging import get_logger

log = get_logger(__name__)


def user_view(u: User, tenant_id: str | None = None) -> dict[str, Any]:
    return {
        "id": u.id,
        "email": u.email,
        "privy_user_id": u.privy_user_id,
        "solana_address": u.solana_address,
        "evm_address": u.evm_address,
        "tenant_id": tenant_id,
        "created_at": u.created_at.isoformat() if u.created_at else None,
        "last_sign_in_at": u.last_sign_in_at.isoformat() if u.last_sign_in_at else None,
    }


class Users:
    def __init__(self, sessions: sessionmaker[Session], tenants: TenantService, privy: PrivyClient) -> None:
        self.sessions = sessions
        self.tenants = tenants
        self.privy = privy
        # One sign-in at a time per Privy user, so two tabs verifying at once make one user.
        self._locks: dict[str, asyncio.Lock] = {}

    def all(self) -> list[User]:
        with self.sessions() as s:
            return list(s.scalars(select(User).order_by(User.created_at)))

    def get(self, user_id: str) -> User | None:
        with self.sessions() as s:
            return s.get(User, user_id)

    async def sign_in(self, privy_user: PrivyUser) -> SignedInUser:
        lock = self._locks.setdefault(privy_user.id, asyncio.Lock())
        async with lock:
            return await self._sign_in(privy_user)

    async def _sign_in(self, privy_user: PrivyUser) -> SignedInUser:
        with self.sessions.begin() as s:
            user = s.scalar(select(User).where(User.privy_user_id == privy_user.id))
            if user is None:
                # The e-mail back under a new Privy id (its Privy account was deleted and made anew,
                # or the app's Privy changed): the same person, who proved the address again with a
                # code. They keep their user, wallets and bot; the new id replaces the old one.
                user = s.scalar(select(User).where(User.email == privy_user.email))
                if user is not None:
                    log.info("user signed in under a new Privy id; linked to it", user_id=user.id)
                    user.privy_user_id = privy_user.id
            is_new = user is None
            if user is None:
                user = User(
                    id=f"u-{secrets.token_hex(8)}", email=privy_user.email, privy_user_id=privy_user.id
                )
                s.add(user)
            user.last_sign_in_at = utcnow()
            user_id = user.id
            missing_wallets = user.solana_wallet_id is None or user.evm_wallet_id is None
        if missing_wallets:
            await self._create_wallets(user_id, privy_user.id)
        tenant = self.tenants.of_user(user_id)
        if tenant is None:
            tenant = await self.tenants.provision(user_id=user_id, start=True, wait=False)
            self.tenants.settle_in_background(tenant.id)
            log.info("tenant provisioned for a new user", user_id=user_id, tenant_id=tenant.id)
        return SignedInUser(user_id=user_id, is_new=is_new, tenant_id=tenant.id)

    async def _create_wallets(self, user_id: str, privy_user_id: str) -> None:
        key = privy_user_id.replace(":", "-")
        # Two independent round trips to Privy, made at once (each has its own idempotency key).
        solana, ethereum = await asyncio.gather(
            self.privy.create_wallet("solana", idempotency_key=f"{key}-solana"),
            self.privy.create_wallet("ethereum", idempotency_key=f"{key}-ethereum"),
        )
        with self.sessions.begin() as s:
            user = s.get(User, user_id)
            assert user is not None
            user.solana_wallet_id, user.solana_address = solana.id, solana.address
            user.evm_wallet_id, user.evm_address = ethereum.id, ethereum.address
