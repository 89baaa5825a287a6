"""What the control plane's routes work with, and the dependencies that hand it to them.

`AppContext` holds the services `create_app` builds once: the tenants and their runtime, the users,
the sign-in parts, the signing broker, the withdrawal book and the shared venue gateway. Routes never
reach into the app: each takes what it needs through one of the dependencies below, which read the
context the app was created with (the public app and the internal one share it). The signed-in user
comes from the sign-in parts (`orchestrator.auth.router.CurrentUser`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session, sessionmaker

from gateway.service import Gateway
from orchestrator.auth.router import SignIn, current_user
from orchestrator.broker import SigningBroker
from orchestrator.config import ControlPlaneSettings
from orchestrator.devnet_faucet import DevnetFaucet
from orchestrator.proxy import ProxyRefusal, Upstream
from orchestrator.reconciler import Reconciler
from orchestrator.tenants import TenantService
from orchestrator.users import Users
from orchestrator.withdrawals import WithdrawalBook


@dataclass(frozen=True)
class AppContext:
    settings: ControlPlaneSettings
    db: sessionmaker[Session]
    tenants: TenantService
    reconciler: Reconciler
    sign_in: SignIn
    users: Users
    broker: SigningBroker
    withdrawals: WithdrawalBook
    # The shared venue gateway, served on the internal listener; None when it is off.
    gateway: Gateway | None = None
    # The devnet's faucet for the portal's "Get test funds"; None outside the devnet.
    faucet: DevnetFaucet | None = None

    async def upstream(self, request: Request) -> Upstream | None:
        """The signed-in user's own bot, for the proxy (`BotProxy`'s resolver): None while it is not
        running; not signed in (or no CSRF token on a state change), a refusal with its status."""
        try:
            user_id = await current_user(request, self.sign_in)
        except HTTPException as exc:
            raise ProxyRefusal(exc.status_code, str(exc.detail)) from None
        tenant = self.tenants.of_user(user_id)
        return self.tenants.upstream(tenant.id) if tenant is not None else None


def context(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


# One small typed dependency per service, the shape tenant_bot/api/context.py uses too (deliberately
# alike: the two processes share no code but shared/, and FastAPI wants one function per type): a route
# names the one service it works with, never the whole context.
def _tenants(c: AppContext = Depends(context)) -> TenantService:
    return c.tenants


def _users(c: AppContext = Depends(context)) -> Users:
    return c.users


def _broker(c: AppContext = Depends(context)) -> SigningBroker:
    return c.broker


def _withdrawals(c: AppContext = Depends(context)) -> WithdrawalBook:
    return c.withdrawals


def _faucet(c: AppContext = Depends(context)) -> DevnetFaucet | None:
    return c.faucet


TenantsDep = Annotated[TenantService, Depends(_tenants)]
FaucetDep = Annotated[DevnetFaucet | None, Depends(_faucet)]
UsersDep = Annotated[Users, Depends(_users)]
BrokerDep = Annotated[SigningBroker, Depends(_broker)]
WithdrawalsDep = Annotated[WithdrawalBook, Depends(_withdrawals)]
