"""The observation's dates and ages, the prices a bot whose gateway is down reads directly, and what one
tick asks of the venues, the chains and the gateway: the market data in one gateway request, chain probes
spaced unless the tick is watchful, stake-pool rates kept for their stated time."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

import tenant_bot.observer as observer_module
from devnet.solana.stake_pools import encode_marinade_state, encode_stake_pool
from shared.assets import SLOTS_PER_EPOCH, STAKE_POOLS, Asset, PoolLayout, Protocol
from tenant_bot.chain.arbitrum import ArbitrumClient
from tenant_bot.chain.solana import SolanaClient
from tenant_bot.config import BotSettings
from tenant_bot.execution.venues import Venues
from tenant_bot.observer import Observation, Observer, Reads, age_s, market_risk, with_direct_prices
from tenant_bot.services import Services
from tenant_bot.venues.asgard import AsgardClient
from tenant_bot.venues.gateway import Gateway, MarketPart
from tenant_bot.venues.hyperliquid import HyperliquidClient
from tests.unit.tenant_bot.strategy.snapshots import AT, snapshot
from tests.unit.tenant_bot.venues.test_asgard import JITOSOL, MARKETS, WSOL


def test_ages_count_from_when_the_venue_gave_the_data_never_below_zero() -> None:
    obs = Observation(at=AT, market_at=AT - timedelta(seconds=34, milliseconds=600), account_at=AT)
    assert obs.market_data_age_s == D("34.6") and obs.account_data_age_s == D(0)
    assert Observation(at=AT).market_data_age_s is None
    assert age_s(AT, AT + timedelta(seconds=1)) == D(0)  # a direct answer that came after the tick began


def test_the_risk_engine_is_handed_the_observations_ages() -> None:
    obs = Observation(at=AT, snapshot=snapshot(), market_at=AT - timedelta(seconds=21), account_at=AT)
    risk = market_risk(obs, 0)
    assert risk.market_data_age_s == D(21) and risk.account_data_age_s == D(0)


def test_direct_prices_replace_the_mark_and_asgards_prices_and_nothing_else() -> None:
    last = snapshot()
    moved = with_direct_prices(last, D(120), {Asset.SOL: D(119), Asset.JITOSOL: D("142.8")})
    assert moved.prices == {"hyperliquid_mark": D(120), "asgard": D(119)}  # no stale oracle beside them
    assert moved.lst_sol_rates[Asset.JITOSOL] == D("142.8") / D(119)
    assert moved.funding == last.funding and moved.lending == last.lending and moved.at == last.at
    # Asgard did not answer: its last prices stay, the mark still moves.
    only_mark = with_direct_prices(last, D(120), {})
    assert only_mark.prices["hyperliquid_mark"] == D(120) and only_mark.prices["asgard"] == D("149.98")
    assert only_mark.lst_sol_rates == last.lst_sol_rates


# ---------------------------------------------------------------------- one tick's requests
# The venues, the chains and the host's gateway are scripted (httpx.MockTransport), each answering
# as it documents; the observer is the real one, on the bot's real services otherwise.
HOUR_MS = 3_600_000
CTXS = [
    {
        "universe": [
            {"name": "BTC", "szDecimals": 5, "maxLeverage": 40},
            {"name": "SOL", "szDecimals": 2, "maxLeverage": 20},
        ]
    },
    [
        {"funding": "0.00001", "markPx": "50000", "oraclePx": "50000", "openInterest": "1"},
        {"funding": "0.0000125", "markPx": "150.5", "oraclePx": "150.4", "openInterest": "1000"},
    ],
]
PREDICTED = [
    ["SOL", [["HlPerp", {"fundingRate": "0.00002", "nextFundingTime": 1, "fundingIntervalHours": 1}]]]
]
TOKENS = {"tokens": [{"mint": WSOL, "price": 150.25}, {"mint": JITOSOL, "price": 181.5}]}
ACCOUNT = {
    "marginSummary": {"accountValue": "1000", "totalMarginUsed": "0"},
    "crossMaintenanceMarginUsed": "0",
    "withdrawable": "1000",
    "assetPositions": [],
    "time": 1,
}
ALL_PARTS = frozenset(MarketPart)


class Host:
    """Every service a tick talks to, on made-up hosts; `seen` counts requests by what they ask."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.parts: frozenset[MarketPart] = ALL_PARTS  # what the gateway's cache holds
        self.market_status = 200  # 404: a gateway without the market read; 503: down
        self.slot = 1000
        self.block, self.block_moves = 5000, True
        self.pool_epoch = 700
        now_ms = int(time.time() * 1000)
        self.funding = [
            {"coin": "SOL", "fundingRate": "0.00001", "premium": "0", "time": now_ms - h * HOUR_MS}
            for h in (30, 3, 2, 1)
        ]
        self.observed_ms = now_ms - 2_000

    def _answer(self, kind: str) -> Any:
        if kind == "fundingHistory":
            return self.funding[1:]  # from 24 h ago, as asked
        return {
            "metaAndAssetCtxs": CTXS,
            "predictedFundings": PREDICTED,
            "asgard/markets": MARKETS,
            "asgard/token-metadata": TOKENS,
            "clearinghouseState": ACCOUNT,
            "userFees": {"userCrossRate": "0.00045", "userAddRate": "0.00015"},
            "meta": CTXS[0],
            "allMids": {"SOL": "150.5"},
        }[kind]

    def _dated(self, value: Any) -> httpx.Response:
        return httpx.Response(200, json=value, headers={"X-Basis-Observed-At": str(self.observed_ms)})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host, path = request.url.host, request.url.path
        body = json.loads(request.content) if request.content else {}
        what = body.get("type") or body.get("method") or ""
        self.seen[f"{host} {path} {what}".strip()] += 1
        if host == "gw.test":
            if path == "/gateway/v1/market":
                if self.market_status == 404:
                    return httpx.Response(
                        404, json={"detail": "No such."}, headers={"X-Basis-Gateway": "refused"}
                    )
                if self.market_status != 200:
                    return httpx.Response(self.market_status, json={"detail": "The gateway failed."})
                parts = {
                    p.value: {"observed_at": self.observed_ms, "answer": self._answer(p.value)}
                    for p in self.parts
                }
                return httpx.Response(200, json=parts)
            if self.market_status == 503:
                return httpx.Response(503, json={"detail": "The gateway failed."})
            if path.startswith("/gateway/v1/asgard/"):
                return self._dated(self._answer(path.removeprefix("/gateway/v1/")))
            return self._dated(self._answer(what))
        if host == "hl.test":
            return httpx.Response(200, json=self._answer(what))
        if host == "asgard.test":
            return httpx.Response(
                200, json=[] if path == "/positions/open" else self._answer("asgard" + path)
            )
        if host == "sol.test":
            return httpx.Response(
                200, json={"jsonrpc": "2.0", "id": body["id"], "result": self._solana(what)}
            )
        if host == "arb.test":
            self.block += 4 if self.block_moves else 0
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": hex(self.block)})
        raise AssertionError(f"unexpected request {request.method} {request.url}")

    def _solana(self, method: str) -> Any:
        if method == "getSlot":
            self.slot += 10
            return self.slot
        if method == "getEpochSchedule":
            return {"slotsPerEpoch": SLOTS_PER_EPOCH}
        assert method == "getMultipleAccounts"
        accounts = []
        for pool in STAKE_POOLS.values():
            if pool.layout is PoolLayout.MARINADE:
                data = encode_marinade_state(
                    pool, lamports=1_200_000, msol_supply=1_000_000, epoch=self.pool_epoch
                )
            else:
                data = encode_stake_pool(
                    pool,
                    total_lamports=1_150_000,
                    pool_token_supply=1_000_000,
                    last_update_epoch=self.pool_epoch,
                    last_epoch_total_lamports=1_149_000,
                    last_epoch_pool_token_supply=1_000_000,
                )
            accounts.append({"owner": pool.program, "data": [base64.b64encode(data).decode(), "base64"]})
        return {"value": accounts}

    def reads(self, where: str) -> int:
        return sum(n for key, n in self.seen.items() if key.startswith(where))


