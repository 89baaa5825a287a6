"""The Arbitrum chain object: validation, execution, gas, blocks and the Hyperliquid bridge."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount

from devnet.arbitrum.chain import (
    BASE_FEE_WEI,
    BLOCK_MS,
    BRIDGE_ADDRESS,
    ArbitrumChain,
    ChainError,
    intrinsic_gas,
)
from devnet.arbitrum.usdc import USDC_ADDRESS
from devnet.clock import SimClock
from devnet.config import DevnetConfig
from devnet.faults import FaultBook

ETH = 10**18


class FakeTime:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def faults() -> FaultBook:
    return FaultBook(7, SimClock(1.0))


@pytest.fixture
def chain(clock: FakeTime, faults: FaultBook) -> ArbitrumChain:
    return ArbitrumChain(DevnetConfig(), faults, real=clock)


@pytest.fixture
def user(chain: ArbitrumChain) -> LocalAccount:
    account = Account.create()
    chain.credit_eth(account.address.lower(), ETH // 100)
    chain.credit_usdc(account.address, 100_000_000)
    return account


def usdc_transfer(to: str, raw: int) -> bytes:
    return bytes.fromhex("a9059cbb") + encode(["address", "uint256"], [to, raw])


def send(chain: ArbitrumChain, account: LocalAccount, **fields: Any) -> bytes:
    tx = {
        "type": 2,
        "chainId": 42161,
        "nonce": chain.nonce(account.address),
        "to": USDC_ADDRESS,
        "value": 0,
        "data": b"",
        "gas": 200_000,
        "maxFeePerGas": 2 * BASE_FEE_WEI,
        "maxPriorityFeePerGas": 0,
    }
    tx.update(fields)
    if tx["type"] != 2:
        for key in ("maxFeePerGas", "maxPriorityFeePerGas"):
            tx.pop(key)
        tx.setdefault("gasPrice", BASE_FEE_WEI)
        if tx["type"] == 0:
            del tx["type"]  # eth_account signs a legacy transaction when no type is given
    return chain.send_raw_transaction(bytes(account.sign_transaction(tx).raw_transaction))


def test_usdc_transfer_is_mined_with_fee_at_the_base_fee(chain: ArbitrumChain, user: LocalAccount) -> None:
    other = Account.create().address
    before = chain.eth_balance(user.address)
    head = chain.block_number
    tx_hash = send(chain, user, data=usdc_transfer(other, 30_000_000))
    receipt = chain.receipt(tx_hash)
    assert receipt is not None and receipt.status == 1 and receipt.block_number == head + 1
    assert chain.usdc_balance(user.address) == 70_000_000 and chain.usdc_balance(other) == 30_000_000
    # Arbitrum charges the base fee whatever the fee cap: 2 × base fee was offered, 1 × is paid.
    assert chain.eth_balance(user.address) == before - receipt.gas_used * BASE_FEE_WEI
    assert receipt.gas_used > intrinsic_gas(usdc_transfer(other, 1), (), 0)
    assert chain.nonce(user.address) == 1
    assert len(receipt.logs) == 1 and receipt.logs[0].address == USDC_ADDRESS


def test_failed_transfer_is_mined_with_status_zero(chain: ArbitrumChain, user: LocalAccount) -> None:
    other = Account.create().address
    before = chain.eth_balance(user.address)
    receipt = chain.receipt(send(chain, user, data=usdc_transfer(other, 500_000_000)))
    assert receipt is not None and receipt.status == 0 and receipt.logs == []
    assert chain.usdc_balance(user.address) == 100_000_000 and chain.usdc_balance(other) == 0
    assert chain.eth_balance(user.address) == before - receipt.gas_used * BASE_FEE_WEI
    assert chain.nonce(user.address) == 1


def test_out_of_gas_spends_the_whole_limit(chain: ArbitrumChain, user: LocalAccount) -> None:
    other = Account.create().address
    data = usdc_transfer(other, 1_000_000)
    limit = intrinsic_gas(
        data, (), len(data) + 140
    )  # covers the intrinsic cost (signed envelope < 140 bytes), not the transfer
    receipt = chain.receipt(send(chain, user, data=data, gas=limit))
    assert receipt is not None and receipt.status == 0 and receipt.gas_used == limit
    assert chain.usdc_balance(other) == 0


def test_eth_transfer_and_legacy_transactions(chain: ArbitrumChain, user: LocalAccount) -> None:
    other = Account.create().address
    receipt = chain.receipt(send(chain, user, type=0, to=other, value=10**15, gas=30_000))
    assert receipt is not None and receipt.status == 1 and chain.eth_balance(other) == 10**15
    assert receipt.tx.type == 0
    receipt = chain.receipt(send(chain, user, type=1, to=other, value=1, gas=30_000, accessList=[]))
    assert receipt is not None and receipt.status == 1 and chain.eth_balance(other) == 10**15 + 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"nonce": 5}, "nonce too high: address {a}, tx: 5 state: 0"),
        ({"chainId": 1}, "invalid chain id for signer: have 1 want 42161"),
        ({"gas": 21_000}, "intrinsic gas too low: gas 21000, minimum needed"),
        ({"maxFeePerGas": BASE_FEE_WEI - 1}, "max fee per gas less than block base fee: address {a}"),
        ({"maxPriorityFeePerGas": 3 * BASE_FEE_WEI}, "max priority fee per gas higher than max fee per gas"),
        ({"value": ETH}, "insufficient funds for gas * price + value: address {a} have"),
        ({"gas": 40_000_000}, "exceeds block gas limit"),
    ],
)
def test_invalid_transactions_are_refused_with_geth_messages(
    chain: ArbitrumChain, user: LocalAccount, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ChainError) as caught:
        send(chain, user, **fields)
    assert caught.value.code == -32000
    assert caught.value.message.startswith(message.format(a=user.address))
    assert chain.nonce(user.address) == 0


def test_nonce_too_low_after_a_mined_transaction(chain: ArbitrumChain, user: LocalAccount) -> None:
    raw = bytes(
        user.sign_transaction(
            {
                "type": 2,
                "chainId": 42161,
                "nonce": 0,
                "to": user.address,
                "value": 0,
                "gas": 30_000,
                "maxFeePerGas": BASE_FEE_WEI,
                "maxPriorityFeePerGas": 0,
            }
        ).raw_transaction
    )
    chain.send_raw_transaction(raw)
    with pytest.raises(ChainError, match=r"nonce too low: address 0x[0-9a-fA-F]{40}, tx: 0 state: 1"):
        chain.send_raw_transaction(raw)


def test_bridge_credits_five_usdc_or_more_and_keeps_less(chain: ArbitrumChain, user: LocalAccount) -> None:
    calls: list[tuple[str, int]] = []
    chain.bridge_handler = lambda sender, raw: calls.append((sender, raw))
    send(chain, user, data=usdc_transfer(BRIDGE_ADDRESS, 4_999_999))
    assert calls == []
    assert chain.usdc_balance(BRIDGE_ADDRESS) == 4_999_999
    send(chain, user, data=usdc_transfer(BRIDGE_ADDRESS, 5_000_000))
    assert calls == [(user.address.lower(), 5_000_000)]
    snapshot = chain.snapshot()["bridge"]
    assert snapshot["deposits"] == 1 and snapshot["credited_raw"] == 5_000_000
    assert snapshot["lost"] == 1 and snapshot["lost_raw"] == 4_999_999
    assert snapshot["held_raw"] == 9_999_999


def test_failed_transfer_to_the_bridge_credits_nothing(chain: ArbitrumChain, user: LocalAccount) -> None:
    calls: list[tuple[str, int]] = []
    chain.bridge_handler = lambda sender, raw: calls.append((sender, raw))
    receipt = chain.receipt(send(chain, user, data=usdc_transfer(BRIDGE_ADDRESS, 200_000_000)))
    assert receipt is not None and receipt.status == 0 and calls == []


def test_a_failing_bridge_listener_does_not_undo_the_deposit(
    chain: ArbitrumChain, user: LocalAccount
) -> None:
    def boom(sender: str, raw: int) -> None:
        raise RuntimeError("listener down")

    chain.bridge_handler = boom
    receipt = chain.receipt(send(chain, user, data=usdc_transfer(BRIDGE_ADDRESS, 6_000_000)))
    assert receipt is not None and receipt.status == 1
    assert chain.usdc_balance(BRIDGE_ADDRESS) == 6_000_000


def test_dropped_transaction_is_never_mined(
    chain: ArbitrumChain, user: LocalAccount, faults: FaultBook
) -> None:
    faults.set("arbitrum", drop_rate=1.0)
    tx_hash = send(chain, user, data=usdc_transfer(Account.create().address, 1_000_000))
    assert chain.receipt(tx_hash) is None
    assert chain.nonce(user.address) == 0 and chain.usdc_balance(user.address) == 100_000_000
    assert chain.snapshot()["dropped"] == ["0x" + tx_hash.hex()]
    faults.clear("arbitrum")
    assert chain.receipt(send(chain, user, data=usdc_transfer(Account.create().address, 1))) is not None


def test_blocks_advance_with_the_clock_and_mined_blocks_stay_ahead(
    chain: ArbitrumChain, user: LocalAccount, clock: FakeTime
) -> None:
    start = chain.block_number
    clock.t += 10 * BLOCK_MS / 1000
    assert chain.block_number == start + 10
    send(chain, user, to=user.address, gas=30_000)
    send(chain, user, to=user.address, gas=30_000)
    assert chain.block_number == start + 12
    mined = chain.block(start + 12)
    assert mined is not None and len(mined.receipts) == 1
    empty = chain.block(start + 5)
    assert empty is not None and empty.receipts == [] and empty.timestamp <= mined.timestamp
    assert chain.block(start + 13) is None


def test_estimate_covers_what_the_transaction_uses(chain: ArbitrumChain, user: LocalAccount) -> None:
    other = Account.create().address
    data = usdc_transfer(other, 2_000_000)
    estimate = chain.estimate_gas(user.address, USDC_ADDRESS, data, 0)
    receipt = chain.receipt(send(chain, user, data=data, gas=estimate))
    assert receipt is not None and receipt.status == 1 and receipt.gas_used <= estimate
    with pytest.raises(ChainError) as caught:
        chain.estimate_gas(user.address, USDC_ADDRESS, usdc_transfer(other, 10**12), 0)
    assert (
        caught.value.code == 3
        and caught.value.message == "execution reverted: ERC20: transfer amount exceeds balance"
    )
    assert caught.value.data is not None and caught.value.data.startswith("0x08c379a0")


def test_faucet_accepts_any_case_and_refuses_garbage(chain: ArbitrumChain) -> None:
    address = Account.create().address
    chain.credit_usdc(address.lower(), 5)
    chain.credit_usdc(address.upper().replace("0X", "0x"), 5)
    assert chain.usdc_balance(address) == 10
    with pytest.raises(ValueError):
        chain.credit_eth("0x1234", 1)
