"""`basis`: the operator CLI.

    basis serve                                the control plane (API, sign-in, proxy, reconciler)
    basis users list                           users and their wallets
    basis tenants list|show|create|start|stop|restart|resume|logs|upgrade|delete
    basis doctor [--network mainnet]           configuration, database, runtime, venues reachable;
                                               off the devnet: credentials, signatures, allow-lists
    basis devnet ...                           the loopback devnet
    basis backtest --data DIR [--leverage L]   the bot's own decisions over recorded market history

Tables on a terminal, `--json` for scripts. Exit codes: 0 done, 1 the operation failed (e.g. a bot
did not become healthy, a doctor check failed), 2 bad input, 3 the database or runtime cannot be reached.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from devnet.cli import app as devnet_app

if TYPE_CHECKING:  # imported where used: `basis --help` stays quick
    from orchestrator.config import ControlPlaneSettings

T = TypeVar("T")

app = typer.Typer(help="Basis operator CLI.", no_args_is_help=True)
app.add_typer(devnet_app, name="devnet")
users_app = typer.Typer(help="Users who signed in.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants: one bot each.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tenants_app, name="tenants")

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the bot answers /health.")]
console = Console(stderr=True)
# Columns of a table printed to something that is not a terminal.
PIPED_WIDTH = 200


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _settings(**overrides: Any) -> Any:
    from orchestrator.config import ControlPlaneSettings

    try:
        return ControlPlaneSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise _fail(f"invalid settings: {_settings_errors(exc)}", 2) from None


def _settings_errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())


def _service(settings: ControlPlaneSettings | None = None) -> Any:
    try:
        return _open_service(settings or _settings())
    except (SQLAlchemyError, OSError) as exc:
        raise _fail(f"the database cannot be reached ({type(exc).__name__})", 3) from None


def _open_service(settings: ControlPlaneSettings) -> Any:
    from orchestrator.app import make_runtime
    from orchestrator.database.session import open_database
    from orchestrator.tenants import TenantService

    return TenantService(settings, open_database(settings.database_url), make_runtime(settings))


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    from orchestrator.runtimes.base import RuntimeUnavailable
    from orchestrator.tenants import TenantError

    try:
        return asyncio.run(make())
    except TenantError as exc:
        raise _fail(str(exc), exc.code) from None
    except SQLAlchemyError as exc:
        raise _fail(f"the database cannot be reached ({type(exc).__name__})", 3) from None
    except (OSError, RuntimeUnavailable) as exc:
        raise _fail(f"the runtime failed: {exc}", 3) from None


def _emit(data: Any, as_json: bool, table: Table | str | None = None) -> None:
    if as_json or table is None:
        typer.echo(json.dumps(data, indent=2, default=str))
    elif isinstance(table, str):
        typer.echo(table)
    else:
        # Piped (a script, a log), rich would fold the table to 80 columns: give it room.
        Console(width=None if sys.stdout.isatty() else PIPED_WIDTH).print(table)


def _tenant_table(rows: list[dict[str, Any]]) -> Table:
    table = Table()
    # Who a tenant is never folds (an operator greps and copies these); the other columns give way.
    for name in ("tenant", "user", "email"):
        table.add_column(name, no_wrap=True)
    for name in ("desired", "status", "trading", "version", "port", "pid", "restarts", "attention"):
        table.add_column(name)
    for r in rows:
        if r.get("data_kept"):
            note = f"data kept since {(r['deleted_at'] or '')[:19]}; delete --purge removes it"
        else:
            note = r.get("attention") or ""
        table.add_row(
            r["id"],
            r["user_id"] or "-",
            r.get("email") or "-",
            r["desired_state"],
            r["status"],
            r.get("trading_state") or "-",
            r["version"],
            str(r["port"] or "-"),
            str(r["pid"] or "-"),
            str(r["restarts"]),
            Text(note, style="red" if r.get("attention") else ""),  # Text: a reason's brackets are not markup
        )
    return table


async def _bot_statuses(service: Any, tenants: list[Any]) -> dict[str, Any]:
    """Each running bot's trading state, read at once ({tenant id: BotReport})."""
    from orchestrator.bot_reports import read_status

    upstreams = {t.id: service.upstream(t.id) for t in tenants}
    running = {tid: u for tid, u in upstreams.items() if u is not None}
    reports = await asyncio.gather(*(read_status(u) for u in running.values()))
    return dict(zip(running, reports, strict=True))