@pytest.fixture
async def observed(tmp_path: Path) -> AsyncIterator[tuple[Host, Observer, Services]]:
    """A real observer on the bot's services with every client pointed at the scripted `Host`."""
    settings = BotSettings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path, log_level="warning", direct_read_seconds=0.001
    )
    built = Services.build(settings)
    host = Host()
    transport = httpx.MockTransport(host)
    gateway = Gateway(
        "http://gw.test/gateway/v1", "t", SecretStr("token"), user_reads=False, transport=transport
    )
    signer = built.venues.signer
    hl = HyperliquidClient("http://hl.test", signer, transport=transport, gateway=gateway)
    asgard = AsgardClient("http://asgard.test", SecretStr("key"), transport=transport, gateway=gateway)
    solana = SolanaClient("http://sol.test", transport=transport)
    arbitrum = ArbitrumClient("http://arb.test", transport=transport)
    s = dataclasses.replace(
        built,
        hl=hl,
        asgard=asgard,
        solana=solana,
        arbitrum=arbitrum,
        gateway=gateway,
        venues=Venues(hl, asgard, solana, signer),
    )
    yield host, Observer(s), s
    for client in (hl, asgard, solana, arbitrum, gateway):
        await client.aclose()
    await built.aclose()


async def test_with_the_gateway_a_tick_reads_its_market_data_in_one_request(
    observed: tuple[Host, Observer, Services],
) -> None:
    host, observer, _ = observed
    await observer.observe()  # the first reads what is then kept: meta, the fee tier, the epoch, pools
    host.seen.clear()
    obs = await observer.observe()
    assert obs.errors == {} and obs.reads is Reads.GATEWAY
    assert dict(host.seen) == {
        "gw.test /gateway/v1/market": 1,  # five reads in one
        "hl.test /info clearinghouseState": 1,  # the account (a bot with its own keys reads it directly)
        "asgard.test /positions/open": 1,
        "sol.test / getSlot": 1,
        "arb.test / eth_blockNumber": 1,
    }
    # Each part read as its single read would be: the same parsers, the same dates.
    snap = obs.snapshot
    assert snap is not None
    assert snap.prices == {
        "hyperliquid_mark": D("150.5"),
        "hyperliquid_oracle": D("150.4"),
        "asgard": D("150.25"),
    }
    assert snap.funding.per_hour == D("0.0000125")
    assert snap.predicted_funding is not None and snap.predicted_funding.per_hour == D("0.00002")
    assert len(snap.funding_history) == 3  # the rows of the last 24 h
    assert {(m.protocol, m.asset) for m in snap.lending} >= {(Protocol.KAMINO, Asset.SOL)}
    kamino = next(m for m in snap.lending if m.protocol is Protocol.KAMINO)
    assert kamino.supply.value == D("0.045")  # Asgard's numbers exact, as a direct read gives them
    assert snap.lst_sol_rates[Asset.JITOSOL] == D("181.5") / D("150.25")
    assert obs.market_at == datetime.fromtimestamp(host.observed_ms / 1000, UTC)


