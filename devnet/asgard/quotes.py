"""Position economics: what opening, closing, partly closing or liquidating a LONG gives at a price.

All in Decimal, token A in UI units, USDC in dollars. The swap between USDC and token A (Asgard
routes it through Jupiter/DFlow) costs a price impact of 2 bps plus 1 bp per $100k swapped; a
build is refused when that exceeds the client's `slippageBps`. Asgard's fee is 0.15% of the
notional on open and nothing on close.

A deleverage sells token A for USDC and repays debt with all of it (the equity stays in the position);
a partial close sells a share of both and pays that share of the equity out.

Open with collateral worth C dollars at leverage L: notional N = L·C, USDC debt D = (L−1)·C. With
USDC collateral (collateralType 1) N − fee is swapped into token A; with token A collateral
(collateralType 0) the deposit is kept and D − fee is swapped.

Liquidation (the devnet's choice, where protocols differ): when the health factor reaches 0 the
whole position is liquidated at once. The liquidator repays all the debt and seizes token A worth
the debt plus a 5% penalty; whatever token A is left goes back to the owner's wallet. If the
collateral is worth less than that, all of it is seized and the shortfall is bad debt.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

OPEN_FEE_RATE = Decimal("0.0015")
CLOSE_FEE_RATE = Decimal(0)
LIQUIDATION_PENALTY = Decimal("0.05")
IMPACT_BASE = Decimal("0.0002")
IMPACT_PER_USD = Decimal("0.000000001")


def swap_impact(usd: Decimal) -> Decimal:
    """Price impact of swapping `usd` dollars, as a fraction."""
    return IMPACT_BASE + max(usd, Decimal(0)) * IMPACT_PER_USD


def health_factor(collateral_usd: Decimal, debt_usd: Decimal, liquidation_threshold: Decimal) -> Decimal:
    """Asgard's healthFactor: the % the collateral price can fall before liquidation.

    (1 − debt / (collateral × LT)) × 100. 100 with no debt; 0 or below is liquidatable.
    """
    if debt_usd <= 0:
        return Decimal(100)
    weighted = collateral_usd * liquidation_threshold
    if weighted <= 0:
        return Decimal(-100)
    return (1 - debt_usd / weighted) * 100


def leverage_of(collateral_usd: Decimal, debt_usd: Decimal) -> Decimal:
    equity = collateral_usd - debt_usd
    if equity <= 0:
        return Decimal(0)
    return collateral_usd / equity


def liquidation_price(token_a: Decimal, debt_usd: Decimal, liquidation_threshold: Decimal) -> Decimal:
    """Token A price at which the health factor reaches 0."""
    if token_a <= 0 or debt_usd <= 0:
        return Decimal(0)
    return debt_usd / (token_a * liquidation_threshold)


@dataclass(frozen=True)
class OpenQuote:
    price: Decimal  # token A oracle price
    collateral_usd: Decimal
    notional_usd: Decimal
    debt_usd: Decimal
    fee_usd: Decimal
    deposit_a: Decimal  # token A deposited from the wallet (collateralType 0)
    swap_in_usd: Decimal
    impact: Decimal
    execution_price: Decimal
    bought_a: Decimal
    token_a: Decimal  # total held


def quote_open(
    price: Decimal, collateral_type: int, amount_ui: Decimal, collateral_price: Decimal, leverage: Decimal
) -> OpenQuote:
    collateral_usd = amount_ui * collateral_price
    notional = leverage * collateral_usd
    debt = (leverage - 1) * collateral_usd
    fee = notional * OPEN_FEE_RATE
    if collateral_type == 1:
        deposit_a, swap_in = Decimal(0), notional - fee
    else:
        deposit_a, swap_in = amount_ui, debt - fee
    impact = swap_impact(swap_in)
    execution_price = price * (1 + impact)
    bought = swap_in / execution_price
    return OpenQuote(
        price=price,
        collateral_usd=collateral_usd,
        notional_usd=notional,
        debt_usd=debt,
        fee_usd=fee,
        deposit_a=deposit_a,
        swap_in_usd=swap_in,
        impact=impact,
        execution_price=execution_price,
        bought_a=bought,
        token_a=deposit_a + bought,
    )


@dataclass(frozen=True)
class CloseQuote:
    price: Decimal
    fraction: Decimal  # share of the position closed (1 for a full close)
    sold_a: Decimal  # token A swapped to USDC
    usdc_from_swap: Decimal
    debt_repaid: Decimal
    impact: Decimal
    payout_usdc: Decimal  # paid to the wallet in USDC
    payout_a: Decimal  # paid to the wallet in token A
    fee_usd: Decimal

    @property
    def equity_usd(self) -> Decimal:
        return self.payout_usdc + self.payout_a * self.price


def quote_close(
    price: Decimal, token_a: Decimal, debt: Decimal, receive_token_a: bool, fraction: Decimal = Decimal(1)
) -> CloseQuote:
    """Close `fraction` of a position: sell token A, repay that share of the debt, pay out the rest.

    `receive_token_a` (collateralType 0 on close): sell only what repays the debt and pay out the
    remaining token A. Otherwise all of that share is sold and the equity is paid in USDC.
    """
    held = token_a * fraction
    owed = debt * fraction
    if receive_token_a:
        impact = swap_impact(owed)
        sold = owed / (price * (1 - impact)) if owed > 0 else Decimal(0)
        return CloseQuote(price, fraction, sold, owed, owed, impact, Decimal(0), held - sold, Decimal(0))
    impact = swap_impact(held * price)
    proceeds = held * price * (1 - impact)
    fee = proceeds * CLOSE_FEE_RATE
    return CloseQuote(price, fraction, held, proceeds, owed, impact, proceeds - owed - fee, Decimal(0), fee)


def quote_deleverage(price: Decimal, token_a: Decimal, debt: Decimal, target_leverage: Decimal) -> CloseQuote:
    """Sell token A and repay debt with all of the proceeds until the leverage is `target_leverage`;
    the equity stays in the position (nothing is paid out).

    Selling s costs its price impact i out of the equity E = a·p − d, so s solves
    (a − s)·p = L·(E − s·p·i): s = (a·p − L·E) / (p·(1 − L·i)).
    """
    equity = token_a * price - debt
    excess_usd = token_a * price - target_leverage * equity
    impact = swap_impact(excess_usd)
    sold = excess_usd / (price * (1 - target_leverage * impact))
    proceeds = sold * price * (1 - impact)
    fee = proceeds * CLOSE_FEE_RATE
    repaid = min(debt, proceeds - fee)
    return CloseQuote(price, sold / token_a, sold, proceeds, repaid, impact, Decimal(0), Decimal(0), fee)


@dataclass(frozen=True)
class Liquidation:
    price: Decimal
    debt_repaid: Decimal
    seized_a: Decimal
    penalty_usd: Decimal
    residual_a: Decimal
    bad_debt_usd: Decimal


def liquidate(price: Decimal, token_a: Decimal, debt: Decimal) -> Liquidation:
    owed_in_a = debt * (1 + LIQUIDATION_PENALTY) / price
    seized = min(token_a, owed_in_a)
    covered_usd = seized * price / (1 + LIQUIDATION_PENALTY)
    return Liquidation(
        price=price,
        debt_repaid=debt,
        seized_a=seized,
        penalty_usd=covered_usd * LIQUIDATION_PENALTY,
        residual_a=token_a - seized,
        bad_debt_usd=max(Decimal(0), debt - covered_usd),
    )