def _with_bot(view: dict[str, Any], tenant: Any, report: Any) -> dict[str, Any]:
    """A tenant's view with what its bot says: trading state and whether an operator must look."""
    from orchestrator.bot_reports import attention, trading_label

    status = report.status if report is not None else None
    return {**view, "trading_state": trading_label(status), "attention": attention(tenant, report)}


async def _settle(service: Any, tenant_id: str, show: bool) -> Any:
    """Wait for the bot's start, with a progress bar on a terminal."""
    if not show:
        return await service.wait_until_settled(tenant_id)
    columns = (TextColumn(f"starting {tenant_id}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("start", total=1.0)
        return await service.wait_until_settled(tenant_id, lambda f: progress.update(task, completed=f))


def _change(
    service: Any,
    begin: Callable[[], Awaitable[Any]],
    settle: Callable[[Any], bool],
    as_json: bool,
    verb: str,
) -> None:
    """An operator's change to a tenant: `begin` it (without waiting), then wait for its bot's start
    when `settle(tenant)` says to, and say how it ended."""

    async def body() -> Any:
        tenant = await begin()
        if settle(tenant):
            tenant = await _settle(service, tenant.id, not as_json and sys.stderr.isatty())
        return tenant

    _finish(_run(body), as_json, verb)


def _finish(tenant: Any, as_json: bool, verb: str) -> None:
    from orchestrator.tenants import tenant_view

    view = tenant_view(tenant)
    _emit(view, as_json, f"{tenant.id}: {verb}, status {tenant.status}")
    if tenant.status == "failed":
        typer.echo(f"error: {tenant.id} did not start: {tenant.last_error}", err=True)
        raise typer.Exit(1)


# ---------------------------------------------------------------------- backtest
@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def backtest(ctx: typer.Context) -> None:
    """The bot's own decisions over recorded market history (`basis backtest --help` for the options)."""
    # The backtest is the bot's code (tenant_bot.backtest), which the control plane never imports: run
    # it as its own process, with this interpreter, and pass its exit code on.
    if importlib.util.find_spec("tenant_bot") is None:
        raise _fail("the bot's code (tenant_bot) is not installed here; run the backtest from a checkout", 1)
    code = subprocess.call([sys.executable, "-m", "tenant_bot.backtest", *ctx.args])
    raise typer.Exit(code)


# ---------------------------------------------------------------------- serve
@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address (default BASIS_CP_HOST, 127.0.0.1).")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default BASIS_CP_PORT, 8000; 0 picks a free one).")
    ] = None,
    broker_host: Annotated[
        str | None,
        typer.Option(help="The signing broker's internal address (default BASIS_CP_BROKER_HOST, 127.0.0.1)."),
    ] = None,
    broker_port: Annotated[
        int | None,
        typer.Option(
            help="The signing broker's port (default BASIS_CP_BROKER_PORT, 8001; 0 picks a free one)."
        ),
    ] = None,
) -> None:
    """Run the control plane until SIGTERM/SIGINT: the public listener (portal, sign-in, the proxy to
    each user's bot) and the internal one (the signing broker, for bots only). The bots keep running
    after it stops."""
    from orchestrator.app import create_app
    from orchestrator.listeners import ControlPlaneServer, bind, listener_limits, raise_descriptor_limit
    from shared.config_files import ConfigFileError
    from shared.logging import configure_logging, get_logger

    # The addresses given here are validated with the rest (a public default secret is refused on a
    # public address); the internal one is where bots reach the signing broker (broker_url's default).
    settings = _settings(host=host, port=port, broker_host=broker_host, broker_port=broker_port)
    configure_logging(settings.log_level, json=settings.log_json)
    descriptors = raise_descriptor_limit()
    # Both sockets are bound now (port 0 included), so the bots are told the broker's real address.
    sockets = []
    for what, address, number in (
        ("the control plane", settings.host, settings.port),
        ("the signing broker", settings.broker_host, settings.broker_port),
    ):
        try:
            sockets.append(bind(address, number))
        except OSError as exc:
            raise _fail(f"{what} cannot listen on {address}:{number}: {exc.strerror or exc}", 1) from None
    public_socket, internal_socket = sockets
    settings = settings.model_copy(
        update={"port": public_socket.getsockname()[1], "broker_port": internal_socket.getsockname()[1]}
    )
    try:
        application = create_app(settings)
    except ConfigFileError as exc:  # the broker's policy file
        raise _fail(str(exc), 2) from None
    except (SQLAlchemyError, OSError) as exc:
        raise _fail(f"the database cannot be reached ({type(exc).__name__})", 3) from None
    public_limits, internal_limits = listener_limits(settings, descriptors)
    get_logger(__name__).info(
        "listening",
        public=_url(settings.host, settings.port),
        internal=_url(settings.broker_host, settings.broker_port),
        max_connections=public_limits.max_connections,
        broker_max_connections=internal_limits.max_connections,
        open_files_limit=descriptors,
    )
    ControlPlaneServer(
        (application, public_limits, public_socket),
        (application.state.internal_app, internal_limits, internal_socket),
    ).run()


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


