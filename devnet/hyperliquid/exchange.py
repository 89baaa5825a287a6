"""The Hyperliquid emulator's state and rules: accounts, order books, orders, fills, funding, liquidation.

Everything that changes state goes through `HyperliquidExchange` under one lock: HTTP handlers run
on the event loop, while the admin API (faucet, clock advance) runs in worker threads and makes
the market simulator step, which calls back `_on_step` / `_on_hour` here. The market is brought up
to date (`sync`) before that lock is taken, never while holding it, so the lock order is always
market → exchange.

At each simulated minute: prices are copied, books move around the new mark, resting orders the
market crossed are filled as makers, and every account is checked against its maintenance margin
at the mark price (cross accounts and isolated positions below it are closed against the book,
fills marked as liquidations). At each whole hour: funding is paid, `−szi × oraclePx × rate` USDC
per position (a short receives when the rate is positive), into the balance (cross) or the
position's margin (isolated).

Visible timestamps (fills, funding, orders) are simulated time; nonce freshness is wall-clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from devnet.clock import SimClock
from devnet.config import DevnetConfig
from devnet.faults import FaultBook
from devnet.hyperliquid import errors, rules
from devnet.hyperliquid.agents import AgentBook
from devnet.hyperliquid.book import Book, Match
from devnet.hyperliquid.clearinghouse import Account, MarginView, apply_fill, margin_view
from devnet.hyperliquid.history import AccountHistory, Candles, Sample
from devnet.hyperliquid.limits import AddressRequests, IpWeights
from devnet.hyperliquid.nonces import NonceBook
from devnet.hyperliquid.orders import Order, OrderRegistry, OrderRequest
from devnet.hyperliquid.prices import Asset, PriceBoard, universe
from devnet.hyperliquid.signatures import tx_hash
from devnet.hyperliquid.wire import ZERO, fmt, fmt_sig, fmt_usd, is_address, parse_decimal, usd
from devnet.market import HOUR_MS, MarketSimulator
from shared.assets import HYPERLIQUID_WITHDRAW_FEE_USDC
from shared.logging import get_logger
from shared.networks import NETWORKS

log = get_logger("devnet.hyperliquid")

WITHDRAW_FEE = Decimal(HYPERLIQUID_WITHDRAW_FEE_USDC)
ZERO_HASH = "0x" + "0" * 64
KEEP_FILLS = 10_000  # per user, as on the venue (the most recent 10000 fills are available)
KEEP_LEDGER = 10_000  # funding and other ledger entries per user


class HyperliquidExchange:
    def __init__(
        self, config: DevnetConfig, clock: SimClock, market: MarketSimulator, faults: FaultBook
    ) -> None:
        self.config = config
        self.clock = clock
        self.market = market
        self.faults = faults
        self.is_mainnet = config.hyperliquid_mainnet
        self.lock = threading.RLock()
        # Set by the server: pays a withdrawal out on Arbitrum (destination, amount after the fee).
        self.withdraw_handler: Callable[[str, Decimal], None] | None = None
        self.assets = universe(market)
        self.by_name: dict[str, Asset] = {a.name: a for a in self.assets}
        self.prices = PriceBoard(market)
        self.books: dict[str, Book] = {
            a.name: Book(a, config.seed, self.prices.mark(a.name), market.sim_ms)
            for a in self.assets
            if not a.delisted
        }
        self.accounts: dict[str, Account] = {}
        self.orders = OrderRegistry()
        self.agents = AgentBook()
        self.nonces = NonceBook()
        self.ip_weights = IpWeights(config.hyperliquid_weight_per_minute)
        self.address_requests = AddressRequests()
        self.candles = Candles()
        for name in self.books:  # the current candle exists from the start, as on the venue
            self.candles.on_step(name, market.sim_ms, self.prices.mark(name))
        self.history = AccountHistory()
        self.fills: dict[str, list[dict[str, Any]]] = {}
        self.funding: dict[str, list[dict[str, Any]]] = {}
        self.ledger: dict[str, list[dict[str, Any]]] = {}
        self.last_funding: dict[str, Any] | None = None
        self._next_tid = 100_000_000_000_000
        # Bumped whenever something /info answers may have changed (steps, trades, transfers), so
        # /info can cache what it renders.
        self.version = 0
        market.on_step(self._on_step)
        market.on_hour(self._on_hour)

    # ------------------------------------------------------------------ time
    def sync(self) -> None:
        """Bring the market up to the clock (runs any pending steps, which call back here).

        Call it before taking `self.lock`: the steps it runs take the lock themselves.
        """
        self.market.advance()

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def _on_step(self, step_ms: int) -> None:
        with self.lock:
            if step_ms <= self.prices.step_ms:
                return  # a step seen already (the market may be advanced from two threads at once)
            self.prices.refresh(step_ms)
            for name, book in self.books.items():
                book.on_step(self.prices.mark(name), step_ms)
                self.candles.on_step(name, step_ms, self.prices.mark(name))
            self._fill_crossed_orders(step_ms)
            self._check_liquidations(step_ms)
            self.version += 1

    def _on_hour(self, stamp: int, rates: dict[str, float]) -> None:
        with self.lock:
            if self.last_funding is not None and self.last_funding["time"] // HOUR_MS >= stamp // HOUR_MS:
                return  # this hour is paid already: never pay funding twice
            settled_rates: dict[str, Decimal] = {}
            for coin, rate in rates.items():
                # The same text the funding history shows, so a client can check a payment exactly.
                settled_rates[coin] = Decimal(f"{rate:.10f}")
            for account in self.accounts.values():
                for coin, pos in list(account.positions.items()):
                    rate_d = settled_rates.get(coin)
                    if rate_d is None:
                        continue
                    amount = usd(-pos.szi * self.prices.oracle(coin) * rate_d)
                    if pos.is_cross:
                        account.balance += amount
                    else:
                        pos.margin += amount
                    pos.funding_since_open -= amount
                    pos.funding_since_change -= amount
                    account.funding_all_time[coin] = account.funding_all_time.get(coin, ZERO) - amount
                    self._record(
                        self.funding,
                        account.address,
                        {
                            "time": stamp,
                            "hash": ZERO_HASH,
                            "delta": {
                                "type": "funding",
                                "coin": coin,
                                "usdc": fmt_usd(amount),
                                "szi": fmt(pos.szi),
                                "fundingRate": fmt(rate_d),
                                "nSamples": None,
                            },
                        },
                    )
            self.last_funding = {
                "time": stamp,
                "rates": {coin: fmt(r) for coin, r in settled_rates.items()},
                "oracle_px": {coin: fmt(self.prices.oracle(coin)) for coin in settled_rates},
            }
            for account in self.accounts.values():
                self.history.record(account.address, self.sample(account, stamp))
            self.version += 1

    # ------------------------------------------------------------------ accounts
    def credit_usdc(self, user: str, amount: Decimal, *, reason: str) -> None:
        """USDC arriving in the perp balance (a bridge deposit, or the admin faucet)."""
        if not is_address(user):
            raise ValueError(f"{user!r} is not an EVM address (0x and 40 hex digits)")
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
            raise ValueError("amount must be a positive Decimal")
        with self.lock:
            account = self.account(user.lower(), create=True)
            assert account is not None
            credited = usd(amount)
            account.balance += credited
            account.net_deposits += credited
            self._record(
                self.ledger,
                account.address,
                {
                    "time": self.now_ms(),
                    "hash": ZERO_HASH,
                    "delta": {"type": "deposit", "usdc": fmt_usd(credited)},
                },
            )
            self.version += 1
        log.info("hyperliquid credit", user=user.lower(), usdc=str(credited), reason=reason)

    def account(self, user: str, *, create: bool = False) -> Account | None:
        account = self.accounts.get(user)
        if account is None and create:
            account = Account(user)
            self.accounts[user] = account
            self.history.record(user, Sample(self.now_ms(), ZERO, ZERO, ZERO))  # where its history starts
        return account

    def sample(self, account: Account, at_ms: int) -> Sample:
        """The account's value (perp and spot USDC), PnL (value less net deposits) and volume now."""
        value = self.view(account).total_value + account.spot
        return Sample(at_ms, value, value - account.net_deposits, account.volume)

    def view(self, account: Account) -> MarginView:
        return margin_view(account, self.by_name, {c: q.mark for c, q in self.prices.quotes.items()})

    def _record(self, store: dict[str, list[dict[str, Any]]], user: str, entry: dict[str, Any]) -> None:
        entries = store.setdefault(user, [])
        entries.append(entry)
        if len(entries) > KEEP_LEDGER:
            del entries[: len(entries) - KEEP_LEDGER]

    # ------------------------------------------------------------------ orders
    def place_orders(self, user: str, requests: list[OrderRequest], hash_: str) -> list[Any]:
        """The statuses of an `order` action, one per order, in order."""
        with self.lock:
            statuses = [self._place(user, req, hash_) for req in requests]
            self.version += 1
            return statuses

    def _place(self, user: str, req: OrderRequest, hash_: str) -> Any:
        if req.asset >= len(self.assets):
            return {"error": errors.INVALID_ASSET}
        asset = self.assets[req.asset]
        if asset.delisted:
            return {"error": errors.TRADING_HALTED}
        if req.tif is None:
            return {"error": errors.TRIGGERS_NOT_EMULATED}
        px = parse_decimal(req.px)
        if px is None or px <= 0:
            return {"error": errors.INVALID_PRICE}
        sz = parse_decimal(req.sz)
        if sz is None or sz < 0:
            return {"error": errors.INVALID_SIZE}
        if sz == 0:
            return {"error": errors.ZERO_SIZE}
        if not rules.is_valid_size(sz, asset.sz_decimals):
            return {"error": errors.INVALID_SIZE}
        if not req.reduce_only and self.faults.get("hyperliquid").reject_orders:
            return {"error": errors.margin(req.asset)}
        now = self.now_ms()
        order = Order(
            oid=self.orders.new_oid(),
            user=user,
            coin=asset.name,
            asset=asset.index,
            is_buy=req.is_buy,
            limit_px=px,
            orig_sz=sz,
            sz=sz,
            reduce_only=req.reduce_only,
            tif=req.tif,
            cloid=req.cloid,
            timestamp=now,
            status_ts=now,
        )
        try:
            self._check(order, asset)
            return self._execute(order, asset, hash_, now)
        except errors.OrderRejected as rejected:
            order.status = rejected.status
            order.sz = ZERO
            self.orders.add(order)
            return {"error": rejected.message}

    def _check(self, order: Order, asset: Asset) -> None:
        """The venue's checks before an order reaches the book, in the venue's order."""
        account = self.accounts[order.user]
        px, sz = order.limit_px, order.sz
        if not rules.is_valid_price(px, asset.sz_decimals):
            raise errors.OrderRejected(errors.tick(asset.index), "tickRejected")
        oracle = self.prices.oracle(asset.name)
        if abs(px - oracle) > rules.MAX_DISTANCE_FROM_ORACLE * oracle:
            raise errors.OrderRejected(errors.too_far_from_oracle(asset.index), "oracleRejected")
        pos = account.positions.get(asset.name)
        szi = pos.szi if pos else ZERO
        if order.reduce_only:
            if szi == 0 or (szi > 0) == order.is_buy:
                raise errors.OrderRejected(errors.reduce_only(asset.index), "reduceOnlyRejected")
            # A reduce-only order larger than the position is cut to it, not refused.
            order.sz = min(sz, abs(szi))
            return
        if px * sz < rules.MIN_NOTIONAL:
            raise errors.OrderRejected(errors.min_notional(asset.index), "minTradeNtlRejected")
        increase = sz if szi == 0 or (szi > 0) == order.is_buy else max(ZERO, sz - abs(szi))
        if increase > 0:
            mark = self.prices.mark(asset.name)
            ref_px = min(px, mark) if order.is_buy else max(px, mark)
            required = increase * ref_px / account.leverage_for(asset).value
            if required > self._available_margin(account):
                raise errors.OrderRejected(errors.margin(asset.index), "perpMarginRejected")

    def _available_margin(self, account: Account) -> Decimal:
        """Cross account value not yet committed to positions or to resting orders."""
        view = self.view(account)
        resting = ZERO
        for o in self.orders.open_orders(account.address):
            if not o.reduce_only:
                resting += o.sz * o.limit_px / account.leverage_for(self.by_name[o.coin]).value
        return view.cross_value - view.cross_margin_used - resting

    def _execute(self, order: Order, asset: Asset, hash_: str, now: int) -> Any:
        book = self.books[asset.name]
        ids: dict[str, Any] = {"oid": order.oid}
        if order.cloid is not None:
            ids["cloid"] = order.cloid
        if order.tif == "Alo":
            if book.would_cross(order.is_buy, order.limit_px):
                bid, ask = book.best(True), book.best(False)
                text = errors.bad_alo(fmt(bid or ZERO), fmt(ask or ZERO), asset.index)
                raise errors.OrderRejected(text, "badAloPxRejected")
            self.orders.add(order)
            book.rest(order)
            return {"resting": ids}
        matches, self_trades = book.take(
            order.is_buy, order.limit_px, self._takeable(order, asset), order.user
        )
        for mine in self_trades:
            self.orders.close(mine, "selfTradeCanceled", now)
        if not matches and order.tif == "Ioc":
            raise errors.OrderRejected(errors.ioc_cancel(asset.index), "iocCancelRejected")
        self.orders.add(order)
        filled = ZERO
        notional = ZERO
        for match in matches:
            self._trade(asset, order, match, hash_, now)
            filled += match.sz
            notional += match.sz * match.px
        order.sz -= filled
        if order.sz == 0:
            self.orders.close(order, "filled", now)
        elif order.tif == "Ioc":
            self.orders.close(order, "canceled", now)
        else:
            book.rest(order)
            return {"resting": ids}
        return {"filled": {"totalSz": fmt(filled), "avgPx": fmt_sig(notional / filled, 8), **ids}}

    def _takeable(self, order: Order, asset: Asset) -> Decimal:
        """How much of `order` may take from the book: all of it, unless the partial-IOC fault
        (`ioc_fill_fraction`) thins the book for IOC orders that are not reduce-only."""
        fraction = self.faults.get("hyperliquid").ioc_fill_fraction
        if order.tif != "Ioc" or order.reduce_only or fraction >= 1:
            return order.sz
        return rules.round_size_down(order.sz * Decimal(str(fraction)), asset.sz_decimals)

    def _trade(
        self,
        asset: Asset,
        taker: Order,
        match: Match,
        hash_: str,
        now: int,
        liquidation: dict[str, Any] | None = None,
    ) -> None:
        """One match: the taker's fill, and the maker's when the maker is a user."""
        tid = self._tid()
        self.candles.on_trade(asset.name, now, match.px, match.sz)
        self._fill(
            taker.user, asset, taker.is_buy, match.px, match.sz, True, taker, hash_, now, tid, liquidation
        )
        maker = match.maker
        if maker is not None:
            self._fill(maker.user, asset, maker.is_buy, match.px, match.sz, False, maker, hash_, now, tid)
            if maker.sz == 0:
                self.orders.close(maker, "filled", now)

    def _fill(
        self,
        user: str,
        asset: Asset,
        is_buy: bool,
        px: Decimal,
        sz: Decimal,
        crossed: bool,
        order: Order | None,
        hash_: str,
        now: int,
        tid: int,
        liquidation: dict[str, Any] | None = None,
    ) -> None:
        account = self.accounts[user]
        taker, maker = account.fee_rates()
        fee = usd(px * sz * (taker if crossed else maker))
        effect = apply_fill(account, asset, is_buy, px, sz, fee)
        fill: dict[str, Any] = {
            "coin": asset.name,
            "px": fmt(px),
            "sz": fmt(sz),
            "side": "B" if is_buy else "A",
            "time": now,
            "startPosition": fmt(effect.start_position),
            "dir": effect.direction,
            "closedPnl": fmt_usd(effect.closed_pnl),
            "hash": hash_,
            "oid": order.oid if order else 0,
            "crossed": crossed,
            "fee": fmt_usd(fee),
            "tid": tid,
        }
        if order is not None and order.cloid is not None:
            fill["cloid"] = order.cloid
        if liquidation is not None:
            fill["liquidation"] = liquidation
        fill["feeToken"] = "USDC"
        fill["twapId"] = None
        entries = self.fills.setdefault(user, [])
        entries.append(fill)
        if len(entries) > KEEP_FILLS:
            del entries[: len(entries) - KEEP_FILLS]
        self._cancel_stale_reduce_only(account, asset.name, now, skip=order)

    def _cancel_stale_reduce_only(self, account: Account, coin: str, now: int, skip: Order | None) -> None:
        """Reduce-only orders that would now grow the position are canceled, as on the venue."""
        pos = account.positions.get(coin)
        szi = pos.szi if pos else ZERO
        for order in self.orders.open_orders(account.address):
            if order is skip or order.coin != coin or not order.reduce_only:
                continue
            if szi == 0 or (szi > 0) == order.is_buy:
                self.books[coin].remove(order)
                self.orders.close(order, "reduceOnlyCanceled", now)

    def _tid(self) -> int:
        self._next_tid += 1
        return self._next_tid

    def cancel(self, user: str, asset_index: int, *, oid: int | None = None, cloid: str | None = None) -> Any:
        """One cancel of a `cancel` / `cancelByCloid` action: "success" or the venue's error."""
        with self.lock:
            order = self.orders.find(user, oid=oid, cloid=cloid)
            if order is None or not order.is_open or order.asset != asset_index:
                return {"error": errors.never_placed(asset_index)}
            self.books[order.coin].remove(order)
            self.orders.close(order, "canceled", self.now_ms())
            self.version += 1
            return "success"

    # ------------------------------------------------------------------ each step
    def _fill_crossed_orders(self, step_ms: int) -> None:
        """Resting orders the market moved through fill as makers, at their own price."""
        for name, book in self.books.items():
            if not book.bids and not book.asks:
                continue
            asset = self.by_name[name]
            for order, qty in book.crossed():
                if not order.is_open:  # canceled by an earlier fill of this step
                    continue
                account = self.accounts[order.user]
                pos = account.positions.get(name)
                szi = pos.szi if pos else ZERO
                if order.reduce_only:
                    if szi == 0 or (szi > 0) == order.is_buy:
                        book.remove(order)
                        self.orders.close(order, "reduceOnlyCanceled", step_ms)
                        continue
                    qty = min(qty, abs(szi))
                elif szi == 0 or (szi > 0) == order.is_buy:
                    required = qty * order.limit_px / account.leverage_for(asset).value
                    own = order.sz * order.limit_px / account.leverage_for(asset).value
                    if required > self._available_margin(account) + own:
                        book.remove(order)
                        self.orders.close(order, "marginCanceled", step_ms)
                        continue
                hash_ = tx_hash(f"maker:{step_ms}:{order.oid}".encode())
                self._fill(
                    order.user,
                    asset,
                    order.is_buy,
                    order.limit_px,
                    qty,
                    False,
                    order,
                    hash_,
                    step_ms,
                    self._tid(),
                )
                order.sz -= qty
                if order.sz == 0:
                    book.remove(order)
                    self.orders.close(order, "filled", step_ms)

    def _check_liquidations(self, step_ms: int) -> None:
        for account in list(self.accounts.values()):
            if not account.positions:
                continue
            view = self.view(account)
            if view.liquidatable_cross():
                self._liquidate(account, view, step_ms, cross=True)
                view = self.view(account)
            for pv in view.positions:
                if not pv.position.is_cross and pv.margin_used < pv.maintenance:
                    self._liquidate(account, view, step_ms, cross=False, coin=pv.position.coin)

    def _liquidate(
        self, account: Account, view: MarginView, step_ms: int, *, cross: bool, coin: str = ""
    ) -> None:
        """Close positions against the book with market orders, fills marked as a liquidation.

        Cross: every cross position, after the account's open orders are canceled. Isolated: the one
        position; its loss is capped at its margin. Whatever the book cannot take is closed at the
        mark price by the liquidator ("backstop"). A cross balance left negative is written off,
        as the venue's liquidator vault would absorb it.
        """
        user = account.address
        if cross:
            for order in self.orders.open_orders(user):
                self.books[order.coin].remove(order)
                self.orders.close(order, "liquidatedCanceled", step_ms)
        balance_before = account.balance
        targets = [
            pv
            for pv in view.positions
            if pv.position.is_cross == cross and (cross or pv.position.coin == coin)
        ]
        for pv in targets:
            asset = pv.asset
            szi = pv.position.szi
            is_buy = szi < 0
            hash_ = tx_hash(f"liquidation:{step_ms}:{user}:{asset.name}".encode())
            info = {"liquidatedUser": user, "markPx": fmt(pv.mark), "method": "market"}
            order = Order(
                oid=self.orders.new_oid(),
                user=user,
                coin=asset.name,
                asset=asset.index,
                is_buy=is_buy,
                limit_px=pv.mark,
                orig_sz=abs(szi),
                sz=abs(szi),
                reduce_only=True,
                tif="LiquidationMarket",
                cloid=None,
                timestamp=step_ms,
                status_ts=step_ms,
            )
            self.orders.add(order)
            matches, self_trades = self.books[asset.name].take(is_buy, None, abs(szi), user)
            for mine in self_trades:
                self.orders.close(mine, "liquidatedCanceled", step_ms)
            for match in matches:
                self._trade(asset, order, match, hash_, step_ms, info)
                order.sz -= match.sz
            if order.sz > 0:
                backstop = {**info, "method": "backstop"}
                self._fill(
                    user, asset, is_buy, pv.mark, order.sz, True, order, hash_, step_ms, self._tid(), backstop
                )
                order.sz = ZERO
            self.orders.close(order, "filled", step_ms)
            log.info("hyperliquid liquidation", user=user, coin=asset.name, szi=str(szi), mark=str(pv.mark))
        if cross and account.balance < 0:
            account.balance = ZERO
        if not cross and account.balance < balance_before:
            account.balance = balance_before  # an isolated position never costs more than its margin

    # ------------------------------------------------------------------ leverage and margin
    def update_leverage(self, user: str, asset_index: int, is_cross: bool, leverage: int) -> None:
        with self.lock:
            asset = self._tradable(asset_index)
            if not 1 <= leverage <= asset.max_leverage:
                raise errors.ActionError(errors.INVALID_LEVERAGE)
            account = self.accounts[user]
            setting = account.leverage_for(asset)
            pos = account.positions.get(asset.name)
            if pos is not None:
                if pos.is_cross != is_cross:
                    raise errors.ActionError(errors.SWITCH_LEVERAGE_TYPE)
                view = self.view(account)
                pv = next(v for v in view.positions if v.position is pos)
                if is_cross and leverage < setting.value:
                    needed = view.cross_margin_used - pv.margin_used + pv.notional / leverage
                    if needed > view.cross_value:
                        raise errors.ActionError(errors.CROSS_DECREASE)
                if not is_cross and leverage < setting.value:
                    shortfall = usd(pv.notional / leverage - pv.margin_used)
                    if shortfall > 0:
                        if shortfall > view.withdrawable:
                            raise errors.ActionError(errors.ISOLATED_DECREASE)
                        account.balance -= shortfall
                        pos.margin += shortfall
            setting.is_cross = is_cross
            setting.value = leverage
            self.version += 1

    def update_isolated_margin(self, user: str, asset_index: int, ntli: int) -> None:
        """Move USDC into (ntli > 0) or out of an isolated position; ntli is USD × 1e6."""
        with self.lock:
            asset = self._tradable(asset_index)
            account = self.accounts[user]
            pos = account.positions.get(asset.name)
            if pos is None or pos.is_cross:
                raise errors.ActionError(errors.NOT_ISOLATED)
            amount = Decimal(ntli).scaleb(-6)
            view = self.view(account)
            pv = next(v for v in view.positions if v.position is pos)
            if amount > 0 and amount > view.withdrawable:
                raise errors.ActionError(errors.TRANSFER_BALANCE)
            if amount < 0 and pv.margin_used + amount < pv.notional / account.leverage_for(asset).value:
                raise errors.ActionError(errors.INSUFFICIENT_ISOLATED)
            account.balance -= amount
            pos.margin += amount
            self.version += 1

    def _tradable(self, asset_index: int) -> Asset:
        if asset_index >= len(self.assets):
            raise errors.ActionError(errors.INVALID_ASSET)
        asset = self.assets[asset_index]
        if asset.delisted:
            raise errors.ActionError(errors.TRADING_HALTED)
        return asset

    # ------------------------------------------------------------------ transfers
    def usd_class_transfer(self, user: str, amount: Decimal, to_perp: bool) -> None:
        with self.lock:
            account = self.accounts[user]
            if to_perp:
                if amount > account.spot:
                    raise errors.ActionError(errors.TRANSFER_BALANCE)
                account.spot -= amount
                account.balance += amount
            else:
                if amount > self.view(account).withdrawable:
                    raise errors.ActionError(errors.WITHDRAW_BALANCE)
                account.balance -= amount
                account.spot += amount
            delta = {"type": "accountClassTransfer", "usdc": fmt_usd(amount), "toPerp": to_perp}
            self._record(self.ledger, user, {"time": self.now_ms(), "hash": ZERO_HASH, "delta": delta})
            self.version += 1

    def withdraw(self, user: str, destination: str, amount: Decimal, nonce: int, hash_: str) -> None:
        """withdraw3: the amount leaves the perp balance; the destination gets it less the 1 USDC fee."""
        with self.lock:
            account = self.accounts[user]
            if amount <= WITHDRAW_FEE or amount > self.view(account).withdrawable:
                raise errors.ActionError(errors.WITHDRAW_BALANCE)
            account.balance -= amount
            account.net_deposits -= amount
            payout = amount - WITHDRAW_FEE
            if self.withdraw_handler is not None:
                try:
                    self.withdraw_handler(destination.lower(), payout)
                except Exception:
                    account.balance += amount
                    account.net_deposits += amount
                    log.exception("hyperliquid withdrawal payout failed", user=user)
                    raise errors.ActionError("Withdrawal failed: the bridge did not accept it.") from None
            delta = {
                "type": "withdraw",
                "usdc": fmt_usd(amount),
                "nonce": nonce,
                "fee": fmt_usd(WITHDRAW_FEE),
            }
            self._record(self.ledger, user, {"time": self.now_ms(), "hash": hash_, "delta": delta})
            self.version += 1
        log.info("hyperliquid withdrawal", user=user, destination=destination, usdc=str(payout))

    def usd_send(self, user: str, destination: str, amount: Decimal, hash_: str) -> None:
        """usdSend: perp USDC to another Hyperliquid address, at once."""
        with self.lock:
            account = self.accounts[user]
            if amount > self.view(account).withdrawable:
                raise errors.ActionError(errors.WITHDRAW_BALANCE)
            target = self.account(destination.lower(), create=True)
            assert target is not None
            account.balance -= amount
            target.balance += amount
            account.net_deposits -= amount
            target.net_deposits += amount
            now = self.now_ms()
            delta = {
                "type": "send",
                "user": user,
                "destination": target.address,
                "token": "USDC",
                "amount": fmt_usd(amount),
                "usdcValue": fmt_usd(amount),
                "fee": "0.0",
            }
            self._record(self.ledger, user, {"time": now, "hash": hash_, "delta": delta})
            self._record(self.ledger, target.address, {"time": now, "hash": hash_, "delta": delta})
            self.version += 1

    def approve_agent(self, user: str, agent: str, name: str) -> None:
        with self.lock:
            self.agents.approve(user, agent, name, self.clock.real_ms())
            self.version += 1

    # ------------------------------------------------------------------ admin
    def snapshot(self) -> dict[str, Any]:
        """A JSON-able summary for the admin API's GET /state."""
        with self.lock:
            accounts = {}
            positions = []
            for address, account in self.accounts.items():
                view = self.view(account)
                accounts[address] = {
                    "perp_usdc": fmt_usd(account.balance),
                    "spot_usdc": fmt_usd(account.spot),
                    "account_value": fmt_usd(view.total_value),
                    "withdrawable": fmt_usd(view.withdrawable),
                    "positions": len(account.positions),
                }
                for pv in view.positions:
                    positions.append(
                        {
                            "user": address,
                            "coin": pv.position.coin,
                            "szi": fmt(pv.position.szi),
                            "entry_px": fmt_sig(pv.position.entry_px, 8) if pv.position.entry_px else "0.0",
                            "mark_px": fmt(pv.mark),
                            "leverage": pv.leverage.wire(),
                            "unrealized_pnl": fmt_usd(pv.unrealized),
                            "liquidation_px": fmt_sig(pv.liquidation_px, 8) if pv.liquidation_px else None,
                        }
                    )
            resting = [
                {
                    "user": o.user,
                    "oid": o.oid,
                    "cloid": o.cloid,
                    "coin": o.coin,
                    "side": o.side,
                    "limit_px": fmt(o.limit_px),
                    "sz": fmt(o.sz),
                    "tif": o.tif,
                }
                for o in sorted(self.orders.all_open(), key=lambda o: o.oid)
            ]
            return {
                "network": NETWORKS["mainnet" if self.is_mainnet else "testnet"].hyperliquid_chain,
                "accounts": accounts,
                "positions": positions,
                "resting_orders": resting,
                "agents": self.agents.snapshot(),
                "last_funding": self.last_funding,
                "marks": {coin: fmt(q.mark) for coin, q in self.prices.quotes.items()},
            }
