"""Every /info answer the project uses has mainnet's shape: checked against `@nktkas/hyperliquid`.

A maintained third-party SDK's valibot response schemas (tests/support/hl_schemas, run by Node)
validate what the devnet answers for an account with history (a short, a resting order, funding,
a spot balance, an agent), and no answer may carry a key the schema does not define.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import eth_account
import httpx
import pytest
from hyperliquid.exchange import Exchange
from hyperliquid.utils.types import Cloid

from tests.support.devnet import DevnetProcess, start_devnet
from tests.support.sdk_schemas import check_answers, require_schemas

pytestmark = pytest.mark.devnet


@pytest.fixture(scope="module")
def dn() -> Iterator[DevnetProcess]:
    require_schemas()  # skip (or fail under CI) before starting anything
    process = start_devnet(only=["hyperliquid"], speed=1.0)
    yield process
    process.stop()


def test_info_answers_match_the_sdk_schemas(dn: DevnetProcess) -> None:
    url = dn.url("hyperliquid")
    wallet = eth_account.Account.create()
    user = wallet.address.lower()
    dn.faucet("hyperliquid", "USDC", user, "2000")
    exchange = Exchange(wallet, url)
    exchange.update_leverage(3, "SOL", is_cross=False)
    cloid = Cloid.from_int(7)
    assert exchange.market_open("SOL", False, 2.0, cloid=cloid)["status"] == "ok"
    rested = exchange.order("SOL", True, 0.5, 60.0, {"limit": {"tif": "Gtc"}})
    oid = rested["response"]["data"]["statuses"][0]["resting"]["oid"]
    exchange.usd_class_transfer(25.0, False)
    agent = eth_account.Account.create()
    exchange.approve_agent("bot")  # a named agent, for extraAgents
    dn.advance(hours=2)  # funding paid, hourly samples, candles
    since = 0

    def ask(body: dict[str, Any]) -> Any:
        r = httpx.post(url + "/info", json=body, timeout=10)
        assert r.status_code == 200, (body, r.text)
        return r.json()

    bodies: list[dict[str, Any]] = [
        {"type": "meta"},
        {"type": "metaAndAssetCtxs"},
        {"type": "allMids"},
        {"type": "l2Book", "coin": "SOL"},
        {"type": "l2Book", "coin": "SOL", "nSigFigs": 3},
        {"type": "clearinghouseState", "user": user},
        {"type": "spotClearinghouseState", "user": user},
        {"type": "openOrders", "user": user},
        {"type": "frontendOpenOrders", "user": user},
        {"type": "userFills", "user": user},
        {"type": "userFillsByTime", "user": user, "startTime": since},
        {"type": "fundingHistory", "coin": "SOL", "startTime": since},
        {"type": "userFunding", "user": user, "startTime": since},
        {"type": "userNonFundingLedgerUpdates", "user": user, "startTime": since},
        {"type": "predictedFundings"},
        {"type": "orderStatus", "user": user, "oid": oid},
        {"type": "orderStatus", "user": user, "oid": cloid.to_raw()},
        {"type": "orderStatus", "user": user, "oid": 1},
        {"type": "spotMeta"},
        {"type": "userRole", "user": user},
        {"type": "userRole", "user": agent.address.lower()},
        {"type": "extraAgents", "user": user},
        {"type": "activeAssetData", "user": user, "coin": "SOL"},
        {"type": "perpDexs"},
        {"type": "userRateLimit", "user": user},
        {"type": "userFees", "user": user},
        {"type": "candleSnapshot", "req": {"coin": "SOL", "interval": "15m", "startTime": since}},
        {"type": "historicalOrders", "user": user},
        {"type": "portfolio", "user": user},
    ]
    answers = [(str(body["type"]), ask(body)) for body in bodies]
    verdicts = check_answers(answers)
    wrong = [
        f"{body}: {v['issues'] or ''} {('unknown keys ' + ', '.join(v['unknown'])) if v['unknown'] else ''}"
        for body, v in zip(bodies, verdicts, strict=True)
        if not v["ok"]
    ]
    assert not wrong, "\n".join(wrong)
    # The schemas are not vacuous: an answer missing a field fails.
    fees = dict(answers[bodies.index({"type": "userFees", "user": user})][1])
    del fees["userCrossRate"]
    assert not check_answers([("userFees", fees)])[0]["ok"]
