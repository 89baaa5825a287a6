"""The Asgard emulator over real HTTP, against devnet processes (`--only asgard`, which brings Solana).

Transactions are signed with solders keypairs; balances are read through the devnet's Solana
JSON-RPC, as a client would. Tests that change the market or inject faults start devnets of their
own, so they do not disturb the others.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.transaction import VersionedTransaction

from tests.support.devnet import DevnetProcess, start_devnet

pytestmark = pytest.mark.devnet

USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
KEY = {"X-API-Key": "basis-integration-tests"}
KNOWN_PROGRAMS = {
    "ComputeBudget111111111111111111111111111111",
    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
    "11111111111111111111111111111111",
    "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL",
    "KLend2g3cP87fffoy8q1mQqGKjrxjC8boSyAYavgmjD",
    "MFv2hWf31Z9kbCa1snEPYctwafyhdvnV7FZnsebVacA",
    "So1endDq2YkqhipRh3WViPa8hdiSpxWy6z3Z6tMCpAo",
    "dRiftyHA39MWEi3m9aunc5MzRF1JYuBsbn6VPcn33UH",
    "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4",  # Jupiter v6
    "DF1ow4tspfHX9JwWJsAb9epbkA8hmpSEAtxXy1V27QBH",  # DFlow Aggregator v4
    "AWK8r9338aEpRwHex1MiduTkPFNUHLkEH54eZ6JuPZm7",  # the devnet's Asgard program
}
LABELS = {0: "marginfi", 1: "Kamino", 2: "Solend", 3: "Drift"}


class Asgard:
    """A thin client of the devnet's Asgard API and Solana RPC, as a bot would hold."""

    def __init__(self, dn: DevnetProcess) -> None:
        self.dn = dn
        self.http = httpx.Client(base_url=dn.url("asgard"), headers=KEY, timeout=30)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, json=body, **kwargs)

    def ok(self, path: str, body: Any = None) -> Any:
        r = self.post(path, body)
        assert r.status_code == 200, r.text
        return r.json()

    def rpc(self, method: str, params: list[Any]) -> Any:
        r = httpx.post(
            self.dn.url("solana"),
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
            timeout=30,
        )
        body = r.json()
        assert "error" not in body, body
        return body["result"]

    def usdc(self, owner: Keypair) -> int:
        result = self.rpc(
            "getTokenAccountsByOwner", [str(owner.pubkey()), {"mint": USDC}, {"encoding": "jsonParsed"}]
        )
        return sum(
            int(a["account"]["data"]["parsed"]["info"]["tokenAmount"]["amount"]) for a in result["value"]
        )

    def lamports(self, owner: Keypair) -> int:
        return int(self.rpc("getBalance", [str(owner.pubkey())])["value"])

    def wallet(self, usdc: str = "1000", sol: str = "1") -> Keypair:
        kp = Keypair()
        self.dn.faucet("solana", "SOL", str(kp.pubkey()), sol)
        if usdc != "0":
            self.dn.faucet("solana", "USDC", str(kp.pubkey()), usdc)
        return kp

    def source(self, protocol: int = 1, strategy: str = "SOL/USDC") -> dict[str, Any]:
        markets = self.get("/markets").json()
        return next(
            s for s in markets["strategies"][strategy]["liquiditySources"] if s["lendingProtocol"] == protocol
        )

    def trade(
        self, kp: Keypair, usdc: int = 1000, leverage: float = 3, protocol: int = 1, **changes: Any
    ) -> dict:
        src = self.source(protocol)
        return {
            "protocol": protocol,
            "tokenABank": src["tokenABank"],
            "tokenBBank": src["tokenBBank"],
            "direction": 0,
            "collateralType": 1,
            "collateralAmountNative": usdc * 10**6,
            "collateralMint": USDC,
            "collateralUnitPrice": 1.0,
            "leverage": leverage,
            "jitoTipLamport": 10_000,
            "slippageBps": 50,
            "walletPubkey": str(kp.pubkey()),
            "useDirectRoute": False,
            **changes,
        }

    def open(self, kp: Keypair, **kwargs: Any) -> dict[str, Any]:
        built = self.ok("/create-position", self.trade(kp, **kwargs))
        return self.ok("/submit-create-position-tx", signed(built, kp))

    def refresh(self, record: dict[str, Any]) -> dict[str, Any]:
        body = {"positionPDAs": [{"protocol": record["protocol"], "positionPDA": record["positionPda"]}]}
        return self.ok("/refresh-positions", body)["positions"][record["positionPda"]]

    def balances(self, record: dict[str, Any]) -> tuple[Decimal, Decimal]:
        """(token A held, USDC owed) from booksAndBalances: the entries with assetsQt / liabsQt > 0."""
        rows = [
            v
            for entry in self.refresh(record)["summary"]["booksAndBalances"]["balances"]
            for v in entry.values()
        ]
        held = next(Decimal(str(r["assetsQt"])) for r in rows if r["assetsQt"] > 0)
        owed = next(Decimal(str(r["liabsQt"])) for r in rows if r["liabsQt"] > 0)
        return held, owed


