"""What the Asgard client hands back: markets, quotes, built and signed transactions, positions, errors.

Parsing lives here too, so the client module is only about HTTP and the build → sign → submit flow.
Every number is read from JSON as a `Decimal` (the client parses with `parse_float=Decimal`), never
through a float.

Field sources (Asgard's public API doc; fields the doc calls unstable are optional here):
- `healthFactor` is a *percentage* on the wire ("40.94 means the collateral price can drop ~40.94%");
  it is stored here as a fraction (0.4094), the unit every other ratio in Basis uses.
- LST staking yields are not read here: Asgard does not document them; they come from the stake
  pools' own accounts (`tenant_bot.chain.stake_pools`).
- `capacity_usd` of a market is `tokenBMaxBorrowCapacity`: the USDC that can still be borrowed from
  that source. A long borrows USDC, so that is what caps the size of a new position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.assets import SOLANA_NATIVE_MINT, Asset, Chain, Protocol, token_by_mint
from shared.rates import Apy

HUNDRED = Decimal(100)
# Asgard's open fee, a fraction of the notional. Asgard documents only a `feesMetadata` object; 0.15% is
# what joasgard/Asgard-HL-Basisstrategy docs/fee-impact-analysis.md reports (third-party).
ASGARD_OPEN_FEE_RATE = Decimal("0.0015")


class AsgardError(Exception):
    """An answer of Asgard's API that is an error: `{"error": {"name", "code", "message", "details"}}`.

    `status` is the HTTP status (422 for a broken rule, 404 unknown, 503 Solana down, 500 a bug);
    `code` is Asgard's machine-readable code (e.g. `BLOCKHASH_EXPIRED`, `INSUFFICIENT_CAPACITY`).
    """

    def __init__(
        self, message: str, *, code: str, status: int, name: str = "AsgardError", details: Any = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.message = message
        self.code = code
        self.status = status
        self.name = name
        self.details = details

    @property
    def blockhash_expired(self) -> bool:
        """The transaction was built too long ago: build it again (nothing was sent)."""
        return self.code == "BLOCKHASH_EXPIRED"


class UnsafeTransaction(AsgardError):
    """A built transaction failed our checks before signing (unknown program, wrong fee payer…).

    Raised locally, never by the API: nothing was signed or sent.
    """

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(
            message, code="UNSAFE_TRANSACTION", status=0, name="UnsafeTransaction", details=details
        )


@dataclass(frozen=True)
class AsgardMarket:
    """One liquidity source: LONG `asset` against a USDC debt on `protocol`."""

    protocol: Protocol
    asset: Asset
    supply_apy: Apy  # tokenALendingApyRate: what the held SOL/LST earns as a deposit
    borrow_apy: Apy  # tokenBBorrowingApyRate: what the USDC debt costs
    max_leverage: Decimal  # longMaxLeverage
    liquidation_ltv: Decimal | None  # tokenALiquidationThreshold, when the API gives it (unstable field)
    capacity_usd: Decimal | None  # tokenBMaxBorrowCapacity: USDC still borrowable from this source
    is_active: bool = True
    deposit_capacity: Decimal | None = None  # tokenAMaxDepositCapacity, in whole token A units
    token_a_bank: str = ""
    token_b_bank: str = ""


@dataclass(frozen=True)
class OpenQuote:
    protocol: Protocol
    asset: Asset
    collateral_usdc: Decimal
    leverage: Decimal
    token_size: Decimal  # token A the position will hold
    price_usd: Decimal  # token A price quoted
    notional_usd: Decimal
    debt_usdc: Decimal
    fees_usd: Decimal  # Asgard's open fee (priority fees and the Jito tip are in lamports, apart)
    health_factor: Decimal | None  # fraction; see module doc
    liquidation_price: Decimal | None = None
    price_impact_bps: Decimal | None = None


@dataclass(frozen=True)
class BuiltTransaction:
    """A build answer: the transactions of `signedTxs` (one, or several sent together as one Jito
    bundle) and what goes back at submit. Nothing else of a build answer is read: Asgard documents
    only `signedTxs` ("structure varies by protocol"); the blockhash is the one inside each message."""

    kind: str  # "open" | "close" | "partial_close" | "deleverage"
    # The body submitted with `signedTxs` replaced: the build's answer echoed back (open, close), or
    # the documented `/submit-position-update-tx` body (partial close).
    payload: dict[str, Any]
    messages: tuple[bytes, ...]  # the serialized (versioned) message of each transaction, in order

    @property
    def position_id(self) -> str | None:
        """The position's PDA for a close or partial close (the request's `positionPDA`); an open's
        is known once it landed (its record's `openTxHash` is one of the open's signatures)."""
        pda = self.payload.get("positionPDA")
        return str(pda) if pda else None

    @property
    def owner(self) -> str | None:
        owner = self.payload.get("walletPubkey")
        return str(owner) if owner else None


@dataclass(frozen=True)
class SignedTransaction:
    built: BuiltTransaction
    # Base58 fee payer's signature of each transaction: the transaction ids, known before sending.
    signatures: tuple[str, ...]
    raws: tuple[bytes, ...]  # each whole signed transaction

    @property
    def signature(self) -> str:
        """The first transaction's id: the key the execution journal files the attempt under."""
        return self.signatures[0]


