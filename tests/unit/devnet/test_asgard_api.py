"""The Asgard emulator in-process: its HTTP API over a real SolanaChain (LiteSVM), no devnet process.

Over-the-wire behaviour against a running devnet is in tests/integration/devnet/test_asgard.py;
these tests reach inside (chain, market, fault book) to check what the API cannot show.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from solders.instruction import CompiledInstruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.associated import get_associated_token_address
from solders.transaction import VersionedTransaction

from devnet.asgard import AsgardVenue, create_app
from devnet.asgard.interest import step_factor
from devnet.asgard.markets import PROGRAM_IDS, long_max_leverage
from devnet.asgard.rate_limit import PublicRateLimit
from devnet.asgard.transactions import (
    COMPUTE_BUDGET_PROGRAM,
    JITO_TIP_ACCOUNTS,
    SWAP_PROGRAMS,
    asgard_program_id,
)
from devnet.clock import SimClock
from devnet.config import DevnetConfig
from devnet.faults import FaultBook
from devnet.market import MarketSimulator
from devnet.solana.chain import SYSTEM_PROGRAM, TOKEN_PROGRAM, SolanaChain
from shared.assets import SOLANA_NATIVE_MINT, Asset, Protocol

USDC = Pubkey.from_string("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")
JITOSOL = Pubkey.from_string("J1toso1uCk3RLmjorhTtrVwY9HJ7X8V9yYac6Y7kGCPn")
ATA_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
ALLOWED_PROGRAMS = {
    str(COMPUTE_BUDGET_PROGRAM),
    str(TOKEN_PROGRAM),
    str(SYSTEM_PROGRAM),
    ATA_PROGRAM,
    *(str(p) for p in PROGRAM_IDS.values()),
    *(str(p) for p in SWAP_PROGRAMS.values()),
    str(asgard_program_id()),
}
# What Asgard's doc lists in a partial close's answer (`PartialClosePositionResponseBody`).
PARTIAL_CLOSE_ANSWER = {
    "protocol",
    "walletPubkey",
    "positionPDA",
    "closePercentage",
    "depositAmountUIBefore",
    "borrowAmountUIBefore",
    "leverageBefore",
    "marginAmountUIBefore",
    "depositAmountUIAfter",
    "borrowAmountUIAfter",
    "leverageAfter",
    "marginAmountUIAfter",
    "equityWithdrawnUI",
    "equityWithdrawnMint",
    "longTokenPriceUSD",
    "shortTokenPriceUSD",
    "feesMetadata",
    "lendingApyAtClose",
    "borrowingApyAtClose",
    "signedTxs",
    "updateRecordData",
}


# What Asgard's doc lists in a deleverage's answer (`DeleveragePositionResponseBody`).
DELEVERAGE_ANSWER = {
    "protocol",
    "walletPubkey",
    "positionPDA",
    "leverageBefore",
    "leverageAfter",
    "targetLeverage",
    "depositAmountUIBefore",
    "borrowAmountUIBefore",
    "marginAmountUIBefore",
    "depositAmountUIAfter",
    "borrowAmountUIAfter",
    "marginAmountUIAfter",
    "longTokenPriceUSD",
    "shortTokenPriceUSD",
    "feesMetadata",
    "lendingApyAtUpdate",
    "borrowingApyAtUpdate",
    "signedTxs",
    "updateRecordData",
}


@dataclass
class Env:
    clock: SimClock
    market: MarketSimulator
    faults: FaultBook
    chain: SolanaChain
    venue: AsgardVenue
    api: TestClient

    def wallet(self, usdc: int = 1000, sol: int = 1) -> Keypair:
        kp = Keypair()
        self.chain.airdrop(kp.pubkey(), sol * 10**9)
        if usdc:
            self.chain.mint_to(kp.pubkey(), USDC, usdc * 10**6)
        return kp

    def usdc(self, kp: Keypair) -> int:
        return self.chain.token_balance(kp.pubkey(), USDC)

    def source(self, asset: str = "SOL", protocol: Protocol = Protocol.KAMINO) -> dict[str, Any]:
        markets = self.api.get("/markets").json()
        rows = markets["strategies"][f"{asset}/USDC"]["liquiditySources"]
        return next(r for r in rows if r["lendingProtocol"] == protocol.value)

    def trade(
        self,
        kp: Keypair,
        *,
        usdc: int = 1000,
        leverage: float = 3,
        protocol: Protocol = Protocol.KAMINO,
        asset: str = "SOL",
        **changes: Any,
    ) -> dict[str, Any]:
        src = self.source(asset, protocol)
        body = {
            "protocol": protocol.value,
            "tokenABank": src["tokenABank"],
            "tokenBBank": src["tokenBBank"],
            "direction": 0,
            "collateralType": 1,
            "collateralAmountNative": usdc * 10**6,
            "collateralMint": str(USDC),
            "collateralUnitPrice": 1.0,
            "leverage": leverage,
            "jitoTipLamport": 10_000,
            "slippageBps": 50,
            "walletPubkey": str(kp.pubkey()),
            "useDirectRoute": False,
        }
        body.update(changes)
        return body

    def open(self, kp: Keypair, **kwargs: Any) -> dict[str, Any]:
        built = self.api.post("/create-position", json=self.trade(kp, **kwargs))
        assert built.status_code == 200, built.text
        submitted = self.api.post("/submit-create-position-tx", json=signed(built.json(), kp))
        assert submitted.status_code == 200, submitted.text
        return submitted.json()

    def refresh(self, record: dict[str, Any]) -> dict[str, Any]:
        body = {"positionPDAs": [{"protocol": record["protocol"], "positionPDA": record["positionPda"]}]}
        r = self.api.post("/refresh-positions", json=body)
        assert r.status_code == 200, r.text
        return r.json()["positions"][record["positionPda"]]


def decode(b64: str) -> VersionedTransaction:
    return VersionedTransaction.from_bytes(base64.b64decode(b64))


def sign_tx(b64: str, kp: Keypair) -> str:
    """Fill the wallet's own signature slot, keeping any signature already there."""
    tx = decode(b64)
    sigs = list(tx.signatures)
    sigs[list(tx.message.account_keys).index(kp.pubkey())] = kp.sign_message(to_bytes_versioned(tx.message))
    return base64.b64encode(bytes(VersionedTransaction.populate(tx.message, sigs))).decode()


