"""`basis-bot`: run one user's bot from its settings (devnet by default; real venues by configuration).

    basis-bot init                 create the bot's wallets (if missing) and print their addresses
                                   (with BASIS_SIGNER=broker: print the Privy wallets' addresses)
    basis-bot run [--ticks N]      recover unfinished executions, then tick until SIGTERM/SIGINT
    basis-bot open --capital 1000  open one position now (manual entry) and wait for it to finish
    basis-bot close POSITION_ID    close one position and wait for it to finish
    basis-bot status               positions, executions, trading state and recent events, as JSON
    basis-bot serve                the bot loop and its dashboard API (port 8080) in one process

Exit codes: 0 done, 1 the bot refused or the execution did not complete, 2 bad input,
3 a venue or the database could not be reached.

Every command starts hardened (`shared/process_hardening.py`: umask 077, not dumpable, no core
files) and tightens the bot's folder (no group or other access to anything in it). Started by the
process runtime, `serve` first takes the bot's identity lock (`shared/runtime_lock.py`) and, when the
runtime names a user (`BASIS_RUN_AS_UID`), does its imports and becomes that user before it reads
its settings or touches its folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import signal
import stat
import sys
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from shared.launch import variable
from shared.logging import configure_logging
from shared.process_hardening import RUN_AS_ENV, drop_privileges, harden_process, private_tree
from shared.runtime_lock import LockHeld, hold_inherited
from tenant_bot.venues.outages import UNREACHABLE

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Run one Basis bot.")

# What `serve` imports on its way to answering /health with the broker signer. The spare imports them
# before it knows its tenant, and a bot that drops to its own user imports them while still root: an
# interpreter installed where only root may read (pyenv under a 0700 /root) then still works. Kept
# complete by two tests: every standard-library module the bot's code imports anywhere is imported by
# then (tests/unit/tenant_bot/test_preload.py, from the source), and a bot taken through its paths
# imports none later (tests/integration/tenant_bot/test_preload.py: what the standard library and the
# libraries load lazily). Libraries' own late imports need their folders readable: the control plane
# checks that (orchestrator/runtimes/bot_code.py).
SERVE_IMPORTS = (
    "tenant_bot.config",
    "tenant_bot.bot",
    "tenant_bot.api",
    "tenant_bot.api.routes.balances",
    "tenant_bot.api.routes.candles",
    "tenant_bot.api.routes.control",
    "tenant_bot.api.routes.events",
    "tenant_bot.api.routes.health",
    "tenant_bot.api.routes.pages",
    "tenant_bot.api.routes.positions",
    "tenant_bot.api.routes.rates",
    "tenant_bot.api.routes.settings",
    "tenant_bot.signing.broker",
    "tenant_bot.notifications",
    "tenant_bot.storage.models",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.schema",
    "uvicorn",
    "uvicorn.loops.auto",
    "uvicorn.protocols.http.auto",
    "uvicorn.lifespan.off",
    # Loaded on first use by the standard library: a host name handed to getaddrinfo, and the thread
    # pool asyncio resolves it in (a webhook's host).
    "encodings.idna",
    "concurrent.futures.thread",
)
# A local signer's libraries stay out of SERVE_IMPORTS (only operator-made tenants use them, and they
# cost memory in every bot): imported for the bots whose settings ask for that signer.
LOCAL_SIGNER_IMPORTS = ("tenant_bot.signing.local",)


def preload(env: Mapping[str, str] | None) -> None:
    """Import what `serve` will need: SERVE_IMPORTS (env None), or what a bot with these settings
    needs beyond them."""
    if env is None:
        names: tuple[str, ...] = SERVE_IMPORTS
    else:
        names = LOCAL_SIGNER_IMPORTS if env.get(variable("signer"), "local") != "broker" else ()
    for name in names:
        importlib.import_module(name)


def _take_identity() -> None:
    """What the process runtime asks of a bot it starts cold: hold the tenant's lock (exit 1 when
    another bot of the tenant holds it), then, when it names a user, become that user."""
    try:
        hold_inherited()
    except LockHeld:
        typer.echo("error: another bot of this tenant runs (it holds the tenant's lock)", err=True)
        raise typer.Exit(1) from None
    uid = os.environ.pop(RUN_AS_ENV, None)
    if uid is not None:
        preload(None)
        preload(os.environ)
        drop_privileges(int(uid))


def _settings(**overrides: Any) -> Any:
    from tenant_bot.config import BotSettings

    try:
        settings = BotSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        typer.echo(f"error: invalid settings: {fields}", err=True)
        raise typer.Exit(2) from None
    if settings.data_dir.is_dir():
        # An older version left its files 0644: nobody but the bot's user may read any of them, and
        # the keystore, a secret replaced whole and never written in place, is read-only (0400).
        private_tree(settings.data_dir)
        with contextlib.suppress(FileNotFoundError):
            if stat.S_IMODE(settings.keystore_path.lstat().st_mode) != 0o400:
                settings.keystore_path.chmod(0o400)
    return settings


def _print(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _exit_code(exc: Exception) -> int:
    """The exit code of one of the bot's errors (see `tenant_bot/errors.py`)."""
    from tenant_bot.errors import InvalidRequest, Misconfigured, NotFound, Unavailable

    if isinstance(exc, Unavailable):
        return 3
    if isinstance(exc, InvalidRequest | NotFound | Misconfigured):
        return 2
    return 1


