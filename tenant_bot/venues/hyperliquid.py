"""Hyperliquid's REST API (`POST /info`, `POST /exchange`) for one account, async, with Decimal money.

Writes are signed through a `Signer`: L1 actions are handed to `Signer.sign_hyperliquid_l1`, which
builds the phantom agent from the action with the official SDK's functions
(`shared.hyperliquid_l1`); user-signed ones are built here with `user_signed_payload`. Either way the
bytes signed are the bytes the venue checks.

Every write is signed once, with a nonce only this client uses (milliseconds, strictly
increasing); a lost answer is resolved by asking the venue, never guessed
(`hyperliquid_delivery`). An order is found again by its cloid (`cloid_for`).

With a `Gateway` (the host's shared one, `tenant_bot.venues.gateway`), reads go through it: public
ones always, the account's own when `gateway.user_reads`. Each read is one of
- `read(body, route)`: the route asked for, no fallback; `GatewayDown` / `GatewayRefused` raised as
  they are. The observer's tick reads use this (`DatedReads`), so a tick never turns into
  a full set of direct reads when the gateway is down: it decides what to read directly, and when;
- `_info(body)`: everything else (execution, the dashboard): through the gateway, directly while it
  is down (these reads are rare: an execution's, a viewer's).
Every answer is `Dated`: when the venue gave it (the gateway's `X-Basis-Observed-At` / `Age` for a
cached answer, the moment it arrived for a direct one). Signed actions go through the gateway's
/exchange, directly only when nothing reached the venue (`hyperliquid_delivery`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeVar

import httpx

from shared.logging import get_logger
from shared.networks import NETWORKS, Network
from shared.rates import FundingRate
from shared.retry import RetriesExhausted, RetryPolicy, send_with_retry
from tenant_bot.signing.signer import Signer
from tenant_bot.tls import ssl_context
from tenant_bot.venues.gateway import Dated, Gateway, GatewayDown, GatewayRefused, Route
from tenant_bot.venues.hyperliquid_delivery import (
    ExchangeSender,
    HyperliquidOutcomeUnknown,
    Resolved,
    Resolver,
    accepted,
    envelope,
)
from tenant_bot.venues.hyperliquid_models import (
    CANDLE_INTERVALS,
    AssetContext,
    Book,
    BookLevel,
    Candle,
    FeeRates,
    Fill,
    FundingPayment,
    HyperliquidError,
    HyperliquidRateLimited,
    OrderOutcome,
    OrderState,
    PerpMarket,
    PerpPosition,
    UserState,
    average_fill,
    check_cloid,
    cloid_for,
    outcome_from_status,
    parse_asset_contexts,
    parse_book,
    parse_candles,
    parse_fee_rates,
    parse_fill,
    parse_funding_payment,
    parse_markets,
    parse_predicted_funding,
    parse_user_state,
    state_from_order_status,
    wire_number,
)

__all__ = [
    "AssetContext",
    "Book",
    "BookLevel",
    "DatedReads",
    "FeeRates",
    "Fill",
    "FundingPayment",
    "HyperliquidClient",
    "HyperliquidError",
    "HyperliquidOutcomeUnknown",
    "HyperliquidRateLimited",
    "OrderOutcome",
    "OrderState",
    "PerpMarket",
    "PerpPosition",
    "UserState",
    "cloid_for",
]

log = get_logger("tenant_bot.venues.hyperliquid")

PAGE = 500  # the venue answers time ranges 500 rows at a time
# After an HTTP 429, reads wait this long before they are sent again, doubled at each 429 in a row
# up to the venue's window: the weight is counted per IP over a minute, so asking again at once
# only spends what the other bots on the host need.
RATE_LIMIT_COOLDOWN_S = 5.0
RATE_LIMIT_COOLDOWN_MAX_S = 60.0
USD_CLASS_TRANSFER_TYPE = "HyperliquidTransaction:UsdClassTransfer"
WITHDRAW_TYPE = "HyperliquidTransaction:Withdraw"

T = TypeVar("T")


class HyperliquidClient:
    def __init__(
        self,
        base_url: str,
        signer: Signer | None = None,
        *,
        network: Network = NETWORKS["devnet"],
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        address: str | None = None,
        gateway: Gateway | None = None,
    ) -> None:
        self._signer = signer
        self._gateway = gateway
        # How actions are signed (L1 source, hyperliquidChain): the network's, never the URL's.
        self._network = network
        self._retry = retry or RetryPolicy()
        # Reads are not retried on 429: they wait out the cool-down (see `_info`).
        self._read_retry = replace(self._retry, retry_status=self._retry.retry_status - {429})
        self._cooldown_s = 0.0
        self._reads_resume_at = 0.0  # time.monotonic()
        self._address = address or (signer.evm_address if signer is not None else None)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"Content-Type": "application/json"},
            verify=ssl_context(),
        )
        self._markets: dict[str, PerpMarket] | None = None
        self._last_nonce = 0
        self._sender = ExchangeSender(self._http, self._retry, on_busy=self._rate_limited, gateway=gateway)

    @property
    def address(self) -> str:
        """The account read and traded: the signer's address unless another was given."""
        if self._address is None:
            raise ValueError("this client has neither a signer nor an address: it can read market data only")
        return self._address

    @property
    def network(self) -> Network:
        return self._network

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> HyperliquidClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ reads
    def _rate_limited(self, retry_after: float | None) -> None:
        """The venue answered 429: hold reads back for a cool-down (longer at each 429 in a row)."""
        self._cooldown_s = min(RATE_LIMIT_COOLDOWN_MAX_S, max(RATE_LIMIT_COOLDOWN_S, self._cooldown_s * 2))
        wait = max(self._cooldown_s, retry_after or 0.0)
        self._reads_resume_at = max(self._reads_resume_at, time.monotonic() + wait)
        log.warning("hyperliquid rate limit (HTTP 429): reads paused", seconds=round(wait, 1))

    def _gateway_for(self, body: dict[str, Any], route: Route) -> Gateway | None:
        """The gateway this read goes through, or None: straight to the venue."""
        gateway = self._gateway
        if route is Route.DIRECT or gateway is None:
            return None
        return gateway if gateway.user_reads or "user" not in body else None

    async def _info(self, body: dict[str, Any]) -> Any:
        return (await self._info_dated(body)).value

    async def _info_dated(self, body: dict[str, Any]) -> Dated[Any]:
        """A read that is not a tick's: through the gateway, directly while the gateway is down."""
        gateway = self._gateway_for(body, Route.GATEWAY)
        if gateway is not None and gateway.down_since is None:
            try:
                return await self._via(gateway, body)
            except GatewayDown:
                log.warning("gateway down: reading directly", request=body.get("type"))
            except GatewayRefused as exc:
                if exc.status == 429:
                    raise HyperliquidRateLimited(
                        f"hyperliquid info {body.get('type')}: {exc} (this bot's share of the host's "
                        "budget is spent)",
                        last_status=429,
                    ) from None
                raise HyperliquidError(f"info {body.get('type')}: {exc}") from None
        return await self._direct(body)

    async def read(self, body: dict[str, Any], route: Route) -> Dated[Any]:
        """A read by `route`, as asked: `GatewayDown` or `GatewayRefused` when the gateway fails it
        (what `DatedReads` sends: the observer decides what to read directly)."""
        gateway = self._gateway_for(body, route)
        if gateway is None:
            return await self._direct(body)
        return await self._via(gateway, body)

    async def _via(self, gateway: Gateway, body: dict[str, Any]) -> Dated[Any]:
        content = json.dumps(body, separators=(",", ":")).encode()
        response, at = await gateway.read("POST", "/hyperliquid/info", content)
        return Dated(self._answer(response, body), at, Route.GATEWAY)

    async def _direct(self, body: dict[str, Any]) -> Dated[Any]:
        what = f"hyperliquid info {body.get('type')}"
        wait = self._reads_resume_at - time.monotonic()
        if wait > 0:
            raise HyperliquidRateLimited(
                f"{what}: not sent, Hyperliquid is rate-limiting this host (HTTP 429); reads resume in "
                f"{wait:.0f} s",
                last_status=429,
            )
        content = json.dumps(body, separators=(",", ":")).encode()
        response = await send_with_retry(
            lambda: self._http.post("/info", content=content),
            policy=self._read_retry,
            idempotent=True,
            what=what,
        )
        return Dated(self._answer(response, body), datetime.now(UTC), Route.DIRECT)

    def _answer(self, response: httpx.Response, body: dict[str, Any]) -> Any:
        """The venue's answer to an /info request (relayed by the gateway or not)."""
        if response.status_code == 429:
            self._rate_limited(_retry_after(response))
            raise HyperliquidRateLimited(
                f"hyperliquid info {body.get('type')}: Hyperliquid is rate-limiting this host (HTTP 429); "
                f"reads paused for {self._cooldown_s:.0f} s",
                last_status=429,
            )
        self._cooldown_s = 0.0
        if response.status_code >= 500:  # relayed by the gateway: the venue is not answering well
            raise RetriesExhausted(
                f"hyperliquid info {body.get('type')}: HTTP {response.status_code}",
                last_status=response.status_code,
            )
        if response.status_code != 200:
            raise HyperliquidError(
                f"info {body.get('type')}: HTTP {response.status_code}: {response.text[:300]}"
            )
        return response.json()

    async def markets(self) -> dict[str, PerpMarket]:
        """Tradable perps by name (cached: the universe only grows, and indices never move)."""
        if self._markets is None:
            self._markets = parse_markets(await self._info({"type": "meta"}))
        return self._markets

    async def _market(self, coin: str) -> PerpMarket:
        market = (await self.markets()).get(coin)
        if market is None:
            raise ValueError(f"{coin!r} is not a tradable Hyperliquid perp")
        return market

    async def asset_contexts(self) -> dict[str, AssetContext]:
        return parse_asset_contexts(await self._info({"type": "metaAndAssetCtxs"}))

    async def mids(self) -> dict[str, Decimal]:
        return _mids(await self._info({"type": "allMids"}))

    async def book(self, coin: str) -> Book:
        answer = await self._info({"type": "l2Book", "coin": coin})
        if answer is None:
            raise HyperliquidError(f"no book for {coin!r}")
        return parse_book(answer)

    async def funding_history(
        self, coin: str, start_ms: int, end_ms: int | None = None
    ) -> list[tuple[int, FundingRate]]:
        """Settled hourly rates, oldest first, every page of them."""
        return (await funding_pages(self._info_dated, coin, start_ms, end_ms)).value

    async def candles(self, coin: str, interval: str, start_ms: int) -> list[Candle]:
        """Candles of `coin`'s mark from `start_ms` to the venue's now, oldest first. One request: the
        venue keeps its 5,000 most recent candles; its weight is 20 plus 1 per 60 candles answered.
        `endTime` is optional on the venue (nullish in @nktkas/hyperliquid's schema) and left out, so
        the candle in progress is always included whatever this host's clock says."""
        if interval not in CANDLE_INTERVALS:
            raise ValueError(f"unknown candle interval {interval!r}; use {', '.join(CANDLE_INTERVALS)}")
        req = {"coin": coin, "interval": interval, "startTime": start_ms}
        return parse_candles(await self._info({"type": "candleSnapshot", "req": req}))

    async def predicted_funding(self, coin: str) -> FundingRate | None:
        """The venue's prediction of its own next rate ("HlPerp"), with the interval it states."""
        return parse_predicted_funding(await self._info({"type": "predictedFundings"}), coin)

    async def user_state(self, address: str | None = None) -> UserState:
        answer = await self._info({"type": "clearinghouseState", "user": address or self.address})
        return parse_user_state(answer)

    async def fee_rates(self, address: str | None = None) -> FeeRates:
        """The rates the account pays now (its volume tier, staking and referral discounts)."""
        return parse_fee_rates(await self._info({"type": "userFees", "user": address or self.address}))

    async def user_fills(self, address: str | None = None) -> list[Fill]:
        """The most recent fills (up to 2000), newest first, as the venue answers."""
        answer = await self._info({"type": "userFills", "user": address or self.address})
        return [parse_fill(f) for f in answer]

    async def user_funding(
        self, start_ms: int, end_ms: int | None = None, address: str | None = None
    ) -> list[FundingPayment]:
        """Funding paid or received in [start_ms, end_ms], oldest first, every page of it."""
        user = address or self.address
        out: list[FundingPayment] = []
        seen: set[tuple[int, str]] = set()
        start = start_ms
        while True:
            body: dict[str, Any] = {"type": "userFunding", "user": user, "startTime": start}
            if end_ms is not None:
                body["endTime"] = end_ms
            page = await self._info(body)
            for row in page:
                payment = parse_funding_payment(row)
                if payment is not None and (payment.time_ms, payment.coin) not in seen:
                    seen.add((payment.time_ms, payment.coin))
                    out.append(payment)
            if len(page) < PAGE:
                return out
            # Several coins settle at the same stamp: restart at it and drop what was seen.
            next_start = int(page[-1]["time"])
            start = next_start if next_start > start else next_start + 1

    async def ledger_updates(self, start_ms: int, address: str | None = None) -> list[dict[str, Any]]:
        """Deposits, withdrawals and transfers since `start_ms` (`userNonFundingLedgerUpdates`: each
        `{"time": ms, "hash": "0x…", "delta": {"type": "deposit" | "withdraw" | …, "usdc": "…", …}}`),
        oldest first, every page of it."""
        user = address or self.address
        out: list[dict[str, Any]] = []
        seen: set[tuple[int, str, str]] = set()
        start = start_ms
        while True:
            page = await self._info({"type": "userNonFundingLedgerUpdates", "user": user, "startTime": start})
            if not isinstance(page, list):
                raise HyperliquidError("userNonFundingLedgerUpdates: the answer is not a list")
            for row in page:
                if not isinstance(row, dict) or not isinstance(row.get("delta"), dict):
                    continue
                delta = json.dumps(row["delta"], sort_keys=True)
                key = (int(row.get("time", 0)), str(row.get("hash")), delta)
                if key not in seen:
                    seen.add(key)
                    out.append(row)
            if len(page) < PAGE:
                return out
            next_start = int(page[-1]["time"])
            start = next_start if next_start > start else next_start + 1

    async def order_status(self, cloid: str, address: str | None = None) -> OrderOutcome:
        """The order with this cloid as the venue knows it; NOT_FOUND if it never reached the book.

        The filled size and average price come from the account's fills of that order.
        """
        return await self._order_status(check_cloid(cloid), address or self.address)

    async def _order_status(self, ref: str | int, user: str) -> OrderOutcome:
        answer = await self._info({"type": "orderStatus", "user": user, "oid": ref})
        cloid = ref if isinstance(ref, str) else None
        if answer.get("status") != "order":
            return OrderOutcome(OrderState.NOT_FOUND, cloid, None, Decimal(0), None, None)
        wrapped = answer["order"]
        order, status = wrapped["order"], str(wrapped["status"])
        oid = int(order["oid"])
        fills = await self._fills_of(user, oid, int(order["timestamp"]))
        size, avg_px = average_fill(fills)
        state = state_from_order_status(status, size)
        found_cloid = order.get("cloid") or cloid
        return OrderOutcome(
            state, found_cloid, oid, size, avg_px, status if state is OrderState.REJECTED else None
        )

    async def _fills_of(self, user: str, oid: int, since_ms: int) -> list[Fill]:
        answer = await self._info({"type": "userFillsByTime", "user": user, "startTime": since_ms})
        return [f for f in (parse_fill(row) for row in answer) if f.oid == oid]

    async def _leverage(self, coin: str) -> tuple[int, bool]:
        answer = await self._info({"type": "activeAssetData", "user": self.address, "coin": coin})
        leverage = answer["leverage"]
        return int(leverage["value"]), leverage["type"] == "cross"

    # ------------------------------------------------------------------ writes
    async def place_ioc(
        self,
        coin: str,
        is_buy: bool,
        size: Decimal,
        limit_px: Decimal,
        *,
        cloid: str,
        reduce_only: bool = False,
    ) -> OrderOutcome:
        """An immediate-or-cancel limit order: `sign_order` then `send_order`.

        No liquidity at the limit is an answer, not a failure: REJECTED (or CANCELED), filled 0.
        """
        body = await self.sign_order(coin, is_buy, size, limit_px, cloid=cloid, reduce_only=reduce_only)
        return await self._send_order(body, cloid, sent_before=False)

    # The same parameters as `place_ioc` (which calls this), spelled out: a caller reads the signature.
    async def sign_order(
        self,
        coin: str,
        is_buy: bool,
        size: Decimal,
        limit_px: Decimal,
        *,
        cloid: str,
        reduce_only: bool = False,
    ) -> str:
        """The signed /exchange body of an IOC order, as text, ready to journal before it is sent.

        Prices and sizes must already meet the venue's tick and lot rules (the sizer rounds them);
        they are sent as they are. A bot that crashed between journaling and sending re-sends this
        very body with `send_order`: the venue applies it at most once (its nonce is in it).
        """
        cloid = check_cloid(cloid)
        if size <= 0 or limit_px <= 0:
            raise ValueError("size and limit price must be positive")
        market = await self._market(coin)
        order = {
            "a": market.asset,
            "b": bool(is_buy),
            "p": wire_number(limit_px),
            "s": wire_number(size),
            "r": bool(reduce_only),
            "t": {"limit": {"tif": "Ioc"}},
            "c": cloid,
        }
        action = {"type": "order", "orders": [order], "grouping": "na"}
        nonce, signature = await self._sign_l1(action)
        return envelope(action, nonce, signature).decode()

    async def send_order(self, body: str, cloid: str) -> OrderOutcome:
        """Send a body made by `sign_order` (again, if need be) and return the order's true outcome.

        A duplicate-nonce refusal means an earlier copy landed: the order is read back by cloid.
        """
        return await self._send_order(body, cloid, sent_before=True)

    async def _send_order(self, body: str, cloid: str, *, sent_before: bool) -> OrderOutcome:
        cloid = check_cloid(cloid)
        try:
            envelope_ = json.loads(body)
            nonce = int(envelope_["nonce"])
            order = envelope_["action"]["orders"][0]
            size = Decimal(order["s"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise ValueError("not an order body made by sign_order") from None
        if str(order.get("c", "")).lower() != cloid:
            raise ValueError("the body's cloid is not the one given")
        user = self.address

        def parse(data: Any) -> OrderOutcome:
            statuses = accepted(data)["data"]["statuses"]
            return outcome_from_status(statuses[0], size, cloid)

        async def resolve() -> Resolved[OrderOutcome] | None:
            found = await self._order_status(cloid, user)
            return None if found.state is OrderState.NOT_FOUND else Resolved(found)

        outcome = await self._sender.deliver(
            body.encode(),
            what="order",
            nonce=nonce,
            cloid=cloid,
            parse=parse,
            resolve=resolve,
            sent_before=sent_before,
        )
        log.info(
            "hyperliquid ioc",
            asset=order.get("a"),
            is_buy=order.get("b"),
            size=order.get("s"),
            limit_px=order.get("p"),
            cloid=cloid,
            state=str(outcome.state),
            filled=str(outcome.filled_size),
            error=outcome.error,
        )
        return outcome

    async def cancel_by_cloid(self, coin: str, cloid: str) -> bool:
        """True if the order was open and is now canceled; False if there was nothing to cancel."""
        cloid = check_cloid(cloid)
        market = await self._market(coin)
        action = {"type": "cancelByCloid", "cancels": [{"asset": market.asset, "cloid": cloid}]}
        return await self._cancel(action, cloid, cloid)

    async def cancel(self, coin: str, oid: int) -> bool:
        """True if the order was open and is now canceled; False if there was nothing to cancel."""
        market = await self._market(coin)
        action = {"type": "cancel", "cancels": [{"a": market.asset, "o": int(oid)}]}
        return await self._cancel(action, int(oid), None)

    async def _cancel(self, action: dict[str, Any], ref: str | int, cloid: str | None) -> bool:
        user = self.address

        def parse(data: Any) -> bool:
            return accepted(data)["data"]["statuses"][0] == "success"

        async def resolve() -> Resolved[bool] | None:
            answer = await self._info({"type": "orderStatus", "user": user, "oid": ref})
            if answer.get("status") != "order":
                return Resolved(False)  # no such order: nothing was or will be canceled
            status = answer["order"]["status"]
            if status == "open":
                return None  # our cancel has not (yet) taken effect: send it again
            return Resolved(status == "canceled")

        return await self._write_l1(action, what=action["type"], cloid=cloid, parse=parse, resolve=resolve)

    async def update_leverage(self, coin: str, leverage: int, *, cross: bool) -> None:
        """Set the coin's leverage and margin mode (applies to the open position and new orders)."""
        if leverage < 1:
            raise ValueError("leverage is an integer of at least 1")
        market = await self._market(coin)
        action = {
            "type": "updateLeverage",
            "asset": market.asset,
            "isCross": bool(cross),
            "leverage": leverage,
        }

        def parse(data: Any) -> None:
            accepted(data)

        async def resolve() -> Resolved[None] | None:
            current = await self._leverage(coin)
            return Resolved(None) if current == (leverage, bool(cross)) else None

        await self._write_l1(action, what="updateLeverage", cloid=None, parse=parse, resolve=resolve)

    async def usd_class_transfer(self, amount: Decimal, *, to_perp: bool) -> None:
        """Move USDC between the spot and perp balances.

        Nothing on the venue identifies one transfer, so an ambiguous send that the venue shows to
        have landed (duplicate nonce) raises `HyperliquidOutcomeUnknown`: check the balances.
        """
        if amount <= 0:
            raise ValueError("a transfer amount is positive")
        nonce = self._next_nonce()
        action = {
            "type": "usdClassTransfer",
            "amount": wire_number(amount),
            "toPerp": bool(to_perp),
            "nonce": nonce,
            # The chain the wallet signs on; any works. Hyperliquid's own chain name stops replays.
            "signatureChainId": self._network.signature_chain_id,
            "hyperliquidChain": self._network.hyperliquid_chain,
        }
        from hyperliquid.utils.signing import USD_CLASS_TRANSFER_SIGN_TYPES, user_signed_payload

        payload = user_signed_payload(USD_CLASS_TRANSFER_TYPE, USD_CLASS_TRANSFER_SIGN_TYPES, dict(action))
        signature = await self._require_signer().sign_typed_data(payload)

        def parse(data: Any) -> None:
            accepted(data)

        await self._sender.deliver(
            envelope(action, nonce, signature), what="usdClassTransfer", nonce=nonce, cloid=None, parse=parse
        )

    async def withdraw(self, destination: str, amount: Decimal, *, signer: Signer | None = None) -> int:
        """withdraw3: `amount` USDC leaves the perp balance for `destination` on Arbitrum, less the
        venue's 1 USDC fee. `signer`: one that knows the registered withdrawal address (the client's
        own refuses any destination but the wallet itself). Returns the nonce (the ledger entry's)."""
        if amount <= 0:
            raise ValueError("a withdrawal amount is positive")
        nonce = self._next_nonce()
        action = {
            "type": "withdraw3",
            "hyperliquidChain": self._network.hyperliquid_chain,
            "signatureChainId": self._network.signature_chain_id,
            "destination": destination,
            "amount": wire_number(amount),
            "time": nonce,
        }
        from hyperliquid.utils.signing import WITHDRAW_SIGN_TYPES, user_signed_payload

        payload = user_signed_payload(WITHDRAW_TYPE, WITHDRAW_SIGN_TYPES, dict(action))
        signature = await (signer or self._require_signer()).sign_typed_data(payload)

        def parse(data: Any) -> None:
            accepted(data)

        await self._sender.deliver(
            envelope(action, nonce, signature), what="withdraw3", nonce=nonce, cloid=None, parse=parse
        )
        return nonce

    # ------------------------------------------------------------------ signing and delivery
    def _require_signer(self) -> Signer:
        if self._signer is None:
            raise ValueError("this client has no signer: it can only read")
        return self._signer

    def _next_nonce(self) -> int:
        """Milliseconds, strictly increasing: the venue refuses a nonce it has seen."""
        self._last_nonce = max(int(time.time() * 1000), self._last_nonce + 1)
        return self._last_nonce

    async def _sign_l1(self, action: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """A fresh nonce and the signer's signature of the action under it (the SDK's L1 scheme):
        the signer is shown the action itself and computes the hash it signs."""
        signer = self._require_signer()
        nonce = self._next_nonce()
        return nonce, await signer.sign_hyperliquid_l1(
            action, nonce, mainnet=self._network.hyperliquid_mainnet
        )

    async def _write_l1(
        self,
        action: dict[str, Any],
        *,
        what: str,
        cloid: str | None,
        parse: Callable[[Any], T],
        resolve: Resolver[T] | None,
    ) -> T:
        nonce, signature = await self._sign_l1(action)
        return await self._sender.deliver(
            envelope(action, nonce, signature),
            what=what,
            nonce=nonce,
            cloid=cloid,
            parse=parse,
            resolve=resolve,
        )


class DatedReads:
    """The reads of a tick, each by the route asked and `Dated` (`HyperliquidClient.read`).

    `given`: the venue's answer the gateway already gave in its market read (`Gateway.market`), read
    here exactly as the answer of the request it stands for; without it, the request is sent."""

    def __init__(self, client: HyperliquidClient) -> None:
        self._client = client

    async def asset_contexts(
        self, route: Route, given: Dated[Any] | None = None
    ) -> Dated[dict[str, AssetContext]]:
        answer = given if given is not None else await self._client.read({"type": "metaAndAssetCtxs"}, route)
        return replace(answer, value=parse_asset_contexts(answer.value))

    async def mids(self, route: Route) -> Dated[dict[str, Decimal]]:
        """Every perp's mid (weight 2): what a bot whose gateway is down reads for its mark."""
        answer = await self._client.read({"type": "allMids"}, route)
        return replace(answer, value=_mids(answer.value))

    async def predicted_funding(
        self, coin: str, route: Route, given: Dated[Any] | None = None
    ) -> Dated[FundingRate | None]:
        answer = given if given is not None else await self._client.read({"type": "predictedFundings"}, route)
        return replace(answer, value=parse_predicted_funding(answer.value, coin))

    async def funding_history(
        self, coin: str, start_ms: int, route: Route, given: Dated[Any] | None = None
    ) -> Dated[list[tuple[int, FundingRate]]]:
        """`HyperliquidClient.funding_history` up to now, dated by its oldest page; `given`: the first
        page (the answer to `startTime` `start_ms`)."""
        return await funding_pages(
            lambda body: self._client.read(body, route), coin, start_ms, None, first=given
        )

    async def user_state(self, route: Route) -> Dated[UserState]:
        """The client's account (weight 2)."""
        answer = await self._client.read({"type": "clearinghouseState", "user": self._client.address}, route)
        return replace(answer, value=parse_user_state(answer.value))


async def funding_pages(
    read: Callable[[dict[str, Any]], Awaitable[Dated[Any]]],
    coin: str,
    start_ms: int,
    end_ms: int | None,
    *,
    first: Dated[Any] | None = None,
) -> Dated[list[tuple[int, FundingRate]]]:
    """Settled hourly rates of `coin`, oldest first, every page of them, dated by the oldest page;
    `first`: the first page's answer when it is already known (then only the pages after it are read)."""
    out: list[tuple[int, FundingRate]] = []
    start = start_ms
    oldest: Dated[Any] | None = None
    while True:
        body: dict[str, Any] = {"type": "fundingHistory", "coin": coin, "startTime": start}
        if end_ms is not None:
            body["endTime"] = end_ms
        if first is not None:
            answer, first = first, None
        else:
            answer = await read(body)
        if oldest is None or answer.observed_at < oldest.observed_at:
            oldest = answer
        page = answer.value
        out.extend((int(r["time"]), FundingRate.hourly(Decimal(r["fundingRate"]))) for r in page)
        if len(page) < PAGE:
            return replace(oldest, value=out)
        start = int(page[-1]["time"]) + 1  # one row per hour per coin: no two share a time


def _mids(answer: dict[str, str]) -> dict[str, Decimal]:
    return {coin: Decimal(px) for coin, px in answer.items()}


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None
