"""The host's shared venue gateway, as the bot's venue clients use it (issue 17; the contract is the
gateway's `GATEWAY.md`: `POST /hyperliquid/info`, `POST /hyperliquid/exchange`, `GET /asgard/...`).

`Gateway` is one authenticated HTTP client of the gateway the control plane serves on its internal
listener (`BASIS_GATEWAY_URL`, e.g. `http://127.0.0.1:8001/gateway/v1`). Every request carries the
bot's API token and `X-Basis-Tenant`, the pair the signing broker checks. It reads and forwards; it
never signs (an /exchange body is signed in the bot and forwarded byte for byte).

What one answer of the gateway means (`Gateway.classify`):
- the venue's own answer, relayed unchanged, dated by `X-Basis-Observed-At` (unix ms) or `Age`
  (seconds) when the gateway served it from its cache (`observed_at`);
- a refusal of the gateway itself (`X-Basis-Gateway: refused`: 401, 403, or 429 when this tenant's
  share of the host's budget is spent): `GatewayRefused`. The venue is fine and so is the gateway:
  nothing to fall back from, no outage to count;
- no answer (a connection refused or reset, a timeout, any 502/503/504: the venue unreachable from
  the gateway, the gateway's own failure, its cache not filled yet): `GatewayDown`. The bot then
  reads directly, slower: `DirectReadCadence` says how often.

`Gateway.market` is the tick's market data in one request (`GET /market`): every part the gateway's
cache holds, each `Dated` by its own observed-at, and nothing for the parts it lacks (or all of them,
from a gateway without the endpoint): the caller reads those alone, as it would without this.

`Route` is how a caller asks for one read: through the gateway where the bot uses one for it, or
straight to the venue. Nothing here retries or falls back by itself: the clients and the observer
decide that where it can be read.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, TypeVar

import httpx
from pydantic import SecretStr

from shared.logging import register_secret
from tenant_bot.signing.broker import TENANT_HEADER
from tenant_bot.tls import ssl_context

T = TypeVar("T")

GATEWAY_HEADER = "X-Basis-Gateway"  # "refused" (its own refusal) or "unreachable" (the venue, from it)
OBSERVED_AT_HEADER = "X-Basis-Observed-At"  # unix ms when the venue gave the answer
# The gateway is on this host or its node: it answers in milliseconds or not at all. A short connect
# timeout keeps a dead gateway from holding a tick; reads it forwards may wait on the venue.
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 10.0
# What a gateway that is up never answers of its own: it relays the venue's status or refuses.
_DOWN_STATUSES = frozenset({502, 503, 504})


class Route(StrEnum):
    """How one read travels."""

    GATEWAY = "gateway"  # through the host's gateway, where the bot uses one for this read
    DIRECT = "direct"  # straight to the venue


class MarketPart(StrEnum):
    """The parts of the gateway's `GET /market`: each the answer of one single read, by its name there
    (the /info `type`, or Asgard's path)."""

    ASSET_CONTEXTS = "metaAndAssetCtxs"
    PREDICTED_FUNDINGS = "predictedFundings"
    FUNDING_HISTORY = "fundingHistory"  # the coin's rows from the time asked (a first page)
    ASGARD_MARKETS = "asgard/markets"
    ASGARD_TOKEN_METADATA = "asgard/token-metadata"


class GatewayDown(Exception):
    """The gateway did not answer (not reachable, timed out, or 502/503/504): read directly, slower.
    Not an outage of the venue: the outage detector is not told."""


class GatewayRefused(Exception):
    """The gateway itself refused (`X-Basis-Gateway: refused`): this tenant's share is spent (429),
    the request is not this tenant's to make (403), or the token is wrong (401). Not a venue outage."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Dated(Generic[T]):
    """A venue's answer and when the venue gave it (not when it reached the bot)."""

    value: T
    observed_at: datetime
    route: Route

    def age_s(self, now: datetime) -> float:
        return max(0.0, (now - self.observed_at).total_seconds())


def observed_at(response: httpx.Response, received_at: datetime) -> datetime:
    """When the venue gave this answer: `X-Basis-Observed-At` (ms), else `Age` (s), else on arrival.
    A date ahead of this host's clock (the two differ by milliseconds) is taken as now: an age is
    never negative."""
    stamp, age = response.headers.get(OBSERVED_AT_HEADER), response.headers.get("age")
    if stamp is not None:
        return observed_ms(stamp, received_at)
    try:
        at = received_at - timedelta(seconds=int(age)) if age is not None else received_at
    except (ValueError, OverflowError):
        at = received_at
    return min(at, received_at)


def observed_ms(stamp: object, received_at: datetime) -> datetime:
    """A unix-ms date of the gateway's (`X-Basis-Observed-At`, a `GET /market` part's `observed_at`),
    never after `received_at`; unreadable: `received_at`."""
    try:
        if isinstance(stamp, bool) or not isinstance(stamp, (int, str)):
            raise ValueError(stamp)
        at = datetime.fromtimestamp(int(stamp) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        at = received_at
    return min(at, received_at)


def refused(response: httpx.Response) -> bool:
    return response.headers.get(GATEWAY_HEADER, "").lower() == "refused"


def unreachable(response: httpx.Response) -> bool:
    """The gateway could not reach the venue before sending anything: the same bytes may go directly."""
    return response.status_code == 502 and response.headers.get(GATEWAY_HEADER, "").lower() == "unreachable"


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    detail = data.get("detail") if isinstance(data, dict) else None
    return detail if isinstance(detail, str) else f"HTTP {response.status_code}"


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


class Gateway:
    """The gateway at `url` (ending in `/gateway/v1`), as tenant `tenant_id` with its API token.

    `user_reads`: whether reads about the bot's own account go through it too. Only a signed-in
    user's bot (signer "broker") has its addresses known to the control plane; any other bot reads
    its account directly (the gateway would refuse them, 403).
    """

    def __init__(
        self,
        url: str,
        tenant_id: str,
        token: SecretStr,
        *,
        user_reads: bool,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.user_reads = user_reads
        register_secret(token.get_secret_value())
        self._http = httpx.AsyncClient(
            base_url=self.url,
            timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            transport=transport,
            follow_redirects=False,
            headers={
                "Authorization": f"Bearer {token.get_secret_value()}",
                TENANT_HEADER: tenant_id,
                "Content-Type": "application/json",
            },
            verify=ssl_context(),
        )
        # When a read last found the gateway down (None: it answered last). Reads that may fall back
        # skip it until the observer's next tick tries it again (`answered` clears it).
        self.down_since: datetime | None = None

    def __repr__(self) -> str:
        return f"Gateway({self.url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, method: str, path: str, content: bytes | None = None) -> httpx.Response:
        """One request, as is: transport errors are raised (the exchange path tells them apart)."""
        return await self._http.request(method, path, content=content)

    async def read(
        self, method: str, path: str, content: bytes | None = None
    ) -> tuple[httpx.Response, datetime]:
        """A read through the gateway: the venue's answer and when the venue gave it.

        Raises `GatewayDown` (no answer) or `GatewayRefused` (its own refusal); any other answer,
        whatever its status, is the venue's and is the caller's to read.
        """
        try:
            response = await self._http.request(method, path, content=content)
        except httpx.TransportError as exc:
            self.down_since = self.down_since or datetime.now(UTC)
            raise GatewayDown(f"the gateway at {self.url} does not answer ({type(exc).__name__})") from None
        if response.status_code in _DOWN_STATUSES:
            # Its own failures (503 "refused") too: whatever it is, it is not answering for the venue.
            self.down_since = self.down_since or datetime.now(UTC)
            raise GatewayDown(f"the gateway answered HTTP {response.status_code}")
        if refused(response):
            self.down_since = None
            raise GatewayRefused(
                f"the gateway refused: {_detail(response)}",
                status=response.status_code,
                retry_after=_retry_after(response),
            )
        self.down_since = None
        return response, observed_at(response, datetime.now(UTC))

    async def market(self, coin: str, funding_from_ms: int) -> dict[MarketPart, Dated[Any]]:
        """The tick's market data in one read (the gateway's `GET /market`): each part the gateway
        holds, as the single read would give it, dated by its own `observed_at`. Numbers that are not
        integers are Decimals, as Asgard's answers are read (Hyperliquid's carry theirs as strings).

        Raises `GatewayDown` / `GatewayRefused` as `read` does, and `GatewayDown` when the answer is
        not the documented object. A gateway without the endpoint (404, an older one) holds no part:
        {} then, and every part is read alone."""
        path = f"/market?coin={coin}&funding_from={funding_from_ms}"
        try:
            response, received_at = await self.read("GET", path)
        except GatewayRefused as exc:
            if exc.status == 404:
                return {}
            raise
        try:
            body = json.loads(response.content, parse_float=Decimal) if response.status_code == 200 else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            body = None
        if not isinstance(body, dict):
            self.down_since = self.down_since or datetime.now(UTC)
            raise GatewayDown(
                f"the gateway's market answer is not what it documents (HTTP {response.status_code})"
            )
        parts: dict[MarketPart, Dated[Any]] = {}
        for part in MarketPart:
            given = body.get(part.value)
            if isinstance(given, dict) and "answer" in given and "observed_at" in given:
                at = observed_ms(given["observed_at"], received_at)
                parts[part] = Dated(given["answer"], at, Route.GATEWAY)
        return parts


class DirectReadCadence:
    """How often a bot whose gateway is down may read the venue directly: at most once every
    `seconds`, plus a random extra of up to `jitter` of it, so bots that lost the gateway together
    spread out instead of reading in step. The first read after the gateway fails comes within
    `jitter × seconds` (the gateway's last answers are fresh then), and two reads are never closer
    than `seconds`, across outages too. Pure: the caller passes the time (monotonic seconds)."""

    def __init__(self, seconds: float, *, jitter: float = 0.25, rng: random.Random | None = None) -> None:
        if seconds <= 0 or not 0 <= jitter <= 1:
            raise ValueError("seconds must be positive and jitter between 0 and 1")
        self.seconds = seconds
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._last: float | None = None
        self._next: float | None = None

    def due(self, now: float) -> bool:
        """Whether a direct read may be sent now (the gateway being down)."""
        if self._next is None:
            first = now + self._rng.uniform(0, self.jitter * self.seconds)
            self._next = first if self._last is None else max(first, self._last + self.seconds)
        return now >= self._next

    def sent(self, now: float) -> None:
        """A direct read was sent at `now`: the next one waits `seconds` plus the jitter."""
        self._last = now
        self._next = now + self.seconds * (1 + self._rng.uniform(0, self.jitter))

    def gateway_back(self) -> None:
        """The gateway answered: the next outage starts its own first read (still `seconds` after
        the last direct one)."""
        self._next = None