def sign_tx(b64: str, kp: Keypair) -> str:
    """Fill the wallet's own signature slot (a close is already signed by Asgard's custody key)."""
    tx = VersionedTransaction.from_bytes(base64.b64decode(b64))
    sigs = list(tx.signatures)
    sigs[list(tx.message.account_keys).index(kp.pubkey())] = kp.sign_message(to_bytes_versioned(tx.message))
    return base64.b64encode(bytes(VersionedTransaction.populate(tx.message, sigs))).decode()


def signed(built: dict[str, Any], kp: Keypair) -> dict[str, Any]:
    return {**built, "signedTxs": [sign_tx(t, kp) for t in built["signedTxs"]]}


def error_of(r: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"name", "code", "message", "details"}
    return body["error"]


@pytest.fixture(scope="module")
def asgard() -> Iterator[Asgard]:
    dn = start_devnet(only=["asgard"], speed=1.0)
    yield Asgard(dn)
    dn.stop()


@pytest.fixture
def own() -> Iterator[Asgard]:
    """A devnet of the test's own (it changes the market, the clock or the faults)."""
    dn = start_devnet(only=["asgard"], speed=1.0)
    yield Asgard(dn)
    dn.stop()


def test_markets_list_every_protocol_and_collateral_with_the_simulators_rates(asgard: Asgard) -> None:
    for _ in range(5):  # a simulated minute may tick between the two reads: read again
        before = asgard.dn.state()["market"]["lending"]
        markets = asgard.get("/markets").json()
        if asgard.dn.state()["market"]["lending"] == before:
            break
    seen = set()
    for name, strategy in markets["strategies"].items():
        asset, quote = name.split("/")
        assert quote == "USDC" and strategy["tokenBMint"] == USDC
        for src in strategy["liquiditySources"]:
            lend = before[f"{LABELS[src['lendingProtocol']]}:{asset}"]
            seen.add(f"{LABELS[src['lendingProtocol']]}:{asset}")
            assert src["tokenALendingApyRate"] == pytest.approx(float(lend["supply_apy"]), abs=1e-6)
            assert src["tokenBBorrowingApyRate"] == pytest.approx(float(lend["usdc_borrow_apy"]), abs=1e-6)
            assert src["tokenBLendingApyRate"] == pytest.approx(float(lend["usdc_supply_apy"]), abs=1e-6)
            assert src["isActive"] == lend["active"]
            assert (
                isinstance(src["tokenBMaxBorrowCapacity"], str)
                and Decimal(src["tokenBMaxBorrowCapacity"]) > 0
            )
            assert 1 < src["longMaxLeverage"] < 10
            assert src["tokenABank"] and src["tokenBBank"] and src["marketKey"]
    assert seen == set(before)
    assert {"SOL/USDC", "jitoSOL/USDC", "mSOL/USDC", "jupSOL/USDC", "INF/USDC"} == set(markets["strategies"])
    assert markets["totalStrategies"] == 5