async def _with_bot(settings: Any, body: Any) -> int:
    from tenant_bot.bot import Bot
    from tenant_bot.errors import BotError

    bot = Bot(settings)
    try:
        await bot.start()
        return int(await body(bot) or 0)
    except BotError as exc:
        typer.echo(f"error: {exc}", err=True)
        return _exit_code(exc)
    except UNREACHABLE as exc:
        typer.echo(
            f"error: a venue or the database could not be reached ({type(exc).__name__}: {exc})", err=True
        )
        return 3
    finally:
        await bot.aclose()


@app.command()
def init() -> None:
    """Create the bot's wallets if they do not exist, and print their public addresses."""
    settings = _settings()
    configure_logging(settings.log_level, json=settings.log_json)
    if settings.signer == "broker":
        # The user's Privy wallets, held by the control plane: nothing to create here.
        _print({"solana": settings.solana_address, "evm": settings.evm_address, "signer": "broker"})
        return
    from tenant_bot.signing.local import LocalSigner

    signer = LocalSigner.load_or_create(
        settings.keystore_path, settings.tenant_id, settings.server_secret_value()
    )
    _print({"solana": signer.solana_address, "evm": signer.evm_address})


@app.command()
def run(
    ticks: Annotated[int, typer.Option(help="Stop after this many ticks (0 = until a signal).")] = 0,
) -> None:
    """Recover, then run the bot loop until SIGTERM or SIGINT."""
    settings = _settings()
    configure_logging(settings.log_level, json=settings.log_json)

    async def body(bot: Any) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await bot.run(stop, max_ticks=ticks or None)
        return 0

    sys.exit(asyncio.run(_with_bot(settings, body)))


