"""Simulated venues for the backtest: each applies its venue's published rules, and nothing else.

- `SimHyperliquid` (shared/research/venues.md §1.8-1.10): a cross-margin SOL-PERP short on a USDC
  balance. Funding is paid every hour on the short's notional (`FundingRate.payment`: positive pays
  the short). Maintenance margin is 2.5 % of notional (SOL's 20x maximum: 1 / (2·20)); the account
  is liquidated when its value falls to the maintenance margin at the mark, and the backstop keeps
  what is left (the account ends at 0: the whole maintenance margin is lost, never more than the
  account). Taker fee per fill on the fill's notional.
- `SimAsgard` (venues.md §2.4): a SOL long on Kamino, USDC borrowed. Health factor
  `1 − debt / (collateral value × LT)` with Kamino's SOL liquidation threshold 0.85 (the fraction
  the price can fall before liquidation, as Asgard reports it, / 100); at or below 0 the protocol
  liquidates: the debt is repaid from collateral with a penalty (1 % of the debt, Kamino's before
  September 2025; stated, conservative: the whole debt at once rather than 10 % rounds). Interest
  accrues once a day: the SOL held grows at the supply APY, the USDC debt at the borrow APY. Open
  fee 0.15 % of notional, taken from the deposit; no close fee.

Both keep every amount in Decimal USD (or SOL) and add what happened to a `Ledger`, the waterfall.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from shared.rates import Apy, FundingRate
from tenant_bot.strategy.exposure import deleverage_target

SOL_PERP_MAX_LEVERAGE = 20  # venues.md §0.8: SOL-PERP's maxLeverage below $70M notional
HL_MAINTENANCE_RATE = Decimal(1) / (2 * SOL_PERP_MAX_LEVERAGE)  # 2.5 %
KAMINO_SOL_LIQUIDATION_THRESHOLD = Decimal("0.85")
KAMINO_LIQUIDATION_PENALTY = Decimal("0.01")  # of the debt repaid
DAYS_PER_YEAR = Decimal(365)
ZERO = Decimal(0)


@dataclass
class Ledger:
    """Where the money went, USD; positive earned, negative paid. `price` is the rest of the change
    in equity: the legs' price moves that did not cancel (a leg alone, or not equal in size)."""

    funding: Decimal = ZERO
    supply: Decimal = ZERO
    borrow: Decimal = ZERO
    fees: Decimal = ZERO
    bridge_and_gas: Decimal = ZERO
    liquidation: Decimal = ZERO
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def explained(self) -> Decimal:
        return self.funding + self.supply + self.borrow + self.fees + self.bridge_and_gas + self.liquidation


@dataclass
class SimHyperliquid:
    """A USDC account holding at most one SOL-PERP short (`size` SOL, positive)."""

    ledger: Ledger
    taker_fee: Decimal
    balance: Decimal = ZERO  # USDC, realised
    size: Decimal = ZERO
    entry_px: Decimal = ZERO

    def unrealised(self, mark: Decimal) -> Decimal:
        return self.size * (self.entry_px - mark)

    def account_value(self, mark: Decimal) -> Decimal:
        return self.balance + self.unrealised(mark)

    def maintenance_margin(self, mark: Decimal) -> Decimal:
        return HL_MAINTENANCE_RATE * self.size * mark

    def liquidation_px(self) -> Decimal | None:
        """The mark at which the account value equals the maintenance margin (venues.md §1.9:
        `balance + size·(entry − p) = mmr·size·p`); None without a short."""
        if self.size == 0:
            return None
        return (self.balance + self.size * self.entry_px) / (self.size * (1 + HL_MAINTENANCE_RATE))

    def deposit(self, amount: Decimal) -> None:
        self.balance += amount

    def withdraw(self, amount: Decimal) -> None:
        self.balance -= amount

    def settle_funding(self, rate: FundingRate, mark: Decimal) -> Decimal:
        """The hour's funding on the short's notional (mark as the oracle); returns what was received."""
        paid = rate.payment(self.size * mark)
        self.balance += paid
        self.ledger.funding += paid
        return paid

    def sell(self, size: Decimal, px: Decimal) -> None:
        """Add `size` SOL to the short at `px` (a taker fill)."""
        if size <= 0:
            return
        total = self.size + size
        self.entry_px = (self.entry_px * self.size + px * size) / total
        self.size = total
        self._fee(size * px)

    def buy(self, size: Decimal, px: Decimal) -> None:
        """Buy back `size` SOL (at most the short) at `px`, realising its price PnL (a taker fill)."""
        size = min(size, self.size)
        if size <= 0:
            return
        self.balance += size * (self.entry_px - px)
        self.size -= size
        if self.size == 0:
            self.entry_px = ZERO
        self._fee(size * px)

    def liquidate_if_due(self, mark: Decimal) -> bool:
        """Liquidate at `mark` when the account value is at or below the maintenance margin."""
        if self.size == 0 or self.account_value(mark) > self.maintenance_margin(mark):
            return False
        left = max(self.account_value(mark), ZERO)
        self.ledger.liquidation -= left  # the backstop keeps what the account had left
        self.balance, self.size, self.entry_px = ZERO, ZERO, ZERO
        self.ledger.count("hyperliquid_liquidations")
        return True

    def _fee(self, notional: Decimal) -> None:
        fee = notional * self.taker_fee
        self.balance -= fee
        self.ledger.fees -= fee