def signed(built: dict[str, Any], kp: Keypair) -> dict[str, Any]:
    return {**built, "signedTxs": [sign_tx(t, kp) for t in built["signedTxs"]]}


def programs_of(tx: VersionedTransaction) -> list[str]:
    keys = tx.message.account_keys
    return [str(keys[ix.program_id_index]) for ix in tx.message.instructions]


def paid_to(tx: VersionedTransaction, owner: Pubkey) -> tuple[int, int]:
    """(raw USDC, lamports) the transaction moves to `owner` (its token account / its wallet)."""
    keys = list(tx.message.account_keys)
    usdc_account = get_associated_token_address(owner, USDC)
    usdc = lamports = 0
    for ix, program in zip(tx.message.instructions, programs_of(tx), strict=True):
        data, accounts = bytes(ix.data), [keys[i] for i in bytes(ix.accounts)]
        if program == str(TOKEN_PROGRAM) and data[0] == 12 and accounts[2] == usdc_account:
            usdc += int.from_bytes(data[1:9], "little")
        if program == str(SYSTEM_PROGRAM) and data[:4] == (2).to_bytes(4, "little") and accounts[1] == owner:
            lamports += int.from_bytes(data[4:12], "little")
    return usdc, lamports


def assert_asgard_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"name", "code", "message", "details"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture
def env() -> Iterator[Env]:
    clock = SimClock(1.0)
    market = MarketSimulator(7, clock)
    faults = FaultBook(7, clock)
    chain = SolanaChain(7, 400)
    venue = AsgardVenue(DevnetConfig(speed=1.0), clock, market, chain, faults)
    with TestClient(
        create_app(venue), base_url="http://testserver/margin-trading", headers={"X-API-Key": "unit-test"}
    ) as api:
        yield Env(clock, market, faults, chain, venue, api)


# ---------------------------------------------------------------------------------------- markets
def test_markets_list_every_lending_market_with_the_simulators_rates(env: Env) -> None:
    body = env.api.get("/markets").json()
    rows = {
        (row["lendingProtocol"], strategy["tokenAMint"]): row
        for strategy in body["strategies"].values()
        for row in strategy["liquiditySources"]
    }
    assert body["totalStrategies"] == len(body["strategies"]) == 5
    assert len(rows) == len(env.market.lending)
    for (protocol, asset), lend in env.market.lending.items():
        mint = SOLANA_NATIVE_MINT if asset is Asset.SOL else None
        strategy = body["strategies"][f"{asset.value}/USDC"]
        assert strategy["tokenBMint"] == str(USDC)
        mint = mint or strategy["tokenAMint"]
        row = rows[(protocol.value, mint)]
        assert row["isActive"] is True
        assert row["tokenALendingApyRate"] == pytest.approx(lend.supply_apy, abs=1e-6)
        assert row["tokenBBorrowingApyRate"] == pytest.approx(lend.usdc_borrow_apy, abs=1e-6)
        assert row["tokenBLendingApyRate"] == pytest.approx(lend.usdc_supply_apy, abs=1e-6)
        assert row["longMaxLeverage"] == float(long_max_leverage(lend.spec.max_ltv))
        assert Decimal(row["tokenAMaxDepositCapacity"]) == round(Decimal(lend.deposit_capacity), 2)
        assert Decimal(row["tokenBMaxBorrowCapacity"]) == round(Decimal(lend.borrow_capacity), 2)
        assert isinstance(row["tokenAMaxBorrowCapacity"], str)


def test_token_metadata_lists_prices_and_decimals(env: Env) -> None:
    tokens = env.api.get("/token-metadata").json()["tokens"]
    by_symbol = {t["symbol"]: t for t in tokens}
    assert by_symbol["USDC"]["decimals"] == 6 and by_symbol["USDC"]["price"] == 1.0
    assert by_symbol["SOL"]["mint"] == SOLANA_NATIVE_MINT
    assert by_symbol["SOL"]["price"] == float(env.market.price_usd(Asset.SOL))
    one = env.api.get(f"/token-metadata/{JITOSOL}").json()
    assert one["symbol"] == "jitoSOL" and one["price"] > by_symbol["SOL"]["price"]
    assert_asgard_error(env.api.get(f"/token-metadata/{Keypair().pubkey()}"), 422, "TOKEN_NOT_FOUND")


