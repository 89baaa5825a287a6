"""AsgardClient against scripted HTTP answers: parsing, errors, retries of submits, transaction checks.

The venue is replaced by `httpx.MockTransport` (an external service, not one of our components); the
flow against the real emulator is in tests/integration/tenant_bot/venues/test_asgard.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from shared.assets import Asset, Protocol
from shared.retry import OutcomeUnknown, RetriesExhausted, RetryPolicy
from tenant_bot.venues.asgard import AsgardClient, AsgardError, UnsafeTransaction
from tenant_bot.venues.asgard_transactions import decode_built

USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
WSOL = "So11111111111111111111111111111111111111112"
JITOSOL = "J1toso1uCk3RLmjorhTtrVwY9HJ7X8V9yYac6Y7kGCPn"
KEY = "sk-asgard-very-secret-123"
FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0, jitter=0.0)
KAMINO = Pubkey.from_string("KLend2g3cP87fffoy8q1mQqGKjrxjC8boSyAYavgmjD")
JUPITER = Pubkey.from_string("JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4")
DFLOW = Pubkey.from_string("DF1ow4tspfHX9JwWJsAb9epbkA8hmpSEAtxXy1V27QBH")


class KeypairSigner:
    """A test-only `Signer`: a solders keypair (the EVM side is not used here)."""

    def __init__(self, keypair: Keypair | None = None) -> None:
        self.keypair = keypair or Keypair()

    @property
    def solana_address(self) -> str:
        return str(self.keypair.pubkey())

    @property
    def evm_address(self) -> str:
        raise NotImplementedError

    async def sign_solana_message(self, message: bytes) -> bytes:
        return bytes(self.keypair.sign_message(message))

    async def sign_typed_data(self, typed_data: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def sign_evm_transaction(self, tx: dict[str, Any]) -> bytes:
        raise NotImplementedError


Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> AsgardClient:
    return AsgardClient(
        "https://asgard.test/margin-trading/",
        SecretStr(KEY),
        retry=FAST,
        transport=httpx.MockTransport(handler),
    )


def source(protocol: int, **extra: Any) -> dict[str, Any]:
    return {
        "lendingProtocol": protocol,
        "isActive": True,
        "marketKey": "Main Market",
        "tokenABank": f"bankA{protocol}",
        "tokenBBank": f"bankB{protocol}",
        "longMaxLeverage": 3.84,
        "tokenAMaxDepositCapacity": "1000.5",
        "tokenBMaxBorrowCapacity": "365619.18",
        "tokenALendingApyRate": 0.045,
        "tokenBBorrowingApyRate": 0.0512,
        "tokenAOracle": {"priceUsd": 150.25},
        **extra,
    }


MARKETS = {
    "strategies": {
        "SOL/USDC": {"tokenAMint": WSOL, "tokenBMint": USDC, "liquiditySources": [source(1), source(0)]},
        "jitoSOL/USDC": {
            "tokenAMint": JITOSOL,
            "tokenBMint": USDC,
            "liquiditySources": [source(3, isActive=False, tokenAStakingApyRate=0.071)],
        },
        # Not for Basis: a token this client does not know, and a pair not against USDC.
        "BONK/USDC": {"tokenAMint": "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263", "tokenBMint": USDC},
        "SOL/USDT": {"tokenAMint": WSOL, "tokenBMint": "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"},
    },
    "totalStrategies": 4,
}


def built_tx(
    owner: Pubkey,
    *,
    programs: tuple[Pubkey, ...] = (KAMINO,),
    cosigner: Keypair | None = None,
    payer: Pubkey | None = None,
) -> VersionedTransaction:
    signers = [owner] + ([cosigner.pubkey()] if cosigner else [])
    ixs = [Instruction(p, b"asgard:test", [AccountMeta(s, True, False) for s in signers]) for p in programs]
    message = MessageV0.try_compile(payer or owner, ixs, [], Hash.new_unique())
    n = message.header.num_required_signatures
    sigs = [
        cosigner.sign_message(to_bytes_versioned(message))
        if cosigner and key == cosigner.pubkey()
        else Signature.default()
        for key in message.account_keys[:n]
    ]
    return VersionedTransaction.populate(message, sigs)


def build_answer(
    tx: VersionedTransaction, owner: Pubkey, *more: VersionedTransaction, **extra: Any
) -> dict[str, Any]:
    """A build answer with only what Asgard documents: the request's fields and `signedTxs`."""
    return {
        "protocol": 1,
        "walletPubkey": str(owner),
        "leverage": 3.0,
        "collateralUnitPrice": 1.0,
        "signedTxs": [base64.b64encode(bytes(t)).decode() for t in (tx, *more)],
        **extra,
    }


