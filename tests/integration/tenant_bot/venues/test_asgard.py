"""AsgardClient + SolanaClient + LocalSigner against real devnet processes: the long leg's whole life.

Read-only and ordinary flows use the shared session devnet; tests that inject faults or skip slots
start a devnet of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from eth_account import Account
from pydantic import SecretStr
from solders.keypair import Keypair

from shared.assets import Asset, Protocol
from shared.retry import OutcomeUnknown
from shared.transaction_policy import DEVNET_ASGARD_PROGRAM
from tenant_bot.chain.solana import ConfirmResult, SignatureState, SolanaClient
from tenant_bot.signing.local import LocalSigner
from tenant_bot.venues.asgard import DEFAULT_ALLOWED_PROGRAMS, AsgardClient, AsgardError
from tests.support.devnet import DevnetProcess

pytestmark = pytest.mark.devnet

KEY = SecretStr("basis-bot-integration")
LABELS = {p.label: p for p in Protocol}


def funded(dn: DevnetProcess, usdc: str = "1000") -> LocalSigner:
    signer = LocalSigner(Keypair(), Account.create())
    dn.faucet("solana", "SOL", signer.solana_address, "1")
    dn.faucet("solana", "USDC", signer.solana_address, usdc)
    return signer


def clients(dn: DevnetProcess, timeout: float = 10.0) -> tuple[AsgardClient, SolanaClient]:
    # On the devnet its Asgard program's stand-in is allowed too (the bot's policy adds it there).
    programs = DEFAULT_ALLOWED_PROGRAMS | {DEVNET_ASGARD_PROGRAM}
    return AsgardClient(dn.url("asgard"), KEY, timeout=timeout, allowed_programs=programs), SolanaClient(
        dn.url("solana")
    )


async def expiry(solana: SolanaClient) -> int:
    """A bound on the last valid block height of a transaction built before now: the latest's."""
    return (await solana.latest_blockhash())[1]


async def open_position(
    asgard: AsgardClient, solana: SolanaClient, signer: LocalSigner, usdc: Decimal = Decimal(500)
) -> str:
    built = await asgard.build_open(signer.solana_address, Asset.SOL, Protocol.KAMINO, usdc, Decimal(3))
    signed = await asgard.sign(built, signer)
    assert len(signed.signatures) == 2  # Kamino: the obligation's set-up, then the open
    assert await asgard.submit(signed) == signed.signature
    last_valid = await expiry(solana)
    for signature in signed.signatures:
        result, status = await solana.wait_for_signature(signature, last_valid, timeout=30)
        assert result is ConfirmResult.CONFIRMED, status
    # The build answer names no PDA: the record whose openTxHash is one of the open's signatures does.
    position = await asgard.opened_by(signer.solana_address, signed.signatures)
    assert position is not None and built.position_id is None
    return position.position_id


async def test_markets_list_every_protocol_and_asset_with_the_simulators_rates(devnet: DevnetProcess) -> None:
    asgard, solana = clients(devnet)
    lending = devnet.state()["market"]["lending"]
    markets = await asgard.markets()
    expected = {(LABELS[k.split(":")[0]], Asset.parse(k.split(":")[1])) for k in lending}
    assert {(m.protocol, m.asset) for m in markets} == expected
    # Every protocol and every long asset appear (not every protocol lists every LST).
    assert {m.protocol for m in markets} == set(Protocol)
    assert {m.asset for m in markets} == {Asset.SOL, Asset.JITOSOL, Asset.MSOL, Asset.JUPSOL, Asset.INF}
    for m in markets:
        assert m.is_active == lending[f"{m.protocol.label}:{m.asset.value}"]["active"]
        assert Decimal(0) < m.supply_apy.value < Decimal("0.5") and Decimal(0) < m.borrow_apy.value < 1
        assert Decimal(1) < m.max_leverage < 10
        assert m.capacity_usd is not None and m.capacity_usd > 0
        # A protocol-specific extra: read when given (Kamino's), never needed.
        if m.liquidation_ltv is not None:
            assert 1 / (1 - m.liquidation_ltv) > m.max_leverage
    await asgard.aclose()
    await solana.aclose()


async def test_simulate_open_quotes_a_3x_long_without_moving_funds(devnet: DevnetProcess) -> None:
    asgard, solana = clients(devnet)
    signer = funded(devnet)
    quote = await asgard.simulate_open(
        signer.solana_address, Asset.SOL, Protocol.KAMINO, Decimal(1000), Decimal(3)
    )
    assert quote.notional_usd == pytest.approx(Decimal(3000), rel=Decimal("0.001"))
    assert quote.debt_usdc == pytest.approx(Decimal(2000), rel=Decimal("0.001"))
    # token size is notional / price at Decimal's 28 digits, so the product is exact to ~1e-25
    assert quote.token_size * quote.price_usd == pytest.approx(quote.notional_usd, rel=Decimal("1e-20"))
    sol_price = Decimal(devnet.state()["market"]["prices_usd"]["SOL"])
    assert quote.price_usd == pytest.approx(sol_price, rel=Decimal("0.01"))  # /token-metadata's price
    assert quote.fees_usd > 0
    assert (await solana.balances(signer.solana_address)).tokens[Asset.USDC] == Decimal(1000)
    await asgard.aclose()
    await solana.aclose()


