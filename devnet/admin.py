"""The devnet's admin API (port 3000): faucet, mailbox, scenarios, faults, clock and state.

Not a venue: nothing here exists on mainnet. Bad input gets a 4xx with a sentence, never a 500.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from devnet.config import SCENARIOS, VENUES
from shared.assets import Asset, Chain, token

if TYPE_CHECKING:
    from devnet.server import Devnet

MAX_FAUCET = {Asset.SOL: Decimal(1_000_000), Asset.ETH: Decimal(10_000)}
MAX_FAUCET_DEFAULT = Decimal(100_000_000)


class FaucetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chain: Literal["solana", "arbitrum", "hyperliquid"]
    asset: str = Field(
        description="SOL, USDC, jitoSOL, mSOL, jupSOL, INF (solana); ETH, USDC (arbitrum); "
        "USDC (hyperliquid perp balance, a devnet shortcut past the bridge)"
    )
    address: str
    amount: str = Field(description='whole units, as a decimal string, e.g. "12.5"')


class ScenarioRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Literal["calm", "funding_flip", "lst_depeg", "flash_crash", "venue_outage"]
    params: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "funding_flip: premium; lst_depeg: asset, discount; flash_crash: drop, minutes, recover_minutes; "
            "venue_outage: venue, minutes (null = until the next calm)"
        ),
    )


class FaultsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    venue: Literal["hyperliquid", "asgard", "privy", "solana", "arbitrum", "all"]
    clear: bool = False
    latency_ms: int | None = Field(default=None, ge=0, le=60_000)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    rate_429: float | None = Field(default=None, ge=0, le=1)
    drop_rate: float | None = Field(default=None, ge=0, le=1)
    foreign_program: bool | None = None
    reject_orders: bool | None = Field(
        default=None, description="Hyperliquid: refuse every non-reduce-only order for margin"
    )
    ioc_fill_fraction: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Hyperliquid: the share of a non-reduce-only IOC order that fills (1 = all)",
    )
    rogue_program: bool | None = Field(
        default=None,
        description="the same switch as foreign_program (Asgard: add a non-allow-listed program)",
    )


class AdvanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(default=0, ge=0, le=366 * 24 * 3600)
    hours: float = Field(default=0, ge=0, le=366 * 24)
    slots: int = Field(default=0, ge=0, le=10_000_000)


class HyperliquidFeesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str
    taker: str = Field(description='the taker (cross) rate as a fraction, e.g. "0.0003"')
    maker: str = Field(description='the maker (add) rate as a fraction, e.g. "0.0001"')


class SpeedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    speed: float = Field(gt=0, le=100_000)


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise HTTPException(422, f'amount must be a decimal string such as "12.5", got {text!r}') from None
    if not value.is_finite() or value <= 0:
        raise HTTPException(422, "amount must be a positive number")
    return value


def _devnet(request: Request) -> Devnet:
    return request.app.state.devnet  # type: ignore[no-any-return]


# Any, not Devnet: devnet.server imports this module, so Devnet is a name for the type checker only.
DevnetDep = Annotated[Any, Depends(_devnet)]
router = APIRouter()


def create_app(devnet: Devnet) -> FastAPI:
    """The admin API over `devnet`. Every route is `async def`: it runs on the event loop thread, like
    the emulators and the ticker, so the devnet's state is only ever touched from one thread."""
    app = FastAPI(
        title="Basis devnet admin",
        version="1",
        description="Faucet, mailbox, scenarios, faults and state of the loopback devnet.",
    )
    app.state.devnet = devnet
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(ValueError, _bad_value)  # type: ignore[arg-type]
    app.include_router(router)
    return app


async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"field": ".".join(str(p) for p in e["loc"][1:]) or "body", "message": e["msg"]} for e in exc.errors()
    ]
    return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)


async def _bad_value(_request: Request, exc: ValueError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=400)


@router.get("/health")
async def health(devnet: DevnetDep) -> dict[str, Any]:
    return {"ok": True, "services": list(devnet.services)}


@router.get("/state")
async def state(devnet: DevnetDep) -> dict[str, Any]:
    return devnet.state()