# ---------------------------------------------------------------------- users
@users_app.command("list")
def users_list(as_json: AsJson = False) -> None:
    """Every user, with their wallet addresses and tenant."""
    from sqlalchemy import select

    from orchestrator.database.models import User
    from orchestrator.users import user_view

    service = _service()
    with service.sessions() as s:
        users = list(s.scalars(select(User).order_by(User.created_at)))
    tenants = {t.user_id: t.id for t in service.all() if t.user_id}
    rows = [user_view(u, tenants.get(u.id)) for u in users]
    table = Table("user", "email", "tenant", "solana", "ethereum", "created")
    for r in rows:
        table.add_row(
            r["id"], r["email"], r["tenant_id"] or "-", r["solana_address"] or "-", r["evm_address"] or "-",
            (r["created_at"] or "")[:19],
        )  # fmt: skip
    _emit(rows, as_json, table)


# ---------------------------------------------------------------------- tenants
@tenants_app.command("list")
def tenants_list(as_json: AsJson = False) -> None:
    """Every tenant: its user's e-mail, desired state, what was last seen, port, pid, restarts; then the
    tenants deleted with their data kept (status "deleted")."""
    from orchestrator.tenants import retained_view, tenant_view

    service = _service()
    tenants = service.all()
    reports = _run(lambda: _bot_statuses(service, tenants))
    emails = _emails(service)
    rows = [_with_bot(tenant_view(t), t, reports.get(t.id)) for t in tenants]
    rows += [retained_view(r) for r in service.retained()]
    # The user's e-mail is how an operator knows who a tenant is; tenants made here have none.
    rows = [{**r, "email": emails.get(r["user_id"]) if r["user_id"] else None} for r in rows]
    _emit(rows, as_json, _tenant_table(rows))
    if any(r.get("attention") for r in rows):
        typer.echo("some tenants need an operator: basis tenants show <id>", err=True)


def _emails(service: Any) -> dict[str, str]:
    """Each user's e-mail by user id, as the sign-in recorded it (table `users`)."""
    from sqlalchemy import select

    from orchestrator.database.models import User

    with service.sessions() as s:
        return {user_id: email for user_id, email in s.execute(select(User.id, User.email))}