# ---------------------------------------------------------------------------------------- open
def test_open_builds_real_unsigned_transactions_answering_only_documented_fields(env: Env) -> None:
    kp = env.wallet()
    built = env.api.post("/create-position", json=env.trade(kp)).json()
    # Asgard documents the request's fields and signedTxs; the rest "varies by protocol".
    assert not {"positionPda", "blockhash", "lastValidBlockHeight", "estimate", "feesMetadata"} & set(built)
    # Kamino: the obligation's set-up, then the open, as one bundle.
    setup, tx = (decode(t) for t in built["signedTxs"])
    for one in (setup, tx):
        keys = list(one.message.account_keys)
        assert keys[0] == kp.pubkey()  # fee payer
        assert one.message.header.num_required_signatures == 1
        assert one.signatures == [Signature.default()]
        assert env.chain.blockhash_valid(one.message.recent_blockhash)
        assert set(programs_of(one)) <= ALLOWED_PROGRAMS
    assert str(asgard_program_id()) in programs_of(setup)
    programs = programs_of(tx)
    keys = list(tx.message.account_keys)
    assert programs[:2] == [str(COMPUTE_BUDGET_PROGRAM)] * 2
    assert str(PROGRAM_IDS[Protocol.KAMINO]) in programs and str(asgard_program_id()) in programs
    assert len({str(p) for p in SWAP_PROGRAMS.values()} & set(programs)) == 1
    custody = env.venue.custody.pubkey()
    assert get_associated_token_address(custody, USDC) in keys
    assert any(tip in keys for tip in JITO_TIP_ACCOUNTS)
    # The router alternates between Jupiter and DFlow; marginfi opens are one transaction.
    routers = set()
    for _ in range(2):
        again = env.api.post("/create-position", json=env.trade(kp, protocol=Protocol.MARGINFI)).json()
        assert len(again["signedTxs"]) == 1
        routers |= {str(p) for p in SWAP_PROGRAMS.values()} & set(programs_of(decode(again["signedTxs"][0])))
    assert routers == {str(p) for p in SWAP_PROGRAMS.values()}


def test_open_moves_the_collateral_and_records_the_position(env: Env) -> None:
    kp = env.wallet(usdc=1500)
    lend = env.market.lending[(Protocol.KAMINO, Asset.SOL)]
    deposit_cap, borrow_cap = lend.deposit_capacity, lend.borrow_capacity
    record = env.open(kp, usdc=1000, leverage=3)
    assert env.usdc(kp) == 500 * 10**6
    assert env.chain.token_balance(env.venue.custody.pubkey(), USDC) == (10**9 + 1000) * 10**6
    assert record["state"] == 0 and record["protocol"] == 1 and record["ownerAddress"] == str(kp.pubkey())
    assert record["leverage"] == "3"
    assert Decimal(record["tokenAEntryPriceUSD"]) == env.market.price_usd(Asset.SOL)
    assert record["tokenBEntryPriceUSD"] == "1"
    assert env.chain.status(record["openTxHash"]) is not None
    opened = env.api.post("/positions/open", json={"walletPubkey": str(kp.pubkey())}).json()
    assert [p["id"] for p in opened] == [record["id"]]
    summary = env.refresh(record)["summary"]
    expected = (1 - 2 / (3 * 0.85)) * 100
    assert expected - 0.5 < summary["healthFactor"] < expected
    # Capacity is taken by what the position deposits and borrows.
    token_a = float(record["tokenAAmountUIEntry"])
    assert lend.deposit_capacity == pytest.approx(deposit_cap - token_a)
    assert lend.borrow_capacity == pytest.approx(borrow_cap - 2000)


def test_open_with_an_lst_deposit(env: Env) -> None:
    kp = env.wallet(usdc=0)
    env.chain.mint_to(kp.pubkey(), JITOSOL, 10 * 10**9)
    price = float(env.market.price_usd(Asset.JITOSOL))
    record = env.open(
        kp,
        asset="jitoSOL",
        collateralType=0,
        collateralMint=str(JITOSOL),
        collateralAmountNative=5 * 10**9,
        collateralUnitPrice=price,
        leverage=2,
    )
    assert env.chain.token_balance(kp.pubkey(), JITOSOL) == 5 * 10**9
    assert record["tokenATokenMint"] == str(JITOSOL)
    # 5 jitoSOL deposited, as much again bought with the USDC borrowed (less fees).
    assert 9.9 < float(record["tokenAAmountUIEntry"]) < 10
    assert float(record["tokenBAmountUIEntry"]) == pytest.approx(5 * price, rel=1e-6)


def test_open_with_native_sol(env: Env) -> None:
    kp = env.wallet(usdc=0, sol=5)
    price = float(env.market.price_usd(Asset.SOL))
    before = env.chain.balance(kp.pubkey())
    env.open(
        kp,
        collateralType=0,
        collateralMint=SOLANA_NATIVE_MINT,
        collateralAmountNative=2 * 10**9,
        collateralUnitPrice=price,
        leverage=2,
        jitoTipLamport=0,
    )
    spent = before - env.chain.balance(kp.pubkey())
    assert 2 * 10**9 < spent < 2 * 10**9 + 20_000  # the deposit plus the transaction fee


def test_simulate_answers_without_keeping_anything(env: Env) -> None:
    kp = env.wallet()
    r = env.api.post("/create-position-simulate", json=env.trade(kp))
    assert r.status_code == 200
    body = r.json()
    assert [run["err"] for run in body["simulations"]] == [None, None]  # Kamino's shape
    assert all(run["unitsConsumed"] > 0 for run in body["simulations"])
    assert "signedTxs" not in body
    assert env.usdc(kp) == 1000 * 10**6
    assert env.venue.snapshot()["pending_transactions"] == 0


# ---------------------------------------------------------------------------------------- submit
def test_submit_refuses_missing_and_foreign_signatures(env: Env) -> None:
    kp = env.wallet()
    built = env.api.post("/create-position", json=env.trade(kp)).json()
    unsigned = env.api.post("/submit-create-position-tx", json=built)
    err = assert_asgard_error(unsigned, 422, "SIGNATURE_VERIFICATION_FAILED")
    assert err["details"]["unsignedOrInvalid"] == [str(kp.pubkey())]
    # Signed by somebody else in the wallet's slot.
    tx = decode(built["signedTxs"][0])
    forged = VersionedTransaction.populate(
        tx.message, [Keypair().sign_message(to_bytes_versioned(tx.message))]
    )
    forged_body = {**built, "signedTxs": [base64.b64encode(bytes(forged)).decode()]}
    assert_asgard_error(env.api.post("/submit-create-position-tx", json=forged_body), 422)
    # A flipped bit in a valid signature.
    good = signed(built, kp)
    raw = bytearray(base64.b64decode(good["signedTxs"][0]))
    raw[5] ^= 0x01
    tampered = {**built, "signedTxs": [base64.b64encode(bytes(raw)).decode()]}
    assert_asgard_error(env.api.post("/submit-create-position-tx", json=tampered), 422)
    assert env.usdc(kp) == 1000 * 10**6
    assert env.api.post("/positions", json={"walletPubkey": str(kp.pubkey())}).json() == []


