"""`create_app(settings)`: the control plane's FastAPI app — sign-in, the proxy to each user's bot,
tenant status for the portal — with the reconciler running on a timer for the app's lifetime.

The signing broker is not part of it: it is `app.state.internal_app`, a second small app (the broker
and a `/health`) that `basis serve` serves on an internal listener of its own
(`orchestrator/listeners.py`), so that the public port answers 404 for `/internal/sign`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse

from orchestrator.config import ControlPlaneSettings
from orchestrator.database.session import open_database
from orchestrator.reconciler import Reconciler
from orchestrator.runtimes.base import Runtime
from orchestrator.runtimes.process import ProcessRuntime
from orchestrator.tenants import TenantService, tenant_view
from shared.logging import get_logger

log = get_logger(__name__)

# Where the signed-in user's own bot is served: its page asks for `api/v1/...` and `static/...`
# relative to it, which the browser turns into `/app/api/v1/...`, forwarded as `/api/v1/...`.
BOT_PREFIX = "/app"


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
    settings = settings or ControlPlaneSettings()
    db = open_database(settings.database_url)
    service = TenantService(settings, db, runtime or make_runtime(settings, serving=True))
    reconciler = Reconciler(service)
    closers: list[Any] = []

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(reconciler.run(stop), name="reconciler")
        # A runtime that keeps a pre-imported spare bot starts it now and lets it go at the end.
        warm, close_runtime = getattr(service.runtime, "warm", None), getattr(service.runtime, "close", None)
        if warm is not None:
            warm()
        try:
            yield
        finally:
            if close_runtime is not None:
                close_runtime()
            # The bots keep running: they live in sessions of their own and a restarted control
            # plane adopts them.
            stop.set()
            with contextlib.suppress(Exception):
                await task
            for close in closers:
                with contextlib.suppress(Exception):
                    await close()

    app = FastAPI(title="Basis control plane", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.db = db
    app.state.tenants = service
    app.state.reconciler = reconciler

    @app.get("/health", summary="The control plane answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    _install_auth_and_proxy(app, settings, service, closers)
    from orchestrator.portal import install_portal
    from orchestrator.withdrawals import install_withdrawals

    install_portal(app)  # the page at `/` and its API; after the auth routes it depends on
    install_withdrawals(app)  # the user's withdrawal addresses, the only ones the broker sends to
    from orchestrator.request_origin import install_request_origin

    install_request_origin(app, settings)  # trusted proxies, the Host allow-list, HSTS
    return app


def _install_auth_and_proxy(
    app: FastAPI, settings: ControlPlaneSettings, service: TenantService, closers: list[Any]
) -> None:
    from pydantic import SecretStr

    from orchestrator.auth.privy import PrivyClient
    from orchestrator.auth.router import make_auth_router, make_current_user
    from orchestrator.auth.sessions import SessionStore
    from orchestrator.proxy import BotProxy, ProxyRefusal, Upstream
    from orchestrator.users import Users

    privy = PrivyClient(
        settings.privy_auth_url,
        settings.privy_api_url,
        settings.privy_app_id,
        settings.privy_app_secret or SecretStr(""),
    )
    sessions = SessionStore(app.state.db)
    users = Users(app.state.db, service, privy)
    app.state.auth_sessions = sessions
    app.state.users = users
    # Secure cookies always when users come over https only; else whenever the request did.
    secure = True if settings.cookies_always_secure() else None
    app.include_router(make_auth_router(privy, sessions, users, cookie_secure=secure))
    # The signing broker (bots of signed-in users sign through it with their tenant token), on the
    # internal listener only.
    from orchestrator.broker import SigningBroker

    app.state.broker = SigningBroker(settings, app.state.db, privy)
    app.state.internal_app = _internal_app(app.state.broker)
    current_user = make_current_user(sessions)

    @app.get("/api/v1/tenant", summary="The signed-in user's bot: desired state, status, last error")
    async def my_tenant(user_id: str = Depends(current_user)) -> dict[str, Any]:
        tenant = service.of_user(user_id)
        if tenant is None:
            raise HTTPException(404, "You have no bot yet.")
        view = tenant_view(tenant)
        view.pop("pid", None)
        view.pop("port", None)
        return view

    async def resolve(request: Request) -> Upstream | None:
        try:
            user_id = await current_user(request)
        except HTTPException as exc:
            raise ProxyRefusal(exc.status_code, str(exc.detail)) from None
        tenant = service.of_user(user_id)
        found = service.upstream(tenant.id) if tenant is not None else None
        return Upstream(found.base_url, found.token, user_id) if found is not None else None

    proxy = BotProxy(
        resolve,
        max_body_bytes=settings.max_body_bytes,
        max_streams_per_user=settings.max_streams_per_user,
    )
    app.mount(BOT_PREFIX, proxy)

    @app.get(BOT_PREFIX, include_in_schema=False)
    async def bot_root(request: Request) -> RedirectResponse:
        # A relative redirect, never one built from the request's Host.
        query = request.url.query
        return RedirectResponse(BOT_PREFIX + "/" + (f"?{query}" if query else ""), status_code=307)

    closers.extend([proxy.aclose, privy.aclose, users.aclose])

    _answer_value_errors(app)


def _internal_app(broker: Any) -> FastAPI:
    """What the internal listener serves: the signing broker, and `/health`."""
    from orchestrator.broker import make_broker_router

    internal = FastAPI(title="Basis control plane: internal", version="0.1.0", docs_url=None, redoc_url=None)

    @internal.get("/health", summary="The internal listener answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    internal.include_router(make_broker_router(broker))
    _answer_value_errors(internal)
    return internal


def _answer_value_errors(app: FastAPI) -> None:
    @app.exception_handler(ValueError)
    async def bad_value(_request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)
