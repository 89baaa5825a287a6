"""The gateway as the bot reads it: the date of an answer from its headers, which answers are the
gateway's own, and how often a bot whose gateway is down may read the venue directly."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from tenant_bot.config import BotSettings
from tenant_bot.venues.gateway import (
    DirectReadCadence,
    Gateway,
    GatewayDown,
    GatewayRefused,
    MarketPart,
    Route,
    observed_at,
    observed_ms,
    refused,
    unreachable,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def response(status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers={k.replace("_", "-"): v for k, v in headers.items()})


def test_an_answer_is_dated_by_observed_at_then_age_then_its_arrival() -> None:
    ms = int((NOW - timedelta(seconds=7.25)).timestamp() * 1000)
    assert observed_at(response(**{"X_Basis_Observed_At": str(ms), "Age": "3"}), NOW) == NOW - timedelta(
        seconds=7.25
    )
    assert observed_at(response(Age="12"), NOW) == NOW - timedelta(seconds=12)
    assert observed_at(response(), NOW) == NOW
    # Unreadable, or dated ahead of this host's clock: never a negative age.
    assert observed_at(response(Age="soon"), NOW) == NOW
    ahead = int((NOW + timedelta(seconds=2)).timestamp() * 1000)
    assert observed_at(response(**{"X_Basis_Observed_At": str(ahead)}), NOW) == NOW


def test_the_gateways_own_answers_are_told_from_the_venues() -> None:
    assert refused(response(429, X_Basis_Gateway="refused")) and refused(
        response(403, X_Basis_Gateway="Refused")
    )
    assert not refused(response(429))  # the venue's own 429, relayed
    assert unreachable(response(502, X_Basis_Gateway="unreachable"))
    assert not unreachable(response(502)) and not unreachable(response(504, X_Basis_Gateway="unreachable"))


def test_the_first_direct_read_comes_soon_then_never_closer_than_the_knob() -> None:
    cadence = DirectReadCadence(60, jitter=0.25, rng=random.Random(1))
    t = 1000.0
    while not cadence.due(t):
        t += 0.5
    assert 1000 <= t <= 1000 + 15 + 0.5  # within a quarter of the interval after the gateway failed
    cadence.sent(t)
    sent = t
    while not cadence.due(t):
        t += 0.5
    assert sent + 60 <= t <= sent + 75 + 0.5


def test_a_gateway_that_comes_back_and_fails_again_does_not_shorten_the_interval() -> None:
    cadence = DirectReadCadence(60, jitter=0.25, rng=random.Random(2))
    assert cadence.due(0.0) or cadence.due(20.0)
    cadence.sent(20.0)
    cadence.gateway_back()
    assert not cadence.due(30.0) and not cadence.due(79.9)  # down again at 30 s: still 60 s after 20 s
    assert cadence.due(20 + 60 + 15)


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_the_interval_is_positive(bad: float) -> None:
    with pytest.raises(ValueError):
        DirectReadCadence(bad)


def test_150_bots_falling_back_together_stay_under_the_hosts_1200_weight_a_minute() -> None:
    """The arithmetic of `direct_read_seconds`, played: every bot loses the gateway at t=0, ticks
    every 5 s, and reads allMids (2) and its account (2) directly whenever its cadence allows."""
    seconds = BotSettings(_env_file=None).direct_read_seconds  # type: ignore[call-arg]
    rng = random.Random(17)
    weight: Counter[int] = Counter()  # second → weight spent in it
    for _ in range(150):
        cadence = DirectReadCadence(seconds, rng=rng)
        start = rng.uniform(0, 5)  # where in its tick each bot is
        t = start
        while t < 600:
            if cadence.due(t):
                cadence.sent(t)
                weight[int(t)] += 4
            t += 5
    worst = max(sum(weight[s] for s in range(start, start + 60)) for start in range(0, 540))
    assert worst <= 600 < 1200, worst
    assert sum(weight[s] for s in range(60, 600)) / 9 > 0  # and they do read: the positions stay watched


def test_a_unix_ms_date_is_read_never_ahead_of_arrival() -> None:
    ms = int((NOW - timedelta(seconds=3)).timestamp() * 1000)
    assert observed_ms(ms, NOW) == observed_ms(str(ms), NOW) == NOW - timedelta(seconds=3)
    ahead = int((NOW + timedelta(seconds=2)).timestamp() * 1000)
    assert observed_ms(ahead, NOW) == NOW
    for unreadable in ("soon", None, True, 1.5, [ms], 10**20):
        assert observed_ms(unreadable, NOW) == NOW


def _gateway(answer: httpx.Response, seen: list[httpx.Request]) -> Gateway:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    return Gateway(
        "http://gw.test/gateway/v1",
        "tenant-1",
        SecretStr("the-token"),
        user_reads=False,
        transport=httpx.MockTransport(handle),
    )


async def test_the_market_read_is_one_request_giving_each_part_with_its_own_date() -> None:
    ctxs_at = int((datetime.now(UTC) - timedelta(seconds=4)).timestamp() * 1000)
    body = {
        "metaAndAssetCtxs": {"observed_at": ctxs_at, "answer": [{"universe": []}, []]},
        "asgard/markets": {"observed_at": ctxs_at - 20_000, "answer": {"strategies": {"a": 0.125}}},
        "fundingHistory": {"observed_at": ctxs_at, "answer": []},
        "predictedFundings": {"answer": []},  # no date: not the documented part, read alone
        "asgard/token-metadata": "nothing",
    }
    seen: list[httpx.Request] = []
    gateway = _gateway(httpx.Response(200, json=body), seen)
    parts = await gateway.market("SOL", 1_733_961_600_000)
    assert [(r.method, r.url.path, dict(r.url.params)) for r in seen] == [
        ("GET", "/gateway/v1/market", {"coin": "SOL", "funding_from": "1733961600000"})
    ]
    assert seen[0].headers["authorization"] == "Bearer the-token"
    assert seen[0].headers["x-basis-tenant"] == "tenant-1"
    assert set(parts) == {MarketPart.ASSET_CONTEXTS, MarketPart.ASGARD_MARKETS, MarketPart.FUNDING_HISTORY}
    ctxs = parts[MarketPart.ASSET_CONTEXTS]
    assert ctxs.value == [{"universe": []}, []] and ctxs.route is Route.GATEWAY
    assert ctxs.observed_at == datetime.fromtimestamp(ctxs_at / 1000, UTC)
    markets = parts[MarketPart.ASGARD_MARKETS]
    assert markets.observed_at == ctxs.observed_at - timedelta(seconds=20)
    assert markets.value == {"strategies": {"a": Decimal("0.125")}}  # exact, as Asgard's answers are read
    await gateway.aclose()


async def test_a_gateway_without_the_market_read_gives_no_part_and_is_not_down() -> None:
    refusal = httpx.Response(
        404, json={"detail": "No such gateway endpoint."}, headers={"X-Basis-Gateway": "refused"}
    )
    gateway = _gateway(refusal, [])
    assert await gateway.market("SOL", 0) == {}
    assert gateway.down_since is None
    await gateway.aclose()


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(503, json={"detail": "The gateway failed to answer."}),
        httpx.Response(200, content=b"not json"),
        httpx.Response(200, json=["a list"]),
    ],
)
async def test_a_market_read_without_the_documented_answer_is_the_gateway_down(
    answer: httpx.Response,
) -> None:
    gateway = _gateway(answer, [])
    with pytest.raises(GatewayDown):
        await gateway.market("SOL", 0)
    assert gateway.down_since is not None
    await gateway.aclose()


async def test_a_market_read_refused_otherwise_is_the_gateways_refusal() -> None:
    refusal = httpx.Response(
        401, json={"detail": "Send the bot's token."}, headers={"X-Basis-Gateway": "refused"}
    )
    gateway = _gateway(refusal, [])
    with pytest.raises(GatewayRefused) as raised:
        await gateway.market("SOL", 0)
    assert raised.value.status == 401
    await gateway.aclose()