async def test_open_partial_close_and_close_a_long(devnet: DevnetProcess) -> None:
    asgard, solana = clients(devnet)
    signer = funded(devnet, usdc="1000")
    owner = signer.solana_address

    pda = await open_position(asgard, solana, signer, Decimal(600))
    assert (await solana.balances(owner)).tokens[Asset.USDC] == Decimal(400)
    (position,) = await asgard.positions(owner)
    assert position.position_id == pda and position.is_open and position.asset is Asset.SOL
    assert position.collateral_usdc == Decimal(600)
    assert position.debt_usdc == pytest.approx(Decimal(1200), rel=Decimal("0.001"))
    assert Decimal("0.05") < position.health_factor < Decimal("0.5")
    assert position.entry_price is not None
    size_before = position.token_size

    built = await asgard.build_partial_close(owner, pda, Decimal("0.5"))
    signed = await asgard.sign(built, signer)
    await asgard.submit(signed)
    result, _ = await solana.wait_for_signature(signed.signature, await expiry(solana), timeout=30)
    assert result is ConfirmResult.CONFIRMED
    (half,) = await asgard.refresh(owner)
    assert half.token_size == pytest.approx(size_before / 2, rel=Decimal("0.001"))
    assert half.debt_usdc == pytest.approx(position.debt_usdc / 2, rel=Decimal("0.001"))
    usdc_after_partial = (await solana.balances(owner)).tokens[Asset.USDC]
    assert usdc_after_partial > Decimal(400 + 250)  # about half the equity came back

    built = await asgard.build_close(owner, pda)
    signed = await asgard.sign(built, signer)  # custody already signed its slot; only ours is filled
    await asgard.submit(signed)
    result, _ = await solana.wait_for_signature(signed.signature, await expiry(solana), timeout=30)
    assert result is ConfirmResult.CONFIRMED
    assert await asgard.positions(owner) == []
    final = (await solana.balances(owner)).tokens[Asset.USDC]
    assert Decimal(990) < final < Decimal(1000)  # the 600 back, less fees and price moves
    await asgard.aclose()
    await solana.aclose()


async def test_a_transaction_submitted_after_its_blockhash_expired_is_refused(
    devnet_factory: Callable[..., DevnetProcess],
) -> None:
    dn = devnet_factory(only=["asgard"])
    asgard, solana = clients(dn)
    signer = funded(dn)
    built = await asgard.build_open(
        signer.solana_address, Asset.SOL, Protocol.KAMINO, Decimal(100), Decimal(2)
    )
    signed = await asgard.sign(built, signer)
    last_valid = await expiry(solana)  # read right after the build, as the bot does
    dn.advance(slots=200)
    with pytest.raises(AsgardError) as info:
        await asgard.submit(signed)
    assert info.value.blockhash_expired and info.value.status == 422
    result, status = await solana.wait_for_signature(signed.signature, last_valid, timeout=10)
    assert result is ConfirmResult.EXPIRED and status.state is SignatureState.NOT_FOUND
    assert await asgard.positions(signer.solana_address) == []
    await asgard.aclose()
    await solana.aclose()


async def test_a_dropped_submit_never_lands_and_the_same_signed_tx_lands_once_when_sent_again(
    devnet_factory: Callable[..., DevnetProcess],
) -> None:
    """Under `drop_rate=1.0` Asgard answers as if it sent the transaction and it never lands: the
    answer alone proves nothing, the signature's status on Solana does."""
    dn = devnet_factory(only=["asgard"])
    asgard, solana = clients(dn)
    signer = funded(dn)
    built = await asgard.build_open(
        signer.solana_address, Asset.SOL, Protocol.KAMINO, Decimal(100), Decimal(2)
    )
    signed = await asgard.sign(built, signer)

    dn.faults("asgard", drop_rate=1.0)
    assert await asgard.submit(signed) == signed.signature
    status = await solana.signature_status(signed.signature)
    assert status.state is SignatureState.NOT_FOUND
    assert (await solana.balances(signer.solana_address)).tokens[Asset.USDC] == Decimal(1000)

    dn.faults("asgard", clear=True)
    assert await asgard.submit(signed) == signed.signature  # same transaction, same id
    result, _ = await solana.wait_for_signature(signed.signature, await expiry(solana), timeout=30)
    assert result is ConfirmResult.CONFIRMED
    assert await asgard.submit(signed) == signed.signature  # a replay of a landed tx answers the same
    assert len(await asgard.positions(signer.solana_address)) == 1
    assert (await solana.balances(signer.solana_address)).tokens[Asset.USDC] == Decimal(900)
    await asgard.aclose()
    await solana.aclose()


async def test_a_submit_whose_answer_is_lost_is_outcome_unknown_and_resolved_by_the_signature(
    devnet_factory: Callable[..., DevnetProcess],
) -> None:
    """The client gives up before Asgard answers: `OutcomeUnknown`, never a blind retry. The signature
    (known before sending) tells what happened; here it never landed, so the same signed transaction
    is sent again, which cannot land twice."""
    dn = devnet_factory(only=["asgard"])
    asgard, solana = clients(dn, timeout=1.0)
    signer = funded(dn)
    built = await asgard.build_open(
        signer.solana_address, Asset.SOL, Protocol.KAMINO, Decimal(100), Decimal(2)
    )
    signed = await asgard.sign(built, signer)

    dn.faults("asgard", latency_ms=2500)
    with pytest.raises(OutcomeUnknown):
        await asgard.submit(signed)
    assert (await solana.signature_status(signed.signature)).state is SignatureState.NOT_FOUND

    dn.faults("asgard", clear=True)
    assert await asgard.submit(signed) == signed.signature
    result, status = await solana.wait_for_signature(signed.signature, await expiry(solana), timeout=30)
    assert result is ConfirmResult.CONFIRMED and status.slot is not None
    (position,) = await asgard.positions(signer.solana_address)
    assert position.raw["record"]["openTxHash"] in signed.signatures
    assert (await solana.balances(signer.solana_address)).tokens[Asset.USDC] == Decimal(900)
    await asgard.aclose()
    await solana.aclose()