@tenants_app.command("show")
def tenants_show(tenant_id: str, as_json: AsJson = False) -> None:
    """One tenant: its state and why it is not trading, its bot's open positions, balances and last
    events, and its restarts."""
    from orchestrator.bot_reports import read_report
    from orchestrator.tenants import tenant_view

    service = _service()
    tenant = _run(lambda: _get_tenant(service, tenant_id))
    upstream = service.upstream(tenant_id)
    report = _run(lambda: read_report(upstream)) if upstream is not None else None
    view = _with_bot(tenant_view(tenant), tenant, report)
    bot = None
    if report is not None:
        bot = {
            "error": report.error,
            "status": report.status,
            "positions": report.live_positions,
            "balances": report.balances,
            "events": report.events,
        }
    _emit({**view, "bot": bot}, as_json, _tenant_text(view, report))


async def _get_tenant(service: Any, tenant_id: str) -> Any:
    return service.get(tenant_id)


def _tenant_text(view: dict[str, Any], report: Any) -> str:
    """`tenants show` for a person: the facts first, then what needs them, then the bot's account."""
    lines = [
        f"tenant {view['id']} (user {view['user_id'] or '-'}), version {view['version']}",
        f"  desired {view['desired_state']}, status {view['status']}, trading {view['trading_state']}",
        f"  port {view['port'] or '-'}, pid {view['pid'] or '-'}, restarts {view['restarts']}, "
        f"failed starts {view['failures']}, started {(view['started_at'] or '-')[:19]}",
        f"  attention: {view['attention'] or 'none'}",
    ]
    if report is None or report.error is not None or report.status is None:
        lines.append("  its bot was not read" + (f": {report.error}" if report and report.error else ""))
        kept = view.get("positions_when_stopped")
        if kept is not None:
            lines.append(
                f"positions when it was stopped ({(kept['as_of'] or '-')[:19]}): {len(kept['positions'])}"
            )
            for pos in kept["positions"]:
                lines.append(
                    f"  {pos.get('id')}: {pos.get('status')}, {pos.get('asset')} {pos.get('leverage')}x, "
                    f"long {pos.get('long_size')}, short {pos.get('short_size')} SOL"
                )
        return "\n".join(lines)
    status = report.status
    for pause in status.get("pause_reasons") or []:
        lines.append(f"  paused: {pause['reason']} (by {pause['by']}, {pause['at'][:19]})")
    for trip in status.get("breakers") or []:
        lines.append(f"  breaker {trip['breaker']}: {trip['reason']} ({trip['action']})")
    for outage in status.get("outages") or []:
        lines.append(f"  outage {outage['source']}: {outage['reason']} since {outage['since'][:19]}")
    positions = report.live_positions
    lines.append(f"positions: {len(positions)} open" if positions else "positions: none open")
    for pos in positions:
        lines.append(
            f"  {pos.get('id')}: {pos.get('status')}, {pos.get('asset', '')} "
            f"{pos.get('leverage', '')}x, health {pos.get('health', '-')}"
        )
    lines.append("balances:")
    for name, value in (report.balances or {}).items():
        lines.append(f"  {name}: {json.dumps(value, default=str)[:160]}")
    lines.append(f"last {len(report.events)} events:")
    for event in report.events:
        lines.append(f"  {str(event.get('at', ''))[:19]} {event.get('kind')}: {event.get('message')}")
    return "\n".join(lines)


@tenants_app.command("create")
def tenants_create(
    tenant_id: Annotated[str | None, typer.Argument(help="Id (default: a random t-xxxxxxxxxxxx).")] = None,
    start: Annotated[bool, typer.Option("--start/--no-start", help="Start its bot now.")] = True,
    version: Annotated[str | None, typer.Option(help="Bot version (default: the installed one).")] = None,
    wait: Wait = True,
    as_json: AsJson = False,
) -> None:
    """Provision a tenant (no user) and start its bot."""
    service = _service()
    begin = partial(service.provision, tenant_id, version=version, start=start, wait=False)
    _change(service, begin, lambda _: start and wait, as_json, "created")


@tenants_app.command("start")
def tenants_start(tenant_id: str, wait: Wait = True, as_json: AsJson = False) -> None:
    """Start a tenant's bot (desired state: running)."""
    service = _service()
    _change(service, partial(service.start, tenant_id, wait=False), lambda _: wait, as_json, "started")


