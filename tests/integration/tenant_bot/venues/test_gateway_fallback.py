"""The venue clients with a gateway that does not answer, against a real devnet: a tick's read by the
gateway's route says `GatewayDown` (the observer decides what to read directly), every other read and
every order goes straight to the venue, once, and every direct answer is dated when it came.

The gateway here is a loopback port nothing listens on (a stopped control plane); the gateway that
answers is in tests/integration/tenant_bot/test_gateway_outage.py."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from pydantic import SecretStr

from tenant_bot.signing.local import LocalSigner
from tenant_bot.venues.asgard import AsgardClient
from tenant_bot.venues.gateway import Gateway, GatewayDown, Route
from tenant_bot.venues.hyperliquid import DatedReads, HyperliquidClient, OrderState, cloid_for
from tests.support.devnet import DevnetProcess, start_devnet

pytestmark = pytest.mark.devnet

SECRET = SecretStr("integration-test-server-secret-0123")


@pytest.fixture(scope="module")
def dn() -> Iterator[DevnetProcess]:
    process = start_devnet(only=["hyperliquid", "asgard"], seed=12, speed=1.0)
    yield process
    process.stop()


def _dead_gateway() -> Gateway:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: connections are refused
    return Gateway(f"http://127.0.0.1:{port}/gateway/v1", "t1", SecretStr("token"), user_reads=True)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    g = _dead_gateway()
    yield g
    await g.aclose()


async def test_direct_answers_are_dated_when_they_came(dn: DevnetProcess) -> None:
    """No gateway: the tick's route is the venue itself, and an answer is as old as its arrival."""
    async with HyperliquidClient(dn.url("hyperliquid"), address="0x" + "11" * 20) as client:
        before = datetime.now(UTC)
        mids = await DatedReads(client).mids(Route.GATEWAY)
        state = await DatedReads(client).user_state(Route.GATEWAY)
        after = datetime.now(UTC)
    for answer in (mids, state):
        assert answer.route is Route.DIRECT and before <= answer.observed_at <= after
    assert mids.value["SOL"] > 0 and state.value.account_value == 0


async def test_a_tick_read_by_the_gateway_says_it_is_down_and_is_not_sent_elsewhere(
    dn: DevnetProcess, gateway: Gateway
) -> None:
    async with HyperliquidClient(dn.url("hyperliquid"), address="0x" + "22" * 20, gateway=gateway) as client:
        with pytest.raises(GatewayDown):
            await DatedReads(client).asset_contexts(Route.GATEWAY)
        assert gateway.down_since is not None
        # The same read, asked directly: the venue's answer, dated now.
        direct = await DatedReads(client).asset_contexts(Route.DIRECT)
        assert direct.route is Route.DIRECT and direct.value["SOL"].mark_px > 0
        assert direct.age_s(datetime.now(UTC)) < 2


async def test_other_reads_and_orders_go_directly_while_the_gateway_is_down(
    dn: DevnetProcess, gateway: Gateway, tmp_path: Path
) -> None:
    signer = LocalSigner.create(tmp_path / "keystore.json", "tenant-gw", SECRET)
    dn.faucet("hyperliquid", "USDC", signer.evm_address, "1000")
    async with HyperliquidClient(dn.url("hyperliquid"), signer, gateway=gateway) as client:
        book = await client.book("SOL")  # an execution's read: the gateway is tried, then the venue
        await client.update_leverage("SOL", 3, cross=True)
        cloid = cloid_for("gateway-down", "short", 0)
        px = (book.bids[0].px * D("0.98")).quantize(D("0.01"))
        outcome = await client.place_ioc("SOL", False, D("0.5"), px, cloid=cloid)
        assert outcome.state is OrderState.FILLED and outcome.filled_size == D("0.5")
        # Sent once, straight to the venue: one order with this cloid, one fill.
        assert (await client.order_status(cloid)).filled_size == D("0.5")
        fills = [f for f in await client.user_fills() if f.oid == outcome.oid]
        assert sum((f.sz for f in fills), D(0)) == D("0.5")
        assert (await client.user_state()).positions["SOL"].size == D("-0.5")


async def test_asgard_public_reads_fall_back_too(dn: DevnetProcess, gateway: Gateway) -> None:
    async with AsgardClient(dn.url("asgard"), SecretStr("test-key"), gateway=gateway) as asgard:
        with pytest.raises(GatewayDown):
            await asgard.dated_prices(Route.GATEWAY)
        prices = await asgard.dated_prices(Route.DIRECT)
        assert prices.route is Route.DIRECT and prices.age_s(datetime.now(UTC)) < 2
        assert await asgard.markets()  # a build's read: directly while the gateway is down