@dataclass(frozen=True)
class AsgardPosition:
    position_id: str  # the position PDA, which every Asgard endpoint takes
    protocol: Protocol
    asset: Asset
    token_size: Decimal  # token A held now (with interest), 0 once closed
    collateral_usdc: Decimal | None  # USDC put in at open (None when collateral was token A)
    debt_usdc: Decimal  # USDC owed now (with interest)
    entry_price: Decimal | None
    # Fraction the collateral price can fall before liquidation; ≤ 0 liquidatable. None: unknown (no
    # refresh answered for it), which closes nothing: an outage never closes.
    health_factor: Decimal | None
    liquidation_price: Decimal | None
    opened_at_ms: int | None
    is_open: bool
    raw: dict[str, Any] = field(repr=False, compare=False)


# ---------------------------------------------------------------------------------------------- parsing
def dec(value: Any) -> Decimal | None:
    """A JSON number or numeric string as a Decimal; None for null / missing / not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def req_dec(obj: dict[str, Any], key: str) -> Decimal:
    value = dec(obj.get(key))
    if value is None:
        raise AsgardError(
            f"Asgard's answer lacks the number {key!r}", code="UNEXPECTED_ANSWER", status=200, details=key
        )
    return value


def asset_of_mint(mint: str) -> Asset | None:
    if mint == SOLANA_NATIVE_MINT:
        return Asset.SOL
    tok = token_by_mint(mint)
    if tok is None or tok.chain is not Chain.SOLANA:
        return None
    return tok.asset


def fraction_from_percent(value: Any) -> Decimal | None:
    pct = dec(value)
    return None if pct is None else pct / HUNDRED


def iso_to_ms(text: Any) -> int | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def parse_markets(body: dict[str, Any], usdc_mint: str) -> list[AsgardMarket]:
    """`GET /markets` → the LONG SOL/LST against USDC sources Basis can use; other strategies skipped."""
    out: list[AsgardMarket] = []
    for strategy in (body.get("strategies") or {}).values():
        if strategy.get("tokenBMint") != usdc_mint:
            continue
        asset = asset_of_mint(str(strategy.get("tokenAMint", "")))
        if asset is None or not asset.is_sol_like:
            continue
        for src in strategy.get("liquiditySources") or []:
            try:
                protocol = Protocol(int(src["lendingProtocol"]))
            except (KeyError, ValueError, TypeError):
                continue  # a protocol this client does not know
            out.append(
                AsgardMarket(
                    protocol=protocol,
                    asset=asset,
                    supply_apy=Apy(req_dec(src, "tokenALendingApyRate")),
                    borrow_apy=Apy(req_dec(src, "tokenBBorrowingApyRate")),
                    max_leverage=req_dec(src, "longMaxLeverage"),
                    liquidation_ltv=dec(src.get("tokenALiquidationThreshold")),
                    capacity_usd=dec(src.get("tokenBMaxBorrowCapacity")),
                    is_active=bool(src.get("isActive", True)),
                    deposit_capacity=dec(src.get("tokenAMaxDepositCapacity")),
                    token_a_bank=str(src.get("tokenABank", "")),
                    token_b_bank=str(src.get("tokenBBank", "")),
                )
            )
    return out


def open_quote(
    protocol: Protocol, asset: Asset, collateral_usdc: Decimal, leverage: Decimal, price_usd: Decimal
) -> OpenQuote:
    """What a LONG of `collateral_usdc` at `leverage` holds and owes at `price_usd` (before swap
    slippage): notional = collateral x leverage, debt = collateral x (leverage - 1)."""
    notional = collateral_usdc * leverage
    return OpenQuote(
        protocol=protocol,
        asset=asset,
        collateral_usdc=collateral_usdc,
        leverage=leverage,
        token_size=notional / price_usd,
        price_usd=price_usd,
        notional_usd=notional,
        debt_usdc=collateral_usdc * (leverage - 1),
        fees_usd=notional * ASGARD_OPEN_FEE_RATE,
        health_factor=None,
    )


def parse_token_prices(body: dict[str, Any]) -> dict[Asset, Decimal]:
    """`GET /token-metadata` → USD price per known asset (wrapped SOL is SOL)."""
    out: dict[Asset, Decimal] = {}
    for row in body.get("tokens") or []:
        if not isinstance(row, dict):
            continue
        asset = asset_of_mint(str(row.get("mint", "")))
        price = dec(row.get("price"))
        if asset is not None and price is not None and price > 0:
            out.setdefault(asset, price)
    return out


def _balances(summary: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """(token A held, USDC owed) from `booksAndBalances`: the long asset has assetsQt > 0, the debt
    liabsQt > 0 (the only stable way to read them: keys are bank addresses or Drift market indexes)."""
    held = owed = Decimal(0)
    books = summary.get("booksAndBalances") or {}
    for entry in books.get("balances") or []:
        for row in entry.values():
            assets, liabs = dec(row.get("assetsQt")) or Decimal(0), dec(row.get("liabsQt")) or Decimal(0)
            held += max(assets, Decimal(0))
            owed += max(liabs, Decimal(0))
    return held, owed


def parse_position(record: dict[str, Any], refreshed: dict[str, Any] | None) -> AsgardPosition | None:
    """A `margin_positions` record, with live amounts and health from `/refresh-positions` when given.

    None when the record names a token this client does not know.
    """
    asset = asset_of_mint(str(record.get("tokenATokenMint", "")))
    if asset is None:
        return None
    protocol = Protocol(int(record["protocol"]))
    collateral = dec(record.get("collateralAmountUI")) if record.get("collateralType") == 1 else None
    is_open = int(record.get("state", 0)) == 0
    if refreshed is not None:
        summary = refreshed.get("summary") or {}
        token_size, debt = _balances(summary)
        health = fraction_from_percent(summary.get("healthFactor"))
        # `healthFactor` and `booksAndBalances` are all a refresh documents: a position that holds
        # and owes nothing any more (closed, or liquidated since the record was read) is not open.
        is_open = is_open and (token_size > 0 or debt > 0)
        liquidation_price = None
    else:
        token_size = dec(record.get("tokenAAmountUICurrent")) or dec(record.get("tokenAAmountUIEntry"))
        debt = dec(record.get("tokenBAmountUICurrent")) or dec(record.get("tokenBAmountUIEntry"))
        health, liquidation_price = None, None
    return AsgardPosition(
        position_id=str(record["positionPda"]),
        protocol=protocol,
        asset=asset,
        token_size=token_size or Decimal(0),
        collateral_usdc=collateral,
        debt_usdc=debt or Decimal(0),
        entry_price=dec(record.get("tokenAEntryPriceUSD")),
        health_factor=health,
        liquidation_price=liquidation_price,
        opened_at_ms=iso_to_ms(record.get("openedAt")),
        is_open=is_open,
        raw={"record": record, "refresh": refreshed},
    )