async def test_markets_parse_sources_for_basis_as_decimals_and_skip_the_others() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=MARKETS)

    markets = await client(handler).markets()
    assert seen[0].url == "https://asgard.test/margin-trading/markets"
    assert seen[0].headers["x-api-key"] == KEY
    assert {(m.protocol, m.asset) for m in markets} == {
        (Protocol.KAMINO, Asset.SOL),
        (Protocol.MARGINFI, Asset.SOL),
        (Protocol.DRIFT, Asset.JITOSOL),
    }
    kamino = next(m for m in markets if m.protocol is Protocol.KAMINO)
    # Exact decimals, never through a float.
    assert kamino.supply_apy.value == Decimal("0.045")
    assert kamino.borrow_apy.value == Decimal("0.0512")
    assert kamino.max_leverage == Decimal("3.84")
    assert kamino.capacity_usd == Decimal("365619.18")
    assert kamino.deposit_capacity == Decimal("1000.5")
    assert kamino.liquidation_ltv is None and kamino.is_active
    drift = next(m for m in markets if m.protocol is Protocol.DRIFT)
    # An undocumented staking rate, if Asgard sends one, is not read: LST yields come from the pools.
    assert not drift.is_active and not hasattr(drift, "staking_apy")


async def test_build_open_sends_the_trade_body_with_banks_from_markets_and_raw_usdc() -> None:
    owner = Keypair().pubkey()
    bodies: list[dict[str, Any]] = []
    tx = built_tx(owner)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/markets"):
            return httpx.Response(200, json=MARKETS)
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=build_answer(tx, owner))

    built = await client(handler).build_open(
        str(owner), Asset.SOL, Protocol.MARGINFI, Decimal("1000.1234567"), Decimal("3"), slippage_bps=30
    )
    body = bodies[0]
    assert body["tokenABank"] == "bankA0" and body["tokenBBank"] == "bankB0" and body["protocol"] == 0
    assert body["collateralAmountNative"] == 1_000_123_456  # rounded down to raw USDC units
    assert body["collateralMint"] == USDC and body["collateralType"] == 1 and body["direction"] == 0
    assert body["leverage"] == 3 and body["slippageBps"] == 30 and body["walletPubkey"] == str(owner)
    # An open's PDA is not in its (documented) build answer: it is learnt from the record once it lands.
    assert built.kind == "open" and built.position_id is None
    assert built.messages == (to_bytes_versioned(tx.message),)


async def test_an_error_body_becomes_an_asgard_error_with_code_and_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        error = {
            "name": "ValidationError",
            "code": "INVALID_LEVERAGE",
            "message": "too high",
            "details": None,
        }
        return httpx.Response(422, json={"error": error})

    with pytest.raises(AsgardError) as info:
        await client(handler).positions(str(Keypair().pubkey()))
    assert info.value.code == "INVALID_LEVERAGE" and info.value.status == 422
    assert KEY not in str(info.value) and KEY not in repr(client(handler))


async def test_simulate_open_reads_no_simulation_field_and_prices_from_token_metadata() -> None:
    # "Simulation results" are undocumented: whatever they hold (here misleading numbers) is not read.
    answer = {"estimate": {"tokenAAmountUI": 1, "borrowAmountUI": 1}, "simulation": {"err": None}}
    metadata = {
        "tokens": [
            {"symbol": "SOL", "mint": WSOL, "decimals": 9, "logoURI": "", "price": 150.0},
            {"symbol": "USDC", "mint": USDC, "decimals": 6, "logoURI": "", "price": 1.0},
        ],
        "stats": {},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/markets"):
            return httpx.Response(200, json=MARKETS)
        if request.url.path.endswith("/token-metadata"):
            return httpx.Response(200, json=metadata)
        assert request.url.path.endswith("/create-position-simulate")
        return httpx.Response(200, json=answer)

    quote = await client(handler).simulate_open(
        str(Keypair().pubkey()), Asset.SOL, Protocol.KAMINO, Decimal(1000), Decimal(3)
    )
    assert quote.price_usd == Decimal("150.0") and quote.token_size == Decimal(3000) / Decimal(150)
    assert quote.debt_usdc == Decimal(2000) and quote.notional_usd == Decimal(3000)
    assert quote.fees_usd == Decimal("4.5")  # 0.15% of the notional


async def test_sign_fills_only_the_owner_slot_and_keeps_custodys_signature() -> None:
    signer = KeypairSigner()
    owner = signer.keypair.pubkey()
    custody = Keypair()
    tx = built_tx(owner, cosigner=custody)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=build_answer(tx, owner))

    asgard = client(handler)
    built = decode_built("close", build_answer(tx, owner))
    signed = await asgard.sign(built, signer)
    final = VersionedTransaction.from_bytes(signed.raws[0])
    assert all(final.verify_with_results())
    assert final.signatures[1] == tx.signatures[1]  # custody's, untouched
    assert signed.signature == str(final.signatures[0])  # the tx id: the fee payer's signature


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"programs": (KAMINO, Pubkey.new_unique())}, "outside the allow-list"),
        ({"payer": Pubkey.new_unique()}, "fee payer"),
    ],
)
async def test_sign_refuses_a_transaction_that_fails_the_checks(
    change: dict[str, Any], expected: str
) -> None:
    signer = KeypairSigner()
    owner = signer.keypair.pubkey()
    built = decode_built("open", build_answer(built_tx(owner, **change), owner))
    with pytest.raises(UnsafeTransaction, match=expected):
        await client(lambda r: httpx.Response(500)).sign(built, signer)


