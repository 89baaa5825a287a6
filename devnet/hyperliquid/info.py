"""POST /info: the read side, with the venue's request types, field names and number style.

Answers that depend only on the market and the books (meta, metaAndAssetCtxs, allMids, l2Book,
predictedFundings) are rendered once per change (a simulated step, a trade, an order resting or
leaving) and served from cache, so a read costs little more than parsing its body.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from devnet.hyperliquid import errors, rules
from devnet.hyperliquid.clearinghouse import Account, margin_view, render_state
from devnet.hyperliquid.exchange import HyperliquidExchange
from devnet.hyperliquid.history import INTERVALS_MS
from devnet.hyperliquid.wire import ZERO, fmt, fmt_places, fmt_sig, fmt_usd, is_address, is_cloid, is_uint
from devnet.market import HOUR_MS, sig

PAGE = 500  # time-range answers (fundingHistory, userFunding, ledger updates) as on the venue
MAX_FILLS = 2000
IMPACT_USD = {"BTC": Decimal(20_000), "ETH": Decimal(20_000)}
DEFAULT_IMPACT_USD = Decimal(6_000)
EIGHT_HOURS_MS = 8 * HOUR_MS
MAX_HISTORICAL_ORDERS = 2000  # "at most 2000 most recent historical orders" (info endpoint)
DAY_MS = 24 * HOUR_MS
FEE_DAYS = 14  # dailyUserVlm covers the 14 days the fee tier is computed on, plus today
# The perp fee tiers by 14-day volume (gitbook "Fees"; shared/research/venues.md §1.10); the spot
# column, the maker-rebate tiers and the staking tiers are from the same page as recalled, and the
# devnet never charges them (it has no spot trading, no rebates, no staking).
VIP_TIERS = (
    ("5000000.0", "0.0004", "0.00012", "0.0006", "0.0003"),
    ("25000000.0", "0.00035", "0.00008", "0.0005", "0.0002"),
    ("100000000.0", "0.0003", "0.00004", "0.0004", "0.0001"),
    ("500000000.0", "0.00028", "0.0", "0.00035", "0.0"),
    ("2000000000.0", "0.00026", "0.0", "0.0003", "0.0"),
    ("7000000000.0", "0.00024", "0.0", "0.00025", "0.0"),
)
MM_TIERS = (("0.005", "-0.00001"), ("0.015", "-0.00002"), ("0.03", "-0.00003"))
STAKING_TIERS = (
    ("0.0001", "0.05"),
    ("0.001", "0.1"),
    ("0.01", "0.15"),
    ("0.1", "0.2"),
    ("1.0", "0.3"),
    ("5.0", "0.4"),
)
SPOT_TAKER, SPOT_MAKER = "0.0007", "0.0004"
# USDC's token id on each network (spotMeta); the SDK only needs the token to exist.
USDC_TOKEN_ID = {True: "0x6d1e7cde53ba9467b783cb7c530ce054", False: "0xeb62eee3685fc4c43992febcd9e75443"}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class InfoService:
    def __init__(self, ex: HyperliquidExchange) -> None:
        self.ex = ex
        self._cache: dict[Any, bytes] = {}
        self._cache_version = -1
        self._meta = _dumps(self._render_meta())
        self._spot_meta = _dumps(
            {
                "universe": [],
                "tokens": [
                    {
                        "name": "USDC",
                        "szDecimals": 8,
                        "weiDecimals": 8,
                        "index": 0,
                        "tokenId": USDC_TOKEN_ID[ex.is_mainnet],
                        "isCanonical": True,
                        "evmContract": None,
                        "fullName": None,
                        "deployerTradingFeeShare": "0.0",
                    }
                ],
                # Outcome markets: none on the devnet (the keys are in every mainnet answer).
                "outcomes": [],
                "questions": [],
            }
        )
        self._handlers: dict[str, Callable[[dict[str, Any]], bytes]] = {
            "meta": self._meta_answer,
            "metaAndAssetCtxs": self._meta_and_asset_ctxs,
            "allMids": self._all_mids,
            "l2Book": self._l2_book,
            "clearinghouseState": self._clearinghouse_state,
            "spotClearinghouseState": self._spot_clearinghouse_state,
            "openOrders": self._open_orders,
            "frontendOpenOrders": self._frontend_open_orders,
            "userFills": self._user_fills,
            "userFillsByTime": self._user_fills_by_time,
            "userFunding": self._user_funding,
            "userNonFundingLedgerUpdates": self._ledger_updates,
            "predictedFundings": self._predicted_fundings,
            "orderStatus": self._order_status,
            "spotMeta": lambda body: self._spot_meta,
            "perpDexs": lambda body: b"[null]",
            "userRole": self._user_role,
            "extraAgents": self._extra_agents,
            "activeAssetData": self._active_asset_data,
            "userRateLimit": self._user_rate_limit,
            "userFees": self._user_fees,
            "candleSnapshot": self._candle_snapshot,
            "historicalOrders": self._historical_orders,
            "portfolio": self._portfolio,
        }

    def handle(self, body: bytes) -> bytes:
        """JSON bytes of the answer; raises Undeserializable for the venue's 422."""
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise errors.Undeserializable() from None
        if not isinstance(request, dict):
            raise errors.Undeserializable()
        kind = request.get("type")
        self.ex.sync()
        if kind == "fundingHistory":
            return self._funding_history(request)  # market data only: no need to wait for the exchange
        handler = self._handlers.get(kind)  # type: ignore[arg-type]
        if handler is None:
            raise errors.Undeserializable()
        with self.ex.lock:
            if self._cache_version != self.ex.version:
                self._cache.clear()
                self._cache_version = self.ex.version
            return handler(request)

    def _cached(self, key: Any, render: Callable[[], Any]) -> bytes:
        answer = self._cache.get(key)
        if answer is None:
            answer = _dumps(render())
            self._cache[key] = answer
        return answer

    # ------------------------------------------------------------------ request fields
    @staticmethod
    def _user(body: dict[str, Any]) -> str:
        user = body.get("user")
        if not is_address(user):
            raise errors.Undeserializable()
        return str(user).lower()

    @staticmethod
    def _dex(body: dict[str, Any]) -> None:
        dex = body.get("dex")
        if dex not in (None, ""):
            raise errors.Undeserializable()  # only the first perp dex exists on the devnet

    @staticmethod
    def _time(body: dict[str, Any], name: str, required: bool) -> int | None:
        value = body.get(name)
        if value is None and not required:
            return None
        if not is_uint(value):
            raise errors.Undeserializable()
        return int(value)  # type: ignore[arg-type]

    def _window(self, body: dict[str, Any]) -> tuple[int, int]:
        start = self._time(body, "startTime", True)
        end = self._time(body, "endTime", False)
        assert start is not None
        return start, end if end is not None else self.ex.now_ms()

    # ------------------------------------------------------------------ market data
    def _render_meta(self) -> dict[str, Any]:
        universe = []
        for a in self.ex.assets:
            entry: dict[str, Any] = {
                "szDecimals": a.sz_decimals,
                "name": a.name,
                "maxLeverage": a.max_leverage,
                "marginTableId": a.margin_table_id,
            }
            if a.delisted:
                entry["isDelisted"] = True
            universe.append(entry)
        return {"universe": universe, "marginTables": _margin_tables(self.ex), "collateralToken": 0}

    def _meta_answer(self, body: dict[str, Any]) -> bytes:
        self._dex(body)
        return self._meta

    def _meta_and_asset_ctxs(self, body: dict[str, Any]) -> bytes:
        self._dex(body)
        return self._cached("metaAndAssetCtxs", lambda: [json.loads(self._meta), self._asset_ctxs()])

    def _asset_ctxs(self) -> list[dict[str, Any]]:
        ctxs = []
        for a in self.ex.assets:
            perp = self.ex.market.perps[a.name]
            quote = self.ex.prices.quotes[a.name]
            book = self.ex.books.get(a.name)
            mid = book.mid() if book else None
            impact = IMPACT_USD.get(a.name, DEFAULT_IMPACT_USD)
            impact_bid = book.average_price(True, impact) if book else None
            impact_ask = book.average_price(False, impact) if book else None
            base_volume = Decimal(f"{perp.day_volume_base:.6f}")
            ctxs.append(
                {
                    "funding": fmt(Decimal(f"{perp.predicted_rate:.10f}")) if not a.delisted else "0.0",
                    "openInterest": fmt_places(Decimal(f"{perp.open_interest:.6f}"), a.sz_decimals),
                    "prevDayPx": fmt(sig(perp.prev_day_px)),
                    "dayNtlVlm": fmt_places(base_volume * quote.oracle, 2),
                    "premium": fmt(quote.premium) if not a.delisted else None,
                    "oraclePx": fmt(quote.oracle),
                    "markPx": fmt(quote.mark),
                    "midPx": fmt(mid) if mid is not None else None,
                    "impactPxs": [fmt_sig(impact_bid, 6), fmt_sig(impact_ask, 6)]
                    if impact_bid is not None and impact_ask is not None
                    else None,
                    "dayBaseVlm": fmt_places(base_volume, a.sz_decimals),
                }
            )
        return ctxs

    def _all_mids(self, body: dict[str, Any]) -> bytes:
        self._dex(body)

        def render() -> dict[str, str]:
            mids = {}
            for name, book in self.ex.books.items():
                mid = book.mid()
                if mid is not None:
                    mids[name] = fmt(mid)
            return mids

        return self._cached("allMids", render)

    def _l2_book(self, body: dict[str, Any]) -> bytes:
        coin = body.get("coin")
        if not isinstance(coin, str):
            raise errors.Undeserializable()
        n_sig = body.get("nSigFigs")
        mantissa = body.get("mantissa")
        if n_sig is not None and n_sig not in (2, 3, 4, 5):
            raise errors.Undeserializable()
        if mantissa is not None and (mantissa not in (1, 2, 5) or n_sig != 5):
            raise errors.Undeserializable()
        book = self.ex.books.get(coin)
        if book is None:
            return b"null"

        def render() -> list[list[dict[str, Any]]]:
            bids, asks = book.levels(n_sig, mantissa)
            return [
                [{"px": fmt(lv.px), "sz": fmt(lv.sz), "n": lv.n} for lv in bids],
                [{"px": fmt(lv.px), "sz": fmt(lv.sz), "n": lv.n} for lv in asks],
            ]

        levels = self._cached(("l2Book", coin, n_sig, mantissa), render)
        head = _dumps({"coin": coin, "time": self.ex.now_ms()})[:-1]
        return head + b',"levels":' + levels + b"}"

    def _predicted_fundings(self, body: dict[str, Any]) -> bytes:
        return self._cached("predictedFundings", self._render_predicted)

    def _render_predicted(self) -> list[Any]:
        ex = self.ex
        next_hour = (ex.prices.step_ms // HOUR_MS + 1) * HOUR_MS
        now = ex.now_ms()
        next_8h = (now // EIGHT_HOURS_MS + 1) * EIGHT_HOURS_MS
        out = []
        for a in ex.assets:
            if a.delisted:
                continue
            hourly = ex.market.perps[a.name].predicted_rate
            venues = []
            for venue in ("BinPerp", "HlPerp", "BybitPerp"):
                if venue == "HlPerp":
                    data = {
                        "fundingRate": fmt(Decimal(f"{hourly:.10f}")),
                        "nextFundingTime": next_hour,
                        "fundingIntervalHours": 1,
                    }
                else:
                    # Other venues' 8-hour rates: near Hyperliquid's, drawn from the seed per 8 hours.
                    rng = random.Random(f"hl-predicted:{ex.config.seed}:{a.name}:{venue}:{next_8h}")
                    rate = hourly * 8 * (1 + rng.gauss(0, 0.2)) + rng.gauss(0, 0.00002)
                    data = {
                        "fundingRate": fmt(Decimal(f"{rate:.8f}")),
                        "nextFundingTime": next_8h,
                        "fundingIntervalHours": 8,
                    }
                venues.append([venue, data])
            out.append([a.name, venues])
        return out

    def _funding_history(self, body: dict[str, Any]) -> bytes:
        coin = body.get("coin")
        if not isinstance(coin, str):
            raise errors.Undeserializable()
        start, end = self._window(body)
        if coin not in self.ex.market.perps:
            return b"[]"
        rows = []
        for t, rate, premium in self.ex.market.funding_history(coin, start, end)[:PAGE]:
            rows.append({"coin": coin, "fundingRate": fmt(rate), "premium": fmt(premium), "time": t})
        return _dumps(rows)

    # ------------------------------------------------------------------ users
    def _account(self, user: str) -> Account:
        return self.ex.accounts.get(user) or Account(user)

    def _clearinghouse_state(self, body: dict[str, Any]) -> bytes:
        user = self._user(body)
        self._dex(body)
        account = self._account(user)
        view = margin_view(account, self.ex.by_name, {c: q.mark for c, q in self.ex.prices.quotes.items()})
        return _dumps(render_state(view, account.funding_all_time, self.ex.now_ms()))

    def _spot_clearinghouse_state(self, body: dict[str, Any]) -> bytes:
        account = self._account(self._user(body))
        balances = []
        if account.spot > 0:
            balances.append(
                {"coin": "USDC", "token": 0, "total": fmt_usd(account.spot), "hold": "0.0", "entryNtl": "0.0"}
            )
        return _dumps({"balances": balances})

    def _open_orders(self, body: dict[str, Any]) -> bytes:
        user = self._user(body)
        self._dex(body)
        return _dumps([o.open_order() for o in self.ex.orders.open_orders(user)])

    def _frontend_open_orders(self, body: dict[str, Any]) -> bytes:
        user = self._user(body)
        self._dex(body)
        return _dumps([o.frontend() for o in self.ex.orders.open_orders(user)])

    def _user_fills(self, body: dict[str, Any]) -> bytes:
        fills = self.ex.fills.get(self._user(body), [])
        return _dumps(fills[::-1][:MAX_FILLS])

    def _user_fills_by_time(self, body: dict[str, Any]) -> bytes:
        user = self._user(body)
        start, end = self._window(body)
        fills = [f for f in self.ex.fills.get(user, []) if start <= f["time"] <= end]
        return _dumps(fills[:MAX_FILLS])

    def _user_funding(self, body: dict[str, Any]) -> bytes:
        user = self._user(body)
        start, end = self._window(body)
        return _dumps([r for r in self.ex.funding.get(user, []) if start <= r["time"] <= end][:PAGE])

    def _ledger_updates(self, body: dict[str, Any]) -> bytes:
        user = self._user(body)
        start, end = self._window(body)
        return _dumps([r for r in self.ex.ledger.get(user, []) if start <= r["time"] <= end][:PAGE])

    def _order_status(self, body: dict[str, Any]) -> bytes:
        user = self._user(body)
        ref = body.get("oid")
        if is_uint(ref):
            order = self.ex.orders.find(user, oid=int(ref))  # type: ignore[arg-type]
        elif is_cloid(ref):
            order = self.ex.orders.find(user, cloid=str(ref))
        else:
            raise errors.Undeserializable()
        if order is None:
            return b'{"status":"unknownOid"}'
        return _dumps(
            {
                "status": "order",
                "order": {
                    "order": order.frontend(),
                    "status": order.status,
                    "statusTimestamp": order.status_ts,
                },
            }
        )

    def _user_role(self, body: dict[str, Any]) -> bytes:
        user = self._user(body)
        if user in self.ex.accounts:
            return b'{"role":"user"}'
        master = self.ex.agents.master_of(user, self.ex.clock.real_ms())
        if master is not None:
            return _dumps({"role": "agent", "data": {"user": master}})
        return b'{"role":"missing"}'

    def _extra_agents(self, body: dict[str, Any]) -> bytes:
        user = self._user(body)
        agents = self.ex.agents.named(user)
        return _dumps([{"name": a.name, "address": a.address, "validUntil": a.valid_until} for a in agents])

    def _active_asset_data(self, body: dict[str, Any]) -> bytes:
        user = self._user(body)
        coin = body.get("coin")
        if not isinstance(coin, str):
            raise errors.Undeserializable()
        asset = self.ex.by_name.get(coin)
        if asset is None or asset.delisted:
            raise errors.Undeserializable()
        account = self._account(user)
        setting = account.leverage_for(asset) if user in self.ex.accounts else None
        value = setting.value if setting else min(20, asset.max_leverage)
        is_cross = setting.is_cross if setting else True
        mark = self.ex.prices.mark(coin)
        available = ZERO
        if user in self.ex.accounts:
            view = margin_view(
                account, self.ex.by_name, {c: q.mark for c, q in self.ex.prices.quotes.items()}
            )
            available = max(ZERO, view.cross_value - view.cross_margin_used)
        buying_power = available * value
        max_size = (buying_power / mark).quantize(Decimal(1).scaleb(-asset.sz_decimals)) if mark else ZERO
        leverage: dict[str, Any] = {"type": "cross" if is_cross else "isolated", "value": value}
        if not is_cross:
            pos = account.positions.get(coin)
            leverage["rawUsd"] = fmt_usd(pos.margin - pos.szi * pos.entry_px) if pos else "0.0"
        return _dumps(
            {
                "user": user,
                "coin": coin,
                "leverage": leverage,
                "maxTradeSzs": [fmt(max_size), fmt(max_size)],
                "availableToTrade": [fmt_usd(buying_power), fmt_usd(buying_power)],
                "markPx": fmt(mark),
            }
        )

    # ------------------------------------------------------------------ limits, fees, history
    def _user_rate_limit(self, body: dict[str, Any]) -> bytes:
        user = self._user(body)
        account = self.ex.accounts.get(user)
        volume = account.volume if account is not None else ZERO
        return _dumps(self.ex.address_requests.answer(user, volume))

    def _user_fees(self, body: dict[str, Any]) -> bytes:
        user = self._user(body)
        account = self._account(user)
        taker, maker = account.fee_rates()
        return _dumps(
            {
                "dailyUserVlm": self._daily_volume(user),
                "feeSchedule": {
                    "cross": fmt(rules.TAKER_FEE),
                    "add": fmt(rules.MAKER_FEE),
                    "spotCross": SPOT_TAKER,
                    "spotAdd": SPOT_MAKER,
                    "tiers": {
                        "vip": [
                            {"ntlCutoff": n, "cross": c, "add": a, "spotCross": sc, "spotAdd": sa}
                            for n, c, a, sc, sa in VIP_TIERS
                        ],
                        "mm": [{"makerFractionCutoff": f, "add": a} for f, a in MM_TIERS],
                    },
                    "referralDiscount": "0.04",
                    "stakingDiscountTiers": [{"bpsOfMaxSupply": b, "discount": d} for b, d in STAKING_TIERS],
                },
                "userCrossRate": fmt(taker),
                "userAddRate": fmt(maker),
                "userSpotCrossRate": SPOT_TAKER,
                "userSpotAddRate": SPOT_MAKER,
                "activeReferralDiscount": "0.0",
                "trial": None,
                "feeTrialEscrow": "0.0",
                "nextTrialAvailableTimestamp": None,
                "stakingLink": None,
                "activeStakingDiscount": {"bpsOfMaxSupply": "0.0", "discount": "0.0"},
            }
        )

    def _daily_volume(self, user: str) -> list[dict[str, str]]:
        """The user's taker (cross) and maker (add) volume, and the exchange's, per UTC day."""
        today = self.ex.now_ms() // DAY_MS
        days = {today - i: [ZERO, ZERO, ZERO] for i in range(FEE_DAYS, -1, -1)}
        for owner, fills in self.ex.fills.items():
            for f in fills:
                row = days.get(f["time"] // DAY_MS)
                if row is None:
                    continue
                notional = Decimal(f["px"]) * Decimal(f["sz"])
                row[2] += notional / 2  # each trade has two sides: count it once
                if owner == user:
                    row[0 if f["crossed"] else 1] += notional
        return [
            {
                "date": _date(day),
                "userCross": fmt_usd(row[0]),
                "userAdd": fmt_usd(row[1]),
                "exchange": fmt_usd(row[2]),
            }
            for day, row in days.items()
        ]

    def _candle_snapshot(self, body: dict[str, Any]) -> bytes:
        req = body.get("req")
        if not isinstance(req, dict):
            raise errors.Undeserializable()
        coin, interval = req.get("coin"), req.get("interval")
        if not isinstance(coin, str) or interval not in INTERVALS_MS:
            raise errors.Undeserializable()
        start = self._time(req, "startTime", True)
        end = self._time(req, "endTime", False)
        assert start is not None
        return _dumps(self.ex.candles.snapshot(coin, str(interval), start, end or self.ex.now_ms()))

    def _historical_orders(self, body: dict[str, Any]) -> bytes:
        user = self._user(body)
        orders = [o for o in self.ex.orders.by_oid.values() if o.user == user]
        orders.sort(key=lambda o: o.oid, reverse=True)
        return _dumps(
            [
                {"order": o.frontend(), "status": o.status, "statusTimestamp": o.status_ts}
                for o in orders[:MAX_HISTORICAL_ORDERS]
            ]
        )

    def _portfolio(self, body: dict[str, Any]) -> bytes:
        user = self._user(body)
        account = self._account(user)
        return _dumps(self.ex.history.portfolio(user, self.ex.sample(account, self.ex.now_ms())))


def _date(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")


def _margin_tables(ex: HyperliquidExchange) -> list[Any]:
    """One table per asset: the tiered ones of BTC, ETH and SOL as on mainnet, flat ones otherwise."""
    tiers = {
        56: ("tiered 40x", [(0, 40), (150_000_000, 20)]),
        55: ("tiered 25x", [(0, 25), (100_000_000, 15)]),
        54: ("tiered 20x (2)", [(0, 20), (70_000_000, 10)]),
    }
    tables = []
    for a in ex.assets:
        description, rows = tiers.get(a.margin_table_id, ("", [(0, a.max_leverage)]))
        tables.append(
            [
                a.margin_table_id,
                {
                    "description": description,
                    "marginTiers": [{"lowerBound": fmt(Decimal(lb)), "maxLeverage": lev} for lb, lev in rows],
                },
            ]
        )
    return tables