@tenants_app.command("stop")
def tenants_stop(
    tenant_id: str,
    force: Annotated[bool, typer.Option("--force", help="Stop it even while it holds positions.")] = False,
    as_json: AsJson = False,
) -> None:
    """Stop a tenant's bot gracefully (desired state: stopped). A bot holding positions is stopped only
    with --force (or a yes on a terminal): its legs stay on the venues, unwatched, until it starts."""
    from orchestrator.bot_reports import read_report

    service = _service()
    _run(lambda: _get_tenant(service, tenant_id))
    upstream = service.upstream(tenant_id)
    held = _run(lambda: read_report(upstream)).live_positions if upstream is not None and not force else []
    if held:
        said = (
            f"{tenant_id} holds {len(held)} open position(s) ({', '.join(str(p.get('id')) for p in held)}): "
            "stopped, its bot no longer watches them (no breaker, no close) until it starts again"
        )
        if not (sys.stdin.isatty() and typer.confirm(f"{said}. Stop it anyway?", err=True)):
            raise _fail(f"{said}; --force stops it anyway", 2)
    _finish(_run(lambda: service.stop(tenant_id)), as_json, "stopped")


@tenants_app.command("resume")
def tenants_resume(tenant_id: str, as_json: AsJson = False) -> None:
    """After a review: lift the bot's pauses and clear its halt, so it trades again."""
    from orchestrator.bot_reports import BotUnreachable, resume, trading_label

    service = _service()
    _run(lambda: _get_tenant(service, tenant_id))
    upstream = service.upstream(tenant_id)
    if upstream is None:
        raise _fail(f"{tenant_id}'s bot is not running: basis tenants start {tenant_id} first", 1)
    try:
        status = _run(lambda: resume(upstream))
    except BotUnreachable as exc:
        raise _fail(f"{tenant_id}: {exc}", 1) from None
    _emit(status, as_json, f"{tenant_id}: resumed, trading {trading_label(status)}")


@tenants_app.command("restart")
def tenants_restart(tenant_id: str, wait: Wait = True, as_json: AsJson = False) -> None:
    """Stop, then start a tenant's bot."""
    service = _service()
    _change(service, partial(service.restart, tenant_id, wait=False), lambda _: wait, as_json, "restarted")


@tenants_app.command("upgrade")
def tenants_upgrade(tenant_id: str, version: str, wait: Wait = True, as_json: AsJson = False) -> None:
    """Move a tenant to another bot version (restarts a running bot)."""
    service = _service()
    begin = partial(service.upgrade, tenant_id, version, wait=False)

    def settle(tenant: Any) -> bool:  # a stopped tenant stays stopped: no start to wait for
        return wait and tenant.desired_state == "running"

    _change(service, begin, settle, as_json, f"upgraded to {version}")


@tenants_app.command("logs")
def tenants_logs(
    tenant_id: str,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, max=100000, help="How many lines.")] = 100,
    as_json: AsJson = False,
) -> None:
    """The last lines of a tenant's bot log."""
    service = _service()

    async def body() -> str:
        service.get(tenant_id)
        return await service.runtime.logs(tenant_id, lines)

    text = _run(body)
    if as_json:
        _emit({"tenant_id": tenant_id, "lines": text.splitlines()}, True)
    else:
        typer.echo(text, nl=False)


@tenants_app.command("delete")
def tenants_delete(
    tenant_id: str,
    purge: Annotated[bool, typer.Option(help="Also delete its data: database, keystore, log.")] = False,
    as_json: AsJson = False,
) -> None:
    """Stop a tenant's bot and remove the tenant. Its data stays unless --purge: listed as "deleted",
    taken back by `basis tenants create` with the same id, removed by `delete <id> --purge`."""
    service = _service()
    _run(lambda: service.delete(tenant_id, purge=purge))
    said = "deleted with its data" if purge else f"deleted, data kept (delete {tenant_id} --purge removes it)"
    _emit({"id": tenant_id, "deleted": True, "purged": purge}, as_json, f"{tenant_id}: {said}")


