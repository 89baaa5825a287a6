"""The Asgard venue: builds position transactions, takes signed ones back, keeps the positions, accrues
their interest every simulated minute and liquidates them when their health factor reaches 0.

A build quotes at the oracle price of the moment and fixes the amounts in the transaction it returns
(the protocol instruction's data, the tokens moved). A submit is accepted when its transaction is
exactly one this venue built (same message), every signature verifies, the blockhash is still valid
and the price has not moved against the quote by more than `slippageBps`; it is then sent to the
chain. A submit of a transaction that already landed answers what the first one answered, so a
client may retry a submit whose answer it lost. Under the `drop_rate` fault a submit answers as if
sent but nothing lands (the Solana RPC never knows the signature); sending the same signed
transaction again, before its blockhash expires, lands it once.

Capacities: an open takes its token A deposit and USDC borrow from the source's capacities in the
market simulator; closes, partial closes, deleverages and liquidations give them back.

Locking: HTTP handlers run on the event loop and the market's step listener runs wherever the market
is advanced (the loop's ticker, or the admin API's worker thread for `/clock/advance`). One re-entrant
lock guards all venue state; every operation first advances the market to now (`_sync`) and then
reads prices without advancing it, so a request sees one consistent minute.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal
from typing import Any

from solders.account import Account
from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address
from solders.token.state import TokenAccount
from solders.transaction import VersionedTransaction

from devnet.asgard import transactions as txs
from devnet.asgard.bodies import (
    CloseRequest,
    DeleverageRequest,
    PartialCloseRequest,
    RefreshRequest,
    TradeRequest,
)
from devnet.asgard.errors import AsgardError, invalid
from devnet.asgard.interest import InterestIndices
from devnet.asgard.markets import (
    PROGRAM_IDS,
    USDC_MINT,
    LiquiditySource,
    balance_key,
    decimals_of,
    liquidity_sources,
    long_max_leverage,
    markets_payload,
    mint_of,
    raw_price_float,
    raw_price_usd,
    token_metadata,
)
from devnet.asgard.positions import (
    Position,
    PositionState,
    UpdateType,
    dec,
    iso,
    num,
    swap_metadata,
)
from devnet.asgard.quotes import (
    LIQUIDATION_PENALTY,
    OPEN_FEE_RATE,
    CloseQuote,
    OpenQuote,
    health_factor,
    leverage_of,
    liquidate,
    liquidation_price,
    quote_close,
    quote_deleverage,
    quote_open,
)
from devnet.clock import SimClock
from devnet.config import DevnetConfig
from devnet.faults import FaultBook
from devnet.market import MarketSimulator
from devnet.solana.chain import SYSTEM_PROGRAM, RpcError, SolanaChain
from shared.assets import LSTS, Asset, Protocol
from shared.logging import get_logger

log = get_logger("devnet.asgard")

MIN_LEVERAGE = Decimal("1.1")
MIN_COLLATERAL_USD = Decimal(5)
MAX_NOTIONAL_USD = Decimal(5_000_000)
MAX_SLIPPAGE_BPS = 5_000
MAX_JITO_TIP_LAMPORTS = 1_000_000_000
# A client's collateralUnitPrice may differ this much from the oracle (a stale quote is refused).
UNIT_PRICE_TOLERANCE = Decimal("0.05")
# Partial close and the other modifications exist on Kamino and Drift only (Asgard's doc).
MODIFIABLE = (Protocol.KAMINO, Protocol.DRIFT)
# Protocols whose open starts with a transaction of its own setting up the protocol's account.
SETUP_TRANSACTION = {Protocol.KAMINO: "obligation", Protocol.DRIFT: "user"}
# Unlanded builds are forgotten this long (real seconds) after they were made; a blockhash lives ~60 s.
BUILD_TTL_S = 300.0
# Answers to landed submits kept for replays.
LANDED_KEPT = 100_000
# Floats the custody wallet starts with, so it can pay proceeds larger than the deposits it holds.
CUSTODY_SOL_LAMPORTS = 1_000_000 * 10**9
CUSTODY_TOKEN_FLOAT = 1_000_000_000  # whole units of USDC and of each LST
TIP_ACCOUNT_LAMPORTS = 10**9


@dataclass
class OpenPlan:
    source: LiquiditySource
    quote: OpenQuote
    leverage: Decimal
    collateral_type: int
    collateral_mint: str
    amount_native: int
    amount_ui: Decimal


@dataclass
class Build:
    """A transaction the venue built and expects back signed."""

    kind: str  # "open", "close" or "update"
    owner: str
    pda: str
    price: Decimal  # token A price the build was quoted at
    slippage: Decimal  # fraction
    tip: int
    created: float  # real seconds
    open: OpenPlan | None = None
    close: CloseQuote | None = None
    update: dict[str, Any] | None = None
    position_id: int | None = None


@dataclass
class Payout:
    """Token A left after a liquidation, owed to the owner until a transfer lands."""

    event: dict[str, Any]
    owner: Pubkey
    asset: Asset
    raw: int


def _raw(amount: Decimal, decimals: int) -> int:
    return int(amount.scaleb(decimals).to_integral_value(rounding=ROUND_DOWN))


def _pubkey(text: str, field: str) -> Pubkey:
    try:
        return Pubkey.from_string(text)
    except ValueError:
        raise invalid(f"{field} is not a Solana address: {text!r}", code="INVALID_PUBKEY") from None


class AsgardVenue:
    def __init__(
        self,
        config: DevnetConfig,
        clock: SimClock,
        market: MarketSimulator,
        chain: SolanaChain,
        faults: FaultBook,
    ) -> None:
        self.config = config
        self.clock = clock
        self.market = market
        self.chain = chain
        self.faults = faults
        self._lock = threading.RLock()
        self.sources = liquidity_sources(market)
        self._by_banks = {(s.protocol, s.token_a_bank, s.token_b_bank): s for s in self.sources.values()}
        self.indices = InterestIndices()
        self.positions: dict[str, Position] = {}  # by PDA
        self._active: dict[str, Position] = {}
        self._active_keys: Counter[tuple[Protocol, Asset]] = Counter()
        # Active position PDA → (its source, scaled debt per scaled token A), for the liquidation scan.
        self._ratios: dict[str, tuple[tuple[Protocol, Asset], float]] = {}
        self._pending: OrderedDict[str, Build] = OrderedDict()  # by message key
        self._landed: dict[str, dict[str, Any]] = {}  # message key → the answer given
        self.liquidation_events: list[dict[str, Any]] = []
        self._payouts: list[Payout] = []
        self.position_updates: list[dict[str, Any]] = []
        self._next_id = 1
        self._next_update_id = 1
        self._nonce = 0
        self.custody = txs.custody_keypair()
        self.foreign_program = txs.derived_keypair(config.seed, "foreign-program").pubkey()
        self._prepare_chain()
        market.on_step(self._on_step)

    # ------------------------------------------------------------------ chain set-up
    def _prepare_chain(self) -> None:
        chain = self.chain
        txs.install_program_stand_ins(
            chain,
            [
                *PROGRAM_IDS.values(),
                *txs.SWAP_PROGRAMS.values(),
                txs.asgard_program_id(),
                self.foreign_program,
            ],
        )
        custody = self.custody.pubkey()
        # Genesis balance: more than the chain's airdrop faucet holds.
        chain.svm.set_account(
            custody, Account(lamports=CUSTODY_SOL_LAMPORTS, data=b"", owner=SYSTEM_PROGRAM, executable=False)
        )
        for asset in (Asset.USDC, *sorted(LSTS)):
            mint = Pubkey.from_string(mint_of(asset))
            chain.mint_to(custody, mint, CUSTODY_TOKEN_FLOAT * 10 ** decimals_of(asset))
        for tip in txs.JITO_TIP_ACCOUNTS:
            if chain.balance(tip) == 0:
                chain.airdrop(tip, TIP_ACCOUNT_LAMPORTS)

    # ------------------------------------------------------------------ reads
    def _sync(self) -> None:
        self.market.advance()

    def _price(self, asset: Asset) -> Decimal:
        return raw_price_usd(self.market, asset)

    def _amounts(self, position: Position) -> tuple[Decimal, Decimal]:
        """(token A held, USDC owed) now, with interest."""
        key = position.source.key
        return position.a_scaled * self.indices.supply(key), position.d_scaled * self.indices.borrow(key)

    def _lt(self, source: LiquiditySource) -> Decimal:
        return Decimal(str(self.market.lending[source.key].spec.liquidation_threshold))

    def markets(self) -> dict[str, Any]:
        with self._lock:
            self._sync()
            return markets_payload(self.sources, self.market)

    def tokens(self) -> dict[str, Any]:
        with self._lock:
            self._sync()
            tokens = token_metadata(self.market)
            return {"tokens": tokens, "stats": {"count": len(tokens), "updatedAt": iso(self.clock.now_ms())}}

    def token(self, mint: str) -> dict[str, Any]:
        for row in self.tokens()["tokens"]:
            if row["mint"] == mint:
                return row
        raise AsgardError("TOKEN_NOT_FOUND", f"no token with mint {mint}", name="NotFoundError")

    def wallet_positions(self, wallet: str, which: str) -> list[dict[str, Any]]:
        _pubkey(wallet, "walletPubkey")
        with self._lock:
            self._sync()
            mine = [p for p in self.positions.values() if p.owner == wallet]
            if which == "open":
                return [p.record() for p in mine if p.active]
            if which == "closed":
                return [p.record_with_events() for p in mine if not p.active]
            return [p.record_with_events() for p in mine]

    def position_by_pda(self, pda: str) -> dict[str, Any]:
        with self._lock:
            self._sync()
            return self._position(pda).record_with_events()

    def all_liquidation_events(self) -> list[dict[str, Any]]:
        with self._lock:
            self._sync()
            return list(self.liquidation_events)

    def _position(self, pda: str) -> Position:
        position = self.positions.get(pda)
        if position is None:
            raise AsgardError("POSITION_NOT_FOUND", f"no position with PDA {pda}", name="NotFoundError")
        return position

    def _owned_active(self, pda: str, wallet: str, protocol: int) -> Position:
        position = self._position(pda)
        if position.owner != wallet:
            raise AsgardError(
                "NOT_POSITION_OWNER", f"position {pda} is not owned by {wallet}", name="AuthorizationError"
            )
        if position.source.protocol.value != protocol:
            raise invalid(
                f"position {pda} is on protocol {position.source.protocol.value}, not {protocol}",
                code="PROTOCOL_MISMATCH",
            )
        if not position.active:
            raise AsgardError(
                "POSITION_NOT_ACTIVE",
                f"position {pda} is {position.state.name.lower()}",
                name="PositionStateError",
                details={"state": position.state.value},
            )
        return position

    # ------------------------------------------------------------------ refresh
    def refresh(self, request: RefreshRequest) -> dict[str, Any]:
        with self._lock:
            self._sync()
            out: dict[str, Any] = {}
            for ref in request.positionPDAs:
                position = self._position(ref.positionPDA)
                if position.source.protocol.value != ref.protocol:
                    raise invalid(
                        f"position {ref.positionPDA} is on protocol {position.source.protocol.value}, "
                        f"not {ref.protocol}",
                        code="PROTOCOL_MISMATCH",
                    )
                out[ref.positionPDA] = self._refreshed(position)
            return {"positions": out}

    def _refreshed(self, position: Position) -> dict[str, Any]:
        src = position.source
        token_a, debt = self._amounts(position)
        price = self._price(src.asset)
        lt = self._lt(src)
        collateral_usd = token_a * price
        balances = []
        if position.active:
            balances = [
                {
                    balance_key(src.protocol, src.asset): {
                        "mint": src.token_a_mint,
                        "assetsQt": num(token_a),
                        "liabsQt": 0.0,
                        "assetsUsd": num(collateral_usd, 6),
                        "liabsUsd": 0.0,
                    }
                },
                {
                    balance_key(src.protocol, Asset.USDC): {
                        "mint": src.token_b_mint,
                        "assetsQt": 0.0,
                        "liabsQt": num(debt, 6),
                        "assetsUsd": 0.0,
                        "liabsUsd": num(debt, 6),
                    }
                },
            ]
        if position.active:
            hf = health_factor(collateral_usd, debt, lt)
        else:  # nothing left on chain: 100 for a closed position, 0 for a liquidated one
            hf = Decimal(100 if position.state is PositionState.CLOSED else 0)
        # Documented: accountAddress, authority, summary.healthFactor, summary.booksAndBalances and
        # liquidationEvents. Everything else "optional, protocol-dependent, and not guaranteed": here
        # each protocol shows its own few extras, under its own names.
        summary: dict[str, Any] = {"healthFactor": num(hf, 4), "booksAndBalances": {"balances": balances}}
        leverage = num(leverage_of(collateral_usd, debt), 4)
        if src.protocol is Protocol.MARGINFI:
            summary["riskMetrics"] = {"liquidationBuffer": num(hf, 4), "leverage": leverage}
        elif src.protocol is Protocol.KAMINO:
            summary["lendingAmount"] = num(token_a)
            summary["borrowingAmount"] = num(debt, 6)
            summary["liquidationLtv"] = float(lt)
        elif src.protocol is Protocol.DRIFT:
            summary["balance"] = num(collateral_usd - debt, 6)
            summary["liquidationPrice"] = num(liquidation_price(token_a, debt, lt), 6)
        return {
            "accountAddress": position.pda,
            "authority": position.owner,
            "summary": summary,
            "liquidationEvents": list(position.liquidation_events),
        }

    # ------------------------------------------------------------------ open
    def build_open(self, request: TradeRequest, simulate: bool = False) -> dict[str, Any]:
        with self._lock:
            self._sync()
            owner = _pubkey(request.walletPubkey, "walletPubkey")
            plan = self._plan_open(request, owner)
            slippage = Decimal(request.slippageBps) / 10_000
            self._check_impact(plan.quote.impact, request.slippageBps)
            self._nonce += 1
            pda = self._derive_pda(owner, plan.source, self._nonce)
            blockhash, _ = self.chain.latest_blockhash()
            bundle = [
                txs.build(owner, ixs, blockhash)
                for ixs in self._open_instructions(plan, owner, pda, request.jitoTipLamport)
            ]
            quote = plan.quote
            # Only what Asgard documents (the request and `signedTxs`) and, as its doc says the answer
            # "varies by protocol", metadata named and shaped per protocol: nothing a client may rely on.
            response: dict[str, Any] = {
                **request.model_dump(mode="json"),
                "collateralUnitPrice": float(request.collateralUnitPrice),
                "leverage": float(request.leverage),
                **_protocol_metadata(plan.source.protocol, pda),
            }
            if self._simulated(plan.source.protocol, bundle, response, simulate):
                return response
            self._remember(
                bundle,
                Build(
                    "open",
                    str(owner),
                    pda,
                    quote.price,
                    slippage,
                    request.jitoTipLamport,
                    time.time(),
                    open=plan,
                ),
            )
            response["signedTxs"] = [txs.encode(tx) for tx in bundle]
            return response

    def _plan_open(self, request: TradeRequest, owner: Pubkey) -> OpenPlan:
        if request.direction != 0:
            raise invalid(
                "only LONG positions (direction 0) are offered on this devnet", code="UNSUPPORTED_DIRECTION"
            )
        try:
            protocol = Protocol(request.protocol)
        except ValueError:
            raise invalid(f"unknown lending protocol {request.protocol}", code="INVALID_PROTOCOL") from None
        source = self._by_banks.get((protocol, request.tokenABank, request.tokenBBank))
        if source is None:
            raise invalid(
                f"no {protocol.label} liquidity source with tokenABank {request.tokenABank} and tokenBBank "
                f"{request.tokenBBank}; take both from GET /markets",
                code="MARKET_NOT_FOUND",
            )
        lend = self.market.lending[source.key]
        if not lend.active:
            raise invalid(
                f"the {protocol.label} {source.strategy} source is not active", code="SOURCE_INACTIVE"
            )
        if request.collateralType not in (0, 1):
            raise invalid("collateralType must be 0 (token A) or 1 (USDC)", code="INVALID_COLLATERAL_TYPE")
        expected_mint = source.token_a_mint if request.collateralType == 0 else source.token_b_mint
        if request.collateralMint != expected_mint:
            raise invalid(
                f"collateralMint must be {expected_mint} for collateralType {request.collateralType}",
                code="COLLATERAL_MINT_MISMATCH",
            )
        max_leverage = long_max_leverage(lend.spec.max_ltv)
        if not MIN_LEVERAGE <= request.leverage <= max_leverage:
            raise invalid(
                f"leverage must be between {MIN_LEVERAGE} and {max_leverage} (longMaxLeverage) "
                "on this source",
                code="INVALID_LEVERAGE",
                details={"min": float(MIN_LEVERAGE), "max": float(max_leverage)},
            )
        if not 0 <= request.jitoTipLamport <= MAX_JITO_TIP_LAMPORTS:
            raise invalid(f"jitoTipLamport must be between 0 and {MAX_JITO_TIP_LAMPORTS}", code="INVALID_TIP")
        if not 1 <= request.slippageBps <= MAX_SLIPPAGE_BPS:
            raise invalid(f"slippageBps must be between 1 and {MAX_SLIPPAGE_BPS}", code="INVALID_SLIPPAGE")
        if request.collateralAmountNative <= 0:
            raise invalid("collateralAmountNative must be a positive integer", code="INVALID_AMOUNT")
        collateral_asset = source.asset if request.collateralType == 0 else Asset.USDC
        amount_ui = Decimal(request.collateralAmountNative).scaleb(-decimals_of(collateral_asset))
        price = self._price(source.asset)
        collateral_price = self._price(collateral_asset)
        unit = request.collateralUnitPrice
        if not unit.is_finite() or unit <= 0 or abs(unit / collateral_price - 1) > UNIT_PRICE_TOLERANCE:
            raise invalid(
                f"collateralUnitPrice {unit} is more than {UNIT_PRICE_TOLERANCE:.0%} away from the oracle "
                f"price {collateral_price}",
                code="STALE_PRICE",
                details={"oraclePriceUSD": float(collateral_price)},
            )
        quote = quote_open(price, request.collateralType, amount_ui, collateral_price, request.leverage)
        if quote.collateral_usd < MIN_COLLATERAL_USD:
            raise invalid(
                f"collateral must be worth at least ${MIN_COLLATERAL_USD}", code="POSITION_TOO_SMALL"
            )
        if quote.notional_usd > MAX_NOTIONAL_USD:
            raise invalid(f"notional must not exceed ${MAX_NOTIONAL_USD}", code="POSITION_TOO_LARGE")
        self._check_capacity(source, quote)
        held = self._wallet_holds(owner, collateral_asset)
        needed = request.collateralAmountNative
        if held < needed:
            raise invalid(
                f"the wallet holds {Decimal(held).scaleb(-decimals_of(collateral_asset))} "
                f"{collateral_asset.value}, "
                f"less than the collateral {amount_ui}",
                code="INSUFFICIENT_COLLATERAL",
                details={"heldNative": held, "neededNative": needed},
            )
        return OpenPlan(
            source, quote, request.leverage, request.collateralType, request.collateralMint, needed, amount_ui
        )

    def _check_capacity(self, source: LiquiditySource, quote: OpenQuote) -> None:
        lend = self.market.lending[source.key]
        if quote.token_a > Decimal(repr(lend.deposit_capacity)):
            raise invalid(
                f"{source.asset.value} deposit capacity left on {source.protocol.label} is "
                f"{lend.deposit_capacity:.2f}, below the {quote.token_a:.4f} this position needs",
                code="INSUFFICIENT_CAPACITY",
            )
        if quote.debt_usd > Decimal(repr(lend.borrow_capacity)):
            raise invalid(
                f"USDC borrow capacity left on {source.protocol.label} is {lend.borrow_capacity:.2f}, below "
                f"the {quote.debt_usd:.2f} this position borrows",
                code="INSUFFICIENT_CAPACITY",
            )

    @staticmethod
    def _check_impact(impact: Decimal, slippage_bps: int) -> None:
        if impact * 10_000 > slippage_bps:
            raise invalid(
                f"the swap's price impact ({impact * 10_000:.2f} bps) exceeds slippageBps ({slippage_bps})",
                code="SLIPPAGE_EXCEEDED",
            )

    def _wallet_holds(self, owner: Pubkey, asset: Asset) -> int:
        """Raw units the wallet can spend: lamports for SOL, its associated token account otherwise."""
        if asset is Asset.SOL:
            return self.chain.balance(owner)
        account = self.chain.account(get_associated_token_address(owner, Pubkey.from_string(mint_of(asset))))
        if account is None:
            return 0
        return TokenAccount.from_bytes(bytes(account.data)).amount

    def _derive_pda(self, owner: Pubkey, source: LiquiditySource, nonce: int) -> str:
        seeds = [
            b"asgard-position",
            bytes(owner),
            bytes([source.protocol.value]),
            bytes(Pubkey.from_string(source.token_a_mint)),
            nonce.to_bytes(8, "little"),
        ]
        return str(Pubkey.find_program_address(seeds, PROGRAM_IDS[source.protocol])[0])

    def _open_instructions(
        self, plan: OpenPlan, owner: Pubkey, pda: str, tip: int
    ) -> list[list[Instruction]]:
        """The open's transactions: on Kamino and Drift a first one sets up the protocol's account
        (their obligation / user account), then the open itself."""
        src = plan.source
        custody = self.custody.pubkey()
        bundle: list[list[Instruction]] = []
        if src.protocol in SETUP_TRANSACTION:
            bundle.append(
                [
                    *txs.compute_budget(),
                    txs.record_instruction(
                        txs.asgard_program_id(),
                        [owner],
                        f"asgard:init-{SETUP_TRANSACTION[src.protocol]} protocol={src.protocol.label} "
                        f"position={pda}",
                    ),
                ]
            )
        ixs = txs.compute_budget()
        if plan.collateral_type == 0 and src.asset is Asset.SOL:
            ixs.append(txs.sol_transfer(owner, custody, plan.amount_native))
        else:
            mint = Pubkey.from_string(plan.collateral_mint)
            asset = src.asset if plan.collateral_type == 0 else Asset.USDC
            ixs.append(
                txs.transfer_checked(
                    get_associated_token_address(owner, mint),
                    mint,
                    get_associated_token_address(custody, mint),
                    owner,
                    plan.amount_native,
                    decimals_of(asset),
                )
            )
        q = plan.quote
        ixs.append(
            txs.record_instruction(
                txs.asgard_program_id(), [owner], f"asgard:open-position v1 position={pda} side=long"
            )
        )
        text = (
            f"asgard:open-position v1 protocol={src.protocol.label} market={src.market_key} position={pda} "
            f"side=long tokenA={src.token_a_mint} depositNative={plan.amount_native} "
            f"borrowUsdcNative={_raw(q.debt_usd, 6)} "
            f"minTokenAOutNative={_raw(q.bought_a, decimals_of(src.asset))}"
        )
        ixs.append(txs.record_instruction(PROGRAM_IDS[src.protocol], [owner], text))
        ixs.append(self._swap_instruction(owner, USDC_MINT, src.token_a_mint, q.swap_in_usd, None))
        self._add_foreign_and_tip(ixs, owner, tip)
        bundle.append(ixs)
        return bundle

    def _swap_instruction(
        self, owner: Pubkey, in_mint: str, out_mint: str, amount_in: Decimal, platform: str | None
    ) -> Instruction:
        """The swap leg, routed through Jupiter or DFlow: the one asked for, else each in turn."""
        router = platform or ("jupiter" if self._nonce % 2 else "dflow")
        return txs.record_instruction(
            txs.SWAP_PROGRAMS[router],
            [owner],
            f"{router}:route inputMint={in_mint} outputMint={out_mint} inAmountUI={num(amount_in, 6)}",
        )

    def _add_foreign_and_tip(self, ixs: list[Instruction], payer: Pubkey, tip: int) -> None:
        if self.faults.get("asgard").foreign_program:
            # Fault: an instruction for a program no careful client allow-lists.
            ixs.append(
                txs.record_instruction(
                    self.foreign_program, [payer], f"approve-delegate owner={payer} amount=all"
                )
            )
        if tip > 0:
            ixs.append(txs.sol_transfer(payer, txs.jito_tip_account(self._nonce), tip))

    def submit_open(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._submit(body, "open", "positionPda", self._land_open)

    def _land_open(self, key: str, bundle: list[VersionedTransaction], build: Build) -> dict[str, Any]:
        plan = build.open
        assert plan is not None
        lend = self.market.lending[plan.source.key]
        if not lend.active:
            raise invalid(f"the {plan.source.strategy} source became inactive", code="SOURCE_INACTIVE")
        self._check_capacity(plan.source, plan.quote)
        price = self._price(plan.source.asset)
        if price > build.price * (1 + build.slippage):
            raise _moved(build.price, price)
        if build.position_id is None:
            build.position_id = self._next_id
            self._next_id += 1
        # The record's openTxHash: the transaction that opens the position (the bundle's last).
        position = self._new_position(build, plan, str(bundle[-1].signatures[0]))
        if not self._deliver(bundle):
            return position.record()  # looks sent; never lands
        self._store(position)
        answer = position.record()
        self._settle(key, answer)
        log.info("asgard position opened", position=position.pda, owner=position.owner, id=position.id)
        return answer

    def _new_position(self, build: Build, plan: OpenPlan, signature: str) -> Position:
        src = plan.source
        q = plan.quote
        key = src.key
        in_mint = plan.collateral_mint if plan.collateral_type == 1 else USDC_MINT
        return Position(
            id=build.position_id or 0,
            owner=build.owner,
            pda=build.pda,
            source=src,
            leverage=plan.leverage,
            a_scaled=q.token_a / self.indices.supply(key),
            d_scaled=q.debt_usd / self.indices.borrow(key),
            token_a_entry_price=q.price,
            token_a_entry=q.token_a,
            token_b_entry=q.debt_usd,
            collateral_type=plan.collateral_type,
            collateral_mint=plan.collateral_mint,
            collateral_amount_native=plan.amount_native,
            collateral_amount_ui=plan.amount_ui,
            opened_ms=self.clock.now_ms(),
            open_tx=signature,
            entry_meta=swap_metadata(in_mint, src.token_a_mint, q.swap_in_usd, q.bought_a),
            open_fees={
                "asgardFeeUsd": num(q.fee_usd, 6),
                "asgardFeeBps": int(OPEN_FEE_RATE * 10_000),
                "dexPriceImpactBps": num(q.impact * 10_000, 2),
                "jitoTipLamport": build.tip,
            },
            reserved_a=q.token_a,
            reserved_b=q.debt_usd,
        )

    def _store(self, position: Position) -> None:
        self.positions[position.pda] = position
        self._active[position.pda] = position
        self._active_keys[position.source.key] += 1
        self._ratios[position.pda] = (position.source.key, float(position.d_scaled / position.a_scaled))
        lend = self.market.lending[position.source.key]
        lend.deposit_capacity -= float(position.reserved_a)
        lend.borrow_capacity -= float(position.reserved_b)

    def _release(self, position: Position, fraction: Decimal, debt_fraction: Decimal | None = None) -> None:
        """Give back `fraction` of the deposit capacity the position took, and `debt_fraction` (the
        same by default) of the borrow capacity."""
        lend = self.market.lending[position.source.key]
        debt_fraction = fraction if debt_fraction is None else debt_fraction
        back_a, back_b = position.reserved_a * fraction, position.reserved_b * debt_fraction
        lend.deposit_capacity += float(back_a)
        lend.borrow_capacity += float(back_b)
        position.reserved_a -= back_a
        position.reserved_b -= back_b

    def _retire(self, position: Position, state: PositionState, at_ms: int, price: Decimal) -> None:
        self._release(position, Decimal(1))
        position.state = state
        position.closed_ms = at_ms
        position.token_a_exit_price = price
        position.a_scaled = Decimal(0)
        position.d_scaled = Decimal(0)
        self._active.pop(position.pda, None)
        self._ratios.pop(position.pda, None)
        self._active_keys[position.source.key] -= 1
        if self._active_keys[position.source.key] <= 0:
            del self._active_keys[position.source.key]

    # ------------------------------------------------------------------ close
    def build_close(self, request: CloseRequest, simulate: bool = False) -> dict[str, Any]:
        with self._lock:
            self._sync()
            owner = _pubkey(request.walletPubkey, "walletPubkey")
            position = self._owned_active(request.positionPDA, request.walletPubkey, request.protocol)
            if request.collateralType not in (0, 1):
                raise invalid(
                    "collateralType must be 0 (receive token A) or 1 (receive USDC)",
                    code="INVALID_COLLATERAL_TYPE",
                )
            self._check_tip_and_slippage(request.jitoTipLamport, request.slippageBps)
            src = position.source
            token_a, debt = self._amounts(position)
            price = self._price(src.asset)
            quote = quote_close(price, token_a, debt, receive_token_a=request.collateralType == 0)
            self._check_impact(quote.impact, request.slippageBps)
            self._nonce += 1
            text = (
                f"asgard:close-position v1 protocol={src.protocol.label} position={position.pda} "
                f"repayUsdcNative={_raw(quote.debt_repaid, 6)} withdrawTokenANative="
                f"{_raw(token_a, decimals_of(src.asset))}"
            )
            tx = self._payout_transaction(owner, position, quote, text, request.jitoTipLamport, None)
            # "Transaction data for closing the position": Asgard documents no more than the request
            # and `signedTxs`; the rest varies by protocol.
            response: dict[str, Any] = {
                **request.model_dump(mode="json"),
                **_protocol_metadata(src.protocol, position.pda),
            }
            if self._simulated(src.protocol, [tx], response, simulate):
                return response
            slippage = Decimal(request.slippageBps) / 10_000
            self._remember(
                [tx],
                Build(
                    "close",
                    str(owner),
                    position.pda,
                    price,
                    slippage,
                    request.jitoTipLamport,
                    time.time(),
                    close=quote,
                    position_id=position.id,
                ),
            )
            response["signedTxs"] = [txs.encode(tx)]
            return response

    def _simulated(
        self, protocol: Protocol, bundle: list[VersionedTransaction], response: dict[str, Any], simulate: bool
    ) -> bool:
        """Simulates a build's transactions. True when the caller only asked for a simulation: `response`
        then carries the results, failed or not. Otherwise a failed simulation refuses the build."""
        sims = [self.chain.simulate(tx) for tx in bundle]
        if simulate:
            response.update(_simulation_results(protocol, sims))
            return True
        failed = next((sim for sim in sims if sim.err is not None), None)
        if failed is not None:
            raise _simulation_failed(failed.err, failed.logs)
        return False

    def _check_tip_and_slippage(self, tip: int, slippage_bps: int) -> None:
        if not 0 <= tip <= MAX_JITO_TIP_LAMPORTS:
            raise invalid(f"jitoTipLamport must be between 0 and {MAX_JITO_TIP_LAMPORTS}", code="INVALID_TIP")
        if not 1 <= slippage_bps <= MAX_SLIPPAGE_BPS:
            raise invalid(f"slippageBps must be between 1 and {MAX_SLIPPAGE_BPS}", code="INVALID_SLIPPAGE")

    def _payout_transaction(
        self, owner: Pubkey, position: Position, quote: CloseQuote, text: str, tip: int, platform: str | None
    ) -> VersionedTransaction:
        """Close / partial close: the protocol instruction, the swap, then custody pays the proceeds."""
        src = position.source
        custody = self.custody.pubkey()
        ixs = txs.compute_budget()
        ixs.append(txs.record_instruction(PROGRAM_IDS[src.protocol], [owner, custody], text))
        ixs.append(
            txs.record_instruction(
                txs.asgard_program_id(), [owner], f"asgard:{text.split()[0][7:]} position={position.pda}"
            )
        )
        if quote.sold_a > 0:
            ixs.append(self._swap_instruction(owner, src.token_a_mint, USDC_MINT, quote.sold_a, platform))
        if quote.payout_usdc > 0:
            ixs += self._pay(custody, owner, Asset.USDC, _raw(quote.payout_usdc, 6), owner)
        if quote.payout_a > 0:
            ixs += self._pay(custody, owner, src.asset, _raw(quote.payout_a, decimals_of(src.asset)), owner)
        self._add_foreign_and_tip(ixs, owner, tip)
        blockhash, _ = self.chain.latest_blockhash()
        return txs.build(owner, ixs, blockhash, cosigners=[self.custody])

    @staticmethod
    def _pay(source: Pubkey, owner: Pubkey, asset: Asset, raw: int, rent_payer: Pubkey) -> list[Instruction]:
        """Move `raw` units of `asset` from `source` to `owner`, creating its token account if needed."""
        if raw <= 0:
            return []
        if asset is Asset.SOL:
            return [txs.sol_transfer(source, owner, raw)]
        mint = Pubkey.from_string(mint_of(asset))
        return [
            txs.create_ata_idempotent(rent_payer, owner, mint),
            txs.transfer_checked(
                get_associated_token_address(source, mint),
                mint,
                get_associated_token_address(owner, mint),
                source,
                raw,
                decimals_of(asset),
            ),
        ]

    def submit_close(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._submit(body, "close", "positionPDA", self._land_close)

    def _land_close(self, key: str, bundle: list[VersionedTransaction], build: Build) -> dict[str, Any]:
        quote = build.close
        assert quote is not None
        position, _ = self._closing(build)
        signature = str(bundle[-1].signatures[0])
        target = position if self._deliver(bundle) else replace(position)
        self._apply_close(target, quote, signature)
        answer = {
            **target.record_with_events(),
            "txHash": signature,
            "txMetadata": self._tx_metadata(signature),
        }
        if target is position:
            self._settle(key, answer)
            log.info("asgard position closed", position=position.pda, owner=position.owner)
        return answer

    def _closing(self, build: Build) -> tuple[Position, Decimal]:
        """The live position a close or an update lands on and the price now; refused when the price
        fell past the build's slippage since its quote."""
        position = self._owned_active(build.pda, build.owner, self.positions[build.pda].source.protocol.value)
        price = self._price(position.source.asset)
        if price < build.price * (1 - build.slippage):
            raise _moved(build.price, price)
        return position, price

    def _apply_close(self, position: Position, quote: CloseQuote, signature: str) -> None:
        src = position.source
        position.close_tx = signature
        position.exit_meta = swap_metadata(src.token_a_mint, USDC_MINT, quote.sold_a, quote.usdc_from_swap)
        position.close_fees = {
            "asgardFeeUsd": num(quote.fee_usd, 6),
            "dexPriceImpactBps": num(quote.impact * 10_000, 2),
            "receivedUsdcUI": num(quote.payout_usdc, 6),
            "receivedTokenAUI": num(quote.payout_a),
        }
        if position.pda in self._active and position is self._active[position.pda]:
            self._retire(position, PositionState.CLOSED, self.clock.now_ms(), quote.price)
        else:  # a dropped submit: show the record as it would be, change nothing
            position.state = PositionState.CLOSED
            position.closed_ms = self.clock.now_ms()
            position.token_a_exit_price = quote.price

    # ------------------------------------------------------------------ modifications
    def build_partial_close(self, request: PartialCloseRequest) -> dict[str, Any]:
        with self._lock:
            position, token_a, debt, price = self._modifiable(request, "partial close")
            pct = request.closePercentage
            if not 1 <= pct <= 99:
                raise invalid("closePercentage must be between 1 and 99", code="INVALID_PERCENTAGE")
            quote = quote_close(price, token_a, debt, receive_token_a=False, fraction=pct / 100)
            text = (
                f"asgard:partial-close v1 protocol={position.source.protocol.label} position={position.pda} "
                f"percent={pct} "
            )
            answer, record = self._build_update(
                request, position, quote, UpdateType.PARTIAL_CLOSE, text, pct, request.swapPlatform
            )
            lend = self.market.lending[position.source.key]
            # Exactly `PartialClosePositionResponseBody` (Asgard's doc): no positionId or mints, which the
            # submit needs and a client reads from the position's record.
            return {
                **request.model_dump(mode="json", include={"protocol", "walletPubkey", "positionPDA"}),
                "closePercentage": float(pct),
                **answer["before"],
                "leverageBefore": record["preLeverage"],
                **answer["after"],
                "leverageAfter": record["postLeverage"],
                "equityWithdrawnUI": float(Decimal(_raw(quote.payout_usdc, 6)).scaleb(-6)),
                "equityWithdrawnMint": USDC_MINT,
                "longTokenPriceUSD": float(price),
                "shortTokenPriceUSD": 1.0,
                "feesMetadata": answer["fees"],
                "lendingApyAtClose": round(lend.supply_apy, 6),
                "borrowingApyAtClose": round(lend.usdc_borrow_apy, 6),
                "signedTxs": answer["signedTxs"],
                "updateRecordData": record,
            }

    def build_deleverage(self, request: DeleverageRequest) -> dict[str, Any]:
        """Sell token A to repay debt down to `targetLeverage`; the equity stays in the position."""
        with self._lock:
            position, token_a, debt, price = self._modifiable(request, "deleverage")
            current = leverage_of(token_a * price, debt)
            target = request.targetLeverage
            if not Decimal(1) <= target < current:
                raise invalid(
                    f"targetLeverage must be >= 1.0 and < the current leverage {num(current, 4)}",
                    code="INVALID_LEVERAGE",
                )
            quote = quote_deleverage(price, token_a, debt, target)
            text = (
                f"asgard:deleverage v1 protocol={position.source.protocol.label} position={position.pda} "
                f"targetLeverage={target} "
            )
            answer, record = self._build_update(
                request, position, quote, UpdateType.DELEVERAGE, text, None, request.swapPlatform
            )
            lend = self.market.lending[position.source.key]
            # Exactly `DeleveragePositionResponseBody` (Asgard's doc).
            return {
                **request.model_dump(mode="json", include={"protocol", "walletPubkey", "positionPDA"}),
                "leverageBefore": record["preLeverage"],
                "leverageAfter": record["postLeverage"],
                "targetLeverage": float(target),
                **answer["before"],
                **answer["after"],
                "longTokenPriceUSD": float(price),
                "shortTokenPriceUSD": 1.0,
                "feesMetadata": answer["fees"],
                "lendingApyAtUpdate": round(lend.supply_apy, 6),
                "borrowingApyAtUpdate": round(lend.usdc_borrow_apy, 6),
                "signedTxs": answer["signedTxs"],
                "updateRecordData": record,
            }

    def _modifiable(
        self, request: PartialCloseRequest | DeleverageRequest, what: str
    ) -> tuple[Position, Decimal, Decimal, Decimal]:
        """The owner's active position a modification may change, its amounts now and the price; the
        checks every modification makes first."""
        self._sync()
        _pubkey(request.walletPubkey, "walletPubkey")
        position = self._owned_active(request.positionPDA, request.walletPubkey, request.protocol)
        if position.source.protocol not in MODIFIABLE:
            raise invalid(
                f"position modifications ({what} included) are supported on Kamino (1) and Drift (3) only",
                code="UNSUPPORTED_PROTOCOL",
            )
        self._check_tip_and_slippage(request.jitoTipLamport, request.slippageBps)
        token_a, debt = self._amounts(position)
        return position, token_a, debt, self._price(position.source.asset)

    def _build_update(
        self,
        request: PartialCloseRequest | DeleverageRequest,
        position: Position,
        quote: CloseQuote,
        update_type: UpdateType,
        text: str,
        percent: Decimal | None,
        platform: str | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The transaction of a modification that sells `quote.sold_a` and repays `quote.debt_repaid`,
        remembered for its submit; returns the answer's shared parts and its `updateRecordData`."""
        self._check_impact(quote.impact, request.slippageBps)
        src = position.source
        owner = _pubkey(request.walletPubkey, "walletPubkey")
        token_a, debt = self._amounts(position)
        price = quote.price
        self._nonce += 1
        text += (
            f"repayUsdcNative={_raw(quote.debt_repaid, 6)} withdrawTokenANative="
            f"{_raw(quote.sold_a, decimals_of(src.asset))}"
        )
        tx = self._payout_transaction(owner, position, quote, text, request.jitoTipLamport, platform)
        sim = self.chain.simulate(tx)
        if sim.err is not None:
            raise _simulation_failed(sim.err, sim.logs)
        value = token_a * price
        after_a, after_d = token_a - quote.sold_a, debt - quote.debt_repaid
        record = {
            "updateType": update_type.value,
            "updatePercentage": None if percent is None else float(percent),
            "preTokenAAmountUI": num(token_a),
            "preTokenBAmountUI": num(debt, 6),
            "preLeverage": num(leverage_of(value, debt), 4),
            "preMarginAmountUI": num(value - debt, 6),
            "collateralType": None,
            "collateralMint": None,
            "collateralAmountNative": None,
            "collateralAmountUI": None,
            "swapInAmount": num(quote.sold_a),
            "swapInMint": src.token_a_mint,
            "swapOutAmount": num(quote.usdc_from_swap, 6),
            "swapOutMint": USDC_MINT,
            "postTokenAAmountUI": num(after_a),
            "postTokenBAmountUI": num(after_d, 6),
            "postLeverage": num(leverage_of(after_a * price, after_d), 4),
            "postMarginAmountUI": num(after_a * price - after_d, 6),
            "tokenAPriceUSD": float(price),
            "tokenBPriceUSD": 1.0,
        }
        self._remember(
            [tx],
            Build(
                "update",
                str(owner),
                position.pda,
                price,
                Decimal(request.slippageBps) / 10_000,
                request.jitoTipLamport,
                time.time(),
                close=quote,
                update=record,
                position_id=position.id,
            ),
        )
        shared = {
            "before": {
                "depositAmountUIBefore": record["preTokenAAmountUI"],
                "borrowAmountUIBefore": record["preTokenBAmountUI"],
                "marginAmountUIBefore": record["preMarginAmountUI"],
            },
            "after": {
                "depositAmountUIAfter": record["postTokenAAmountUI"],
                "borrowAmountUIAfter": record["postTokenBAmountUI"],
                "marginAmountUIAfter": record["postMarginAmountUI"],
            },
            "fees": {
                "asgardFeeUsd": num(quote.fee_usd, 6),
                "dexPriceImpactBps": num(quote.impact * 10_000, 2),
                "jitoTipLamport": request.jitoTipLamport,
            },
            "signedTxs": [txs.encode(tx)],
        }
        return shared, record

    def submit_update(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._submit(body, "update", "positionPDA", self._land_update)

    def _land_update(self, key: str, bundle: list[VersionedTransaction], build: Build) -> dict[str, Any]:
        quote, record = build.close, build.update
        assert quote is not None and record is not None
        position, price = self._closing(build)
        signature = str(bundle[-1].signatures[0])
        update_id = self._next_update_id
        self._next_update_id += 1
        landed = self._deliver(bundle)
        target = position if landed else replace(position)
        # What the build sold and repaid, as shares of what the position holds and owes now.
        held, owed = self._amounts(target)
        sold = min(Decimal(1), quote.sold_a / held) if held > 0 else Decimal(0)
        repaid = min(Decimal(1), quote.debt_repaid / owed) if owed > 0 else Decimal(0)
        if landed:
            self._release(position, sold, repaid)
        target.a_scaled *= 1 - sold
        target.d_scaled *= 1 - repaid
        if landed and target.a_scaled > 0:  # the liquidation scan's debt per token A changed
            self._ratios[target.pda] = (target.source.key, float(target.d_scaled / target.a_scaled))
        token_a, debt = self._amounts(target)
        target.token_a_current = token_a
        target.token_b_current = debt
        target.leverage_current = leverage_of(token_a * price, debt)
        target.update_count += 1
        target.last_update_id = update_id
        answer = {
            "success": True,
            "txHash": signature,
            "txMetadata": self._tx_metadata(signature),
            "positionUpdate": {"id": update_id, "updateType": record["updateType"], "status": 1},
            "position": {
                "id": target.id,
                "tokenAAmountUICurrent": dec(token_a),
                "tokenBAmountUICurrent": dec(debt, 6),
                "leverageCurrent": dec(target.leverage_current, 4),
                "updateCount": target.update_count,
            },
        }
        if landed:
            self.position_updates.append(
                {
                    "id": update_id,
                    "positionId": position.id,
                    "positionPda": position.pda,
                    "ownerAddress": position.owner,
                    "protocol": position.source.protocol.value,
                    **record,
                    "txHash": signature,
                    "status": 1,
                    "createdAt": iso(self.clock.now_ms()),
                }
            )
            self._settle(key, answer)
        return answer

    # ------------------------------------------------------------------ submit plumbing
    def _remember(self, bundle: list[VersionedTransaction], build: Build) -> None:
        now = time.time()
        while self._pending:
            first = next(iter(self._pending.values()))
            if now - first.created < BUILD_TTL_S:
                break
            self._pending.popitem(last=False)
        self._pending[txs.message_key(bundle)] = build

    def _submit(
        self,
        body: dict[str, Any],
        kind: str,
        pda_field: str,
        land: Callable[[str, list[VersionedTransaction], Build], dict[str, Any]],
    ) -> dict[str, Any]:
        """Every submit, under the lock: the checks of `_submitted`, then the answer it gave before when
        the transactions already landed, else `land(key, bundle, build)`."""
        with self._lock:
            key, bundle, build = self._submitted(body, kind, pda_field)
            if build is None:
                return self._landed[key]
            return land(key, bundle, build)

    def _submitted(
        self, body: dict[str, Any], kind: str, pda_field: str
    ) -> tuple[str, list[VersionedTransaction], Build | None]:
        """What every submit checks first, under the lock: the transactions are the ones this API built
        for this kind of submit, echoed back unchanged, signed, and their blockhash still valid. The
        build is None when they already landed: the submit answers `self._landed[key]` again."""
        self._sync()
        key, bundle, build = self._take_back(body, kind, pda_field)
        if build is not None and kind == "update":
            self._check_update_echo(body, build)
        txs.check_signed(bundle)
        if build is not None:
            self._check_fresh(bundle)
        return key, bundle, build

    def _check_update_echo(self, body: dict[str, Any], build: Build) -> None:
        """An update's body echoes its position (checked before the signatures, as Asgard does)."""
        src = self.positions[build.pda].source
        for field_name, expected in (
            ("positionId", build.position_id),
            ("tokenATokenMint", src.token_a_mint),
            ("tokenBTokenMint", src.token_b_mint),
            ("protocol", src.protocol.value),
        ):
            if body[field_name] != expected:
                raise invalid(
                    f"{field_name} does not match the position this transaction updates",
                    code="ECHO_MISMATCH",
                )

    def _take_back(
        self, body: dict[str, Any], kind: str, pda_field: str
    ) -> tuple[str, list[VersionedTransaction], Build | None]:
        """The signed transactions of a submit and the build they came from (None: already landed)."""
        signed = body.get("signedTxs")
        if not isinstance(signed, list) or not signed:
            raise invalid(
                "signedTxs must hold the transactions the build returned, signed, in order",
                code="INVALID_TRANSACTION",
            )
        bundle = [txs.decode(text) for text in signed]
        key = txs.message_key(bundle)
        if key in self._landed:
            return key, bundle, None
        build = self._pending.get(key)
        if build is None:
            raise invalid(
                "these transactions were not built by this API, were changed after they were built, "
                "are not all of the build's (in order), or expired; build them again",
                code="UNKNOWN_TRANSACTION",
            )
        if build.kind != kind:
            raise invalid(
                f"this transaction was built for a {build.kind}, not a {kind}", code="WRONG_ENDPOINT"
            )
        for field_name, expected in ((pda_field, build.pda), ("walletPubkey", build.owner)):
            if field_name in body and body[field_name] != expected:
                raise invalid(f"{field_name} differs from the built transaction's", code="ECHO_MISMATCH")
        return key, bundle, build

    def _check_fresh(self, bundle: list[VersionedTransaction]) -> None:
        for tx in bundle:
            blockhash = tx.message.recent_blockhash
            if not self.chain.blockhash_valid(blockhash):
                raise AsgardError(
                    "BLOCKHASH_EXPIRED",
                    f"the transaction's blockhash {blockhash} has expired (block height exceeded); "
                    "build the transaction again and sign it promptly",
                    name="TransactionExpiredBlockheightExceededError",
                    details={"blockhash": str(blockhash), "blockHeight": self.chain.block_height},
                )

    def _deliver(self, bundle: list[VersionedTransaction]) -> bool:
        """Send signed transactions, in order, as one bundle; False when it was lost on the way (none
        lands). A transaction of the bundle that already landed (a bundle sent again) is skipped."""
        if self.faults.should_drop("asgard"):
            return False
        for tx in bundle:
            if self.chain.status(str(tx.signatures[0])) is not None:
                continue
            if not self._deliver_one(tx):
                return False
        return True

    def _deliver_one(self, tx: VersionedTransaction) -> bool:
        try:
            signature = self.chain.send(tx)
        except RpcError as exc:
            if exc.code == -32005:
                raise AsgardError(
                    "SOLANA_UNAVAILABLE", f"Solana RPC error: {exc.message}", name="RpcError", status=503
                ) from None
            raise AsgardError(
                "TRANSACTION_FAILED",
                f"the transaction was rejected: {exc.message}",
                name="SendTransactionError",
                details={"rpcCode": exc.code, "data": exc.data},
            ) from None
        status = self.chain.status(str(signature))
        if status is None:
            return False
        landed, _ = status
        if landed.err is not None:
            raise AsgardError(
                "TRANSACTION_FAILED",
                f"the transaction failed on chain: {_err_text(landed.err)}",
                name="SendTransactionError",
                details={"logs": landed.logs},
            )
        return True

    def _settle(self, key: str, answer: dict[str, Any]) -> None:
        self._pending.pop(key, None)
        self._landed[key] = answer
        if len(self._landed) > LANDED_KEPT:  # replays come within seconds; forget the oldest
            del self._landed[next(iter(self._landed))]

    def _tx_metadata(self, signature: str) -> dict[str, Any]:
        status = self.chain.status(signature)
        if status is None:
            return {"signature": signature, "slot": None, "fee": None, "err": None}
        landed, _ = status
        return {"signature": signature, "slot": landed.slot, "fee": landed.fee, "err": None}

    # ------------------------------------------------------------------ every simulated minute
    def _on_step(self, t: int) -> None:
        with self._lock:
            if not self._active and not self._payouts:
                return
            # A position is liquidatable when debt ≥ collateral × price × LT, that is when its scaled
            # debt per scaled token A reaches price × LT × supply index / borrow index: one float
            # comparison per position per minute.
            limits: dict[tuple[Protocol, Asset], float] = {}
            for key in self._active_keys:
                lend = self.market.lending[key]
                self.indices.accrue(key, lend.supply_apy, lend.usdc_borrow_apy)
                price = raw_price_float(self.market, key[1])
                growth = float(self.indices.supply(key) / self.indices.borrow(key))
                limits[key] = price * lend.spec.liquidation_threshold * growth
            doomed = [pda for pda, (key, ratio) in self._ratios.items() if ratio >= limits[key]]
            for pda in doomed:
                self._liquidate(self._active[pda], t)
            if self._payouts:
                self._payouts = [p for p in self._payouts if not self._pay_residual(p)]

    def _liquidate(self, position: Position, t: int) -> None:
        src = position.source
        token_a, debt = self._amounts(position)
        price = self._price(src.asset)
        hf = health_factor(token_a * price, debt, self._lt(src))
        outcome = liquidate(price, token_a, debt)
        self._retire(position, PositionState.LIQUIDATED, t, price)
        event = {
            "id": len(self.liquidation_events) + 1,
            "positionId": position.id,
            "positionPda": position.pda,
            "ownerAddress": position.owner,
            "protocol": src.protocol.value,
            "tokenATokenMint": src.token_a_mint,
            "tokenBTokenMint": src.token_b_mint,
            "liquidationType": "FULL",
            "liquidatedAt": iso(t),
            "timestampMs": t,
            "tokenAPriceUSD": float(price),
            "healthFactorBefore": num(hf, 4),
            "collateralBeforeUI": num(token_a),
            "debtRepaidUI": num(outcome.debt_repaid, 6),
            "collateralSeizedUI": num(outcome.seized_a),
            "liquidationPenaltyRate": float(LIQUIDATION_PENALTY),
            "liquidationPenaltyUSD": num(outcome.penalty_usd, 6),
            "badDebtUSD": num(outcome.bad_debt_usd, 6),
            "residualReturnedUI": num(outcome.residual_a),
            "residualReturnedMint": src.token_a_mint,
            "residualTxHash": None,
        }
        position.liquidation_events.append(event)
        self.liquidation_events.append(event)
        raw = _raw(outcome.residual_a, decimals_of(src.asset))
        log.info("asgard position liquidated", position=position.pda, owner=position.owner, price=str(price))
        if raw > 0:
            payout = Payout(event, Pubkey.from_string(position.owner), src.asset, raw)
            if not self._pay_residual(payout):
                self._payouts.append(payout)

    def _pay_residual(self, payout: Payout) -> bool:
        """Send the owner what a liquidation left; True once it landed."""
        custody = self.custody.pubkey()
        ixs = self._pay(custody, payout.owner, payout.asset, payout.raw, custody)
        ixs.append(
            txs.record_instruction(
                PROGRAM_IDS[Protocol(payout.event["protocol"])],
                [custody],
                f"asgard:liquidation-residual position={payout.event['positionPda']} "
                f"event={payout.event['id']}",
            )
        )
        try:
            blockhash, _ = self.chain.latest_blockhash()
            tx = txs.build(custody, ixs, blockhash, cosigners=[self.custody])
            signature = str(self.chain.send(tx))
        except RpcError:
            return False
        if self.chain.status(signature) is None:
            return False
        payout.event["residualTxHash"] = signature
        return True

    # ------------------------------------------------------------------ admin
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            counts = Counter(p.state.name.lower() for p in self.positions.values())
            collateral = debt = Decimal(0)
            for position in self._active.values():
                token_a, owed = self._amounts(position)
                collateral += token_a * self._price(position.source.asset)
                debt += owed
            return {
                "positions": {
                    "open": counts.get("active", 0),
                    "closed": counts.get("closed", 0),
                    "liquidated": counts.get("liquidated", 0),
                },
                "totals": {
                    "openCollateralUsd": dec(collateral, 2),
                    "openDebtUsd": dec(debt, 2),
                    "openEquityUsd": dec(collateral - debt, 2),
                },
                "liquidation_events": len(self.liquidation_events),
                "unpaid_liquidation_residuals": len(self._payouts),
                "position_updates": len(self.position_updates),
                "pending_transactions": len(self._pending),
                "custody": str(self.custody.pubkey()),
                "programs": {p.label: str(pid) for p, pid in PROGRAM_IDS.items()},
                "foreign_program": str(self.foreign_program),
            }


def _protocol_metadata(protocol: Protocol, pda: str) -> dict[str, Any]:
    """What a build answer adds besides the request and `signedTxs`: Asgard says its structure "varies
    by protocol", so each protocol's is named and shaped its own way here."""
    if protocol is Protocol.MARGINFI:
        return {"marginfiAccount": pda, "lookupTables": []}
    if protocol is Protocol.KAMINO:
        return {"kamino": {"obligation": pda, "setupTxCount": 1}}
    if protocol is Protocol.SOLEND:
        return {"obligationAddress": pda}
    return {"drift": {"subAccountId": 0, "user": pda}}


def _simulation_results(protocol: Protocol, sims: list[Any]) -> dict[str, Any]:
    """A simulate endpoint's "simulation results" (undocumented): shaped per protocol."""
    runs = [{"err": _err_text(sim.err), "logs": sim.logs, "unitsConsumed": sim.units} for sim in sims]
    if protocol in (Protocol.KAMINO, Protocol.DRIFT):
        return {"simulations": runs}
    return {"result": {"value": runs[-1]}}


def _err_text(err: Any) -> str | None:
    if err is None:
        return None
    return str(err)


def _simulation_failed(err: Any, logs: list[str]) -> AsgardError:
    return AsgardError(
        "TRANSACTION_SIMULATION_FAILED",
        f"the transaction would fail on chain: {_err_text(err)} (does the wallet hold the collateral and "
        "enough SOL for fees and the tip?)",
        name="SimulationError",
        details={"err": _err_text(err), "logs": logs},
    )


def _moved(quoted: Decimal, now: Decimal) -> AsgardError:
    return AsgardError(
        "SLIPPAGE_EXCEEDED",
        f"the price moved from {quoted} to {now}, beyond slippageBps since the build; build again",
        name="SlippageError",
        details={"quotedPriceUSD": float(quoted), "priceUSD": float(now)},
    )