@router.post("/faucet")
async def faucet(devnet: DevnetDep, req: FaucetRequest) -> dict[str, Any]:
    try:
        asset = Asset.parse(req.asset)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    amount = _amount(req.amount)
    if amount > MAX_FAUCET.get(asset, MAX_FAUCET_DEFAULT):
        raise HTTPException(
            422,
            f"the faucet gives at most {MAX_FAUCET.get(asset, MAX_FAUCET_DEFAULT)} {asset.value} at a time",
        )
    chain = Chain(req.chain)
    if chain is Chain.SOLANA:
        return _faucet_solana(devnet, asset, req.address, amount)
    if chain is Chain.ARBITRUM:
        return _faucet_arbitrum(devnet, asset, req.address, amount)
    return _faucet_hyperliquid(devnet, asset, req.address, amount)


@router.get("/mailbox")
async def mailbox(devnet: DevnetDep, email: str = Query(min_length=3, max_length=320)) -> dict[str, Any]:
    if "@" not in email:
        raise HTTPException(422, "email must be an email address")
    return {"email": email, "messages": [m.as_json() for m in devnet.mailbox.messages(email)]}


@router.post("/scenario")
async def scenario(devnet: DevnetDep, req: ScenarioRequest) -> dict[str, Any]:
    return {"scenario": devnet.set_scenario(req.name, req.params)}


@router.get("/scenario")
async def get_scenario(devnet: DevnetDep) -> dict[str, Any]:
    s = devnet.market.scenario
    return {
        "scenario": {"name": s.name, "params": s.params, "started_ms": s.started_ms},
        "available": list(SCENARIOS),
    }


@router.post("/faults")
async def faults(devnet: DevnetDep, req: FaultsRequest) -> dict[str, Any]:
    venues = list(VENUES) if req.venue == "all" else [req.venue]
    changes = req.model_dump(exclude={"venue", "clear", "rogue_program"}, exclude_none=True)
    if req.rogue_program is not None:
        if req.foreign_program is not None and req.foreign_program != req.rogue_program:
            raise HTTPException(422, "rogue_program and foreign_program are the same switch; they disagree")
        changes["foreign_program"] = req.rogue_program
    for venue in venues:
        if req.clear:
            devnet.faults.clear(venue)
        if changes:
            devnet.faults.set(venue, **changes)
    return devnet.faults.snapshot()


@router.get("/faults")
async def get_faults(devnet: DevnetDep) -> dict[str, Any]:
    return devnet.faults.snapshot()


@router.post("/clock/advance")
async def advance(devnet: DevnetDep, req: AdvanceRequest) -> dict[str, Any]:
    seconds = req.seconds + req.hours * 3600
    if seconds:
        devnet.clock.advance(seconds)
        devnet.tick()
    if req.slots:
        if devnet.solana is None:
            raise HTTPException(409, "the solana service is not running in this devnet")
        devnet.solana.skip_slots(req.slots)
    return {"sim_ms": devnet.clock.now_ms(), "solana_slot": devnet.solana.slot if devnet.solana else None}


@router.post("/privy/rotate-signing-key")
async def privy_rotate(devnet: DevnetDep) -> dict[str, Any]:
    """Rotate the Privy emulator's token signing key (old tokens verify through the grace period)."""
    svc = _need(devnet, "privy")
    kid = svc.rotate_signing_key()
    return {"kid": kid, "jwks_kids": svc.snapshot()["signing_key"]["jwks_kids"]}


class OriginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    origin: str = Field(max_length=300, description="scheme://host[:port], or scheme://host:* for any port.")


@router.post("/privy/allowed-origins")
async def privy_allow_origin(devnet: DevnetDep, req: OriginRequest) -> dict[str, Any]:
    """Add an allowed origin of the Privy app's client API, as in Privy's dashboard."""
    svc = _need(devnet, "privy")
    svc.origins.add(req.origin)  # ValueError → 400 with the reason
    return {"allowed_origins": svc.origins.listed()}


