"""The bot's client of Asgard's margin-trading API (LONG SOL/LST against a USDC debt).

Flow, as Asgard documents it: build (`/create-position`, `/close-position`, `/position/partial-close`,
`/position/deleverage`)
→ check and sign the owner's slot locally (`sign`) → submit the build's answer with `signedTxs`
replaced (`submit`). The transaction id (the first signature) is known before anything is sent, so
the execution layer writes it down first and resolves a lost answer by the signature's status on
Solana (`tenant_bot.chain.solana.SolanaClient.signature_status`), never by submitting blindly again.

Retries: reads retry on 429, 5xx and transport errors (`shared.retry`). A submit is retried only when
it certainly did not reach Asgard (connect error, 429); any other failure raises `OutcomeUnknown`.
A submit answered 200 means Asgard accepted the transaction, not that it landed: confirm it with
`SolanaClient.wait_for_signature` (under a dropped-transaction fault the answer looks normal and the
transaction never lands; sending the same signed transaction again before its blockhash expires lands
it at most once).

The API key (`X-API-Key`) is a `SecretStr`, read only where the HTTP client is made; it is never logged
or put in a repr or an error.

With the host's gateway (`tenant_bot.venues.gateway`), the public reads (`/markets`,
`/token-metadata`) come from its cache (`GET /gateway/v1/asgard/...`), dated by its headers; the
`dated_*` methods take the route as asked (the observer's tick), the others read directly while the
gateway is down. Everything about the owner's positions goes to Asgard directly (the gateway does
not serve it, and Asgard counts per API key, not per host).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

import httpx
from pydantic import SecretStr

from shared.assets import Asset, Chain, Protocol, token
from shared.logging import get_logger, register_secret
from shared.money import to_raw
from shared.retry import RetryPolicy, send_with_retry
from tenant_bot.signing.signer import Signer
from tenant_bot.tls import ssl_context
from tenant_bot.venues import asgard_transactions as txs
from tenant_bot.venues.asgard_models import (
    AsgardError,
    AsgardMarket,
    AsgardPosition,
    BuiltTransaction,
    OpenQuote,
    SignedTransaction,
    UnsafeTransaction,
    open_quote,
    parse_markets,
    parse_position,
    parse_token_prices,
)
from tenant_bot.venues.asgard_transactions import DEFAULT_ALLOWED_PROGRAMS
from tenant_bot.venues.gateway import Dated, Gateway, GatewayDown, GatewayRefused, Route

__all__ = [
    "DEFAULT_ALLOWED_PROGRAMS",
    "AsgardClient",
    "AsgardError",
    "AsgardMarket",
    "AsgardPosition",
    "BuiltTransaction",
    "OpenQuote",
    "SignedTransaction",
    "UnsafeTransaction",
]

log = get_logger("tenant_bot.venues.asgard")

USDC_MINT = token(Asset.USDC, Chain.SOLANA).address or ""
USDC_DECIMALS = token(Asset.USDC, Chain.SOLANA).decimals
LONG = 0
COLLATERAL_TOKEN_B = 1  # collateral in USDC (token B), swapped into token A by the build
RECEIVE_USDC = 1  # close: receive the proceeds in USDC
MAX_REFRESH = 100  # /refresh-positions takes at most this many PDAs per call
SUBMIT_PATHS = {
    "open": "/submit-create-position-tx",
    "close": "/submit-close-position-tx",
    "partial_close": "/submit-position-update-tx",
    "deleverage": "/submit-position-update-tx",
}


def _wire_number(value: Decimal) -> int | float:
    """A JSON number for a field Asgard types as a number (leverage, unit price). Amounts of money go
    as integer raw units; these are ratios, for which a float on the wire is exact enough."""
    return int(value) if value == value.to_integral_value() else float(value)


def _loads(response: httpx.Response) -> Any:
    return json.loads(response.content, parse_float=Decimal)


def update_submit_body(
    request: dict[str, Any], record: dict[str, Any], answer: dict[str, Any]
) -> dict[str, Any]:
    """The documented `/submit-position-update-tx` body (`SubmitPositionUpdateTxRequestBody`) for a
    modification built with `request`: the position's ids and mints come from its record (the build's
    answer does not carry them), `signedTxs` and `updateRecordData` from the answer."""
    body: dict[str, Any] = {
        "protocol": request["protocol"],
        "walletPubkey": request["walletPubkey"],
        "positionPDA": request["positionPDA"],
        "positionId": record["id"],
        "tokenATokenMint": record["tokenATokenMint"],
        "tokenBTokenMint": record["tokenBTokenMint"],
        "signedTxs": answer.get("signedTxs"),
        "updateRecordData": answer.get("updateRecordData"),
    }
    # Optional metadata of the documented body, named "...AtClose" in a partial close's answer.
    for field_name, source in (
        ("feesMetadata", "feesMetadata"),
        ("lendingApyAtUpdate", "lendingApyAtClose"),
        ("borrowingApyAtUpdate", "borrowingApyAtClose"),
    ):
        value = answer[field_name] if answer.get(field_name) is not None else answer.get(source)
        if value is not None:
            body[field_name] = value
    return body


def _error_of(response: httpx.Response) -> AsgardError:
    try:
        body = _loads(response)
    except ValueError:
        body = None
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return AsgardError(
            str(err.get("message", "")),
            code=str(err.get("code", "UNKNOWN")),
            status=response.status_code,
            name=str(err.get("name", "AsgardError")),
            details=err.get("details"),
        )
    text = response.text[:200] if response.text else ""
    return AsgardError(
        f"HTTP {response.status_code} {text}".strip(),
        code=f"HTTP_{response.status_code}",
        status=response.status_code,
    )


class AsgardClient:
    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        jito_tip_lamports: int = 10_000,
        allowed_programs: frozenset[str] = DEFAULT_ALLOWED_PROGRAMS,
        gateway: Gateway | None = None,
    ) -> None:
        """`base_url` includes `/margin-trading`. `jito_tip_lamports` is added to every build (Asgard's
        transactions land through Jito); `allowed_programs` are the programs a built transaction may call."""
        key = api_key.get_secret_value()
        register_secret(key)
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.jito_tip_lamports = jito_tip_lamports
        self.allowed_programs = allowed_programs
        self._gateway = gateway
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"X-API-Key": key, "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            verify=ssl_context(),
        )
        # (protocol, asset) → (tokenABank, tokenBBank), from the last /markets read: builds need them.
        self._banks: dict[tuple[Protocol, Asset], tuple[str, str]] = {}
        # Open positions this client knows, by PDA → their record: what `refresh` asks about.
        self._known: dict[str, dict[str, dict[str, Any]]] = {}

    def __repr__(self) -> str:
        return f"AsgardClient({self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsgardClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ HTTP
    async def _request(
        self, method: str, path: str, body: Any = None, *, idempotent: bool = True
    ) -> httpx.Response:
        async def send() -> httpx.Response:
            return await self._http.request(method, path, json=body)

        response = await send_with_retry(
            send, policy=self.retry, idempotent=idempotent, what=f"asgard {method} {path}"
        )
        if response.status_code >= 400:
            raise _error_of(response)
        return response

    async def _call(self, method: str, path: str, body: Any = None, *, idempotent: bool = True) -> Any:
        """The answer with every number a Decimal (for reading, never for echoing back)."""
        response = await self._request(method, path, body, idempotent=idempotent)
        try:
            return _loads(response)
        except ValueError:
            raise AsgardError(
                f"{path} answered something that is not JSON", code="UNEXPECTED_ANSWER", status=200
            ) from None

    async def _build_answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A build answer kept as plain JSON (numbers as they came): it goes back to Asgard at submit."""
        response = await self._request("POST", path, body)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise AsgardError(
                f"{path} answered something that is not a JSON object", code="UNEXPECTED_ANSWER", status=200
            )
        return payload

    async def _build(self, kind: str, path: str, body: dict[str, Any]) -> BuiltTransaction:
        """A build whose answer is echoed back at submit with `signedTxs` replaced (open, close)."""
        return txs.decode_built(kind, await self._build_answer(path, body))

    async def _public(self, path: str, route: Route | None) -> Dated[Any]:
        """A public read (`/markets`, `/token-metadata`) by `route`; None: through the gateway, or
        directly while it is down (`GatewayDown` / `GatewayRefused` are raised only for a route)."""
        gateway = self._gateway
        if gateway is not None and (route is Route.GATEWAY or (route is None and gateway.down_since is None)):
            try:
                response, at = await gateway.read("GET", "/asgard" + path)
                if response.status_code >= 400:
                    raise _error_of(response)
                return Dated(_loads(response), at, Route.GATEWAY)
            except (GatewayDown, GatewayRefused):
                if route is not None:
                    raise
                log.warning("gateway unavailable: reading Asgard directly", path=path)
        return Dated(await self._call("GET", path), datetime.now(UTC), Route.DIRECT)

    # ------------------------------------------------------------------ markets
    async def markets(self) -> list[AsgardMarket]:
        """Every LONG SOL/LST-against-USDC liquidity source Asgard lists, active or not."""
        return (await self._markets(None)).value

    async def dated_markets(self, route: Route, given: Dated[Any] | None = None) -> Dated[list[AsgardMarket]]:
        """`/markets` by `route`; `given`: its answer from the gateway's market read (`Gateway.market`,
        numbers as Decimals like `_loads`'), read as if it had come alone."""
        return await self._markets(route, given)

    async def _markets(
        self, route: Route | None, given: Dated[Any] | None = None
    ) -> Dated[list[AsgardMarket]]:
        answer = given if given is not None else await self._public("/markets", route)
        markets = parse_markets(answer.value, USDC_MINT)
        for m in markets:
            self._banks[(m.protocol, m.asset)] = (m.token_a_bank, m.token_b_bank)
        return replace(answer, value=markets)

    async def _banks_of(self, protocol: Protocol, asset: Asset) -> tuple[str, str]:
        if (protocol, asset) not in self._banks:
            await self.markets()
        try:
            return self._banks[(protocol, asset)]
        except KeyError:
            raise AsgardError(
                f"Asgard lists no {protocol.label} source for {asset.value}/USDC",
                code="MARKET_NOT_FOUND",
                status=0,
            ) from None

    # ------------------------------------------------------------------ open
    async def _trade_body(
        self,
        owner: str,
        asset: Asset,
        protocol: Protocol,
        collateral_usdc: Decimal,
        leverage: Decimal,
        slippage_bps: int,
    ) -> dict[str, Any]:
        if not asset.is_sol_like:
            raise ValueError(f"Basis only opens LONG SOL or an LST on Asgard, not {asset.value}")
        if collateral_usdc <= 0:
            raise ValueError("collateral_usdc must be positive")
        token_a_bank, token_b_bank = await self._banks_of(protocol, asset)
        return {
            "protocol": protocol.value,
            "tokenABank": token_a_bank,
            "tokenBBank": token_b_bank,
            "direction": LONG,
            "collateralType": COLLATERAL_TOKEN_B,
            "collateralAmountNative": to_raw(collateral_usdc, USDC_DECIMALS),
            "collateralMint": USDC_MINT,
            "collateralUnitPrice": 1,  # USDC
            "leverage": _wire_number(leverage),
            "jitoTipLamport": self.jito_tip_lamports,
            "slippageBps": slippage_bps,
            "walletPubkey": owner,
            "useDirectRoute": False,
        }

    async def simulate_open(
        self, owner: str, asset: Asset, protocol: Protocol, collateral_usdc: Decimal, leverage: Decimal
    ) -> OpenQuote:
        """What opening would give: `/create-position-simulate` must accept the trade (it raises
        `AsgardError` otherwise), and the amounts are worked out from the token's price in
        `/token-metadata` (the simulation's answer is "simulation results", a shape Asgard does not
        document, so none of it is read)."""
        body = await self._trade_body(owner, asset, protocol, collateral_usdc, leverage, 50)
        await self._call("POST", "/create-position-simulate", body)
        price = (await self.prices()).get(asset)
        if price is None or price <= 0:
            raise AsgardError(
                f"/token-metadata gives no price for {asset.value}", code="UNEXPECTED_ANSWER", status=200
            )
        return open_quote(protocol, asset, collateral_usdc, leverage, price)

    async def prices(self) -> dict[Asset, Decimal]:
        """USD price of every token Basis knows that `GET /token-metadata` lists (its `price` field)."""
        return parse_token_prices((await self._public("/token-metadata", None)).value)

    async def dated_prices(
        self, route: Route, given: Dated[Any] | None = None
    ) -> Dated[dict[Asset, Decimal]]:
        """`/token-metadata` by `route`; `given` as for `dated_markets`."""
        answer = given if given is not None else await self._public("/token-metadata", route)
        return replace(answer, value=parse_token_prices(answer.value))

    # The same parameters as `_trade_body` (which builds what both `simulate_open` and this send),
    # spelled out: a caller reads the signature, not a bundle.
    async def build_open(
        self,
        owner: str,
        asset: Asset,
        protocol: Protocol,
        collateral_usdc: Decimal,
        leverage: Decimal,
        *,
        slippage_bps: int = 50,
    ) -> BuiltTransaction:
        body = await self._trade_body(owner, asset, protocol, collateral_usdc, leverage, slippage_bps)
        built = await self._build("open", "/create-position", body)
        log.info("asgard open built", owner=owner, position=built.position_id, protocol=protocol.label)
        return built

    # ------------------------------------------------------------------ sign and submit
    async def sign(self, built: BuiltTransaction, signer: Signer) -> SignedTransaction:
        """Check the transaction (fee payer, signers, program allow-list) and fill the owner's slot only."""
        return await txs.sign(built, signer, self.allowed_programs)

    async def submit(self, signed: SignedTransaction) -> str:
        """Send a signed transaction through Asgard; returns its signature.

        Raises `AsgardError` when Asgard refused it (e.g. `BLOCKHASH_EXPIRED`: build again),
        `OutcomeUnknown` when it may have been sent (resolve by the signature's status on Solana),
        `RetriesExhausted` when Asgard could not be reached at all (nothing was sent).
        """
        kind = signed.built.kind
        answer = await self._call("POST", SUBMIT_PATHS[kind], txs.submit_body(signed), idempotent=False)
        if isinstance(answer, dict) and answer.get("success") is False:  # an update's refusal in a 200
            raise AsgardError(
                f"Asgard did not accept the {kind}", code="SUBMIT_REJECTED", status=200, details=answer
            )
        pda = signed.built.position_id
        if kind == "open" and isinstance(answer, dict) and answer.get("positionPda"):
            # The documented answer of an open: the position's record.
            pda = str(answer["positionPda"])
            self._known.setdefault(signed.built.owner or "", {})[pda] = answer
        elif kind == "close" and pda:
            self._known.get(signed.built.owner or "", {}).pop(pda, None)
        log.info("asgard transaction submitted", kind=kind, signature=signed.signature, position=pda)
        return signed.signature

    # ------------------------------------------------------------------ positions
    async def _refreshed(self, records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(records), MAX_REFRESH):
            chunk = records[i : i + MAX_REFRESH]
            body = {
                "positionPDAs": [
                    {"protocol": int(r["protocol"]), "positionPDA": r["positionPda"]} for r in chunk
                ]
            }
            answer = await self._call("POST", "/refresh-positions", body)
            out.update(answer.get("positions") or {})
        return out

    async def _with_health(self, owner: str, records: list[dict[str, Any]]) -> list[AsgardPosition]:
        refreshed = await self._refreshed(records) if records else {}
        # A position the answer left out is unknown, not unhealthy: ask for each one alone, once;
        # one still missing keeps `health_factor=None` (which closes nothing) until the next refresh.
        for record in records:
            if record["positionPda"] not in refreshed:
                refreshed.update(await self._refreshed([record]))
                if record["positionPda"] not in refreshed:
                    log.warning("asgard refresh left a position out", position=record["positionPda"])
        out = []
        for record in records:
            position = parse_position(record, refreshed.get(record["positionPda"]))
            if position is not None:
                out.append(position)
        self._known[owner] = {p.position_id: p.raw["record"] for p in out if p.is_open}
        return out

    async def positions(self, owner: str) -> list[AsgardPosition]:
        """The owner's open positions (`/positions/open`), with live amounts and health from a refresh."""
        records = await self._call("POST", "/positions/open", {"walletPubkey": owner})
        return await self._with_health(owner, list(records))

    async def refresh(self, owner: str) -> list[AsgardPosition]:
        """Current health of the owner's positions: one `/refresh-positions` call for the positions this
        client already knows (from `positions` or an open it submitted), so a risk loop can poll it
        cheaply. A position that closed or was liquidated since shows with `is_open=False` once, then
        is forgotten. With nothing known yet, this is `positions`."""
        known = self._known.get(owner)
        if not known:
            return await self.positions(owner)
        try:
            return await self._with_health(owner, list(known.values()))
        except AsgardError as exc:
            if exc.code != "POSITION_NOT_FOUND":
                raise
            # A submitted open that never landed (its answer looked normal): re-read the list.
            return await self.positions(owner)

    async def opened_by(self, owner: str, signatures: tuple[str, ...]) -> AsgardPosition | None:
        """The owner's open position whose record's `openTxHash` is one of `signatures` (an open's
        transactions), or None while Asgard does not list it: how the bot learns the PDA of an open,
        whether or not the submit's answer arrived."""
        for position in await self.positions(owner):
            if position.raw["record"].get("openTxHash") in signatures and position.is_open:
                return position
        return None

    async def position_record(self, position_id: str) -> dict[str, Any]:
        """Asgard's record of one position, open or closed (`/positions/by-pda`): entry and exit
        amounts, prices and fee metadata, as the venue recorded them."""
        return dict(await self._call("POST", f"/positions/by-pda?pda={position_id}"))

    async def _record(self, owner: str, position_id: str) -> dict[str, Any]:
        record = self._known.get(owner, {}).get(position_id)
        if record is None:
            record = await self._call("POST", f"/positions/by-pda?pda={position_id}")
        return record

    # ------------------------------------------------------------------ close
    async def build_close(self, owner: str, position_id: str, *, slippage_bps: int = 50) -> BuiltTransaction:
        """Close the whole position, proceeds in USDC."""
        record = await self._record(owner, position_id)
        body = {
            "protocol": int(record["protocol"]),
            "walletPubkey": owner,
            "positionPDA": position_id,
            "collateralType": RECEIVE_USDC,
            "jitoTipLamport": self.jito_tip_lamports,
            "slippageBps": slippage_bps,
            "useDirectRoute": False,
        }
        return await self._build("close", "/close-position", body)

    async def build_deleverage(
        self, owner: str, position_id: str, target_leverage: Decimal, *, slippage_bps: int = 50
    ) -> BuiltTransaction:
        """Sell token A to repay debt until the leverage is `target_leverage` (≥ 1, below the current);
        the equity stays in the position, so the health factor rises. Kamino and Drift only."""
        if target_leverage < 1:
            raise ValueError("target leverage must be at least 1")
        record = await self._record(owner, position_id)
        body = {
            "protocol": int(record["protocol"]),
            "walletPubkey": owner,
            "positionPDA": position_id,
            "targetLeverage": _wire_number(target_leverage),
            "jitoTipLamport": self.jito_tip_lamports,
            "slippageBps": slippage_bps,
            "useDirectRoute": False,
        }
        answer = await self._build_answer("/position/deleverage", body)
        return txs.decode_built("deleverage", update_submit_body(body, record, answer))

    async def build_partial_close(
        self, owner: str, position_id: str, fraction: Decimal, *, slippage_bps: int = 50
    ) -> BuiltTransaction:
        """Close `fraction` (0.01–0.99) of the position, proceeds in USDC. Kamino and Drift only."""
        percent = (fraction * 100).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        if not Decimal(1) <= percent <= Decimal(99):
            raise ValueError("fraction must be between 0.01 and 0.99 (use build_close for all of it)")
        record = await self._record(owner, position_id)
        body = {
            "protocol": int(record["protocol"]),
            "walletPubkey": owner,
            "positionPDA": position_id,
            "closePercentage": _wire_number(percent),
            "jitoTipLamport": self.jito_tip_lamports,
            "slippageBps": slippage_bps,
            "useDirectRoute": False,
        }
        answer = await self._build_answer("/position/partial-close", body)
        return txs.decode_built("partial_close", update_submit_body(body, record, answer))
