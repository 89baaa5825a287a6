"""The Arbitrum JSON-RPC front with httpx and eth_account-signed transactions, against a devnet process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eth_abi import decode, encode
from eth_account import Account
from eth_account.signers.local import LocalAccount

from shared.assets import HYPERLIQUID_BRIDGE
from tests.support.devnet import DevnetProcess, start_devnet
from tests.support.waiting import wait_until

USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


@pytest.fixture(scope="module")
def dn() -> Iterator[DevnetProcess]:
    devnet = start_devnet(only=["arbitrum"], speed=1.0)
    yield devnet
    devnet.stop()


class Eth:
    """A minimal Ethereum JSON-RPC client: what a bot does with httpx."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=10)
        self.next_id = 0

    def raw(self, method: str, *params: Any) -> dict[str, Any]:
        self.next_id += 1
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": list(params)}
        response = self.http.post(self.url, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def __call__(self, method: str, *params: Any) -> Any:
        answer = self.raw(method, *params)
        assert "error" not in answer, answer
        return answer["result"]

    def usdc_balance(self, address: str) -> int:
        data = "0x70a08231" + encode(["address"], [address]).hex()
        return int(self("eth_call", {"to": USDC, "data": data}, "latest"), 16)

    def signed_transfer(self, account: LocalAccount, to: str, raw: int, **overrides: Any) -> str:
        data = "0xa9059cbb" + encode(["address", "uint256"], [to, raw]).hex()
        base_fee = int(self("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
        tip = int(self("eth_maxPriorityFeePerGas"), 16)
        tx = {
            "type": 2,
            "chainId": int(self("eth_chainId"), 16),
            "nonce": int(self("eth_getTransactionCount", account.address, "pending"), 16),
            "to": USDC,
            "value": 0,
            "data": data,
            "gas": 150_000,
            "maxFeePerGas": 2 * base_fee + tip,
            "maxPriorityFeePerGas": tip,
        }
        tx.update(overrides)
        return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


@pytest.fixture(scope="module")
def eth(dn: DevnetProcess) -> Iterator[Eth]:
    client = Eth(dn.url("arbitrum"))
    yield client
    client.http.close()


def funded(dn: DevnetProcess, eth_amount: str = "0.01", usdc: str = "100") -> LocalAccount:
    account = Account.create()
    dn.faucet("arbitrum", "ETH", account.address, eth_amount)
    dn.faucet("arbitrum", "USDC", account.address, usdc)
    return account


def test_chain_identity_and_balances(dn: DevnetProcess, eth: Eth) -> None:
    assert eth("eth_chainId") == "0xa4b1"
    assert eth("net_version") == "42161"
    account = funded(dn, eth_amount="0.5", usdc="12.5")
    assert int(eth("eth_getBalance", account.address, "latest"), 16) == 5 * 10**17
    assert eth.usdc_balance(account.address) == 12_500_000
    decimals = eth("eth_call", {"to": USDC, "data": "0x313ce567"}, "latest")
    assert decode(["uint8"], bytes.fromhex(decimals[2:])) == (6,)
    symbol = eth("eth_call", {"to": USDC, "data": "0x95d89b41"})
    assert decode(["string"], bytes.fromhex(symbol[2:])) == ("USDC",)
    assert eth("eth_getCode", USDC, "latest") != "0x"
    assert eth("eth_getCode", account.address, "latest") == "0x"
    first = int(eth("eth_blockNumber"), 16)
    # Blocks keep coming, with or without traffic.
    wait_until(
        lambda: int(eth("eth_blockNumber"), 16) > first, timeout=10, what="a new block without traffic"
    )


def test_eip1559_usdc_transfer_is_mined_with_a_transfer_log(dn: DevnetProcess, eth: Eth) -> None:
    sender, recipient = funded(dn), Account.create().address
    raw = eth.signed_transfer(sender, recipient, 25_000_000)
    tx_hash = eth("eth_sendRawTransaction", raw)
    receipt = eth("eth_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x1" and receipt["type"] == "0x2"
    assert receipt["from"] == sender.address.lower() and receipt["to"] == USDC.lower()
    (log,) = receipt["logs"]
    assert log["address"] == USDC.lower()
    assert log["topics"] == [
        TRANSFER_TOPIC,
        "0x" + "00" * 12 + sender.address[2:].lower(),
        "0x" + "00" * 12 + recipient[2:].lower(),
    ]
    assert int(log["data"], 16) == 25_000_000
    assert eth.usdc_balance(recipient) == 25_000_000 and eth.usdc_balance(sender.address) == 75_000_000
    gas_cost = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
    assert int(eth("eth_getBalance", sender.address, "latest"), 16) == 10**16 - gas_cost
    tx = eth("eth_getTransactionByHash", tx_hash)
    assert tx["hash"] == tx_hash and tx["blockNumber"] == receipt["blockNumber"] and tx["nonce"] == "0x0"
    block = eth("eth_getBlockByNumber", receipt["blockNumber"], True)
    assert block["hash"] == receipt["blockHash"] and block["transactions"][0]["hash"] == tx_hash
    assert eth("eth_getBlockByHash", receipt["blockHash"], False)["transactions"] == [tx_hash]
    logs = eth(
        "eth_getLogs", {"fromBlock": receipt["blockNumber"], "address": USDC, "topics": [TRANSFER_TOPIC]}
    )
    assert [entry["transactionHash"] for entry in logs] == [tx_hash]
    assert eth("eth_getTransactionCount", sender.address, "latest") == "0x1"


def test_legacy_and_eth_transfers(dn: DevnetProcess, eth: Eth) -> None:
    sender, recipient = funded(dn), Account.create().address
    estimate = int(
        eth("eth_estimateGas", {"from": sender.address, "to": recipient, "value": hex(10**15)}), 16
    )
    assert estimate > 21_000  # Arbitrum adds the L1 data cost
    legacy = sender.sign_transaction(
        {
            "chainId": 42161,
            "nonce": 0,
            "to": recipient,
            "value": 10**15,
            "gas": estimate,
            "gasPrice": int(eth("eth_gasPrice"), 16),
        }
    )
    receipt = eth(
        "eth_getTransactionReceipt", eth("eth_sendRawTransaction", "0x" + legacy.raw_transaction.hex())
    )
    assert receipt["status"] == "0x1" and receipt["type"] == "0x0"
    assert int(eth("eth_getBalance", recipient, "latest"), 16) == 10**15
    bare = sender.sign_transaction(
        {"chainId": 42161, "nonce": 1, "to": recipient, "value": 1, "gas": 21_000, "gasPrice": 10**7}
    )
    answer = eth.raw("eth_sendRawTransaction", "0x" + bare.raw_transaction.hex())
    assert answer["error"]["code"] == -32000
    assert answer["error"]["message"].startswith("intrinsic gas too low: gas 21000, minimum needed")


def test_nonce_too_low_and_insufficient_funds_are_refused(dn: DevnetProcess, eth: Eth) -> None:
    sender = funded(dn)
    raw = eth.signed_transfer(sender, Account.create().address, 1_000_000)
    eth("eth_sendRawTransaction", raw)
    again = eth.raw("eth_sendRawTransaction", raw)["error"]
    assert again["code"] == -32000
    assert again["message"] == f"nonce too low: address {sender.address}, tx: 0 state: 1"
    poor = Account.create()
    dn.faucet("arbitrum", "USDC", poor.address, "10")
    broke = eth.raw("eth_sendRawTransaction", eth.signed_transfer(poor, sender.address, 1_000_000))["error"]
    assert broke["code"] == -32000
    assert broke["message"].startswith(
        f"insufficient funds for gas * price + value: address {poor.address} have 0 want"
    )
    wrong_chain = eth.raw(
        "eth_sendRawTransaction", eth.signed_transfer(sender, sender.address, 1, chainId=1)
    )["error"]
    assert wrong_chain["message"] == "invalid chain id for signer: have 1 want 42161"


def test_failed_transfer_is_mined_with_status_zero(dn: DevnetProcess, eth: Eth) -> None:
    sender = funded(dn, usdc="1")
    call = {
        "from": sender.address,
        "to": USDC,
        "data": "0xa9059cbb" + encode(["address", "uint256"], [USDC, 5 * 10**6]).hex(),
    }
    reverted = eth.raw("eth_estimateGas", call)["error"]
    assert (
        reverted["code"] == 3
        and reverted["message"] == "execution reverted: ERC20: transfer amount exceeds balance"
    )
    assert reverted["data"].startswith("0x08c379a0")
    receipt = eth(
        "eth_getTransactionReceipt",
        eth("eth_sendRawTransaction", eth.signed_transfer(sender, USDC, 5 * 10**6)),
    )
    assert receipt["status"] == "0x0" and receipt["logs"] == []
    assert eth.usdc_balance(sender.address) == 1_000_000
    unknown = eth.raw("eth_call", {"to": USDC, "data": "0xdeadbeef"}, "latest")["error"]
    assert unknown == {"code": -32000, "message": "execution reverted"}


def test_bridge_keeps_deposits_below_five_usdc_and_counts_the_rest(dn: DevnetProcess, eth: Eth) -> None:
    sender = funded(dn)
    bridge = dn.state()["arbitrum"]["bridge"]
    small = eth("eth_sendRawTransaction", eth.signed_transfer(sender, HYPERLIQUID_BRIDGE, 4_000_000))
    assert eth("eth_getTransactionReceipt", small)["status"] == "0x1"
    after_small = dn.state()["arbitrum"]["bridge"]
    assert (
        after_small["lost"] == bridge["lost"] + 1
        and after_small["lost_raw"] == bridge["lost_raw"] + 4_000_000
    )
    assert after_small["deposits"] == bridge["deposits"]
    big = eth("eth_sendRawTransaction", eth.signed_transfer(sender, HYPERLIQUID_BRIDGE, 5_000_000))
    assert eth("eth_getTransactionReceipt", big)["status"] == "0x1"
    after_big = dn.state()["arbitrum"]["bridge"]
    assert after_big["deposits"] == bridge["deposits"] + 1
    assert after_big["credited_raw"] == bridge["credited_raw"] + 5_000_000
    assert eth.usdc_balance(HYPERLIQUID_BRIDGE) == after_big["held_raw"]
    assert eth.usdc_balance(sender.address) == 91_000_000


def test_fee_market_methods(eth: Eth) -> None:
    base_fee = eth("eth_gasPrice")
    assert eth("eth_maxPriorityFeePerGas") == "0x0"
    history = eth("eth_feeHistory", "0x5", "latest", [10, 50, 90])
    assert len(history["baseFeePerGas"]) == 6 and set(history["baseFeePerGas"]) == {base_fee}
    assert len(history["gasUsedRatio"]) == 5 and history["reward"] == [["0x0"] * 3] * 5
    latest = eth("eth_getBlockByNumber", "latest", False)
    assert (
        latest["baseFeePerGas"] == base_fee
        and int(latest["number"], 16) == int(history["oldestBlock"], 16) + 4
    )


def test_batch_and_notifications(eth: Eth) -> None:
    response = eth.http.post(
        eth.url,
        json=[
            {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
            {"jsonrpc": "2.0", "method": "eth_blockNumber"},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_nothing"},
        ],
    )
    answers = response.json()
    assert [a["id"] for a in answers] == [1, 2]
    assert answers[0]["result"] == "0xa4b1"
    assert answers[1]["error"] == {
        "code": -32601,
        "message": "the method eth_nothing does not exist/is not available",
    }


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b"{nope", -32700, "parse error"),
        (b"[]", -32600, "empty batch"),
        (b'{"jsonrpc":"2.0","id":1}', -32600, "invalid request"),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x12","latest"]}',
            -32602,
            "invalid argument 0: hex string has length 2, want 40 for common.Address",
        ),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0xaf88d065e77c8cC2239327C5EDb3A432268e5831"]}',
            -32602,
            "missing value for required argument 1",
        ),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x1234"]}',
            -32000,
            "transaction type not supported",
        ),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["1234"]}',
            -32602,
            "invalid argument 0: hex string without 0x prefix",
        ),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x01",false]}',
            -32602,
            "invalid argument 0: hex number with leading zero digits",
        ),
    ],
)
def test_garbage_gets_geth_errors(dn: DevnetProcess, body: bytes, code: int, message: str) -> None:
    response = httpx.post(dn.url("arbitrum"), content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.json()["error"] == {"code": code, "message": message}


def test_http_level_answers(dn: DevnetProcess) -> None:
    url = dn.url("arbitrum")
    response = httpx.post(
        url,
        content=b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}',
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 415
    assert httpx.get(url).status_code == 200  # geth's empty-GET health probe


def test_dropped_transaction_is_never_mined(devnet_factory) -> None:  # type: ignore[no-untyped-def]
    dn = devnet_factory(only=["arbitrum"], speed=1.0)
    eth = Eth(dn.url("arbitrum"))
    sender = funded(dn)
    dn.faults("arbitrum", drop_rate=1.0)
    tx_hash = eth("eth_sendRawTransaction", eth.signed_transfer(sender, Account.create().address, 1_000_000))
    # No wait: the chain mines or drops a transaction as it arrives, and says which (below).
    assert dn.state()["arbitrum"]["dropped"] == [tx_hash]
    assert eth("eth_getTransactionReceipt", tx_hash) is None
    assert eth("eth_getTransactionByHash", tx_hash) is None
    assert eth("eth_getTransactionCount", sender.address, "pending") == "0x0"
    dn.faults("arbitrum", clear=True)
    resent = eth("eth_sendRawTransaction", eth.signed_transfer(sender, Account.create().address, 1_000_000))
    assert eth("eth_getTransactionReceipt", resent)["status"] == "0x1"
