"""SolanaClient and ArbitrumClient against the session devnet: balances, clocks, a bridge deposit."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from eth_account import Account
from solders.keypair import Keypair

from shared.assets import LSTS, Asset
from tenant_bot.chain.arbitrum import ArbitrumClient
from tenant_bot.chain.solana import SignatureState, SolanaClient
from tenant_bot.signing.local import LocalSigner
from tenant_bot.venues.outages import OutageDetector
from tests.support.devnet import DevnetProcess
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.devnet


async def test_solana_balances_show_faucet_sol_usdc_and_lsts_in_whole_units(devnet: DevnetProcess) -> None:
    owner = str(Keypair().pubkey())
    async with SolanaClient(devnet.url("solana")) as solana:
        empty = await solana.balances(owner)
        assert empty.sol == 0 and set(empty.tokens) == {Asset.USDC, *LSTS}
        assert all(v == 0 for v in empty.tokens.values())
        devnet.faucet("solana", "USDC", owner, "100")
        devnet.faucet("solana", "SOL", owner, "1.5")
        devnet.faucet("solana", "jitoSOL", owner, "2.25")
        balances = await solana.balances(owner)
    assert balances.owner == owner and balances.sol == Decimal("1.5")
    assert balances.tokens[Asset.USDC] == Decimal(100) and balances.tokens[Asset.JITOSOL] == Decimal("2.25")
    assert balances.tokens[Asset.MSOL] == 0


async def test_solana_clock_blockhash_and_an_unknown_signature(devnet: DevnetProcess) -> None:
    async with SolanaClient(devnet.url("solana")) as solana:
        slot, height = await solana.slot(), await solana.block_height()
        blockhash, last_valid = await solana.latest_blockhash()
        assert len(blockhash) >= 32 and height < last_valid <= height + 151

        async def advanced() -> bool:
            return await solana.slot() > slot

        # Slots advance on the real clock (400 ms each).
        await wait_until_async(advanced, timeout=10, what="the slot to advance", every=0.1)
        status = await solana.signature_status(str(Keypair().sign_message(b"never sent")))
        assert status.state is SignatureState.NOT_FOUND and status.slot is None


async def test_arbitrum_balances_and_a_bridge_deposit_credited_on_hyperliquid(devnet: DevnetProcess) -> None:
    signer = LocalSigner(Keypair(), Account.create())
    address = signer.evm_address
    devnet.faucet("arbitrum", "ETH", address, "0.01")
    devnet.faucet("arbitrum", "USDC", address, "50")
    async with ArbitrumClient(devnet.url("arbitrum")) as arb:
        assert await arb.chain_id() == 42161
        assert await arb.eth_balance(address) == Decimal("0.01")
        assert await arb.usdc_balance(address) == Decimal(50)
        with pytest.raises(ValueError):
            await arb.deposit_to_hyperliquid(signer, Decimal("4.99"))

        tx_hash = await arb.deposit_to_hyperliquid(signer, Decimal("20.5"))
        receipt = await arb.wait_for_receipt(tx_hash, timeout=10)
        assert receipt["status"] == "0x1" and receipt["transactionHash"] == tx_hash
        assert await arb.usdc_balance(address) == Decimal("29.5")
        assert Decimal(0) < await arb.eth_balance(address) < Decimal("0.01")  # gas was paid

    deadline = time.monotonic() + 15
    withdrawable = Decimal(0)
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            state = (
                await http.post(
                    devnet.url("hyperliquid") + "/info",
                    json={"type": "clearinghouseState", "user": address.lower()},
                )
            ).json()
            withdrawable = Decimal(state["withdrawable"])
            if withdrawable > 0:
                break
            await asyncio.sleep(0.2)
    assert withdrawable == Decimal("20.5")


async def test_probes_feed_the_outage_detector_from_live_clients(devnet: DevnetProcess) -> None:
    detector = OutageDetector(failures_to_trip=1)
    async with SolanaClient(devnet.url("solana")) as solana, ArbitrumClient(devnet.url("arbitrum")) as arb:
        now = datetime.now(UTC)
        slot, why = await detector.probe("solana", solana.slot(), now, height=True)
        assert slot and why is None
        block, why = await detector.probe("arbitrum", arb.block_number(), now, height=True)
        assert block and why is None
    # A node nobody listens on: one failure trips it with failures_to_trip=1.
    async with ArbitrumClient("http://127.0.0.1:9", timeout=0.5) as dead:
        block, why = await detector.probe("arbitrum", dead.block_number(), datetime.now(UTC), height=True)
        assert block is None and why
    assert set(detector.outages(datetime.now(UTC))) == {"arbitrum"}
