"""One perp's order book: simulated market-maker depth around the mark price, plus users' orders.

The simulated depth is a ladder of levels on the asset's price grid, one "spacing" apart (about
half a basis point, at least one tick), whose sizes grow with distance from the mid and vary a
little from step to step (drawn from the devnet seed, so the same seed gives the same book). It
is rebuilt around the mark price at every simulated minute.

Depth that takers consume is missing from the top of the ladder until it refills: half of what is
missing comes back every simulated minute. So a large order moves the price it gets, and the next
one a second later gets a worse price still, as on a real book.

Users' resting orders sit on the same book, ahead of simulated depth at the same price. A resting
order the market later crosses (a bid at or above the simulated best ask, or an ask at or below
the best bid) is filled as a maker at its own price, against the simulated depth.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from devnet.hyperliquid import rules
from devnet.hyperliquid.orders import Order
from devnet.hyperliquid.prices import Asset

DEPTH_LEVELS = 60  # simulated levels per side a taker can reach
SHOWN_LEVELS = 20  # levels per side l2Book shows, as on the venue
SPACING = Decimal("0.00005")  # distance between levels as a fraction of the mark price
REFILL_KEEP = Decimal("0.5")  # fraction of consumed depth still missing one simulated minute later
LEVEL_GROWTH = Decimal("0.35")  # each level deeper holds 35 % of the first level more
FIRST_LEVEL_USD = {"BTC": Decimal(400_000), "ETH": Decimal(250_000)}
DEFAULT_FIRST_LEVEL_USD = Decimal(40_000)


@dataclass(frozen=True)
class Level:
    px: Decimal
    sz: Decimal
    n: int


@dataclass(frozen=True)
class Match:
    """Part of a taker order filled at one price, against a user's order or simulated depth."""

    px: Decimal
    sz: Decimal
    maker: Order | None


