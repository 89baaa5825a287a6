"""`create_app(settings)`: the control plane's FastAPI app — sign-in, the portal, withdrawal addresses,
the proxy to each user's bot — with the reconciler running on a timer for the app's lifetime.

The services are built once (`build_context`, an `AppContext`); the routes are module-level routers
(`orchestrator/auth/router.py`, `orchestrator/routes/`) that take what they need through dependencies;
errors are answered by type (`orchestrator/errors.py`).

The signing broker is not part of it: it is `app.state.internal_app`, a second small app (the broker,
the shared venue gateway under `/gateway/v1`, and a `/health`) on the same context, which `basis serve`
serves on an internal listener of its own (`orchestrator/listeners.py`), so that the public port
answers 404 for `/internal/sign` and the gateway. The gateway's refreshes run in the public app's
lifespan, in the same event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi import FastAPI
from pydantic import SecretStr

from gateway.config import GATEWAY_PREFIX
from orchestrator.auth.privy import PrivyClient
from orchestrator.auth.rate_limit import RateLimiter
from orchestrator.auth.router import SignIn, install_sign_in
from orchestrator.auth.sessions import SessionStore
from orchestrator.broker import SigningBroker
from orchestrator.config import ControlPlaneSettings
from orchestrator.context import AppContext
from orchestrator.database.session import open_database
from orchestrator.devnet_faucet import DevnetFaucet
from orchestrator.errors import install_error_handlers
from orchestrator.proxy import BotProxy
from orchestrator.reconciler import Reconciler
from orchestrator.request_origin import install_request_origin
from orchestrator.routes import health, portal, signing, withdrawals
from orchestrator.routes.portal import BOT_PREFIX
from orchestrator.runtimes.base import Runtime
from orchestrator.runtimes.process import ProcessRuntime
from orchestrator.tenants import TenantService
from orchestrator.users import Users
from orchestrator.venue_gateway import build_gateway
from orchestrator.withdrawals import WithdrawalBook

__all__ = ["BOT_PREFIX", "create_app", "make_runtime"]


def make_runtime(settings: ControlPlaneSettings, *, serving: bool = False) -> Runtime:
    """The runtime the settings name. `serving`: for `basis serve`, which keeps a spare bot (process
    runtime); a CLI command that exits at once must not start one."""
    if settings.runtime == "docker":
        from orchestrator.runtimes.docker import DockerRuntime  # the SDK only when it is used

        return DockerRuntime(
            image_repo=settings.docker_image_repo,
            instance=settings.docker_instance,
            host_network=settings.docker_host_network,
            stop_timeout=settings.bot_stop_timeout_seconds,
        )
    if settings.runtime == "swarm":
        from orchestrator.runtimes.swarm import SwarmRuntime

        return SwarmRuntime(
            image_repo=settings.docker_image_repo,
            instance=settings.docker_instance,
            host_network=settings.docker_host_network,
            constraints=settings.swarm_constraints,
            pin_to_node=settings.swarm_pin_to_node,
            stop_timeout=settings.bot_stop_timeout_seconds,
        )
    return ProcessRuntime(
        settings.data_root,
        stop_timeout=settings.bot_stop_timeout_seconds,
        spare=settings.bot_spare and serving,
        refuse_closed_code=settings.network != "devnet",
    )


def create_app(settings: ControlPlaneSettings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """The public app; `app.state.internal_app` is the internal one. Both share one `AppContext`
    (`app.state.ctx`), built here once."""
    settings = settings or ControlPlaneSettings()
    ctx = build_context(settings, runtime or make_runtime(settings, serving=True))
    proxy = BotProxy(
        ctx.upstream,
        max_body_bytes=settings.max_body_bytes,
        max_streams_per_user=settings.max_streams_per_user,
    )
    closers = [proxy.aclose, ctx.sign_in.privy.aclose, ctx.tenants.aclose]
    if ctx.gateway is not None:
        closers.append(ctx.gateway.aclose)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(ctx.reconciler.run(stop), name="reconciler")
        tasks = [task]
        if ctx.gateway is not None:
            tasks.append(asyncio.create_task(ctx.gateway.run(stop), name="gateway"))
        # A runtime that keeps a pre-imported spare bot starts it now and lets it go at the end.
        ctx.tenants.runtime.warm()
        try:
            yield
        finally:
            ctx.tenants.runtime.close()
            # The bots keep running: they live in sessions of their own and a restarted control
            # plane adopts them.
            stop.set()
            for running in tasks:
                with contextlib.suppress(Exception):
                    await running
            for close in closers:
                with contextlib.suppress(Exception):
                    await close()

    app = FastAPI(title="Basis control plane", version="0.1.0", lifespan=lifespan)
    app.state.ctx = ctx
    install_sign_in(app, ctx.sign_in)
    for router in (health.router, portal.page, portal.router, portal.tenant, withdrawals.router):
        app.include_router(router)
    app.mount(portal.BOT_PREFIX, proxy)  # the signed-in user's own bot
    install_error_handlers(app)
    install_request_origin(app, settings)  # trusted proxies, the Host allow-list, HSTS
    app.state.internal_app = _internal_app(ctx)
    return app


def build_context(settings: ControlPlaneSettings, runtime: Runtime) -> AppContext:
    """The control plane's services, built once: database, tenants, reconciler, sign-in, users, the
    signing broker (bots of signed-in users sign through it with their tenant token) and the
    withdrawal book (the only addresses it sends to besides the users' own and the venues)."""
    db = open_database(settings.database_url)
    tenants = TenantService(settings, db, runtime)
    privy = PrivyClient(
        settings.privy_auth_url,
        settings.privy_api_url,
        settings.privy_app_id,
        settings.privy_app_secret or SecretStr(""),
        origin=settings.page_origin(),
    )
    users = Users(db, tenants, privy)
    broker = SigningBroker(settings, db, privy)
    # Secure cookies always when users come over https only; else whenever the request did.
    secure = True if settings.cookies_always_secure() else None
    return AppContext(
        settings=settings,
        db=db,
        tenants=tenants,
        reconciler=Reconciler(tenants),
        sign_in=SignIn(
            privy,
            SessionStore(db),
            users,
            RateLimiter(db),
            cookie_secure=secure,
            server_codes=settings.network == "devnet",
        ),
        users=users,
        broker=broker,
        withdrawals=WithdrawalBook(db, timedelta(seconds=settings.withdrawal_delay_seconds)),
        faucet=DevnetFaucet(settings.devnet_admin_url) if settings.network == "devnet" else None,
        gateway=build_gateway(settings, broker),
    )


def _internal_app(ctx: AppContext) -> FastAPI:
    """What the internal listener serves: the signing broker, the gateway, and `/health`."""
    internal = FastAPI(title="Basis control plane: internal", version="0.1.0", docs_url=None, redoc_url=None)
    internal.state.ctx = ctx
    internal.include_router(health.router)
    internal.include_router(signing.router)
    install_error_handlers(internal)
    if ctx.gateway is not None:
        internal.mount(GATEWAY_PREFIX, ctx.gateway.app)  # what `gateway_url_value` names
    return internal