# ---------------------------------------------------------------------- doctor
def _check(name: str, probe: Callable[[], str]) -> dict[str, Any]:
    from orchestrator.preflight import CheckFailed

    try:
        return {"name": name, "ok": True, "detail": probe()}
    except CheckFailed as failed:  # its sentence says what is missing and the fix
        return {"name": name, "ok": False, "detail": str(failed)}
    except Exception as exc:  # every failure is a finding to report, not a crash
        return {"name": name, "ok": False, "detail": f"{type(exc).__name__}: {exc}"[:300]}


def _checks(network: str | None = None) -> list[dict[str, Any]]:
    from orchestrator import preflight
    from orchestrator.config import ControlPlaneSettings

    try:
        settings = ControlPlaneSettings(**({"network": network} if network else {}))
    except ValidationError as exc:
        return [{"name": "configuration", "ok": False, "detail": _settings_errors(exc)}]
    checks = [
        _check("configuration", lambda: f"network {settings.network}, runtime {settings.runtime}"),
        _check("network", lambda: preflight.network_summary(settings.facts)),
        _check("database", lambda: _database_probe(settings)),
        _check("runtime", lambda: _runtime_probe(settings)),
        _check("bot code", lambda: _bot_code_probe(settings)),
        _check("control plane", lambda: _control_plane_probe(settings)),
        _check("bots", lambda: _bots_probe(settings)),
    ]
    for probe in _venue_probes(settings):
        checks.append(_check(probe.name, partial(_reach, probe)))
    if settings.network != "devnet" or network is not None:
        from orchestrator.broker import load_policy

        checks += [
            _check("privy credentials", partial(preflight.credentials_privy, settings)),
            _check("asgard credentials", partial(preflight.credentials_asgard, settings)),
            _check("hyperliquid signature", partial(preflight.hyperliquid_signature, settings)),
            _check("allow-lists", lambda: preflight.allow_lists(settings, load_policy(settings))),
        ]
    return checks


