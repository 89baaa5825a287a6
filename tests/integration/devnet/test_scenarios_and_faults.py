"""Every scenario and every fault is visible to a client of the venues (not only in the admin state)."""

from __future__ import annotations

import base64
import time
from decimal import Decimal

import httpx
import pytest
from eth_account import Account
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from shared.assets import Asset, Chain, token
from tests.support.devnet import DevnetProcess
from tests.support.waiting import wait_until

API_KEY = {"X-API-Key": "devnet"}


def _info(dn: DevnetProcess, body: dict) -> httpx.Response:
    return httpx.post(dn.url("hyperliquid") + "/info", json=body, timeout=10)


def _sol_ctx(dn: DevnetProcess) -> dict:
    meta, ctxs = _info(dn, {"type": "metaAndAssetCtxs"}).json()
    index = [a["name"] for a in meta["universe"]].index("SOL")
    return ctxs[index]


def _rpc(url: str, method: str, params: list | None = None) -> httpx.Response:
    return httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=10
    )


def _asgard_price(dn: DevnetProcess, asset: Asset) -> Decimal:
    mint = (
        token(asset, Chain.SOLANA).address
        if asset is not Asset.SOL
        else "So11111111111111111111111111111111111111112"
    )
    r = httpx.get(f"{dn.url('asgard')}/token-metadata/{mint}", headers=API_KEY, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    return Decimal(str(body.get("price", body.get("token", {}).get("price"))))


@pytest.fixture
def dn(devnet_factory) -> DevnetProcess:
    return devnet_factory(seed=21, speed=1.0)


def test_funding_flip_shows_as_negative_funding_on_hyperliquid(dn: DevnetProcess) -> None:
    assert Decimal(_sol_ctx(dn)["funding"]) > 0
    dn.scenario("funding_flip")
    dn.advance(hours=3)
    ctx = _sol_ctx(dn)
    assert Decimal(ctx["funding"]) < 0 and Decimal(ctx["premium"]) < 0
    now = dn.state()["clock"]["sim_ms"]
    history = _info(dn, {"type": "fundingHistory", "coin": "SOL", "startTime": now - 2 * 3600_000}).json()
    assert history and all(Decimal(h["fundingRate"]) < 0 for h in history)
    predicted = _info(dn, {"type": "predictedFundings"}).json()
    sol = dict(next(venues for coin, venues in predicted if coin == "SOL"))
    assert Decimal(sol["HlPerp"]["fundingRate"]) < 0 and sol["HlPerp"]["fundingIntervalHours"] == 1
    dn.scenario("calm")
    dn.advance(hours=4)
    assert Decimal(_sol_ctx(dn)["funding"]) > 0


def test_flash_crash_moves_prices_on_hyperliquid_and_asgard(dn: DevnetProcess) -> None:
    hl_before = Decimal(_sol_ctx(dn)["oraclePx"])
    asgard_before = _asgard_price(dn, Asset.SOL)
    dn.scenario("flash_crash", drop=0.3)
    dn.advance(seconds=11 * 60)
    assert Decimal(_sol_ctx(dn)["oraclePx"]) < hl_before * Decimal("0.78")
    assert _asgard_price(dn, Asset.SOL) < asgard_before * Decimal("0.78")
    mids = _info(dn, {"type": "allMids"}).json()
    assert Decimal(mids["SOL"]) < hl_before * Decimal("0.8")


def test_lst_depeg_shows_in_the_lst_price(dn: DevnetProcess) -> None:
    def ratio() -> Decimal:
        return _asgard_price(dn, Asset.MSOL) / _asgard_price(dn, Asset.SOL)

    fundamental = Decimal(dn.state()["market"]["lsts"]["mSOL"]["sol_per_lst"])
    assert ratio() > fundamental * Decimal("0.99")
    dn.scenario("lst_depeg", asset="mSOL", discount=0.1)
    dn.advance(hours=2)
    fundamental = Decimal(dn.state()["market"]["lsts"]["mSOL"]["sol_per_lst"])
    assert ratio() < fundamental * Decimal("0.93")


def test_venue_outage_takes_one_venue_down_for_its_simulated_duration(dn: DevnetProcess) -> None:
    dn.scenario("venue_outage", venue="hyperliquid", minutes=30)
    r = _info(dn, {"type": "allMids"})
    assert r.status_code == 503
    assert httpx.get(dn.url("asgard") + "/markets", headers=API_KEY, timeout=10).status_code == 200
    assert "hyperliquid" in dn.state()["outages"]
    dn.advance(seconds=31 * 60)
    assert _info(dn, {"type": "allMids"}).status_code == 200


def test_solana_outage_stalls_the_slot_and_refuses_requests(dn: DevnetProcess) -> None:
    rpc = dn.url("solana")
    dn.scenario("venue_outage", venue="solana", minutes=None)
    wait_until(
        lambda: dn.state()["solana"]["halted"], timeout=10, what="the devnet's ticker to halt the chain"
    )
    assert _rpc(rpc, "getSlot").status_code == 503
    slot = dn.state()["solana"]["slot"]
    # Not a wait for readiness: a window in which a running chain would have made ~2 slots.
    time.sleep(1.0)
    assert dn.state()["solana"]["slot"] == slot and dn.state()["solana"]["halted"]
    dn.scenario("calm")
    wait_until(lambda: dn.state()["solana"]["slot"] > slot, timeout=10, what="the slot to move again")
    assert _rpc(rpc, "getSlot", [{"commitment": "processed"}]).json()["result"] > slot


def test_latency_429_and_server_errors_reach_the_client(dn: DevnetProcess) -> None:
    dn.faults("hyperliquid", latency_ms=300)
    t0 = time.perf_counter()
    assert _info(dn, {"type": "allMids"}).status_code == 200
    assert time.perf_counter() - t0 >= 0.3
    dn.faults("hyperliquid", clear=True, rate_429=1.0)
    r = _info(dn, {"type": "allMids"})
    assert r.status_code == 429 and r.headers.get("retry-after")
    dn.faults("hyperliquid", clear=True, error_rate=1.0)
    assert _info(dn, {"type": "allMids"}).status_code == 500
    dn.faults("solana", error_rate=1.0)
    assert _rpc(dn.url("solana"), "getSlot").status_code == 503
    dn.faults("all", clear=True)
    assert _info(dn, {"type": "allMids"}).status_code == 200
    assert _rpc(dn.url("solana"), "getSlot").status_code == 200
    assert dn.state()["faults"] == {}


def test_partial_rates_are_partial(dn: DevnetProcess) -> None:
    dn.faults("hyperliquid", error_rate=0.5)
    codes = [_info(dn, {"type": "allMids"}).status_code for _ in range(200)]
    assert 60 < codes.count(500) < 140 and codes.count(200) + codes.count(500) == 200


def test_dropped_solana_transaction_is_acknowledged_and_never_lands(dn: DevnetProcess) -> None:
    rpc = dn.url("solana")
    payer, to = Keypair(), Keypair()
    dn.faucet("solana", "SOL", str(payer.pubkey()), "1")
    dn.faults("solana", drop_rate=1.0)
    blockhash = _rpc(rpc, "getLatestBlockhash").json()["result"]["value"]["blockhash"]
    from solders.hash import Hash

    msg = MessageV0.try_compile(
        payer.pubkey(),
        [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to.pubkey(), lamports=10_000_000))],
        [],
        Hash.from_string(blockhash),
    )
    tx = VersionedTransaction(msg, [payer])
    sent = _rpc(rpc, "sendTransaction", [base64.b64encode(bytes(tx)).decode(), {"encoding": "base64"}]).json()
    assert sent["result"] == str(tx.signatures[0])
    slot = dn.state()["solana"]["slot"]  # a few slots on, a transaction the chain took has landed
    wait_until(lambda: dn.state()["solana"]["slot"] >= slot + 2, timeout=10, what="two more slots")
    status = _rpc(rpc, "getSignatureStatuses", [[sent["result"]]]).json()["result"]["value"]
    assert status == [None]
    assert _rpc(rpc, "getBalance", [str(to.pubkey())]).json()["result"]["value"] == 0


def test_dropped_arbitrum_transaction_is_never_mined(dn: DevnetProcess) -> None:
    rpc = dn.url("arbitrum")
    sender = Account.create()
    dn.faucet("arbitrum", "ETH", sender.address, "1")
    dn.faults("arbitrum", drop_rate=1.0)
    gas_price = int(_rpc(rpc, "eth_gasPrice").json()["result"], 16)
    tx = {
        "chainId": 42161,
        "nonce": 0,
        "to": Account.create().address,
        "value": 1,
        "gas": 100_000,
        "maxFeePerGas": gas_price * 2,
        "maxPriorityFeePerGas": 0,
        "type": 2,
    }
    raw = sender.sign_transaction(tx).raw_transaction
    tx_hash = _rpc(rpc, "eth_sendRawTransaction", ["0x" + raw.hex()]).json()["result"]
    assert tx_hash.startswith("0x")
    # No wait: the chain mines or drops a transaction as it arrives, and says which.
    assert tx_hash in dn.state()["arbitrum"]["dropped"]
    assert _rpc(rpc, "eth_getTransactionReceipt", [tx_hash]).json()["result"] is None