def test_open_3x_then_close_moves_usdc_on_chain(asgard: Asgard) -> None:
    kp = asgard.wallet(usdc="1000")
    assert asgard.usdc(kp) == 1000 * 10**6
    record = asgard.open(kp, usdc=1000, leverage=3)
    assert asgard.usdc(kp) == 0
    assert record["state"] == 0 and record["ownerAddress"] == str(kp.pubkey())
    sol_price = Decimal(asgard.dn.state()["market"]["prices_usd"]["SOL"])
    assert abs(Decimal(record["tokenAEntryPriceUSD"]) / sol_price - 1) < Decimal("0.01")
    opened = asgard.ok("/positions/open", {"walletPubkey": str(kp.pubkey())})
    assert [p["positionPda"] for p in opened] == [record["positionPda"]]
    assert opened[0]["tokenBEntryPriceUSD"] == "1" and opened[0]["openedAt"].endswith("Z")
    summary = asgard.refresh(record)["summary"]
    lt = asgard.source(1)["tokenALiquidationThreshold"]  # a protocol-specific extra of Kamino's
    ideal = (1 - 2 / (3 * lt)) * 100
    assert ideal - 0.5 < summary["healthFactor"] < ideal
    # Close, receiving USDC: the wallet gets the equity less fees, exactly what the close transfers.
    close = {
        "protocol": 1,
        "walletPubkey": str(kp.pubkey()),
        "positionPDA": record["positionPda"],
        "collateralType": 1,
        "jitoTipLamport": 10_000,
        "slippageBps": 50,
        "useDirectRoute": False,
    }
    built = asgard.ok("/close-position", close)
    closed = asgard.ok("/submit-close-position-tx", signed(built, kp))
    assert closed["state"] == 1 and closed["closeTxHash"]
    assert not {"estimate", "feesMetadata", "blockhash", "lastValidBlockHeight"} & set(built)
    received = asgard.usdc(kp)
    assert 985 * 10**6 < received < 1000 * 10**6
    assert asgard.ok("/positions/open", {"walletPubkey": str(kp.pubkey())}) == []
    closed_list = asgard.ok("/positions/closed", {"walletPubkey": str(kp.pubkey())})
    assert [p["state"] for p in closed_list] == [1]
    status = asgard.rpc("getSignatureStatuses", [[closed["closeTxHash"]]])["value"][0]
    assert status is not None and status["err"] is None


def test_submit_refuses_bad_signatures_and_expired_blockhashes(asgard: Asgard) -> None:
    kp = asgard.wallet()
    built = asgard.ok("/create-position", asgard.trade(kp))
    missing = error_of(asgard.post("/submit-create-position-tx", built))
    assert missing["code"] == "SIGNATURE_VERIFICATION_FAILED"
    txs = signed(built, kp)["signedTxs"]
    raw = bytearray(base64.b64decode(txs[0]))
    raw[10] ^= 0xFF  # inside the signature
    tampered = {**built, "signedTxs": [base64.b64encode(bytes(raw)).decode(), *txs[1:]]}
    assert (
        error_of(asgard.post("/submit-create-position-tx", tampered))["code"]
        == "SIGNATURE_VERIFICATION_FAILED"
    )
    # Signed properly, but too late: the blockhash expired while the client waited.
    good = signed(built, kp)
    asgard.dn.advance(slots=200)
    expired = error_of(asgard.post("/submit-create-position-tx", good))
    assert expired["code"] == "BLOCKHASH_EXPIRED" and "expired" in expired["message"]
    assert asgard.usdc(kp) == 1000 * 10**6
    assert asgard.ok("/positions", {"walletPubkey": str(kp.pubkey())}) == []


def test_a_replayed_submit_does_not_open_twice(asgard: Asgard) -> None:
    kp = asgard.wallet(usdc="3000")
    body = signed(asgard.ok("/create-position", asgard.trade(kp)), kp)
    first = asgard.ok("/submit-create-position-tx", body)
    second = asgard.ok("/submit-create-position-tx", body)
    assert second["id"] == first["id"] and second["openTxHash"] == first["openTxHash"]
    assert asgard.usdc(kp) == 2000 * 10**6
    assert len(asgard.ok("/positions/open", {"walletPubkey": str(kp.pubkey())})) == 1