@pytest.mark.parametrize(
    ("held", "status", "single"),
    [
        # The gateway has not read the funding history from that time: that part alone, through it.
        (
            ALL_PARTS - {MarketPart.FUNDING_HISTORY},
            200,
            {"gw.test /gateway/v1/hyperliquid/info fundingHistory"},
        ),
        (ALL_PARTS - {MarketPart.ASGARD_MARKETS}, 200, {"gw.test /gateway/v1/asgard/markets"}),
        # A gateway without the market read: the five single reads through it, as before it.
        (
            ALL_PARTS,
            404,
            {
                "gw.test /gateway/v1/hyperliquid/info metaAndAssetCtxs",
                "gw.test /gateway/v1/hyperliquid/info predictedFundings",
                "gw.test /gateway/v1/hyperliquid/info fundingHistory",
                "gw.test /gateway/v1/asgard/markets",
                "gw.test /gateway/v1/asgard/token-metadata",
            },
        ),
    ],
)
async def test_a_part_the_gateway_does_not_hold_is_read_alone_through_it(
    observed: tuple[Host, Observer, Services], held: frozenset[MarketPart], status: int, single: set[str]
) -> None:
    host, observer, _ = observed
    await observer.observe()  # what is read once and kept (meta, the fee tier) is not this test's
    host.seen.clear()
    host.parts, host.market_status = held, status
    obs = await observer.observe()
    assert obs.errors == {} and obs.reads is Reads.GATEWAY and obs.snapshot is not None
    assert {k for k in host.seen if k.startswith("gw.test") and k != "gw.test /gateway/v1/market"} == single
    assert all(host.seen[k] == 1 for k in single)
    assert len(obs.snapshot.funding_history) == 3 and obs.snapshot.lending