@dataclass(frozen=True)
class VenueProbe:
    """A request a venue answers 200 to when it is up and well, so a refusal means something."""

    name: str
    setting: str  # the variable that names its URL, for the fix
    method: str
    url: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _venue_probes(settings: ControlPlaneSettings) -> list[VenueProbe]:
    key = settings.asgard_api_key
    asgard_headers = {"X-API-Key": key.get_secret_value()} if key else {}
    return [
        # allMids: Hyperliquid's lightest read (weight 2), public, 200 on every network.
        VenueProbe(
            "hyperliquid", "BASIS_CP_HYPERLIQUID_URL", "POST", settings.hyperliquid_url.rstrip("/") + "/info",
            {"type": "allMids"},
        ),
        VenueProbe(
            "asgard", "BASIS_CP_ASGARD_URL", "GET", settings.asgard_url.rstrip("/") + "/markets",
            headers=asgard_headers,
        ),
        VenueProbe(
            "solana", "BASIS_CP_SOLANA_RPC_URL", "POST", settings.solana_rpc_url,
            {"jsonrpc": "2.0", "id": 1, "method": "getHealth"},
        ),
        VenueProbe(
            "arbitrum", "BASIS_CP_ARBITRUM_RPC_URL", "POST", settings.arbitrum_rpc_url,
            {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        ),
        VenueProbe(
            "privy", "BASIS_CP_PRIVY_API_URL", "GET",
            f"{settings.privy_api_url.rstrip('/')}/v1/apps/{settings.privy_app_id}/jwks.json",
        ),
    ]  # fmt: skip


def _reach(probe: VenueProbe) -> str:
    """Whether the venue answers, in words. Any answer proves it is up: a refusal of the probe (a 4xx)
    is reachable too, said as such; a server error, a JSON-RPC node that says it is unhealthy, or no
    answer at all fails the check with why and what to look at."""
    import httpx

    from orchestrator import preflight

    where = f"{probe.method} {probe.url}"
    try:
        r = httpx.request(
            probe.method, probe.url, json=probe.body, headers=probe.headers, timeout=preflight.TIMEOUT_S
        )
    except httpx.TimeoutException:
        raise preflight.CheckFailed(
            f"{probe.name} did not answer {where} within {preflight.TIMEOUT_S:g} s: it is down or "
            f"overloaded, or a firewall drops the request (check {probe.setting})"
        ) from None
    except httpx.ConnectError as exc:
        raise preflight.CheckFailed(
            f"nothing answers at {probe.url} ({_connect_reason(exc)}): is {probe.name} up, and is "
            f"{probe.setting} right?"
        ) from None
    except httpx.HTTPError as exc:
        raise preflight.CheckFailed(f"{probe.name} could not be read at {where}: {exc}") from None
    reason = r.reason_phrase.lower() or "no reason given"
    if r.status_code >= 500:
        raise preflight.CheckFailed(
            f"{probe.name} answers at {probe.url} but is failing ({reason}, HTTP {r.status_code}): "
            "try again later, or check its status page"
        )
    if r.status_code == 429:
        return f"reachable at {probe.url}; it is limiting this address's requests now (too many requests)"
    if r.status_code >= 400:
        return f"reachable at {probe.url}; it refused the probe's request ({reason}), which proves it is up"
    unhealthy = _rpc_error(r)
    if unhealthy is not None:
        raise preflight.CheckFailed(f"{probe.name} answers at {probe.url} but reports an error: {unhealthy}")
    return f"reachable at {probe.url}"


def _connect_reason(exc: Exception) -> str:
    text = str(exc).lower()
    if "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
        return "its host name does not resolve"
    if "refused" in text:
        return "the connection was refused"
    return str(exc) or type(exc).__name__


def _rpc_error(r: Any) -> str | None:
    """A JSON-RPC node's own error (Solana's getHealth says "Node is unhealthy" when it lags)."""
    try:
        body = r.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) and "jsonrpc" in body else None
    if not error:
        return None
    return str(error.get("message") if isinstance(error, dict) else error)[:200]


def _database_probe(settings: ControlPlaneSettings) -> str:
    from sqlalchemy import text

    from orchestrator.database.session import open_database

    db = open_database(settings.database_url)
    with db() as s:
        s.execute(text("SELECT 1"))
    return f"{db.kw['bind'].url.get_backend_name()} reachable, schema up to date"


def _runtime_probe(settings: ControlPlaneSettings) -> str:
    if settings.runtime == "swarm":
        return _swarm_probe(settings)
    if settings.runtime == "docker":
        from orchestrator.runtimes.docker import DockerRuntime

        engine = DockerRuntime(image_repo=settings.docker_image_repo)
        if not asyncio.run(engine.ping()):
            raise RuntimeError("the Docker engine does not answer (is dockerd running?)")
        image = f"{settings.docker_image_repo}:{settings.bot_version}"
        return f"docker runtime, engine answers, image {image}"
    root = settings.data_root
    root.mkdir(parents=True, exist_ok=True)
    probe = root / ".doctor"
    probe.write_text("ok")
    probe.unlink()
    import importlib.util

    if importlib.util.find_spec("tenant_bot.main") is None:
        raise RuntimeError("the bot (tenant_bot) is not installed")
    return f"process runtime, {root.resolve()} writable"


def _swarm_probe(settings: ControlPlaneSettings) -> str:
    from orchestrator.runtimes.swarm import SwarmRuntime

    swarm = SwarmRuntime(image_repo=settings.docker_image_repo)
    if not asyncio.run(swarm.ping()):
        raise RuntimeError("the Docker engine does not answer (is dockerd running?)")
    if not asyncio.run(swarm.swarm_active()):
        raise RuntimeError("this engine is not a swarm manager (docker swarm init, or join as one)")
    image = f"{settings.docker_image_repo}:{settings.bot_version}"
    if not asyncio.run(swarm.no_new_privileges_enforced(image)):
        raise RuntimeError(
            "this engine (API < 1.46) drops no-new-privileges from services: start dockerd "
            "with --no-new-privileges (or set it in daemon.json) on every node"
        )
    return f"swarm runtime, manager answers, no-new-privileges enforced, image {image}"