class Book:
    def __init__(self, asset: Asset, seed: int, mark: Decimal, step_ms: int) -> None:
        self.asset = asset
        self._seed = seed
        self.mark = mark
        self.step_ms = step_ms
        # Users' resting orders, best first (bids: highest price first; asks: lowest), then by age.
        self.bids: list[Order] = []
        self.asks: list[Order] = []
        # Base units of simulated depth consumed from the top of each side, not yet refilled.
        self._taken_bids = Decimal(0)
        self._taken_asks = Decimal(0)
        self._ladder: tuple[list[Level], list[Level]] | None = None

    # ------------------------------------------------------------------ time
    def on_step(self, mark: Decimal, step_ms: int) -> None:
        self.mark = mark
        self.step_ms = step_ms
        self._ladder = None
        self._taken_bids = self._refill(self._taken_bids)
        self._taken_asks = self._refill(self._taken_asks)

    def _refill(self, taken: Decimal) -> Decimal:
        left = rules.round_size_down(taken * REFILL_KEEP, self.asset.sz_decimals)
        return left if left > 0 else Decimal(0)

    # ------------------------------------------------------------------ simulated depth
    def ladder(self) -> tuple[list[Level], list[Level]]:
        """The full simulated ladder of this step, before consumption: (bids, asks), best first."""
        if self._ladder is None:
            self._ladder = self._build()
        return self._ladder

    def _build(self) -> tuple[list[Level], list[Level]]:
        a = self.asset
        mark = self.mark
        # The grid of the highest price on the ladder is valid everywhere below it too.
        tick = rules.tick_size(mark * Decimal("1.01"), a.sz_decimals)
        steps = (mark * SPACING / tick).to_integral_value(rounding=ROUND_HALF_UP)
        spacing = tick * max(steps, Decimal(1))
        bid0 = (mark / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
        if bid0 == mark:
            bid0 -= tick
        ask0 = bid0 + spacing
        if ask0 <= mark:
            ask0 = (mark / tick).to_integral_value(rounding=ROUND_CEILING) * tick
        first_usd = FIRST_LEVEL_USD.get(a.name, DEFAULT_FIRST_LEVEL_USD)
        base = first_usd / mark
        lot = rules.lot_size(a.sz_decimals)
        rng = random.Random(f"hl-book:{self._seed}:{a.name}:{self.step_ms}")
        bids: list[Level] = []
        asks: list[Level] = []
        for i in range(DEPTH_LEVELS):
            growth = 1 + LEVEL_GROWTH * i
            for side, px in ((bids, bid0 - spacing * i), (asks, ask0 + spacing * i)):
                jitter = Decimal(f"{0.75 + 0.5 * rng.random():.4f}")
                sz = max(rules.round_size_down(base * growth * jitter, a.sz_decimals), lot)
                n = 1 + i // 3 + rng.randrange(3)
                if px > 0:
                    side.append(Level(px, sz, n))
        return bids, asks

    def _visible(self, bids: bool) -> Iterator[Level]:
        """Simulated levels of one side after consumption, best first."""
        levels = self.ladder()[0 if bids else 1]
        taken = self._taken_bids if bids else self._taken_asks
        for level in levels:
            if taken >= level.sz:
                taken -= level.sz
                continue
            if taken > 0:
                yield Level(level.px, level.sz - taken, level.n)
                taken = Decimal(0)
            else:
                yield level

    def _consume(self, bids: bool, sz: Decimal) -> None:
        if bids:
            self._taken_bids += sz
        else:
            self._taken_asks += sz

    # ------------------------------------------------------------------ reads
    def best(self, bids: bool) -> Decimal | None:
        """Best price of one side, users' orders included."""
        simulated = next(self._visible(bids), None)
        users = self.bids if bids else self.asks
        candidates = (simulated.px if simulated else None, users[0].limit_px if users else None)
        prices = [p for p in candidates if p is not None]
        if not prices:
            return None
        return max(prices) if bids else min(prices)

    def mid(self) -> Decimal | None:
        bid, ask = self.best(True), self.best(False)
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2

    def levels(
        self, n_sig_figs: int | None = None, mantissa: int | None = None
    ) -> tuple[list[Level], list[Level]]:
        """What l2Book shows: up to 20 levels per side, users' orders merged in, optionally bucketed."""
        out = []
        for bids in (True, False):
            sizes: dict[Decimal, tuple[Decimal, int]] = {}
            for level in self._visible(bids):
                px = _bucket(level.px, n_sig_figs, mantissa, up=not bids)
                sz, n = sizes.get(px, (Decimal(0), 0))
                sizes[px] = (sz + level.sz, n + level.n)
                if len(sizes) > SHOWN_LEVELS:
                    break
            for order in self.bids if bids else self.asks:
                px = _bucket(order.limit_px, n_sig_figs, mantissa, up=not bids)
                sz, n = sizes.get(px, (Decimal(0), 0))
                sizes[px] = (sz + order.sz, n + 1)
            prices = sorted(sizes, reverse=bids)[:SHOWN_LEVELS]
            out.append([Level(px, *sizes[px]) for px in prices])
        return out[0], out[1]

    def average_price(self, bids: bool, notional: Decimal) -> Decimal | None:
        """Average price a market order of `notional` USD would get against one side (impact price)."""
        left = notional
        cost = Decimal(0)
        size = Decimal(0)
        for level in self.levels()[0 if bids else 1]:
            take = min(level.sz, left / level.px)
            cost += take * level.px
            size += take
            left -= take * level.px
            if left <= 0:
                return cost / size
        return cost / size if size else None

    # ------------------------------------------------------------------ users' orders
    def rest(self, order: Order) -> None:
        side = self.bids if order.is_buy else self.asks
        key = _rank(order)
        keys = [_rank(o) for o in side]
        side.insert(bisect.bisect_right(keys, key), order)

    def remove(self, order: Order) -> None:
        side = self.bids if order.is_buy else self.asks
        for i, resting in enumerate(side):
            if resting is order:
                del side[i]
                return

    def would_cross(self, is_buy: bool, px: Decimal) -> bool:
        """Whether a new order at `px` would trade at once (what post-only orders must not do)."""
        opposite = self.best(not is_buy)
        if opposite is None:
            return False
        return px >= opposite if is_buy else px <= opposite

    # ------------------------------------------------------------------ matching
    def take(
        self, is_buy: bool, limit_px: Decimal | None, size: Decimal, taker: str
    ) -> tuple[list[Match], list[Order]]:
        """Fill a taker order best price first, up to `limit_px` (None: any price).

        Returns the matches and the taker's own resting orders it met, which are taken off the
        book (the venue's self-trade prevention cancels the resting order). Makers' remaining
        sizes and the consumed depth are updated here; accounts are the caller's business.
        """
        matches: list[Match] = []
        self_trades: list[Order] = []
        users = self.asks if is_buy else self.bids
        simulated = self._visible(not is_buy)
        level = next(simulated, None)
        level_left = level.sz if level else Decimal(0)
        left = size
        while left > 0:
            while users and users[0].user == taker and _within(users[0].limit_px, limit_px, is_buy):
                self_trades.append(users.pop(0))
            user_px = users[0].limit_px if users and users[0].user != taker else None
            sim_px = level.px if level else None
            if user_px is None and sim_px is None:
                break
            # Users' orders go first at an equal price: they were there before the refill.
            use_user = user_px is not None and (
                sim_px is None or (user_px <= sim_px if is_buy else user_px >= sim_px)
            )
            px = user_px if use_user else sim_px
            assert px is not None
            if not _within(px, limit_px, is_buy):
                break
            if use_user:
                maker = users[0]
                qty = min(left, maker.sz)
                maker.sz -= qty
                if maker.sz == 0:
                    users.pop(0)
                matches.append(Match(px, qty, maker))
            else:
                assert level is not None
                qty = min(left, level_left)
                level_left -= qty
                self._consume(not is_buy, qty)
                matches.append(Match(px, qty, None))
                if level_left == 0:
                    level = next(simulated, None)
                    level_left = level.sz if level else Decimal(0)
            left -= qty
        return matches, self_trades

    def crossed(self) -> list[tuple[Order, Decimal]]:
        """Users' resting orders the simulated market now trades through, with the size each gets.

        Called once per step after the ladder moved; the simulated depth they fill against is
        consumed. Best-priced orders fill first.
        """
        out: list[tuple[Order, Decimal]] = []
        for is_buy, orders in ((True, self.bids), (False, self.asks)):
            for order in list(orders):
                available = Decimal(0)
                for level in self._visible(not is_buy):
                    if not _within(level.px, order.limit_px, is_buy):
                        break
                    available += level.sz
                    if available >= order.sz:
                        break
                if available <= 0:
                    break  # orders behind this one are priced worse still
                qty = min(order.sz, available)
                self._consume(not is_buy, qty)
                out.append((order, qty))
        return out


def _within(px: Decimal, limit_px: Decimal | None, is_buy: bool) -> bool:
    """Whether a buy (sell) limited at `limit_px` may trade at `px`."""
    if limit_px is None:
        return True
    return px <= limit_px if is_buy else px >= limit_px


def _rank(order: Order) -> tuple[Decimal, int]:
    return (-order.limit_px if order.is_buy else order.limit_px, order.oid)


def _bucket(px: Decimal, n_sig_figs: int | None, mantissa: int | None, *, up: bool) -> Decimal:
    """l2Book aggregation: prices grouped to `n_sig_figs` significant figures (asks rounded up)."""
    if n_sig_figs is None:
        return px
    step = Decimal(1).scaleb(px.adjusted() - n_sig_figs + 1) * (mantissa or 1)
    rounded = (px / step).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR) * step
    return rounded.normalize() if rounded != 0 else step
