"""`basis devnet ...`: start the devnet, and wrap each admin endpoint.

Exit codes: 0 done; 1 the devnet refused the request (the message says why); 2 bad usage;
3 the devnet is not reachable.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from devnet.config import SCENARIOS, VENUES, DevnetConfig, Ports
from shared.networks import NETWORKS, network_facts

app = typer.Typer(help="The loopback devnet: venues, chains and Privy, emulated.", no_args_is_help=True)

EXIT_REFUSED = 1
EXIT_UNREACHABLE = 3

BasePort = Annotated[
    int | None,
    typer.Option(
        "--base-port",
        help="Use ports BASE..BASE+5 for admin, hyperliquid, "
        "asgard, privy, solana, arbitrum (default 3000-3003, 8899, 8547).",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")]


def _ports(base_port: int | None) -> Ports:
    try:
        return Ports.from_base(base_port) if base_port is not None else Ports.default()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
def up(
    seed: Annotated[int, typer.Option(help="Seed of prices, rates, faults and devnet keys.")] = 7,
    speed: Annotated[
        float, typer.Option(help="Simulated seconds per real second (360: an hour every 10 s).")
    ] = 360.0,
    scenario: Annotated[str, typer.Option(help=f"Scenario at start: {', '.join(SCENARIOS)}.")] = "calm",
    crash_speed: Annotated[
        float,
        typer.Option(
            help="The clock's speed while a flash crash falls (12: a simulated minute every 5 s, one bot "
            "tick); the devnet's speed comes back after."
        ),
    ] = DevnetConfig.crash_speed,
    base_port: BasePort = None,
    only: Annotated[str | None, typer.Option(help="Comma-separated subset of services to run.")] = None,
    sol_price: Annotated[str, typer.Option(help="SOL price at start, USD.")] = "150",
    hyperliquid_weight_per_minute: Annotated[
        int,
        typer.Option(
            help="REST weight per client IP per minute on Hyperliquid before HTTP 429 (the venue's: 1200)."
        ),
    ] = 1200,
    history: Annotated[
        str | None,
        typer.Option(
            help="Replay recorded history from this folder (e.g. tenant_bot/backtest/history-sol-2025): "
            "SOL's price, funding and Kamino's rates follow it; --speed 3600 is one recorded hour a second."
        ),
    ] = None,
    history_from: Annotated[
        str | None, typer.Option(help="First recorded day to replay, YYYY-MM-DD (with --history).")
    ] = None,
    history_to: Annotated[
        str | None, typer.Option(help="Last recorded day to replay, YYYY-MM-DD (with --history).")
    ] = None,
    bridge_delay_s: Annotated[
        float,
        typer.Option(
            help="Real seconds between a USDC transfer to the Hyperliquid bridge and its credit "
            "(a long one stands for a stuck bridge)."
        ),
    ] = 1.0,
    hyperliquid_network: Annotated[
        str,
        typer.Option(
            help="How the Hyperliquid emulator verifies signatures: testnet (source b, hyperliquidChain "
            "Testnet, as the SDK signs for any URL but api.hyperliquid.xyz) or mainnet (source a, Mainnet), "
            "for bots run with BASIS_NETWORK=mainnet against it."
        ),
    ] = "testnet",
    privy_allowed_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="An origin Privy's client API answers (repeat for more; scheme://host:* = any port). "
            "Default: http://127.0.0.1:8000 and http://localhost:8000, the control plane of `make run`."
        ),
    ] = None,
) -> None:
    """Start the devnet in the foreground and print every URL."""
    from devnet.server import Devnet
    from shared.logging import configure_logging

    if hyperliquid_network not in ("testnet", "mainnet"):
        typer.echo(
            f"error: --hyperliquid-network is testnet or mainnet, not {hyperliquid_network!r}", err=True
        )
        raise typer.Exit(2)
    try:
        config = DevnetConfig(
            seed=seed,
            speed=speed,
            scenario=scenario,
            crash_speed=crash_speed,
            ports=_ports(base_port),
            sol_price=Decimal(sol_price),
            hyperliquid_weight_per_minute=hyperliquid_weight_per_minute,
            history=Path(history) if history else None,
            history_from=_day(history_from, "--history-from"),
            history_to=_day(history_to, "--history-to"),
            bridge_delay_s=bridge_delay_s,
            hyperliquid_mainnet=network_facts(hyperliquid_network).hyperliquid_mainnet,
            **({"privy_allowed_origins": tuple(privy_allowed_origin)} if privy_allowed_origin else {}),
        )
        devnet = Devnet(config, only.split(",") if only else None)
        if scenario != "calm":
            devnet.set_scenario(scenario)
    except (ValueError, ArithmeticError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging("info")

    async def main() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(devnet.serve(ready))
        waiter = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            await task  # raises the start-up error
            return
        _banner(devnet)
        await task

    try:
        asyncio.run(main())
    except OSError as exc:
        typer.echo(f"error: could not start the devnet: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} must be a day, YYYY-MM-DD, got {text!r}") from None


def _banner(devnet: Any) -> None:
    cfg = devnet.config
    urls = devnet.urls()
    hours_per_10s = cfg.speed * 10 / 3600
    lines = [
        "",
        f"Basis devnet is up  (seed {cfg.seed}; speed {cfg.speed:g}x = {hours_per_10s:g} simulated hours "
        f"every 10 s; scenario {devnet.market.scenario.name})",
        "",
    ]
    if devnet.replay is not None:
        span = devnet.replay.snapshot(devnet.replay.start_ms)
        lines[-1:-1] = [f"Replaying recorded history {span['from']} to {span['to']} ({cfg.history})"]
    labels = {
        "hyperliquid": "Hyperliquid   (POST /info, /exchange, websocket /ws; signatures as "
        + ("mainnet)" if cfg.hyperliquid_mainnet else "testnet)"),
        "asgard": "Asgard        (margin trading API base URL)",
        "privy": "Privy         (auth API /api/v1/..., REST API /v1/...)",
        "solana": "Solana RPC    (JSON-RPC)",
        "arbitrum": f"Arbitrum RPC  (JSON-RPC, chain id {NETWORKS['devnet'].arbitrum_chain_id})",
        "admin": "Devnet admin  (faucet, mailbox, scenario, faults, state)",
    }
    for name in ("hyperliquid", "asgard", "privy", "solana", "arbitrum", "admin"):
        if name in urls:
            lines.append(f"  {urls[name]:<40} {labels[name]}")
    if devnet.privy is not None:
        lines += [
            "",
            f"  Privy app id:     {devnet.privy.app_id}",
            f"  Privy app secret: {devnet.privy.app_secret_value()}   (devnet only; also in GET /state)",
        ]
    base = "" if cfg.ports == Ports.default() else f" --base-port {cfg.ports.admin}"
    hints = [
        ("state", "prices, funding, rates, faults"),
        ("faucet solana USDC <address> 1000", "fund a Solana wallet (SOL, USDC, LSTs)"),
        ("faucet arbitrum USDC <0xaddress> 500", "fund an Arbitrum wallet (ETH, USDC)"),
        ("mailbox you@example.com", "read one-time sign-in codes"),
        ("scenario funding_flip", "calm, funding_flip, lst_depeg, flash_crash, venue_outage"),
        ("faults hyperliquid --latency-ms 200", "latency, errors, 429s, dropped transactions"),
        ("advance --hours 1", "jump simulated time (funding is paid every hour)"),
    ]
    lines += ["", "What to do next:"]
    lines += [f"  {'basis devnet ' + cmd + base:<60} {what}" for cmd, what in hints]
    lines += [
        "",
        "Press Ctrl-C to stop.",
        "",
    ]
    sys.stdout.write("\n".join(lines))
    sys.stdout.flush()


# ---------------------------------------------------------------------- admin wrappers
def _admin(base_port: int | None, method: str, path: str, **kwargs: Any) -> Any:
    import httpx

    url = f"http://127.0.0.1:{_ports(base_port).admin}{path}"
    try:
        response = httpx.request(method, url, timeout=30, **kwargs)
    except httpx.TransportError:
        typer.echo(
            f"error: the devnet admin API at {url.rsplit(path, 1)[0]} is not answering; "
            "start it with `basis devnet up`",
            err=True,
        )
        raise typer.Exit(EXIT_UNREACHABLE) from None
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text}
    if response.status_code >= 400:
        detail = body.get("detail") if isinstance(body, dict) else body
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        typer.echo(f"error: {detail}", err=True)
        raise typer.Exit(EXIT_REFUSED)
    return body


def _print(body: Any, as_json: bool, text: str | None = None) -> None:
    if as_json or text is None:
        typer.echo(json.dumps(body, indent=2))
    else:
        typer.echo(text)


@app.command()
def faucet(
    chain: Annotated[str, typer.Argument(help="solana, arbitrum or hyperliquid")],
    asset: Annotated[str, typer.Argument(help="SOL, USDC, jitoSOL, mSOL, jupSOL, INF, ETH")],
    address: Annotated[str, typer.Argument(help="Recipient address")],
    amount: Annotated[str, typer.Argument(help="Whole units, e.g. 12.5")],
    base_port: BasePort = None,
    as_json: AsJson = False,
) -> None:
    """Credit any address with devnet funds."""
    body = _admin(
        base_port,
        "POST",
        "/faucet",
        json={"chain": chain, "asset": asset, "address": address, "amount": amount},
    )
    _print(
        body, as_json, f"credited {body['amount']} {body['asset']} to {body['address']} on {body['chain']}"
    )


@app.command()
def mailbox(
    email: Annotated[str, typer.Argument(help="Email address")],
    base_port: BasePort = None,
    as_json: AsJson = False,
) -> None:
    """Show the messages (and one-time codes) the devnet sent to an email address, newest first."""
    body = _admin(base_port, "GET", "/mailbox", params={"email": email})
    if not body["messages"]:
        _print(body, as_json, f"no messages for {email}")
        return
    lines = [f"{m['code'] or '-':>8}  {m['subject']}" for m in body["messages"]]
    _print(body, as_json, "\n".join(lines))


@app.command()
def scenario(
    name: Annotated[str, typer.Argument(help=", ".join(SCENARIOS))],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="key=value, e.g. -p venue=asgard")
    ] = None,
    base_port: BasePort = None,
    as_json: AsJson = False,
) -> None:
    """Switch the market scenario."""
    params: dict[str, Any] = {}
    for item in param or []:
        if "=" not in item:
            raise typer.BadParameter(f"--param takes key=value, got {item!r}")
        key, value = item.split("=", 1)
        params[key] = _coerce(value)
    body = _admin(base_port, "POST", "/scenario", json={"name": name, "params": params})
    _print(body, as_json, f"scenario {body['scenario']['name']} {body['scenario']['params'] or ''}".rstrip())


def _coerce(value: str) -> Any:
    if value.lower() in ("null", "none"):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


@app.command()
def faults(
    venue: Annotated[str, typer.Argument(help=", ".join((*VENUES, "all")))],
    latency_ms: Annotated[int | None, typer.Option(help="Added latency, ms")] = None,
    error_rate: Annotated[float | None, typer.Option(help="Fraction answered with a server error")] = None,
    rate_429: Annotated[float | None, typer.Option("--rate-429", help="Fraction answered 429")] = None,
    drop_rate: Annotated[float | None, typer.Option(help="Fraction of transactions dropped")] = None,
    foreign_program: Annotated[
        bool | None,
        typer.Option(
            "--foreign-program/--no-foreign-program",
            "--rogue-program/--no-rogue-program",
            help="Asgard: add a non-allow-listed program to built transactions",
        ),
    ] = None,
    reject_orders: Annotated[
        bool | None,
        typer.Option(
            "--reject-orders/--no-reject-orders",
            help="Hyperliquid: refuse every order that is not reduce-only, for margin",
        ),
    ] = None,
    ioc_fill_fraction: Annotated[
        float | None,
        typer.Option(help="Hyperliquid: the share of a non-reduce-only IOC order that fills (1 = all)"),
    ] = None,
    clear: Annotated[bool, typer.Option(help="Reset this venue's faults first")] = False,
    base_port: BasePort = None,
    as_json: AsJson = False,
) -> None:
    """Inject faults into a venue (or clear them)."""
    payload: dict[str, Any] = {"venue": venue, "clear": clear}
    for key, value in (
        ("latency_ms", latency_ms),
        ("error_rate", error_rate),
        ("rate_429", rate_429),
        ("drop_rate", drop_rate),
        ("foreign_program", foreign_program),
        ("reject_orders", reject_orders),
        ("ioc_fill_fraction", ioc_fill_fraction),
    ):
        if value is not None:
            payload[key] = value
    body = _admin(base_port, "POST", "/faults", json=payload)
    _print(body, as_json, json.dumps(body, indent=2))


@app.command()
def advance(
    hours: Annotated[float, typer.Option(help="Simulated hours to jump")] = 0,
    seconds: Annotated[float, typer.Option(help="Simulated seconds to jump")] = 0,
    slots: Annotated[int, typer.Option(help="Solana slots to skip (expires blockhashes)")] = 0,
    base_port: BasePort = None,
    as_json: AsJson = False,
) -> None:
    """Jump simulated time (markets) and/or Solana slots forward."""
    body = _admin(
        base_port, "POST", "/clock/advance", json={"hours": hours, "seconds": seconds, "slots": slots}
    )
    _print(body, as_json, f"simulated time now {iso_ms(body['sim_ms'])}; solana slot {body['solana_slot']}")


@app.command()
def state(base_port: BasePort = None, as_json: AsJson = False) -> None:
    """Simulated clock, prices, funding, lending rates, faults."""
    body = _admin(base_port, "GET", "/state")
    if as_json:
        _print(body, True)
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    market = body["market"]
    clock = body["clock"]
    console.print(
        f"scenario [bold]{market['scenario']['name']}[/] since {iso_ms(market['scenario']['started_ms'])}  "
        f"speed {clock['speed']:g}x"
    )
    console.print(f"simulated time {iso_ms(clock['sim_ms'])}  (real time {iso_ms(clock['real_ms'])})")
    perps = Table(title="Hyperliquid perps")
    for col in ("coin", "oracle", "mark", "premium", "predicted funding /h", "last funding /h"):
        perps.add_column(col)
    for coin, p in market["perps"].items():
        perps.add_row(
            coin,
            p["oracle_px"],
            p["mark_px"],
            p["premium"],
            p["predicted_hourly_funding"],
            p["last_hourly_funding"] or "-",
        )
    console.print(perps)
    lending = Table(title="Lending (Asgard sources)")
    for col in ("protocol:asset", "supply APY", "USDC borrow APY", "active"):
        lending.add_column(col)
    for key, s in market["lending"].items():
        lending.add_row(key, s["supply_apy"], s["usdc_borrow_apy"], str(s["active"]))
    console.print(lending)
    if body.get("faults"):
        console.print({"faults": body["faults"]})
    for venue, outage in (body.get("outages") or {}).items():
        until = outage.get("until_sim_ms")
        console.print(
            f"outage: {venue} down until the next calm"
            if until is None
            else f"outage: {venue} down until {iso_ms(until)} ({outage['remaining_sim_s']} simulated s left)"
        )


def iso_ms(epoch_ms: int | None) -> str:
    """Epoch milliseconds as an ISO 8601 UTC date (what a person reads; --json keeps the number)."""
    if epoch_ms is None:
        return "-"
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