async def test_sign_refuses_a_transaction_built_for_another_wallet() -> None:
    owner = Keypair().pubkey()
    built = decode_built("open", build_answer(built_tx(owner), owner))
    with pytest.raises(UnsafeTransaction, match="built for"):
        await client(lambda r: httpx.Response(500)).sign(built, KeypairSigner())


async def _signed(answer_owner: Keypair | None = None) -> Any:
    signer = KeypairSigner(answer_owner)
    owner = signer.keypair.pubkey()
    built = decode_built("open", build_answer(built_tx(owner), owner))
    return await client(lambda r: httpx.Response(500)).sign(built, signer)


async def test_submit_echoes_the_build_with_signed_txs_replaced_and_returns_the_signature() -> None:
    signed = await _signed()
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/submit-create-position-tx")
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"positionPda": "PDA111", "protocol": 1, "state": 0})

    assert await client(handler).submit(signed) == signed.signature
    sent = bodies[0]
    assert sent["signedTxs"] == [base64.b64encode(raw).decode() for raw in signed.raws]
    assert {k: v for k, v in sent.items() if k != "signedTxs"} == {
        k: v for k, v in signed.built.payload.items() if k != "signedTxs"
    }
    assert sent["collateralUnitPrice"] == 1.0 and isinstance(sent["leverage"], float)


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(500), httpx.Response(502), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("cut")],
    ids=["500", "502", "read-timeout", "dropped"],
)
async def test_an_ambiguous_submit_failure_is_outcome_unknown_and_not_retried(failure: object) -> None:
    signed = await _signed()
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if isinstance(failure, Exception):
            raise failure
        assert isinstance(failure, httpx.Response)
        return failure

    with pytest.raises(OutcomeUnknown):
        await client(handler).submit(signed)
    assert len(calls) == 1


async def test_a_submit_that_surely_did_not_arrive_is_retried() -> None:
    signed = await _signed()
    outcomes: list[Any] = [httpx.ConnectError("refused"), httpx.Response(429, headers={"retry-after": "0"})]

    def handler(request: httpx.Request) -> httpx.Response:
        if outcomes:
            outcome = outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        return httpx.Response(200, json={"positionPda": "PDA111", "protocol": 1})

    assert await client(handler).submit(signed) == signed.signature
    assert outcomes == []


async def test_reads_retry_then_give_up_with_retries_exhausted() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503)

    with pytest.raises(RetriesExhausted):
        await client(handler).markets()
    assert len(calls) == FAST.attempts


RECORD = {
    "id": 7,
    "positionPda": "PDA111",
    "tokenBTokenMint": USDC,
    "protocol": 1,
    "state": 0,
    "tokenATokenMint": WSOL,
    "tokenAEntryPriceUSD": "150.5",
    "collateralType": 1,
    "collateralAmountUI": "1000",
    "openedAt": "2026-01-02T03:04:05.678Z",
}
REFRESH = {
    "positions": {
        "PDA111": {
            "summary": {
                "healthFactor": 16.5,
                "booksAndBalances": {
                    "balances": [
                        {"bankA1": {"mint": WSOL, "assetsQt": 19.95, "liabsQt": 0.0}},
                        {"bankB1": {"mint": USDC, "assetsQt": 0.0, "liabsQt": 2000.25}},
                    ]
                },
            },
        }
    }
}