def _decimal(text: str, name: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        typer.echo(f"error: {name} must be a number, got {text!r}", err=True)
        raise typer.Exit(2) from None
    if not value.is_finite() or value <= 0:
        typer.echo(f"error: {name} must be a positive number, got {text!r}", err=True)
        raise typer.Exit(2)
    return value


@app.command("open")
def open_position(
    capital: Annotated[str, typer.Option(help="USDC of capital to use, both legs together.")],
    asset: Annotated[str | None, typer.Option(help="Collateral: SOL, jitoSOL, mSOL, jupSOL, INF.")] = None,
    protocol: Annotated[str | None, typer.Option(help="kamino, marginfi, solend or drift.")] = None,
    leverage: Annotated[str | None, typer.Option(help="2 to 4 (default: the settings').")] = None,
) -> None:
    """Open one position now, through the same checks as an automatic entry."""
    settings = _settings()
    configure_logging(settings.log_level, json=settings.log_json)
    cap = _decimal(capital, "--capital")
    lev = _decimal(leverage, "--leverage") if leverage is not None else None

    async def body(bot: Any) -> int:
        ex = await bot.trader.open_position(cap, asset=asset, protocol=protocol, leverage=lev)
        _print({"execution": ex.id, "position": ex.position_id, "state": ex.state, "outcome": ex.outcome})
        return 0 if ex.outcome == "completed" else 1

    sys.exit(asyncio.run(_with_bot(settings, body)))


@app.command()
def close(position_id: str) -> None:
    """Close one position (works whatever the pause state)."""
    settings = _settings()
    configure_logging(settings.log_level, json=settings.log_json)

    async def body(bot: Any) -> int:
        ex = await bot.trader.close_position(position_id)
        _print({"execution": ex.id, "position": ex.position_id, "state": ex.state, "outcome": ex.outcome})
        return 0 if ex.outcome == "completed" else 1

    sys.exit(asyncio.run(_with_bot(settings, body)))


@app.command()
def status() -> None:
    """Positions, executions, trading state and the latest events, as JSON (reads the database only)."""
    settings = _settings()
    configure_logging(settings.log_level, json=settings.log_json)
    from tenant_bot.status import read_report

    _print(read_report(settings))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default BASIS_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default BASIS_API_PORT; 0 = any free).")] = None,
) -> None:
    """Run the bot loop and its dashboard API in one event loop until SIGTERM or SIGINT."""
    _take_identity()
    settings = _settings(api_host=host)  # validated with the address it will listen on
    configure_logging(settings.log_level, json=settings.log_json)
    token = settings.api_token_value()
    if token is None:
        typer.echo("error: BASIS_API_TOKEN is required outside the devnet", err=True)
        raise typer.Exit(2)
    host = host or settings.api_host
    port = settings.api_port if port is None else port
    sys.exit(asyncio.run(_serve(settings, token.get_secret_value(), host, port)))


async def _serve(settings: Any, token: str, host: str, port: int) -> int:
    import uvicorn

    from tenant_bot.api import ApiContext, create_app
    from tenant_bot.bot import Bot
    from tenant_bot.errors import BotError

    class Server(uvicorn.Server):
        # The process handles SIGTERM/SIGINT itself: stop the bot loop first, then the server.
        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            yield

        async def main_loop(self) -> None:
            # uvicorn wakes ten times a second to refresh its Date header and look for an exit: that
            # was most of an idle bot's CPU. Once a second does both (each tick a multiple of 10, the
            # header's turn), and `stop_serving` ends the wait at once.
            self.exit_now = asyncio.Event()
            counter = 0
            while not await self.on_tick(counter):
                counter = (counter + 10) % 864000
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.exit_now.wait(), timeout=1.0)

        def stop_serving(self) -> None:
            self.should_exit = True
            exit_now = getattr(self, "exit_now", None)
            if exit_now is not None:
                exit_now.set()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bot = Bot(settings)
    try:
        await bot.start()
    except BotError as exc:
        typer.echo(f"error: {exc}", err=True)
        await bot.aclose()
        return _exit_code(exc)
    except UNREACHABLE as exc:
        typer.echo(f"error: a venue or the database could not be reached ({type(exc).__name__})", err=True)
        await bot.aclose()
        return 3
    context = ApiContext(bot, token.encode(), settings.sse_heartbeat_seconds)
    context.start()
    config = uvicorn.Config(
        create_app(context),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    server = Server(config)
    server_task = asyncio.create_task(server.serve(), name="api")
    stop_task = asyncio.create_task(stop.wait())
    code = 0
    while not server.started and not server_task.done():
        await asyncio.sleep(0.01)
    if server.started:
        bound = server.servers[0].sockets[0].getsockname()
        typer.echo(json.dumps({"url": f"http://{bound[0]}:{bound[1]}"}))
        bot_task = asyncio.create_task(bot.run(stop), name="bot-loop")
        await asyncio.wait({server_task, stop_task, bot_task}, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        # Graceful: the loop lets executions in flight reach a journaled point, while the API
        # still answers (a user can watch); then the streams end and the server stops.
        with contextlib.suppress(Exception):
            await bot_task
    else:
        typer.echo(f"error: cannot listen on {host}:{port}", err=True)
        code = 3
    context.hub.close()
    server.stop_serving()
    with contextlib.suppress(BaseException):
        await server_task
    stop_task.cancel()
    await context.aclose()
    await bot.aclose()
    return code


def main() -> None:
    harden_process()
    app()


if __name__ == "__main__":
    main()
