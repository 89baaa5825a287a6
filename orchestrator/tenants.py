"""Tenants: one bot per user. Provision, start, stop, restart, upgrade and delete, against a runtime.

The database holds what each tenant *should* be doing (desired state, version, limits) and what it
was last seen doing; the reconciler closes the gap on a timer. What a bot is told when it starts is
the launch contract (`shared/launch.py`); its API token is derived from the server secret and the
tenant id whenever it is needed, and stored nowhere.
"""

from __future__ import annotations

import asyncio
import grp
import pwd
import re
import secrets
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session, sessionmaker

from orchestrator.bot_reports import read_positions
from orchestrator.config import ControlPlaneSettings
from orchestrator.database.models import RetainedData, Tenant, User
from orchestrator.database.session import serialize
from orchestrator.proxy import Upstream
from orchestrator.runtimes.base import BotSpec, BotStatus, Runtime
from shared.launch import BotLaunch, BrokerWallets, bot_secret, bot_token
from shared.logging import get_logger

log = get_logger(__name__)

# How often wait_until_settled asks a starting bot for /health.
SETTLE_POLL_SECONDS = 0.05
# Starts in a row that may find their port taken before a bot gives up as failed (each moves it).
PORT_MOVES = 3
TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")


class TenantError(Exception):
    """A request the service refuses; `code` is the CLI's exit code (2 bad input, 1 failed operation)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def backoff_seconds(failures: int, base: float, cap: float) -> float:
    """Delay before retry number `failures` (1, 2, ...): base, 2·base, 4·base ... capped."""
    if failures <= 0:
        return 0.0
    return min(cap, base * 2 ** min(failures - 1, 30))


def now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes even for timezone-aware columns.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def tenant_view(t: Tenant) -> dict[str, Any]:
    return {
        "id": t.id,
        "user_id": t.user_id,
        "desired_state": t.desired_state,
        "status": t.status,
        "version": t.version,
        "port": t.port,
        "pid": t.pid,
        "uid": t.uid,
        "restarts": t.restarts,
        "failures": t.failures,
        "last_error": t.last_error,
        "limits": t.limits,
        "started_at": as_utc(t.started_at).isoformat() if t.started_at else None,
        "created_at": as_utc(t.created_at).isoformat() if t.created_at else None,
        "positions_when_stopped": positions_when_stopped(t),
    }


def positions_when_stopped(t: Tenant) -> dict[str, Any] | None:
    """The positions its bot held when it was last stopped, and when they were read; None if never."""
    if t.positions_snapshot is None:
        return None
    read_at = as_utc(t.positions_read_at).isoformat() if t.positions_read_at else None
    return {"as_of": read_at, "positions": list(t.positions_snapshot)}


class TenantService:
    def __init__(
        self,
        settings: ControlPlaneSettings,
        sessions: sessionmaker[Session],
        runtime: Runtime,
        *,
        port_free: Callable[[int], bool] = _port_free,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.runtime = runtime
        self._port_free = port_free
        # Starts waited for in the background (`settle_in_background`), kept until they end.
        self._settling: set[asyncio.Task[Tenant]] = set()

    # ------------------------------------------------------------------ reading
    def get(self, tenant_id: str) -> Tenant:
        with self.sessions() as s:
            tenant = s.get(Tenant, tenant_id)
        if tenant is None:
            raise TenantError(f"no tenant {tenant_id!r}")
        return tenant

    def all(self) -> list[Tenant]:
        with self.sessions() as s:
            return list(s.scalars(select(Tenant).order_by(Tenant.created_at)))

    def of_user(self, user_id: str) -> Tenant | None:
        with self.sessions() as s:
            return s.scalar(select(Tenant).where(Tenant.user_id == user_id))

    def token(self, tenant_id: str) -> SecretStr:
        return bot_token(self.settings.server_secret_value(), tenant_id)

    def upstream(self, tenant_id: str) -> Upstream | None:
        """Where the bot answers and the token it wants, when it is believed to be running, else None
        (the proxy then says so). Its owner is the tenant's user (the tenant, for an operator's)."""
        with self.sessions() as s:
            tenant = s.get(Tenant, tenant_id)
        if tenant is None or tenant.port is None or tenant.status != "running":
            return None
        return Upstream(f"http://127.0.0.1:{tenant.port}", self.token(tenant_id), tenant.user_id or tenant.id)

    def bot_launch(self, tenant: Tenant) -> BotLaunch:
        """What the tenant's bot is told (the launch contract, shared/launch.py)."""
        st = self.settings
        return BotLaunch(
            tenant_id=tenant.id,
            network=st.network,
            bot_version=tenant.version,
            server_secret=bot_secret(st.server_secret_value(), tenant.id),
            api_token=self.token(tenant.id),
            hyperliquid_url=st.hyperliquid_url,
            asgard_url=st.asgard_url,
            solana_rpc_url=st.solana_rpc_url,
            arbitrum_rpc_url=st.arbitrum_rpc_url,
            asgard_api_key=st.asgard_api_key,
            # The user's Privy wallets: the bot signs through the control plane's broker with its token;
            # the Privy app secret stays here. Without a user (an operator's `basis tenants create`), the
            # bot keeps its own keys (LocalSigner).
            wallets=self._privy_wallets(tenant),
            # Every bot reads the venues through the host's shared gateway when it is on.
            gateway_url=st.gateway_url_value(),
            extra=st.bot_env,
        )

    def spec(self, tenant: Tenant) -> BotSpec:
        assert tenant.port is not None
        return BotSpec(
            tenant_id=tenant.id,
            version=tenant.version,
            port=tenant.port,
            data_dir=self.settings.data_root / tenant.id,
            env=self.bot_launch(tenant).environment(),
            limits=dict(tenant.limits or {}),
            uid=tenant.uid,
        )

    def _privy_wallets(self, tenant: Tenant) -> BrokerWallets | None:
        """The tenant's user's Privy wallets, if it has both, signed for at this control plane's broker."""
        if tenant.user_id is None:
            return None
        session = object_session(tenant)
        if session is not None:  # inside the caller's transaction: no second connection
            user = session.get(User, tenant.user_id)
        else:
            with self.sessions() as s:
                user = s.get(User, tenant.user_id)
        if user is None or not (
            user.solana_wallet_id and user.solana_address and user.evm_wallet_id and user.evm_address
        ):
            return None
        return BrokerWallets(self.settings.broker_url_value(), user.solana_address, user.evm_address)

    # ------------------------------------------------------------------ ports
    def _allocate_port(self, s: Session, tenant: Tenant, avoid: int | None = None) -> int:
        """Keep the tenant's port while it is free; else the first free one no other tenant holds (nor
        `avoid`, a port its bot just found taken)."""
        # Held to the end of the caller's transaction, which records the port: two processes (API
        # workers, the CLI) starting bots at once on PostgreSQL cannot pick the same free port.
        serialize(s, "basis:tenant-ports")
        taken = {p for p in s.scalars(select(Tenant.port).where(Tenant.id != tenant.id)) if p is not None}
        if avoid is not None:
            taken.add(avoid)
        if tenant.port is not None and tenant.port not in taken and self._port_free(tenant.port):
            return tenant.port
        for port in range(self.settings.bot_port_min, self.settings.bot_port_max + 1):
            if port not in taken and self._port_free(port):
                return port
        raise TenantError("no free port left in the bot port range", code=1)

    async def port_taken(self, tenant_id: str) -> int | None:
        """The port the tenant's bot could not listen on, when that is why its last start exited.

        A port is free when it is picked and the bot binds it a second later: in between another
        program (or a bot of another control plane on this host) may take it. The bot then exits
        saying so ("[Errno 98] ... address already in use"), which is no fault of the bot's."""
        port = self.get(tenant_id).port
        if port is None:
            return None
        tail = (await self.runtime.logs(tenant_id, 5)).lower().splitlines()
        # Only this start's lines: the process runtime marks where each start begins in the log.
        starts = [i for i, line in enumerate(tail) if line.startswith("### started by the control plane")]
        tail = tail[starts[-1] + 1 :] if starts else tail
        said = any("address already in use" in line and str(port) in line for line in tail)
        return port if said else None

    async def move_port(self, tenant_id: str, taken: int) -> bool:
        """Start the bot again at once on another free port, counted as a restart (not a failure: the
        bot did nothing wrong). False when someone moved it already, it should no longer run, or no port
        is left (then its start fails as any other, and the reconciler retries it after a back-off)."""
        try:
            with self.sessions.begin() as s:
                tenant = s.get(Tenant, tenant_id)
                if tenant is None or tenant.port != taken or tenant.desired_state != "running":
                    return False
                tenant.port = self._allocate_port(s, tenant, avoid=taken)
                tenant.restarts += 1
                moved_to = tenant.port
        except TenantError as exc:
            log.error("a bot's port was taken and no other is free", tenant_id=tenant_id, error=str(exc))
            return False
        log.warning(
            "a bot's port was taken before it listened: starting it on another",
            tenant_id=tenant_id,
            taken=taken,
            port=moved_to,
        )
        await self.launch(tenant_id)
        return True

    # ------------------------------------------------------------------ Unix users
    def _allocate_uid(self, s: Session, tenant: Tenant) -> int:
        """The tenant's own Unix user id: the one it has, else the lowest id of the range that no
        tenant and no kept data holds and that the host's user and group databases do not name."""
        if tenant.uid is not None:
            return tenant.uid
        # Held to the end of the caller's transaction, which records the id (as for ports).
        serialize(s, "basis:tenant-uids")
        # Read again under the lock: another process (the CLI, an API worker) may have given this tenant
        # its id since the caller loaded the row, and a tenant's id never changes.
        given = s.scalar(select(Tenant.uid).where(Tenant.id == tenant.id))
        if given is not None:
            return int(given)
        taken = set(s.scalars(select(Tenant.uid).where(Tenant.uid.is_not(None))))
        taken |= set(s.scalars(select(RetainedData.uid).where(RetainedData.uid.is_not(None))))
        for uid in range(self.settings.bot_uid_min, self.settings.bot_uid_max + 1):
            if uid not in taken and not _named_on_host(uid):
                return uid
        raise TenantError("no free Unix user id left in the bot user id range (bot_uid_min..max)", code=1)

    # ------------------------------------------------------------------ operations
    async def provision(
        self,
        tenant_id: str | None = None,
        *,
        user_id: str | None = None,
        version: str | None = None,
        limits: dict[str, Any] | None = None,
        start: bool = True,
        wait: bool = True,
    ) -> Tenant:
        tenant_id = tenant_id or f"t-{secrets.token_hex(6)}"
        if not TENANT_ID.match(tenant_id):
            raise TenantError(
                f"tenant id {tenant_id!r} must be 3 to 40 lowercase letters, digits or dashes, "
                "starting and ending with a letter or digit"
            )
        with self.sessions.begin() as s:
            if s.get(Tenant, tenant_id) is not None:
                raise TenantError(f"tenant {tenant_id!r} already exists")
            retained = s.get(RetainedData, tenant_id)
            uid = None
            if retained is not None:
                # The id of a tenant deleted without purge: the new one takes its data back (same
                # keystore, same database, same Unix user). Swapped in one transaction, so the data
                # always has an owner.
                uid = retained.uid
                s.delete(retained)
                s.flush()  # the kept uid is free for the new row before it is inserted
            s.add(
                Tenant(
                    id=tenant_id,
                    user_id=user_id,
                    desired_state="running" if start else "stopped",
                    status="provisioned",
                    version=version or self.settings.bot_version,
                    limits=limits or {},
                    failures=0,
                    restarts=0,
                    uid=uid,
                )
            )
        (self.settings.data_root / tenant_id).mkdir(parents=True, exist_ok=True)
        if start:
            return await self.start(tenant_id, wait=wait)
        return self.get(tenant_id)

    async def start(self, tenant_id: str, *, wait: bool = True) -> Tenant:
        with self.sessions.begin() as s:
            tenant = s.get(Tenant, tenant_id)
            if tenant is None:
                raise TenantError(f"no tenant {tenant_id!r}")
            tenant.desired_state = "running"
            tenant.failures = 0
            tenant.next_attempt_at = None
        await self.launch(tenant_id)
        if wait:
            await self.wait_until_settled(tenant_id)
        return self.get(tenant_id)

    async def launch(self, tenant_id: str) -> BotStatus:
        """Ask the runtime to start the bot (idempotent) and record it as starting; does not wait."""
        observed = await self.runtime.status(tenant_id)
        with self.sessions.begin() as s:
            tenant = s.get(Tenant, tenant_id)
            if tenant is None:
                raise TenantError(f"no tenant {tenant_id!r}")
            if observed.alive and observed.port:
                tenant.port = observed.port  # already running (adopted): keep where it listens
            else:
                tenant.port = self._allocate_port(s, tenant)
            tenant.uid = self._allocate_uid(s, tenant)
            spec = self.spec(tenant)
        status = await self.runtime.start(spec)
        with self.sessions.begin() as s:
            tenant = s.get(Tenant, tenant_id)
            assert tenant is not None
            if status.state == "running":
                tenant.status = "running"
            else:
                tenant.status = "starting"
                tenant.started_at = now()
            tenant.pid = status.pid
            tenant.port = status.port or tenant.port
        return status

    async def wait_until_settled(
        self, tenant_id: str, progress: Callable[[float], None] | None = None
    ) -> Tenant:
        """Wait for `/health`; past the start timeout the tenant is marked failed (never left starting)."""
        timeout = self.settings.bot_start_timeout_seconds
        started = time.monotonic()
        moves = 0
        while True:
            status = await self.runtime.status(tenant_id)
            elapsed = time.monotonic() - started
            if progress is not None:
                progress(min(elapsed / timeout, 1.0))
            if status.state != "starting" and self.get(tenant_id).desired_state != "running":
                # Stopped (or deleted) by someone else while it started: that outcome is theirs
                # to record, not a failed start.
                return self.get(tenant_id)
            if status.state == "running":
                return self.mark_running(tenant_id, status)
            if not status.alive:
                taken = await self.port_taken(tenant_id) if moves < PORT_MOVES else None
                if taken is not None:
                    moves += 1
                    if await self.move_port(tenant_id, taken) or self.get(tenant_id).port != taken:
                        started = time.monotonic()  # moved (by us, or by another waiter): follow that start
                        continue
                tail = (await self.runtime.logs(tenant_id, 5)).strip().splitlines()
                reason = "the bot exited during start-up" + (f": {tail[-1][:300]}" if tail else "")
                return self.mark_failed(tenant_id, reason)
            if elapsed > timeout:
                await self.runtime.stop(tenant_id)
                return self.mark_failed(tenant_id, f"the bot did not answer /health within {timeout:g} s")
            # Often a new user waits on this: 50 ms adds little to their wait and little load.
            await asyncio.sleep(SETTLE_POLL_SECONDS)

    def settle_in_background(self, tenant_id: str) -> None:
        """`wait_until_settled` in a task of its own: whoever asked for the start answers at once, and the
        portal polls the outcome (`GET /api/v1/tenant`)."""
        task = asyncio.get_running_loop().create_task(self.wait_until_settled(tenant_id))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def aclose(self) -> None:
        """Stop waiting for the starts still settling (the bots keep starting; the reconciler follows)."""
        for task in list(self._settling):
            task.cancel()

    def mark_running(self, tenant_id: str, status: BotStatus) -> Tenant:
        with self.sessions.begin() as s:
            tenant = s.get(Tenant, tenant_id)
            if tenant is None:
                raise TenantError(f"no tenant {tenant_id!r}")
            if tenant.desired_state != "running":
                return tenant  # a stop came in meanwhile; it records its own outcome
            tenant.status = "running"
            tenant.pid = status.pid
            tenant.port = status.port or tenant.port
            tenant.failures = 0
            tenant.next_attempt_at = None
            tenant.last_error = None
            return tenant

    def mark_failed(self, tenant_id: str, reason: str) -> Tenant:
        """Record a failed start; the reconciler retries after a back-off while the tenant should run."""
        with self.sessions.begin() as s:
            tenant = s.get(Tenant, tenant_id)
            if tenant is None:
                raise TenantError(f"no tenant {tenant_id!r}")
            tenant.status = "failed"
            tenant.pid = None
            tenant.last_error = reason
            tenant.failures += 1
            delay = backoff_seconds(
                tenant.failures,
                self.settings.restart_backoff_seconds,
                self.settings.restart_backoff_max_seconds,
            )
            tenant.next_attempt_at = datetime.fromtimestamp(time.time() + delay, UTC)
            return tenant

    async def stop(self, tenant_id: str) -> Tenant:
        """Stop the bot for good (until started again). Its positions are read first, while it still
        answers, and kept for its user's read-only view (`positions_snapshot`)."""
        with self.sessions.begin() as s:
            tenant = s.get(Tenant, tenant_id)
            if tenant is None:
                raise TenantError(f"no tenant {tenant_id!r}")
            tenant.desired_state = "stopped"
        upstream = self.upstream(tenant_id)
        positions = await read_positions(upstream) if upstream is not None else None
        await self.runtime.stop(tenant_id)
        with self.sessions.begin() as s:
            tenant = s.get(Tenant, tenant_id)
            assert tenant is not None
            if positions is not None:  # else the last ones read stay, with their time
                tenant.positions_snapshot = positions
                tenant.positions_read_at = datetime.now(UTC)
            tenant.status = "stopped"
            tenant.pid = None
            tenant.next_attempt_at = None
            return tenant

    async def restart(self, tenant_id: str, *, wait: bool = True) -> Tenant:
        self.get(tenant_id)
        await self.runtime.stop(tenant_id)
        return await self.start(tenant_id, wait=wait)

    async def upgrade(self, tenant_id: str, version: str, *, wait: bool = True) -> Tenant:
        if not version or len(version) > 64 or not re.match(r"^[A-Za-z0-9._+-]+$", version):
            raise TenantError(f"version {version!r} must be 1 to 64 letters, digits, dots, dashes or pluses")
        with self.sessions.begin() as s:
            tenant = s.get(Tenant, tenant_id)
            if tenant is None:
                raise TenantError(f"no tenant {tenant_id!r}")
            tenant.version = version
            running = tenant.desired_state == "running"
        if running:
            return await self.restart(tenant_id, wait=wait)
        return self.get(tenant_id)

    async def delete(self, tenant_id: str, *, purge: bool = False) -> None:
        """Stop the bot and remove the tenant. Without `purge` its data (folder or volume) is kept and
        recorded as retained, so the reconciler's reaping spares it; `purge` removes the data too, also
        that of a tenant deleted before without it."""
        with self.sessions.begin() as s:
            tenant = s.get(Tenant, tenant_id)
            if tenant is None:
                if s.get(RetainedData, tenant_id) is None:
                    raise TenantError(f"no tenant {tenant_id!r}")
                if not purge:
                    raise TenantError(
                        f"tenant {tenant_id!r} is already deleted and its data kept; --purge deletes the data"
                    )
            else:
                tenant.desired_state = "stopped"  # so a reconciler pass in between does not restart it
        await self.runtime.remove(tenant_id, purge=purge)
        with self.sessions.begin() as s:
            # One transaction: the data is the tenant's until this commits, retained (or gone) after.
            tenant = s.get(Tenant, tenant_id)
            retained = s.get(RetainedData, tenant_id)
            if purge:
                if retained is not None:
                    s.delete(retained)
            elif tenant is not None:
                uid, tenant.uid = tenant.uid, None
                s.flush()  # the uid moves from the tenant's row to the retained one
                s.merge(
                    RetainedData(
                        tenant_id=tenant_id,
                        user_id=tenant.user_id,
                        version=tenant.version,
                        deleted_at=now(),
                        uid=uid,
                    )
                )
            if tenant is not None:
                s.delete(tenant)

    def retained(self) -> list[RetainedData]:
        """Tenants deleted without purge whose data is kept, oldest first."""
        with self.sessions() as s:
            return list(s.scalars(select(RetainedData).order_by(RetainedData.deleted_at)))

    def owns_data(self, tenant_id: str) -> bool:
        """True when data named after `tenant_id` is someone's: a tenant's, or a deleted one's kept data."""
        with self.sessions() as s:
            return s.get(Tenant, tenant_id) is not None or s.get(RetainedData, tenant_id) is not None

    def data_owners(self) -> set[str]:
        """Every id whose data must stay: the tenants' and the retained ones'."""
        with self.sessions() as s:
            tenants = set(s.scalars(select(Tenant.id)))
            return tenants | set(s.scalars(select(RetainedData.tenant_id)))


def _named_on_host(uid: int) -> bool:
    """True when the host's user or group database has an entry with this number (a real account)."""
    for lookup in (pwd.getpwuid, grp.getgrgid):
        try:
            lookup(uid)
        except (KeyError, OverflowError):
            continue
        return True
    return False


def retained_view(r: RetainedData) -> dict[str, Any]:
    """A retained record in the shape of `tenant_view`, for `basis tenants list`."""
    return {
        "id": r.tenant_id,
        "user_id": r.user_id,
        "desired_state": "deleted",
        "status": "deleted",
        "version": r.version,
        "port": None,
        "pid": None,
        "uid": r.uid,
        "restarts": 0,
        "failures": 0,
        "last_error": None,
        "limits": {},
        "started_at": None,
        "created_at": None,
        "deleted_at": as_utc(r.deleted_at).isoformat() if r.deleted_at else None,
        "data_kept": True,
    }