async def test_a_gateway_down_for_the_market_read_is_the_fallback_not_a_venue_outage(
    observed: tuple[Host, Observer, Services],
) -> None:
    host, observer, s = observed
    await observer.observe()
    host.seen.clear()
    host.market_status = 503
    for _ in range(2):  # the first direct read comes within a jitter of `direct_read_seconds` (tiny here)
        obs = await observer.observe()
        assert obs.reads is Reads.FALLBACK and "gateway" in obs.errors and "hyperliquid" not in obs.errors
    assert host.reads("gw.test /gateway/v1/hyperliquid") == 0  # no single read after the market read failed
    assert host.seen["gw.test /gateway/v1/market"] == 2
    assert host.seen["hl.test /info allMids"] == 1  # the mark, directly
    assert obs.snapshot is not None and obs.snapshot.prices["hyperliquid_mark"] == D("150.5")
    assert s.outages.outages(obs.at) == {}


async def test_chain_probes_wait_their_cadence_unless_the_tick_is_watchful(
    observed: tuple[Host, Observer, Services],
) -> None:
    host, observer, _ = observed
    probes = ("sol.test / getSlot", "arb.test / eth_blockNumber")
    await observer.observe(watchful=False)  # never probed: due
    assert [host.seen[p] for p in probes] == [1, 1]
    await observer.observe(watchful=False)  # probed a moment ago: not yet
    assert [host.seen[p] for p in probes] == [1, 1]
    await observer.observe(watchful=True)  # an execution, a trip, auto-entry: every tick
    assert [host.seen[p] for p in probes] == [2, 2]
    host.block_moves = False  # Arbitrum's height stands still, and a probe sees it: suspect
    await observer.observe(watchful=True)
    for arbitrum in (4, 5):  # probed at every tick from then on, Solana still spaced
        await observer.observe(watchful=False)
        assert [host.seen[p] for p in probes] == [3, arbitrum]
    host.block_moves = True  # moving again: well, spaced again
    await observer.observe(watchful=False)
    await observer.observe(watchful=False)
    assert [host.seen[p] for p in probes] == [3, 6]


async def test_stake_pool_rates_are_kept_for_their_stated_time(
    observed: tuple[Host, Observer, Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    host, observer, _ = observed
    first = await observer.observe()
    assert first.snapshot is not None and Asset.JITOSOL in first.snapshot.lst_fair_rates
    for _ in range(3):
        again = await observer.observe()
        assert again.snapshot is not None and again.snapshot.lst_fair_rates == first.snapshot.lst_fair_rates
    assert host.seen["sol.test / getMultipleAccounts"] == 1
    monkeypatch.setattr(observer_module, "POOL_RATES_MAX_AGE_S", 0.0)  # as if five minutes went by
    await observer.observe()
    assert host.seen["sol.test / getMultipleAccounts"] == 2


async def test_with_a_gateway_a_quiet_tick_reads_the_account_only_when_it_is_old(
    observed: tuple[Host, Observer, Services],
) -> None:
    host, observer, s = observed
    account = "hl.test /info clearinghouseState"
    first = await observer.observe(watchful=False)  # nothing kept yet: read
    assert host.seen[account] == 1 and first.account_fresh
    quiet = await observer.observe(watchful=False)  # a moment old: carried with its date
    assert host.seen[account] == 1
    assert quiet.hl_state == first.hl_state and quiet.account_at == first.account_at
    assert not quiet.account_fresh  # a carried account is never compared with the journal
    await observer.observe(watchful=True)  # an execution, a trip, auto-entry, a manual open: read
    assert host.seen[account] == 2
    # Once the last answer is `gateway_account_read_seconds` old, a quiet tick reads it again.
    soon = dataclasses.replace(
        s, settings=s.settings.model_copy(update={"gateway_account_read_seconds": 0.05})
    )
    quick = Observer(soon)
    await quick.observe(watchful=False)
    await quick.observe(watchful=False)
    assert host.seen[account] == 3
    time.sleep(0.06)
    await quick.observe(watchful=False)
    assert host.seen[account] == 4