@dataclass
class SimAsgard:
    """A USDC wallet on Solana and at most one SOL long on Kamino through Asgard."""

    ledger: Ledger
    open_fee: Decimal
    gas_per_tx: Decimal  # USD per Solana transaction (fee and priority)
    wallet: Decimal = ZERO  # USDC
    tokens: Decimal = ZERO  # SOL held, with interest
    debt: Decimal = ZERO  # USDC owed, with interest
    entry_px: Decimal = ZERO
    deposit: Decimal = ZERO  # USDC put in at open, fee taken

    @property
    def is_open(self) -> bool:
        return self.tokens > 0

    def equity(self, px: Decimal) -> Decimal:
        return self.tokens * px - self.debt

    def health_factor(self, px: Decimal) -> Decimal:
        """Asgard's healthFactor as a fraction: how far SOL can fall before liquidation."""
        value = self.tokens * px * KAMINO_SOL_LIQUIDATION_THRESHOLD
        return 1 - self.debt / value if value > 0 else ZERO

    def liquidation_px(self) -> Decimal | None:
        if self.tokens == 0:
            return None
        return self.debt / (self.tokens * KAMINO_SOL_LIQUIDATION_THRESHOLD)

    def open(self, collateral: Decimal, tokens: Decimal, px: Decimal) -> None:
        """Deposit `collateral` USDC and hold `tokens` SOL bought at `px`, borrowing the rest; the
        open fee is taken from the deposit."""
        notional = tokens * px
        fee = notional * self.open_fee
        self.wallet -= collateral
        self.deposit = collateral - fee
        self.tokens, self.debt, self.entry_px = tokens, notional - self.deposit, px
        self.ledger.fees -= fee
        self._gas()

    def reduce(self, fraction: Decimal, px: Decimal) -> None:
        """Reduce the long as the live bot does (`ExecutionEngine._reduce_long`): a deleverage to the
        target leverage of `deleverage_target` sells SOL to repay debt and leaves the equity in the
        position, which raises the health factor; with no debt left to repay, a proportional partial
        close instead."""
        target = deleverage_target(self.tokens, self.debt, px, fraction)
        if target is None:
            sold = self.tokens * fraction
            repaid = self.debt * fraction
            self.deposit -= self.deposit * fraction
            self.wallet += sold * px - repaid
        else:
            kept = (self.tokens * px - self.debt) * target / px
            sold = self.tokens - kept
            repaid = min(sold * px, self.debt)
            self.wallet += sold * px - repaid
        self.tokens -= sold
        self.debt -= repaid
        self._gas()

    def close(self, px: Decimal) -> None:
        self.wallet += self.equity(px)
        self.tokens = self.debt = self.deposit = self.entry_px = ZERO
        self._gas()

    def accrue_day(self, supply: Apy, borrow: Apy, px: Decimal) -> None:
        """One day of interest: the SOL grows at the supply APY, the debt at the borrow APY."""
        if not self.is_open:
            return
        grown = self.tokens * _daily_growth(supply)
        owed = self.debt * _daily_growth(borrow)
        self.ledger.supply += (grown - self.tokens) * px
        self.ledger.borrow -= owed - self.debt
        self.tokens, self.debt = grown, owed

    def liquidate_if_due(self, px: Decimal) -> bool:
        """Liquidate at `px` when the health factor is at or below 0: the debt is repaid from the SOL
        with the penalty, and what SOL is left is sold back to the wallet."""
        if not self.is_open or self.health_factor(px) > 0:
            return False
        seized = min(self.tokens * px, self.debt * (1 + KAMINO_LIQUIDATION_PENALTY))
        self.ledger.liquidation -= max(seized - self.debt, ZERO)  # bad debt is the protocol's
        self.wallet += self.tokens * px - seized
        self.tokens = self.debt = self.deposit = self.entry_px = ZERO
        self.ledger.count("asgard_liquidations")
        return True

    def _gas(self) -> None:
        self.wallet -= self.gas_per_tx
        self.ledger.bridge_and_gas -= self.gas_per_tx


def _daily_growth(apy: Apy) -> Decimal:
    """(1 + APY)^(1/365): a day of a yearly yield, compounded."""
    return (1 + apy.value) ** (1 / DAYS_PER_YEAR)