async def test_positions_join_records_with_refreshed_health_and_balances() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path.rsplit("/", 1)[-1])
        if request.url.path.endswith("/positions/open"):
            return httpx.Response(200, json=[RECORD])
        body = json.loads(request.content)
        assert body == {"positionPDAs": [{"protocol": 1, "positionPDA": "PDA111"}]}
        return httpx.Response(200, json=REFRESH)

    asgard = client(handler)
    (position,) = await asgard.positions("OwnerPubkey")
    assert (
        position.position_id == "PDA111"
        and position.protocol is Protocol.KAMINO
        and position.asset is Asset.SOL
    )
    assert position.health_factor == Decimal("0.165")
    assert position.token_size == Decimal("19.95") and position.debt_usdc == Decimal("2000.25")
    assert position.collateral_usdc == Decimal("1000") and position.entry_price == Decimal("150.5")
    assert position.is_open
    assert position.opened_at_ms == 1_767_323_045_678
    # refresh() asks only /refresh-positions for the positions it knows.
    paths.clear()
    (again,) = await asgard.refresh("OwnerPubkey")
    assert paths == ["refresh-positions"] and again.health_factor == Decimal("0.165")


async def test_partial_close_fraction_must_leave_something_open() -> None:
    asgard = client(lambda r: httpx.Response(500))
    with pytest.raises(ValueError):
        await asgard.build_partial_close("Owner", "PDA111", Decimal("1"))
    with pytest.raises(ValueError):
        await asgard.build_partial_close("Owner", "PDA111", Decimal("0.001"))


async def test_refresh_falls_back_to_the_list_when_a_submitted_open_never_landed() -> None:
    """An open whose submit answered normally but never landed is unknown to /refresh-positions."""
    signed = await _signed()
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.rsplit("/margin-trading", 1)[-1]
        paths.append(path)
        if path == "/submit-create-position-tx":
            return httpx.Response(200, json={"positionPda": "GHOST", "protocol": 1, "tokenATokenMint": WSOL})
        if path == "/positions/open":
            return httpx.Response(200, json=[RECORD])
        body = json.loads(request.content)
        if body["positionPDAs"][0]["positionPDA"] == "GHOST":
            error = {"name": "NotFoundError", "code": "POSITION_NOT_FOUND", "message": "no", "details": None}
            return httpx.Response(404, json={"error": error})
        return httpx.Response(200, json=REFRESH)

    asgard = client(handler)
    owner = signed.built.owner
    assert owner is not None
    await asgard.submit(signed)
    (position,) = await asgard.refresh(owner)
    assert position.position_id == "PDA111"
    assert paths == [
        "/submit-create-position-tx",
        "/refresh-positions",
        "/positions/open",
        "/refresh-positions",
    ]


async def test_a_refreshed_position_holding_and_owing_nothing_is_not_open() -> None:
    empty = {"positions": {"PDA111": {"summary": {"healthFactor": 0, "booksAndBalances": {"balances": []}}}}}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/positions/open"):
            return httpx.Response(200, json=[RECORD])
        return httpx.Response(200, json=empty)

    (position,) = await client(handler).positions("OwnerPubkey")
    assert not position.is_open


async def test_sign_checks_and_signs_every_transaction_of_a_bundle() -> None:
    signer = KeypairSigner()
    owner = signer.keypair.pubkey()
    setup, main = built_tx(owner), built_tx(owner, programs=(KAMINO, JUPITER, DFLOW))
    built = decode_built("open", build_answer(setup, owner, main))
    signed = await client(lambda r: httpx.Response(500)).sign(built, signer)
    finals = [VersionedTransaction.from_bytes(raw) for raw in signed.raws]
    assert len(finals) == 2 and all(all(f.verify_with_results()) for f in finals)
    assert signed.signatures == tuple(str(f.signatures[0]) for f in finals)
    # One transaction outside the allow-list: none is signed.
    rogue = decode_built("open", build_answer(setup, owner, built_tx(owner, programs=(Pubkey.new_unique(),))))
    with pytest.raises(UnsafeTransaction, match="outside the allow-list"):
        await client(lambda r: httpx.Response(500)).sign(rogue, signer)


