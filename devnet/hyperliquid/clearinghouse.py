"""Accounts, positions and margin: what clearinghouseState reports and what margin checks use.

Model (as on Hyperliquid, one-way positions, USDC collateral):
- `balance` is the cross collateral: deposits, realized PnL, fees and cross funding. An isolated
  position holds its own `margin`, moved out of the balance when the position opens or grows.
- Cross account value = balance + unrealized PnL of cross positions; an isolated position's
  equity is its margin + its unrealized PnL; the whole account is their sum.
- Initial margin = notional / leverage; maintenance margin = notional / (2 × max leverage), at the
  mark price. Liquidation starts when the cross account value (or an isolated position's equity)
  falls below its maintenance margin.
- Withdrawable = cross account value − max(cross initial margin, 10 % of cross notional).
- cumFunding counts funding PAID as positive (the opposite sign of userFunding's `usdc`), which
  is what the venue shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from devnet.hyperliquid import rules
from devnet.hyperliquid.prices import Asset
from devnet.hyperliquid.wire import ZERO, fmt, fmt_places, fmt_usd, usd

TRANSFER_MARGIN_FLOOR = Decimal("0.1")  # of cross notional, kept back from withdrawals


@dataclass
class LeverageSetting:
    is_cross: bool
    value: int

    def wire(self, raw_usd: Decimal | None = None) -> dict[str, Any]:
        if self.is_cross:
            return {"type": "cross", "value": self.value}
        return {"type": "isolated", "value": self.value, "rawUsd": fmt_usd(raw_usd or ZERO)}


@dataclass
class Position:
    coin: str
    is_cross: bool
    szi: Decimal = ZERO
    entry_px: Decimal = ZERO
    margin: Decimal = ZERO  # isolated positions only
    funding_since_open: Decimal = ZERO  # paid positive
    funding_since_change: Decimal = ZERO


@dataclass
class Account:
    address: str
    balance: Decimal = ZERO
    spot: Decimal = ZERO
    positions: dict[str, Position] = field(default_factory=dict)
    leverage: dict[str, LeverageSetting] = field(default_factory=dict)
    funding_all_time: dict[str, Decimal] = field(default_factory=dict)
    volume: Decimal = ZERO  # cumulative traded notional
    net_deposits: Decimal = ZERO  # deposits and transfers in, less withdrawals and transfers out
    # (taker, maker) fee rates when they differ from the base tier, as a staking discount or a
    # referral makes them on the venue (the devnet admin sets them); None: the base tier.
    fees: tuple[Decimal, Decimal] | None = None

    def fee_rates(self) -> tuple[Decimal, Decimal]:
        """The (taker, maker) rates this account pays, as userFees reports them."""
        return self.fees or (rules.TAKER_FEE, rules.MAKER_FEE)

    def leverage_for(self, asset: Asset) -> LeverageSetting:
        setting = self.leverage.get(asset.name)
        if setting is None:
            setting = LeverageSetting(True, rules.default_leverage(asset.max_leverage))
            self.leverage[asset.name] = setting
        return setting


@dataclass(frozen=True)
class FillEffect:
    direction: str
    start_position: Decimal
    closed_pnl: Decimal


def apply_fill(
    account: Account, asset: Asset, is_buy: bool, px: Decimal, sz: Decimal, fee: Decimal
) -> FillEffect:
    """Book one fill on the account: position size, entry price, margin, realized PnL and fee."""
    setting = account.leverage_for(asset)
    pos = account.positions.get(asset.name)
    if pos is None:
        pos = Position(asset.name, setting.is_cross)
        account.positions[asset.name] = pos
    start = pos.szi
    signed = sz if is_buy else -sz
    closed_pnl = ZERO
    if start == 0 or (start > 0) == is_buy:
        direction = "Open Long" if is_buy else "Open Short"
        if start == 0:
            pos.is_cross = setting.is_cross
            pos.funding_since_open = ZERO
        pos.entry_px = (abs(start) * pos.entry_px + sz * px) / (abs(start) + sz)
        pos.szi = start + signed
        _add_isolated_margin(account, pos, sz * px / setting.value)
    else:
        closing = min(sz, abs(start))
        closed_pnl = usd(closing * (px - pos.entry_px) * (1 if start > 0 else -1))
        if not pos.is_cross:
            released = usd(pos.margin * closing / abs(start))
            pos.margin -= released
            account.balance += released
        account.balance += closed_pnl
        opening = sz - closing
        if opening == 0:
            direction = "Close Long" if start > 0 else "Close Short"
            pos.szi = start + signed
        else:
            direction = "Long > Short" if start > 0 else "Short > Long"
            pos.szi = opening if is_buy else -opening
            pos.entry_px = px
            pos.funding_since_open = ZERO
            _add_isolated_margin(account, pos, opening * px / setting.value)
    pos.funding_since_change = ZERO
    account.balance -= fee
    account.volume += sz * px
    if pos.szi == 0:
        account.balance += pos.margin  # rounding dust of an isolated position goes home
        del account.positions[asset.name]
    return FillEffect(direction, start, closed_pnl)


def _add_isolated_margin(account: Account, pos: Position, amount: Decimal) -> None:
    if pos.is_cross:
        return
    amount = usd(amount)
    account.balance -= amount
    pos.margin += amount


@dataclass(frozen=True)
class PositionView:
    position: Position
    asset: Asset
    leverage: LeverageSetting
    mark: Decimal
    notional: Decimal
    unrealized: Decimal
    margin_used: Decimal  # initial margin (cross) or equity (isolated)
    maintenance: Decimal
    liquidation_px: Decimal | None = None


@dataclass(frozen=True)
class MarginView:
    cross_value: Decimal
    cross_notional: Decimal
    cross_margin_used: Decimal
    cross_maintenance: Decimal
    total_value: Decimal
    total_notional: Decimal
    total_margin_used: Decimal
    withdrawable: Decimal
    positions: list[PositionView]

    def liquidatable_cross(self) -> bool:
        return self.cross_maintenance > 0 and self.cross_value < self.cross_maintenance


def margin_view(account: Account, assets: dict[str, Asset], marks: dict[str, Decimal]) -> MarginView:
    views: list[PositionView] = []
    cross_upnl = cross_ntl = cross_im = cross_mm = ZERO
    iso_equity = iso_ntl = ZERO
    for coin, pos in account.positions.items():
        asset = assets[coin]
        mark = marks[coin]
        setting = account.leverage_for(asset)
        notional = abs(pos.szi) * mark
        upnl = pos.szi * (mark - pos.entry_px)
        mm = notional * rules.maintenance_ratio(asset.max_leverage)
        if pos.is_cross:
            im = notional / setting.value
            cross_upnl += upnl
            cross_ntl += notional
            cross_im += im
            cross_mm += mm
        else:
            im = pos.margin + upnl
            iso_equity += im
            iso_ntl += notional
        views.append(PositionView(pos, asset, setting, mark, notional, upnl, im, mm))
    cross_value = account.balance + cross_upnl
    # Liquidation prices need the account totals, so they come in a second pass.
    priced = [_with_liquidation_px(v, cross_value, cross_mm) for v in views]
    withdrawable = max(ZERO, cross_value - max(cross_im, TRANSFER_MARGIN_FLOOR * cross_ntl))
    return MarginView(
        cross_value=cross_value,
        cross_notional=cross_ntl,
        cross_margin_used=cross_im,
        cross_maintenance=cross_mm,
        total_value=cross_value + iso_equity,
        total_notional=cross_ntl + iso_ntl,
        total_margin_used=cross_im + sum((v.margin_used for v in views if not v.position.is_cross), ZERO),
        withdrawable=withdrawable,
        positions=priced,
    )


def _with_liquidation_px(view: PositionView, cross_value: Decimal, cross_mm: Decimal) -> PositionView:
    """The mark price at which the margin behind this position meets its maintenance margin.

    Other cross positions are held at their current mark (the venue's formula,
    liq = price − side × margin_available / size / (1 − l × side), solved for the mark).
    """
    pos = view.position
    ratio = rules.maintenance_ratio(view.asset.max_leverage)
    if pos.is_cross:
        equity_less_other_mm = cross_value - (cross_mm - view.maintenance)
    else:
        equity_less_other_mm = pos.margin + view.unrealized
    denominator = pos.szi - abs(pos.szi) * ratio
    if denominator == 0:
        return view
    px = (pos.szi * view.mark - equity_less_other_mm) / denominator
    return replace(view, liquidation_px=px if px > 0 else None)


def render_state(view: MarginView, funding_all_time: dict[str, Decimal], time_ms: int) -> dict[str, Any]:
    """clearinghouseState, with the venue's field names and number style."""
    positions = []
    for v in view.positions:
        pos = v.position
        initial = abs(pos.szi) * pos.entry_px / v.leverage.value
        roe = v.unrealized / initial if initial else ZERO
        raw_usd = None if pos.is_cross else pos.margin - pos.szi * pos.entry_px
        positions.append(
            {
                "type": "oneWay",
                "position": {
                    "coin": pos.coin,
                    "szi": fmt(pos.szi),
                    "leverage": v.leverage.wire(raw_usd),
                    "entryPx": fmt_places(pos.entry_px, 8),
                    "positionValue": fmt_usd(v.notional),
                    "unrealizedPnl": fmt_usd(v.unrealized),
                    "returnOnEquity": fmt_places(roe, 9),
                    "liquidationPx": fmt_places(v.liquidation_px, 8) if v.liquidation_px else None,
                    "marginUsed": fmt_usd(v.margin_used),
                    "maxLeverage": v.asset.max_leverage,
                    "cumFunding": {
                        "allTime": fmt_usd(funding_all_time.get(pos.coin, ZERO)),
                        "sinceOpen": fmt_usd(pos.funding_since_open),
                        "sinceChange": fmt_usd(pos.funding_since_change),
                    },
                },
            }
        )
    return {
        "marginSummary": _summary(view.total_value, view.total_notional, view.total_margin_used, view),
        "crossMarginSummary": _summary(
            view.cross_value, view.cross_notional, view.cross_margin_used, view, True
        ),
        "crossMaintenanceMarginUsed": fmt_usd(view.cross_maintenance),
        "withdrawable": fmt_usd(view.withdrawable),
        "assetPositions": positions,
        "time": time_ms,
    }


def _summary(
    value: Decimal, notional: Decimal, used: Decimal, view: MarginView, cross: bool = False
) -> dict[str, str]:
    signed = sum(
        (v.position.szi * v.mark for v in view.positions if v.position.is_cross or not cross),
        ZERO,
    )
    return {
        "accountValue": fmt_usd(value),
        "totalNtlPos": fmt_usd(notional),
        "totalRawUsd": fmt_usd(value - signed),
        "totalMarginUsed": fmt_usd(used),
    }
