"""USDC crosses between Arbitrum and Hyperliquid through the bridge, as on mainnet."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
from eth_abi import encode
from eth_account import Account
from hyperliquid.exchange import Exchange

from shared.assets import HYPERLIQUID_BRIDGE, Asset, Chain, token
from tests.support.devnet import DevnetProcess

USDC = token(Asset.USDC, Chain.ARBITRUM).address


def _rpc(dn: DevnetProcess, method: str, params: list) -> dict:
    r = httpx.post(dn.url("arbitrum"), json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    return r.json()


def _usdc_transfer(dn: DevnetProcess, sender, to: str, raw: int, nonce: int) -> str:
    data = "0xa9059cbb" + encode(["address", "uint256"], [to, raw]).hex()
    gas_price = int(_rpc(dn, "eth_gasPrice", [])["result"], 16)
    tx = {
        "chainId": 42161,
        "nonce": nonce,
        "to": USDC,
        "value": 0,
        "data": data,
        "gas": 200_000,
        "maxFeePerGas": gas_price * 2,
        "maxPriorityFeePerGas": 0,
        "type": 2,
    }
    raw_tx = sender.sign_transaction(tx).raw_transaction
    answer = _rpc(dn, "eth_sendRawTransaction", ["0x" + raw_tx.hex()])
    assert "result" in answer, answer
    receipt = _rpc(dn, "eth_getTransactionReceipt", [answer["result"]])["result"]
    assert receipt["status"] == "0x1", receipt
    return answer["result"]


def _hl_account_value(dn: DevnetProcess, user: str) -> Decimal:
    state = httpx.post(
        dn.url("hyperliquid") + "/info", json={"type": "clearinghouseState", "user": user.lower()}
    ).json()
    return Decimal(state["marginSummary"]["accountValue"])


def _wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_usdc_sent_to_the_bridge_is_credited_on_hyperliquid_and_small_deposits_are_lost(
    devnet_factory,
) -> None:
    dn = devnet_factory(only=["arbitrum", "hyperliquid"])
    user = Account.create()
    dn.faucet("arbitrum", "ETH", user.address, "0.01")
    dn.faucet("arbitrum", "USDC", user.address, "200")

    _usdc_transfer(dn, user, HYPERLIQUID_BRIDGE, 150_000_000, nonce=0)
    assert _wait_for(lambda: _hl_account_value(dn, user.address) == Decimal("150")), dn.log()

    # Under the 5 USDC minimum: gone from the wallet, never credited.
    _usdc_transfer(dn, user, HYPERLIQUID_BRIDGE, 4_000_000, nonce=1)
    # The bridge credits in order after the same delay: once a later deposit is credited, a credit of
    # the small one would have come too.
    _usdc_transfer(dn, user, HYPERLIQUID_BRIDGE, 6_000_000, nonce=2)
    assert _wait_for(lambda: _hl_account_value(dn, user.address) != Decimal("150")), dn.log()
    assert _hl_account_value(dn, user.address) == Decimal("156")
    balance_call = "0x70a08231" + encode(["address"], [user.address]).hex()
    left = int(_rpc(dn, "eth_call", [{"to": USDC, "data": balance_call}, "latest"])["result"], 16)
    assert left == 40_000_000


def test_withdraw3_pays_out_on_arbitrum_less_the_fee(devnet_factory) -> None:
    dn = devnet_factory(only=["arbitrum", "hyperliquid"])
    user = Account.create()
    dn.faucet("hyperliquid", "USDC", user.address, "100")
    exchange = Exchange(user, dn.url("hyperliquid"))
    result = exchange.withdraw_from_bridge(25.0, user.address)
    assert result["status"] == "ok", result
    balance_call = "0x70a08231" + encode(["address"], [user.address]).hex()

    def arrived() -> bool:
        raw = int(_rpc(dn, "eth_call", [{"to": USDC, "data": balance_call}, "latest"])["result"], 16)
        return raw == 24_000_000  # 25 less the 1 USDC withdrawal fee

    assert _wait_for(arrived)
    assert _hl_account_value(dn, user.address) == Decimal("75")
