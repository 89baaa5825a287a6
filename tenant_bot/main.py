"""`basis-bot`: run one user's bot from its settings (devnet by default; real venues by configuration).

    basis-bot init                 create the bot's wallets (if missing) and print their addresses
    basis-bot run [--ticks N]      recover unfinished executions, then tick until SIGTERM/SIGINT
    basis-bot open --capital 1000  open one position now (manual entry) and wait for it to finish
    basis-bot close POSITION_ID    close one position and wait for it to finish
    basis-bot status               positions, executions, trading state and recent events, as JSON

Exit codes: 0 done, 1 the bot refused or the execution did not complete, 2 bad input,
3 a venue or the database could not be reached.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import httpx
import typer
from pydantic import ValidationError

from shared.logging import configure_logging
from shared.retry import RetriesExhausted

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Run one Basis bot.")


def _settings() -> Any:
    from tenant_bot.config import BotSettings

    try:
        return BotSettings()
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        typer.echo(f"error: invalid settings: {fields}", err=True)
        raise typer.Exit(2) from None


def _print(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


async def _with_bot(settings: Any, body: Any) -> int:
    from tenant_bot.bot import Bot, BotError

    bot = Bot(settings)
    try:
        await bot.start()
        return int(await body(bot) or 0)
    except BotError as exc:
        typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except (httpx.HTTPError, RetriesExhausted, OSError) as exc:
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
        ex = await bot.open_position(cap, asset=asset, protocol=protocol, leverage=lev)
        _print({"execution": ex.id, "position": ex.position_id, "state": ex.state, "outcome": ex.outcome})
        return 0 if ex.outcome == "completed" else 1

    sys.exit(asyncio.run(_with_bot(settings, body)))


@app.command()
def close(position_id: str) -> None:
    """Close one position (works whatever the pause state)."""
    settings = _settings()
    configure_logging(settings.log_level, json=settings.log_json)

    async def body(bot: Any) -> int:
        ex = await bot.close_position(position_id)
        _print({"execution": ex.id, "position": ex.position_id, "state": ex.state, "outcome": ex.outcome})
        return 0 if ex.outcome == "completed" else 1

    sys.exit(asyncio.run(_with_bot(settings, body)))


@app.command()
def status() -> None:
    """Positions, executions, trading state and the latest events, as JSON (reads the database only)."""
    settings = _settings()
    configure_logging(settings.log_level, json=settings.log_json)
    from tenant_bot.bot import read_status

    _print(read_status(settings))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