@router.post("/hyperliquid/fees")
async def hyperliquid_fees(devnet: DevnetDep, req: HyperliquidFeesRequest) -> dict[str, Any]:
    """Set an account's fee rates, as a volume tier, a staking discount or a referral would on the
    venue: its fills pay them and userFees reports them."""
    exchange = _need(devnet, "hyperliquid")
    rates = (_rate(req.taker), _rate(req.maker))
    address = _evm_address(req.address).lower()
    with exchange.lock:
        account = exchange.account(address, create=True)
        account.fees = rates
        exchange.version += 1
    return {"address": address, "taker": str(rates[0]), "maker": str(rates[1])}


@router.post("/clock/speed")
async def speed(devnet: DevnetDep, req: SpeedRequest) -> dict[str, Any]:
    devnet.set_speed(req.speed)
    return {"speed": devnet.clock.speed}


def _rate(text: str) -> Decimal:
    try:
        rate = Decimal(text)
    except ArithmeticError:
        raise HTTPException(422, f"{text!r} is not a decimal fee rate") from None
    if not rate.is_finite() or not Decimal(0) <= rate < Decimal("0.01"):
        raise HTTPException(422, "a fee rate is a fraction between 0 and 0.01")
    return rate


def _need(devnet: Devnet, name: str) -> Any:
    component = getattr(devnet, name)
    if component is None:
        raise HTTPException(409, f"the {name} service is not running in this devnet")
    return component


def _faucet_solana(devnet: Devnet, asset: Asset, address: str, amount: Decimal) -> dict[str, Any]:
    from solders.pubkey import Pubkey

    chain = _need(devnet, "solana")
    try:
        owner = Pubkey.from_string(address)
    except ValueError:
        raise HTTPException(422, f"{address!r} is not a Solana address (base58 public key)") from None
    if asset is Asset.SOL:
        raw = int(amount.scaleb(9))
        chain.airdrop(owner, raw)
        return {
            "chain": "solana",
            "asset": "SOL",
            "address": address,
            "amount": str(amount),
            "raw": raw,
            "balance": str(Decimal(chain.balance(owner)).scaleb(-9)),
        }
    try:
        tok = token(asset, Chain.SOLANA)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    mint = Pubkey.from_string(tok.address or "")
    raw = int(amount.scaleb(tok.decimals))
    if raw <= 0:
        raise HTTPException(422, f"amount is below one raw unit of {asset.value}")
    ata = chain.mint_to(owner, mint, raw)
    return {
        "chain": "solana",
        "asset": asset.value,
        "address": address,
        "amount": str(amount),
        "raw": raw,
        "token_account": str(ata),
        "balance": str(Decimal(chain.token_balance(owner, mint)).scaleb(-tok.decimals)),
    }


def _evm_address(address: str) -> str:
    from eth_utils import is_address, to_checksum_address

    if not is_address(address):
        raise HTTPException(422, f"{address!r} is not an EVM address (0x and 40 hex digits)")
    return to_checksum_address(address)


def _faucet_arbitrum(devnet: Devnet, asset: Asset, address: str, amount: Decimal) -> dict[str, Any]:
    chain = _need(devnet, "arbitrum")
    checksum = _evm_address(address)
    try:
        tok = token(asset, Chain.ARBITRUM)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    raw = int(amount.scaleb(tok.decimals))
    if asset is Asset.ETH:
        chain.credit_eth(checksum, raw)
    else:
        chain.credit_usdc(checksum, raw)
    return {"chain": "arbitrum", "asset": asset.value, "address": checksum, "amount": str(amount), "raw": raw}


def _faucet_hyperliquid(devnet: Devnet, asset: Asset, address: str, amount: Decimal) -> dict[str, Any]:
    exchange = _need(devnet, "hyperliquid")
    if asset is not Asset.USDC:
        raise HTTPException(422, "Hyperliquid accounts hold USDC only")
    checksum = _evm_address(address)
    exchange.credit_usdc(checksum.lower(), amount, reason="faucet")
    return {"chain": "hyperliquid", "asset": "USDC", "address": checksum.lower(), "amount": str(amount)}