def test_submit_refuses_a_changed_message_or_echo(env: Env) -> None:
    kp = env.wallet()
    built = env.api.post("/create-position", json=env.trade(kp)).json()
    tx = decode(built["signedTxs"][0])
    keys = tx.message.account_keys
    # The wallet lowers the collateral it sends, then signs: not the transaction the venue built.
    instructions = []
    for ix in tx.message.instructions:
        if keys[ix.program_id_index] == TOKEN_PROGRAM:
            data = bytes([12]) + (1_000_000).to_bytes(8, "little") + bytes([6])
            ix = CompiledInstruction(ix.program_id_index, data, bytes(ix.accounts))
        instructions.append(ix)
    message = MessageV0(tx.message.header, list(keys), tx.message.recent_blockhash, instructions, [])
    changed = VersionedTransaction(message, [kp])
    body = {**built, "signedTxs": [base64.b64encode(bytes(changed)).decode()]}
    assert_asgard_error(env.api.post("/submit-create-position-tx", json=body), 422, "UNKNOWN_TRANSACTION")
    good = signed(built, kp)
    wrong_pda = {**good, "positionPda": str(Keypair().pubkey())}
    assert_asgard_error(env.api.post("/submit-create-position-tx", json=wrong_pda), 422, "ECHO_MISMATCH")
    assert env.usdc(kp) == 1000 * 10**6
    assert env.api.post("/submit-create-position-tx", json=good).status_code == 200


def test_submit_refuses_an_expired_blockhash(env: Env) -> None:
    kp = env.wallet()
    built = env.api.post("/create-position", json=env.trade(kp)).json()
    body = signed(built, kp)
    env.chain.skip_slots(200)
    err = assert_asgard_error(env.api.post("/submit-create-position-tx", json=body), 422, "BLOCKHASH_EXPIRED")
    assert err["name"] == "TransactionExpiredBlockheightExceededError"
    assert env.usdc(kp) == 1000 * 10**6
    # Built again, it goes through.
    again = env.api.post("/create-position", json=env.trade(kp)).json()
    assert env.api.post("/submit-create-position-tx", json=signed(again, kp)).status_code == 200


def test_a_replayed_submit_does_not_open_twice(env: Env) -> None:
    kp = env.wallet(usdc=5000)
    built = env.api.post("/create-position", json=env.trade(kp)).json()
    body = signed(built, kp)
    first = env.api.post("/submit-create-position-tx", json=body).json()
    second = env.api.post("/submit-create-position-tx", json=body)
    assert second.status_code == 200 and second.json() == first
    assert env.usdc(kp) == 4000 * 10**6
    assert len(env.api.post("/positions/open", json={"walletPubkey": str(kp.pubkey())}).json()) == 1