def test_partial_close_of_half_halves_the_position(asgard: Asgard) -> None:
    kp = asgard.wallet()
    record = asgard.open(kp, protocol=1)
    held, owed = asgard.balances(record)
    body = {
        "protocol": 1,
        "walletPubkey": str(kp.pubkey()),
        "positionPDA": record["positionPda"],
        "closePercentage": 50,
        "jitoTipLamport": 0,
        "slippageBps": 50,
        "useDirectRoute": False,
    }
    built = asgard.ok("/position/partial-close", body)
    assert built["leverageAfter"] == pytest.approx(built["leverageBefore"], rel=1e-3)
    # Its answer has no positionId or mints (Asgard's doc): echoed back, it is refused, 422 in
    # Asgard's error body, and nothing moves.
    assert not {"positionId", "tokenATokenMint", "tokenBTokenMint"} & set(built)
    echoed = error_of(asgard.post("/submit-position-update-tx", signed(built, kp)))
    assert echoed["name"] == "ValidationError" and echoed["message"].startswith("positionId:")
    assert asgard.usdc(kp) == 0  # the 1000 deposited; nothing paid out
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
    answer = asgard.ok("/submit-position-update-tx", update)
    assert answer["success"] and answer["positionUpdate"]["updateType"] == 4
    held_after, owed_after = asgard.balances(record)
    assert held_after == pytest.approx(held / 2, rel=Decimal("1e-4"))
    assert owed_after == pytest.approx(owed / 2, rel=Decimal("1e-4"))
    assert asgard.usdc(kp) == pytest.approx(built["equityWithdrawnUI"] * 10**6, abs=1)
    assert 480 * 10**6 < asgard.usdc(kp) < 500 * 10**6
    other = asgard.wallet()
    marginfi = asgard.open(other, protocol=0)
    on_marginfi = {
        **body,
        "protocol": 0,
        "walletPubkey": str(other.pubkey()),
        "positionPDA": marginfi["positionPda"],
    }
    refused = asgard.post("/position/partial-close", on_marginfi)
    assert error_of(refused)["code"] == "UNSUPPORTED_PROTOCOL"


def test_bad_inputs_get_asgards_error_body(asgard: Asgard) -> None:
    kp = asgard.wallet()
    max_leverage = asgard.source(1)["longMaxLeverage"]
    for changes, code in (
        ({"leverage": max_leverage + 0.5}, "INVALID_LEVERAGE"),
        ({"collateralAmountNative": 5000 * 10**6}, "INSUFFICIENT_COLLATERAL"),
        ({"tokenABank": str(Keypair().pubkey())}, "MARKET_NOT_FOUND"),
        ({"collateralAmountNative": 10**6}, "POSITION_TOO_SMALL"),
        ({"collateralType": 2}, "INVALID_COLLATERAL_TYPE"),
        ({"direction": 1}, "UNSUPPORTED_DIRECTION"),
        ({"leverage": "three"}, "INVALID_REQUEST"),
    ):
        assert error_of(asgard.post("/create-position", asgard.trade(kp, **changes)))["code"] == code
    assert (
        error_of(asgard.post("/positions/by-pda?pda=" + str(Keypair().pubkey())))["code"]
        == "POSITION_NOT_FOUND"
    )
    assert error_of(asgard.get("/no-such-endpoint"), 404)["code"] == "NOT_FOUND"


def test_without_an_api_key_one_request_per_second(asgard: Asgard) -> None:
    url = asgard.dn.url("asgard") + "/markets"
    time.sleep(1.1)  # a fresh one-second window: earlier tests' anonymous requests are out of it
    with httpx.Client(timeout=10) as anonymous:
        assert anonymous.get(url).status_code == 200
        limited = anonymous.get(url)
        assert error_of(limited, 429)["code"] == "RATE_LIMITED"
        assert int(limited.headers["retry-after"]) >= 1
        assert anonymous.get(url, headers=KEY).status_code == 200
        time.sleep(1.1)  # the scenario: the window passes, and the anonymous client may ask again
        assert anonymous.get(url).status_code == 200