def _control_plane_probe(settings: ControlPlaneSettings) -> str:
    """`basis serve` answering here, or not running: before its first start that is no fault."""
    import httpx

    url = _url(settings.host if settings.host not in ("0.0.0.0", "::") else "127.0.0.1", settings.port)
    try:
        r = httpx.get(f"{url}/health", timeout=3.0)
    except httpx.ConnectError:
        return f"not running at {url} (basis serve starts it; bots keep running without it, unwatched)"
    if r.status_code != 200:
        raise RuntimeError(f"the control plane at {url} answered /health with HTTP {r.status_code}")
    return f"answers at {url}"


def _bots_probe(settings: ControlPlaneSettings) -> str:
    """Every bot that should run answers, and none needs an operator (halted, failing, silent)."""
    from orchestrator.bot_reports import attention

    service = _open_service(settings)  # a database that cannot be reached is the database check's
    wanted = [t for t in service.all() if t.desired_state == "running"]
    reports = asyncio.run(_bot_statuses(service, wanted))
    needs = {t.id: why for t in wanted if (why := attention(t, reports.get(t.id)))}
    if needs:
        listed = "; ".join(f"{tid}: {why}" for tid, why in needs.items())
        count = f"{len(needs)} of {len(wanted)} bots need an operator"
        raise RuntimeError(f"{count} (basis tenants show): {listed}")
    return f"{len(wanted)} bot(s) should run; each answers and none needs an operator"


def _bot_code_probe(settings: ControlPlaneSettings) -> str:
    from orchestrator.runtimes.bot_code import closed_bot_code
    from shared.process_hardening import can_switch_users

    if settings.runtime != "process" or not can_switch_users():
        return "bots do not run as users of their own from this interpreter: nothing to check"
    closed = closed_bot_code()
    if closed is not None and settings.network != "devnet":
        raise RuntimeError(closed.sentence())  # the process runtime refuses to start bots
    return f"warning: {closed.sentence()}" if closed else "the bots' users can read all their code"


@app.command()
def doctor(
    network: Annotated[
        str | None,
        typer.Option(
            help="Check readiness for this network (devnet, testnet, mainnet) instead of BASIS_CP_NETWORK: "
            "also the credentials, that signatures recover to their signer, and the allow-lists."
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Check the configuration, the database, the runtime and that every venue answers; outside the
    devnet (or with --network) also the Privy and Asgard credentials, a signed Hyperliquid probe and
    the allow-lists. Exits 2 when the settings cannot be used, 1 when another check fails."""
    from shared.networks import UnknownNetwork, network_facts

    if network is not None:
        try:
            network_facts(network)
        except UnknownNetwork as exc:
            raise _fail(f"--network: {exc}", 2) from None
    checks = _checks(network)
    ok = all(c["ok"] for c in checks)
    table = Table("check", "ok", "detail")
    for c in checks:
        table.add_row(c["name"], "[green]yes[/]" if c["ok"] else "[red]no[/]", c["detail"])
    _emit({"ok": ok, "checks": checks}, as_json, table)
    if not ok:
        failed = [c["name"] for c in checks if not c["ok"]]
        typer.echo(
            f"doctor: {len(failed)} check(s) failed: {', '.join(failed)}; see each one's fix above", err=True
        )
        # Settings that cannot be used are bad input (2), like for every other command.
        raise typer.Exit(2 if checks[0]["name"] == "configuration" and not checks[0]["ok"] else 1)


def main() -> None:
    from shared.logging import configure_logging
    from shared.process_hardening import harden_process

    harden_process()  # umask 077, not dumpable, no core files: before any command reads a secret
    configure_logging()  # log lines to stderr, scrubbed, never into a command's --json (serve: its own level)
    app()


if __name__ == "__main__":
    main()