def test_submit_of_garbage_is_a_422(env: Env) -> None:
    for body in ({"signedTxs": "nope"}, {"signedTxs": ["!!!"]}, {"signedTxs": []}, {}):
        assert_asgard_error(env.api.post("/submit-create-position-tx", json=body), 422)
    r = env.api.post(
        "/submit-create-position-tx", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_asgard_error(r, 422)
    unknown = base64.b64encode(bytes(VersionedTransaction.default())).decode()
    assert_asgard_error(
        env.api.post("/submit-create-position-tx", json={"signedTxs": [unknown]}), 422, "UNKNOWN_TRANSACTION"
    )


# ---------------------------------------------------------------------------------------- faults
def test_foreign_program_fault_adds_an_unknown_program(env: Env) -> None:
    kp = env.wallet()
    env.faults.set("asgard", foreign_program=True)
    tx = decode(env.api.post("/create-position", json=env.trade(kp)).json()["signedTxs"][-1])
    assert set(programs_of(tx)) - ALLOWED_PROGRAMS == {str(env.venue.foreign_program)}
    env.faults.clear("asgard")
    built = env.api.post("/create-position", json=env.trade(kp)).json()
    assert all(set(programs_of(decode(t))) <= ALLOWED_PROGRAMS for t in built["signedTxs"])


def test_dropped_submit_answers_but_never_lands_and_can_be_resent(env: Env) -> None:
    kp = env.wallet()
    built = env.api.post("/create-position", json=env.trade(kp)).json()
    body = signed(built, kp)
    env.faults.set("asgard", drop_rate=1.0)
    answer = env.api.post("/submit-create-position-tx", json=body)
    assert answer.status_code == 200 and answer.json()["state"] == 0
    assert env.chain.status(answer.json()["openTxHash"]) is None
    assert env.usdc(kp) == 1000 * 10**6
    assert env.api.post("/positions/open", json={"walletPubkey": str(kp.pubkey())}).json() == []
    env.faults.clear("asgard")
    landed = env.api.post("/submit-create-position-tx", json=body).json()
    assert landed["id"] == answer.json()["id"] and landed["openTxHash"] == answer.json()["openTxHash"]
    assert env.chain.status(landed["openTxHash"]) is not None
    assert env.usdc(kp) == 0


# ---------------------------------------------------------------------------------------- interest
def test_interest_accrues_each_minute_at_the_simulated_rates(env: Env) -> None:
    kp = env.wallet()
    record = env.open(kp, leverage=1.5)
    start = env.refresh(record)["summary"]["booksAndBalances"]["balances"]
    token_a0 = Decimal(str(next(iter(start[0].values()))["assetsQt"]))
    debt0 = Decimal(str(next(iter(start[1].values()))["liabsQt"]))
    supply = borrow = Decimal(1)
    lend = env.market.lending[(Protocol.KAMINO, Asset.SOL)]

    def track(_t: int) -> None:
        nonlocal supply, borrow
        supply *= step_factor(lend.supply_apy)
        borrow *= step_factor(lend.usdc_borrow_apy)

    env.market.on_step(track)
    env.clock.advance(7 * 24 * 3600)
    balances = env.refresh(record)["summary"]["booksAndBalances"]["balances"]
    token_a = Decimal(str(next(iter(balances[0].values()))["assetsQt"]))
    debt = Decimal(str(next(iter(balances[1].values()))["liabsQt"]))
    assert supply > 1 and borrow > 1
    assert token_a == pytest.approx(token_a0 * supply, rel=Decimal("1e-8"))
    assert debt == pytest.approx(debt0 * borrow, rel=Decimal("1e-8"))


# ---------------------------------------------------------------------------------------- close
def test_close_is_cosigned_by_custody_and_pays_the_equity_in_usdc(env: Env) -> None:
    kp = env.wallet()
    lend = env.market.lending[(Protocol.KAMINO, Asset.SOL)]
    deposit_cap, borrow_cap = lend.deposit_capacity, lend.borrow_capacity
    record = env.open(kp)
    close_body = {
        "protocol": 1,
        "walletPubkey": str(kp.pubkey()),
        "positionPDA": record["positionPda"],
        "collateralType": 1,
        "jitoTipLamport": 0,
        "slippageBps": 50,
        "useDirectRoute": False,
    }
    built = env.api.post("/close-position", json=close_body).json()
    tx = decode(built["signedTxs"][0])
    keys = list(tx.message.account_keys)
    assert tx.message.header.num_required_signatures == 2
    assert keys[0] == kp.pubkey() and keys[1] == env.venue.custody.pubkey()
    assert tx.verify_with_results() == [False, True]  # custody signed, the wallet's slot is empty
    with pytest.raises(Exception):  # noqa: B017 - solders: "not enough signers"
        VersionedTransaction(tx.message, [kp])
    submitted = env.api.post("/submit-close-position-tx", json=signed(built, kp))
    assert submitted.status_code == 200, submitted.text
    closed = submitted.json()
    assert closed["state"] == 1 and closed["closeTxHash"] == closed["txHash"]
    assert env.usdc(kp) == paid_to(tx, kp.pubkey())[0]  # exactly what the transaction pays
    # Equity ≈ the 1000 deposited less the open fee and the price impacts.
    assert 990 * 10**6 < env.usdc(kp) < 1000 * 10**6
    assert [
        p["id"] for p in env.api.post("/positions/closed", json={"walletPubkey": str(kp.pubkey())}).json()
    ] == [record["id"]]
    assert env.api.post("/positions/open", json={"walletPubkey": str(kp.pubkey())}).json() == []
    assert lend.deposit_capacity == pytest.approx(deposit_cap)
    assert lend.borrow_capacity == pytest.approx(borrow_cap)
    again = env.api.post("/close-position", json=close_body)
    assert_asgard_error(again, 422, "POSITION_NOT_ACTIVE")


def test_close_in_token_a_pays_out_sol(env: Env) -> None:
    kp = env.wallet()
    record = env.open(kp, leverage=2)
    before = env.chain.balance(kp.pubkey())
    body = {
        "protocol": 1,
        "walletPubkey": str(kp.pubkey()),
        "positionPDA": record["positionPda"],
        "collateralType": 0,
        "slippageBps": 50,
    }
    built = env.api.post("/close-position", json=body).json()
    assert env.api.post("/submit-close-position-tx", json=signed(built, kp)).status_code == 200
    gained = (env.chain.balance(kp.pubkey()) - before) / 10**9
    paid = paid_to(decode(built["signedTxs"][0]), kp.pubkey())[1] / 10**9
    assert gained == pytest.approx(paid, abs=1e-4)
    assert gained * float(env.market.price_usd(Asset.SOL)) == pytest.approx(990, rel=0.02)


def test_close_of_someone_elses_position_is_refused(env: Env) -> None:
    record = env.open(env.wallet())
    body = {
        "protocol": 1,
        "walletPubkey": str(Keypair().pubkey()),
        "positionPDA": record["positionPda"],
        "slippageBps": 50,
    }
    assert_asgard_error(env.api.post("/close-position", json=body), 422, "NOT_POSITION_OWNER")


def test_partial_close_halves_the_position_and_keeps_leverage(env: Env) -> None:
    kp = env.wallet()
    record = env.open(kp)
    before = env.refresh(record)["summary"]
    body = {
        "protocol": 1,
        "walletPubkey": str(kp.pubkey()),
        "positionPDA": record["positionPda"],
        "closePercentage": 50,
        "slippageBps": 50,
    }
    built = env.api.post("/position/partial-close", json=body).json()
    assert set(built) == PARTIAL_CLOSE_ANSWER
    assert built["updateRecordData"]["updateType"] == 4
    update = {
        "protocol": 1,
        "walletPubkey": str(kp.pubkey()),
        "positionPDA": record["positionPda"],
        "positionId": record["id"],
        "tokenATokenMint": record["tokenATokenMint"],
        "tokenBTokenMint": record["tokenBTokenMint"],
        "signedTxs": [sign_tx(built["signedTxs"][0], kp)],
        "updateRecordData": built["updateRecordData"],
    }
    r = env.api.post("/submit-position-update-tx", json=update)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["success"] is True and answer["positionUpdate"]["status"] == 1
    assert answer["position"]["updateCount"] == 1
    after = env.refresh(record)["summary"]
    a0, a1 = (next(iter(s["booksAndBalances"]["balances"][0].values()))["assetsQt"] for s in (before, after))
    d0, d1 = (next(iter(s["booksAndBalances"]["balances"][1].values()))["liabsQt"] for s in (before, after))
    assert a1 == pytest.approx(a0 / 2, rel=1e-6)
    assert d1 == pytest.approx(d0 / 2, rel=1e-6)
    assert a1 / d1 == pytest.approx(a0 / d0, rel=1e-6)  # the same leverage
    assert built["leverageAfter"] == pytest.approx(built["leverageBefore"], rel=1e-3)
    assert env.usdc(kp) == pytest.approx(built["equityWithdrawnUI"] * 10**6, abs=1)
    assert 490 < built["equityWithdrawnUI"] < 500
    position = env.api.post(f"/positions/by-pda?pda={record['positionPda']}").json()
    assert Decimal(position["tokenAAmountUICurrent"]) == pytest.approx(Decimal(str(a1)), rel=Decimal("1e-6"))
    assert position["updateCount"] == 1 and position["lastUpdateId"] == answer["positionUpdate"]["id"]


def test_deleverage_repays_debt_with_sold_collateral_and_keeps_the_equity(env: Env) -> None:
    """`/position/deleverage`: leverage down to the target, health up, nothing paid out."""
    kp = env.wallet()
    record = env.open(kp)
    before = env.refresh(record)["summary"]
    body = {
        "protocol": 1,
        "walletPubkey": str(kp.pubkey()),
        "positionPDA": record["positionPda"],
        "targetLeverage": 2,
        "slippageBps": 50,
    }
    built = env.api.post("/position/deleverage", json=body).json()
    assert set(built) == DELEVERAGE_ANSWER
    assert built["updateRecordData"]["updateType"] == 1 and built["targetLeverage"] == 2
    assert built["leverageBefore"] == pytest.approx(3, rel=0.01)
    assert built["leverageAfter"] == pytest.approx(2, rel=1e-3)
    usdc_before = env.usdc(kp)
    update = {
        "protocol": 1,
        "walletPubkey": str(kp.pubkey()),
        "positionPDA": record["positionPda"],
        "positionId": record["id"],
        "tokenATokenMint": record["tokenATokenMint"],
        "tokenBTokenMint": record["tokenBTokenMint"],
        "signedTxs": [sign_tx(built["signedTxs"][0], kp)],
        "updateRecordData": built["updateRecordData"],
        "lendingApyAtUpdate": built["lendingApyAtUpdate"],
    }
    r = env.api.post("/submit-position-update-tx", json=update)
    assert r.status_code == 200, r.text
    assert r.json()["positionUpdate"] == {
        "id": r.json()["positionUpdate"]["id"],
        "updateType": 1,
        "status": 1,
    }
    after = env.refresh(record)["summary"]
    a0, a1 = (next(iter(s["booksAndBalances"]["balances"][0].values()))["assetsQt"] for s in (before, after))
    d0, d1 = (next(iter(s["booksAndBalances"]["balances"][1].values()))["liabsQt"] for s in (before, after))
    price = float(env.market.price_usd(Asset.SOL))
    # From about 3x to 2x with the same equity (less the swap's impact): about 2/3 of the SOL and
    # half of the debt stay.
    assert a1 == pytest.approx(a0 * 2 / built["leverageBefore"], rel=1e-3)
    assert a1 * price / (a1 * price - d1) == pytest.approx(2, rel=1e-3)
    assert (a1 * price - d1) == pytest.approx(a0 * price - d0, rel=1e-3)
    assert after["healthFactor"] > before["healthFactor"] + 10
    assert env.usdc(kp) == usdc_before  # the equity stayed in the position
    # The target must lower the leverage, and not below 1.
    for target in (3.5, 0.5, 2):
        assert_asgard_error(
            env.api.post("/position/deleverage", json={**body, "targetLeverage": target}),
            422,
            "INVALID_LEVERAGE",
        )
    assert_asgard_error(env.api.post("/position/deleverage", json={**body, "targetLeverage": True}), 422)


@pytest.mark.parametrize("protocol", [Protocol.MARGINFI, Protocol.SOLEND])
def test_deleverage_exists_on_kamino_and_drift_only(env: Env, protocol: Protocol) -> None:
    kp = env.wallet()
    record = env.open(kp, protocol=protocol)
    body = {
        "protocol": protocol.value,
        "walletPubkey": str(kp.pubkey()),
        "positionPDA": record["positionPda"],
        "targetLeverage": 2,
        "slippageBps": 50,
    }
    assert_asgard_error(env.api.post("/position/deleverage", json=body), 422, "UNSUPPORTED_PROTOCOL")


@pytest.mark.parametrize("protocol", [Protocol.MARGINFI, Protocol.SOLEND])
def test_partial_close_exists_on_kamino_and_drift_only(env: Env, protocol: Protocol) -> None:
    kp = env.wallet()
    record = env.open(kp, protocol=protocol)
    body = {
        "protocol": protocol.value,
        "walletPubkey": str(kp.pubkey()),
        "positionPDA": record["positionPda"],
        "closePercentage": 50,
        "slippageBps": 50,
    }
    assert_asgard_error(env.api.post("/position/partial-close", json=body), 422, "UNSUPPORTED_PROTOCOL")
    for pct in (0, 100):
        drift = {**body, "closePercentage": pct}
        assert_asgard_error(env.api.post("/position/partial-close", json=drift), 422)


# ---------------------------------------------------------------------------------------- liquidation
def test_flash_crash_liquidates_a_4x_position_and_returns_the_rest(env: Env) -> None:
    kp = env.wallet()
    lend = env.market.lending[(Protocol.MARGINFI, Asset.SOL)]
    borrow_cap = lend.borrow_capacity
    record = env.open(kp, leverage=4, protocol=Protocol.MARGINFI)
    safe = env.open(env.wallet(), leverage=1.5, protocol=Protocol.MARGINFI)
    sol_before = env.chain.balance(kp.pubkey())
    env.market.set_scenario("flash_crash", {"drop": 0.3})
    env.clock.advance(15 * 60)
    refreshed = env.refresh(record)
    assert refreshed["summary"]["healthFactor"] == 0
    assert refreshed["summary"]["booksAndBalances"]["balances"] == []
    [event] = refreshed["liquidationEvents"]
    assert event["positionPda"] == record["positionPda"] and event["healthFactorBefore"] <= 0
    assert event["debtRepaidUI"] == pytest.approx(3000, rel=1e-3)
    assert env.api.post("/all-liquidation-events").json() == [event]
    assert env.refresh(safe)["summary"]["booksAndBalances"]["balances"]
    # What the liquidator did not seize came back to the wallet, on chain.
    assert event["residualTxHash"] and env.chain.status(event["residualTxHash"]) is not None
    returned = (env.chain.balance(kp.pubkey()) - sol_before) / 10**9
    assert returned == pytest.approx(event["residualReturnedUI"], abs=1e-9)
    assert lend.borrow_capacity == pytest.approx(borrow_cap - 500)  # only the safe position's debt
    closed = env.api.post("/positions/closed", json={"walletPubkey": str(kp.pubkey())}).json()
    assert closed[0]["state"] == 2 and closed[0]["liquidationEvents"] == [event]
    assert env.venue.snapshot()["positions"] == {"open": 1, "closed": 0, "liquidated": 1}


# ---------------------------------------------------------------------------------------- bad input
def _break(env: Env, kp: Keypair, case: str) -> dict[str, Any]:
    good = env.trade(kp)
    src = env.source("SOL", Protocol.KAMINO)
    cases: dict[str, dict[str, Any]] = {
        "leverage_above_max": {"leverage": src["longMaxLeverage"] + 0.01},
        "leverage_below_min": {"leverage": 1.0},
        "unknown_bank": {"tokenABank": str(Keypair().pubkey())},
        "short": {"direction": 1},
        "collateral_type_any": {"collateralType": 2},
        "mint_mismatch": {"collateralMint": str(JITOSOL)},
        "more_than_held": {"collateralAmountNative": 1001 * 10**6},
        "too_small": {"collateralAmountNative": 1_000_000},
        "too_large": {"collateralAmountNative": 2_000_000 * 10**6},
        "stale_price": {"collateralUnitPrice": 1.2},
        "bool_protocol": {"protocol": True},
        "bad_wallet": {"walletPubkey": "not-a-key"},
        "unknown_protocol": {"protocol": 9},
        "slippage_zero": {"slippageBps": 0},
        "negative_tip": {"jitoTipLamport": -1},
        "nan_leverage": {"leverage": "NaN"},
    }
    if case == "missing_field":
        return {k: v for k, v in good.items() if k != "leverage"}
    return {**good, **cases[case]}


@pytest.mark.parametrize(
    "case",
    [
        "leverage_above_max",
        "leverage_below_min",
        "unknown_bank",
        "short",
        "collateral_type_any",
        "mint_mismatch",
        "more_than_held",
        "too_small",
        "too_large",
        "stale_price",
        "bool_protocol",
        "bad_wallet",
        "unknown_protocol",
        "slippage_zero",
        "negative_tip",
        "nan_leverage",
        "missing_field",
    ],
)
def test_bad_trade_requests_get_asgards_422(env: Env, case: str) -> None:
    kp = env.wallet()
    for path in ("/create-position", "/create-position-simulate"):
        assert_asgard_error(env.api.post(path, json=_break(env, kp, case)), 422)
    assert env.venue.snapshot()["pending_transactions"] == 0


def test_inactive_source_and_exhausted_capacity_are_refused(env: Env) -> None:
    kp = env.wallet()
    lend = env.market.lending[(Protocol.KAMINO, Asset.SOL)]
    lend.active = False
    assert env.source()["isActive"] is False
    assert_asgard_error(env.api.post("/create-position", json=env.trade(kp)), 422, "SOURCE_INACTIVE")
    lend.active = True
    lend.borrow_capacity = 1500.0
    assert_asgard_error(env.api.post("/create-position", json=env.trade(kp)), 422, "INSUFFICIENT_CAPACITY")
    assert env.api.post("/create-position", json=env.trade(kp, leverage=2)).status_code == 200


def test_a_wallet_without_sol_for_fees_is_refused(env: Env) -> None:
    kp = Keypair()
    env.chain.mint_to(kp.pubkey(), USDC, 1000 * 10**6)
    err = assert_asgard_error(
        env.api.post("/create-position", json=env.trade(kp)), 422, "TRANSACTION_SIMULATION_FAILED"
    )
    assert err["details"]["err"]


def test_refresh_and_lookup_of_unknown_positions(env: Env) -> None:
    pda = str(Keypair().pubkey())
    refresh = {"positionPDAs": [{"protocol": 1, "positionPDA": pda}]}
    assert_asgard_error(env.api.post("/refresh-positions", json=refresh), 422, "POSITION_NOT_FOUND")
    assert_asgard_error(env.api.post("/refresh-positions", json={"positionPDAs": []}), 422)
    assert_asgard_error(env.api.post(f"/positions/by-pda?pda={pda}"), 422, "POSITION_NOT_FOUND")
    record = env.open(env.wallet())
    wrong = {"positionPDAs": [{"protocol": 0, "positionPDA": record["positionPda"]}]}
    assert_asgard_error(env.api.post("/refresh-positions", json=wrong), 422, "PROTOCOL_MISMATCH")


def test_unknown_paths_and_methods_answer_in_asgards_error_body(env: Env) -> None:
    assert_asgard_error(env.api.get("/nope"), 404, "NOT_FOUND")
    assert_asgard_error(env.api.get("/create-position"), 405)
    assert_asgard_error(env.api.post("/positions", json={}), 422, "INVALID_REQUEST")


# ---------------------------------------------------------------------------------------- rate limit
def test_without_a_key_one_request_per_second_per_ip(env: Env) -> None:
    now = [1000.0]
    app = PublicRateLimit(create_app(env.venue).app, now=lambda: now[0])
    with TestClient(app, base_url="http://testserver/margin-trading") as anon:
        assert anon.get("/markets").status_code == 200
        limited = anon.get("/markets")
        err = assert_asgard_error(limited, 429, "RATE_LIMITED")
        assert limited.headers["retry-after"] == "1" and err["details"]["retryAfterMs"] > 0
        now[0] += 1.0
        assert anon.get("/markets").status_code == 200
        for _ in range(5):
            assert anon.get("/markets", headers={"X-API-Key": "any"}).status_code == 200
        assert anon.get("/markets", headers={"X-API-Key": " "}).status_code == 429


# ---------------------------------------------------------------------------------------- documented fields
MARKET_SOURCE_FIELDS = {
    "lendingProtocol",
    "isActive",
    "marketKey",
    "tokenABank",
    "tokenBBank",
    "longMaxLeverage",
    "shortMaxLeverage",
    "tokenAMaxDepositCapacity",
    "tokenAMaxBorrowCapacity",
    "tokenBMaxDepositCapacity",
    "tokenBMaxBorrowCapacity",
    "tokenALendingApyRate",
    "tokenABorrowingApyRate",
    "tokenBLendingApyRate",
    "tokenBBorrowingApyRate",
    "tokenAOracle",
    "tokenBOracle",
    "tokenARewardAPY",
    "tokenBRewardAPY",
}


def test_markets_oracles_and_extras_vary_by_protocol(env: Env) -> None:
    rows = env.api.get("/markets").json()["strategies"]["SOL/USDC"]["liquiditySources"]
    assert all(set(row) >= MARKET_SOURCE_FIELDS for row in rows)
    # "Oracle Data (Protocol Specific - Treat as opaque/optional)": no two protocols shape it alike,
    # and no common price field a client could read.
    shapes = {frozenset(row["tokenAOracle"]) for row in rows}
    assert len(shapes) == len(rows) == 4
    assert not any("priceUsd" in row["tokenAOracle"] for row in rows)
    extras = {frozenset(set(row) - MARKET_SOURCE_FIELDS) for row in rows}
    assert len(extras) > 1


def test_refresh_answers_the_documented_fields_and_per_protocol_extras(env: Env) -> None:
    summaries = []
    for protocol in Protocol:
        record = env.open(env.wallet(), protocol=protocol)
        refreshed = env.refresh(record)
        assert set(refreshed) == {"accountAddress", "authority", "summary", "liquidationEvents"}
        assert {"healthFactor", "booksAndBalances"} <= set(refreshed["summary"])
        summaries.append(frozenset(refreshed["summary"]))
    assert len(set(summaries)) > 2


def test_submit_position_update_requires_the_documented_body(env: Env) -> None:
    kp = env.wallet()
    record = env.open(kp)
    body = {
        "protocol": 1,
        "walletPubkey": str(kp.pubkey()),
        "positionPDA": record["positionPda"],
        "closePercentage": 25,
        "slippageBps": 50,
    }
    built = env.api.post("/position/partial-close", json=body).json()
    update = {
        "protocol": 1,
        "walletPubkey": str(kp.pubkey()),
        "positionPDA": record["positionPda"],
        "positionId": record["id"],
        "tokenATokenMint": record["tokenATokenMint"],
        "tokenBTokenMint": record["tokenBTokenMint"],
        "signedTxs": [sign_tx(built["signedTxs"][0], kp)],
        "updateRecordData": built["updateRecordData"],
    }
    # The build's answer echoed back (what a client did before) lacks the position's id and mints.
    echoed = env.api.post("/submit-position-update-tx", json=signed(built, kp))
    err = assert_asgard_error(echoed, 422, "INVALID_REQUEST")
    assert err["name"] == "ValidationError" and err["message"].startswith("positionId:")
    for field_name in ("positionId", "tokenATokenMint", "tokenBTokenMint"):
        missing = {k: v for k, v in update.items() if k != field_name}
        err = assert_asgard_error(env.api.post("/submit-position-update-tx", json=missing), 422)
        assert err["message"].startswith(f"{field_name}:")
    wrong = {**update, "positionId": record["id"] + 1000}
    assert_asgard_error(env.api.post("/submit-position-update-tx", json=wrong), 422, "ECHO_MISMATCH")
    wrong = {**update, "tokenATokenMint": str(JITOSOL)}
    assert_asgard_error(env.api.post("/submit-position-update-tx", json=wrong), 422, "ECHO_MISMATCH")
    assert env.venue.snapshot()["position_updates"] == 0
    r = env.api.post("/submit-position-update-tx", json=update)
    assert r.status_code == 200, r.text
    assert env.venue.snapshot()["position_updates"] == 1