def test_interest_accrues_at_the_lending_rates_over_30_days(own: Asgard) -> None:
    kp = own.wallet()
    record = own.open(kp, leverage=1.5, protocol=1)
    held0, owed0 = own.balances(record)
    rates0 = own.dn.state()["market"]["lending"]["Kamino:SOL"]
    own.dn.advance(hours=24 * 30)
    rates1 = own.dn.state()["market"]["lending"]["Kamino:SOL"]
    held1, owed1 = own.balances(record)
    years = Decimal(30) / Decimal(365)

    def implied_apy(start: Decimal, end: Decimal) -> float:
        return float((end / start) ** (1 / years) - 1)

    borrow = (float(rates0["usdc_borrow_apy"]) + float(rates1["usdc_borrow_apy"])) / 2
    supply = (float(rates0["supply_apy"]) + float(rates1["supply_apy"])) / 2
    assert implied_apy(owed0, owed1) == pytest.approx(borrow, abs=0.006)
    assert implied_apy(held0, held1) == pytest.approx(supply, abs=0.006)
    assert owed1 > owed0 and held1 > held0
    assert own.refresh(record)["summary"]["booksAndBalances"]["balances"]


def test_flash_crash_liquidates_a_4x_position(own: Asgard) -> None:
    kp = own.wallet()
    record = own.open(kp, leverage=4, protocol=0)
    assert 5 < own.refresh(record)["summary"]["healthFactor"] < 15
    lamports = own.lamports(kp)
    own.dn.scenario("flash_crash", drop=0.3)
    own.dn.advance(seconds=15 * 60)
    refreshed = own.refresh(record)
    assert refreshed["summary"]["booksAndBalances"]["balances"] == []
    [event] = refreshed["liquidationEvents"]
    assert event["positionPda"] == record["positionPda"] and event["protocol"] == 0
    assert own.ok("/all-liquidation-events") == [event]
    positions = own.ok("/positions", {"walletPubkey": str(kp.pubkey())})
    assert positions[0]["state"] == 2 and positions[0]["liquidationEvents"] == [event]
    assert own.ok("/positions/open", {"walletPubkey": str(kp.pubkey())}) == []
    # The token A the liquidator did not seize came back to the wallet on chain.
    assert event["residualReturnedUI"] > 0 and event["residualTxHash"]
    assert (own.lamports(kp) - lamports) / 10**9 == pytest.approx(event["residualReturnedUI"], abs=1e-9)
    assert own.dn.state()["asgard"]["positions"]["liquidated"] == 1


def test_foreign_program_fault_and_dropped_submits(own: Asgard) -> None:
    kp = own.wallet(usdc="2000")
    own.dn.faults("asgard", foreign_program=True)
    built = own.ok("/create-position", own.trade(kp))
    tx = VersionedTransaction.from_bytes(base64.b64decode(built["signedTxs"][-1]))
    programs = {str(tx.message.account_keys[ix.program_id_index]) for ix in tx.message.instructions}
    foreign = programs - KNOWN_PROGRAMS
    assert len(foreign) == 1 and foreign == {own.dn.state()["asgard"]["foreign_program"]}
    own.dn.faults("asgard", clear=True)
    built = own.ok("/create-position", own.trade(kp))
    for text in built["signedTxs"]:
        tx = VersionedTransaction.from_bytes(base64.b64decode(text))
        assert {
            str(tx.message.account_keys[ix.program_id_index]) for ix in tx.message.instructions
        } <= KNOWN_PROGRAMS
    # A dropped submit answers like a good one, but nothing lands; sent again, it lands once.
    own.dn.faults("asgard", drop_rate=1.0)
    body = signed(built, kp)
    answer = own.ok("/submit-create-position-tx", body)
    assert own.rpc("getSignatureStatuses", [[answer["openTxHash"]]])["value"] == [None]
    assert own.usdc(kp) == 2000 * 10**6
    assert own.ok("/positions/open", {"walletPubkey": str(kp.pubkey())}) == []
    own.dn.faults("asgard", clear=True)
    landed = own.ok("/submit-create-position-tx", body)
    assert landed["id"] == answer["id"]
    assert own.usdc(kp) == 1000 * 10**6