async def test_partial_close_submits_the_documented_update_body() -> None:
    signer = KeypairSigner()
    owner = signer.keypair.pubkey()
    tx = built_tx(owner)
    record = {**RECORD, "walletPubkey": str(owner)}
    answer = {
        "protocol": 1,
        "walletPubkey": str(owner),
        "positionPDA": "PDA111",
        "closePercentage": 50,
        "feesMetadata": {"x": 1},
        "lendingApyAtClose": 0.05,
        "borrowingApyAtClose": 0.06,
        "equityWithdrawnUI": 480.5,
        "signedTxs": [base64.b64encode(bytes(tx)).decode()],
        "updateRecordData": {"updateType": 4},
    }
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.rsplit("/margin-trading", 1)[-1]
        if path == "/positions/by-pda":
            return httpx.Response(200, json=record)
        if path == "/position/partial-close":
            return httpx.Response(200, json=answer)
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"success": True, "txHash": "x"})

    asgard = client(handler)
    built = await asgard.build_partial_close(str(owner), "PDA111", Decimal("0.5"))
    await asgard.submit(await asgard.sign(built, signer))
    (sent,) = bodies
    assert set(sent) == {
        "protocol",
        "walletPubkey",
        "positionPDA",
        "positionId",
        "tokenATokenMint",
        "tokenBTokenMint",
        "signedTxs",
        "updateRecordData",
        "feesMetadata",
        "lendingApyAtUpdate",
        "borrowingApyAtUpdate",
    }
    assert sent["positionId"] == 7 and sent["tokenATokenMint"] == WSOL and sent["tokenBTokenMint"] == USDC
    assert sent["lendingApyAtUpdate"] == 0.05 and sent["updateRecordData"] == {"updateType": 4}


async def test_a_position_the_refresh_leaves_out_is_asked_again_and_else_unknown_not_unhealthy() -> None:
    """Issue 15: a position missing from `/refresh-positions` read as health 0, which closed it."""
    asked: list[list[str]] = []
    answers = iter([{"positions": {}}, REFRESH])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/positions/open"):
            return httpx.Response(200, json=[RECORD])
        asked.append([ref["positionPDA"] for ref in json.loads(request.content)["positionPDAs"]])
        return httpx.Response(200, json=next(answers, {"positions": {}}))

    asgard = client(handler)
    (position,) = await asgard.positions("OwnerPubkey")
    assert asked == [["PDA111"], ["PDA111"]]  # left out, then asked for alone
    assert position.health_factor == Decimal("0.165")
    asked.clear()
    (unknown,) = await asgard.refresh("OwnerPubkey")  # left out twice: unknown
    assert asked == [["PDA111"], ["PDA111"]]
    assert unknown.health_factor is None and unknown.is_open


async def test_deleverage_sends_the_documented_request_and_update_body() -> None:
    signer = KeypairSigner()
    owner = signer.keypair.pubkey()
    tx = built_tx(owner)
    record = {**RECORD, "walletPubkey": str(owner)}
    answer = {
        "protocol": 1,
        "walletPubkey": str(owner),
        "positionPDA": "PDA111",
        "leverageBefore": 3.01,
        "leverageAfter": 2.25,
        "targetLeverage": 2.25,
        "feesMetadata": {"x": 1},
        "lendingApyAtUpdate": 0.05,
        "borrowingApyAtUpdate": 0.06,
        "signedTxs": [base64.b64encode(bytes(tx)).decode()],
        "updateRecordData": {"updateType": 1},
    }
    requests: dict[str, dict[str, Any]] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.rsplit("/margin-trading", 1)[-1]
        if path == "/positions/by-pda":
            return httpx.Response(200, json=record)
        requests[path] = json.loads(request.content)
        if path == "/position/deleverage":
            return httpx.Response(200, json=answer)
        return httpx.Response(200, json={"success": True, "txHash": "x"})

    asgard = client(handler)
    with pytest.raises(ValueError):
        await asgard.build_deleverage(str(owner), "PDA111", Decimal("0.9"))
    built = await asgard.build_deleverage(str(owner), "PDA111", Decimal("2.25"))
    await asgard.submit(await asgard.sign(built, signer))
    assert requests["/position/deleverage"] == {
        "protocol": 1,
        "walletPubkey": str(owner),
        "positionPDA": "PDA111",
        "targetLeverage": 2.25,
        "jitoTipLamport": asgard.jito_tip_lamports,
        "slippageBps": 50,
        "useDirectRoute": False,
    }
    sent = requests["/submit-position-update-tx"]
    assert sent["positionId"] == 7 and sent["updateRecordData"] == {"updateType": 1}
    assert sent["lendingApyAtUpdate"] == 0.05 and sent["borrowingApyAtUpdate"] == 0.06
