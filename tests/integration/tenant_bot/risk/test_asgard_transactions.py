"""The transaction validator against transactions a real devnet's Asgard builds (raw HTTP, as the
`devnet.asgard` docstring describes): with the rogue-program fault on, the open is refused naming the
program; with it off, the same request passes, is signed through `ValidatingSigner` and lands."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.transaction import VersionedTransaction

from shared.assets import SOLANA_NATIVE_MINT, TOKENS, Asset, Chain
from shared.transaction_policy import DEVNET_ASGARD_PROGRAM, DFLOW_AGGREGATOR_PROGRAM, JUPITER_V6_PROGRAM
from tenant_bot.risk.transaction_validator import (
    TransactionPolicy,
    TransactionRejected,
    TransactionValidator,
    ValidatingSigner,
)
from tests.support.devnet import DevnetProcess

pytestmark = pytest.mark.devnet

USDC = TOKENS[(Asset.USDC, Chain.SOLANA)].address
KEY = {"X-API-Key": "basis-risk-tests"}


class KeypairSigner:
    """The smallest `Signer` over a solders keypair (Solana only): the thing being wrapped here."""

    def __init__(self, keypair: Keypair) -> None:
        self.keypair = keypair

    @property
    def solana_address(self) -> str:
        return str(self.keypair.pubkey())

    @property
    def evm_address(self) -> str:
        return "0x" + "00" * 20

    async def sign_solana_message(self, message: bytes) -> bytes:
        return bytes(self.keypair.sign_message(message))

    async def sign_typed_data(self, typed_data: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def sign_evm_transaction(self, tx: dict[str, Any]) -> bytes:
        raise NotImplementedError


@pytest.fixture
def dn(devnet_factory: Callable[..., DevnetProcess]) -> Iterator[DevnetProcess]:
    yield devnet_factory(seed=11, speed=1.0, only=["asgard"])


def open_request(dn: DevnetProcess, http: httpx.Client, kp: Keypair, collateral: str) -> dict[str, Any]:
    markets = http.get("/markets").json()
    src = next(s for s in markets["strategies"]["SOL/USDC"]["liquiditySources"] if s["lendingProtocol"] == 1)
    usdc = collateral == "USDC"
    return {
        "protocol": 1,
        "tokenABank": src["tokenABank"],
        "tokenBBank": src["tokenBBank"],
        "direction": 0,
        "collateralType": 1 if usdc else 0,
        "collateralAmountNative": 500 * 10**6 if usdc else 2 * 10**9,
        "collateralMint": USDC if usdc else SOLANA_NATIVE_MINT,
        "collateralUnitPrice": 1.0 if usdc else float(dn.state()["market"]["prices_usd"]["SOL"]),
        "leverage": 3,
        "jitoTipLamport": 10_000,
        "slippageBps": 100,
        "walletPubkey": str(kp.pubkey()),
        "useDirectRoute": False,
    }


def build(http: httpx.Client, body: dict[str, Any]) -> tuple[dict[str, Any], list[VersionedTransaction]]:
    """The build's answer and its transactions (a Kamino open: the obligation's set-up, then the open)."""
    r = http.post("/create-position", json=body)
    assert r.status_code == 200, r.text
    built = r.json()
    return built, [VersionedTransaction.from_bytes(base64.b64decode(t)) for t in built["signedTxs"]]


def programs_of(tx: VersionedTransaction) -> set[str]:
    keys = tx.message.account_keys
    return {str(keys[ix.program_id_index]) for ix in tx.message.instructions}


async def test_rogue_program_refused_then_clean_open_signed_and_landed(dn: DevnetProcess) -> None:
    kp = Keypair()
    owner = str(kp.pubkey())
    dn.faucet("solana", "SOL", owner, "1")
    dn.faucet("solana", "USDC", owner, "2000")
    # The bot's policy on the devnet: the devnet's Asgard custody is a venue (its deposit account).
    validator = TransactionValidator(TransactionPolicy.from_config(network="devnet"))
    inner = KeypairSigner(kp)
    signer = ValidatingSigner(inner, validator)
    http = httpx.Client(base_url=dn.url("asgard"), headers=KEY, timeout=30)
    body = open_request(dn, http, kp, "USDC")

    snapshot = dn.faults("asgard", rogue_program=True)
    assert snapshot["faults"]["asgard"]["foreign_program"] is True
    rogue = dn.state()["asgard"]["foreign_program"]
    _, txs = build(http, body)
    message = to_bytes_versioned(txs[-1].message)
    with pytest.raises(TransactionRejected) as err:
        validator.check_solana_message(message, owner=owner)
    assert rogue in err.value.reason and "not on the allow-list" in err.value.reason
    with pytest.raises(TransactionRejected, match=rogue):
        await signer.sign_solana_message(message)

    dn.faults("asgard", rogue_program=False)
    built, txs = build(http, body)
    assert len(txs) == 2
    for tx in txs:
        validator.check_solana_message(to_bytes_versioned(tx.message), owner=owner)
    # Anywhere but the devnet, that custody is nobody's venue: its deposit is a transfer outside.
    mainnet = TransactionPolicy.from_config(network="mainnet").allowing_programs(DEVNET_ASGARD_PROGRAM)
    with pytest.raises(TransactionRejected, match="500 USDC to"):
        TransactionValidator(mainnet).check_solana_message(to_bytes_versioned(txs[-1].message), owner=owner)
    # Sign each through the validating signer, fill our slot, submit both: they land.
    signed = []
    for tx in txs:
        sigs = list(tx.signatures)
        sigs[list(tx.message.account_keys).index(kp.pubkey())] = type(sigs[0]).from_bytes(
            await signer.sign_solana_message(to_bytes_versioned(tx.message))
        )
        signed.append(base64.b64encode(bytes(VersionedTransaction.populate(tx.message, sigs))).decode())
    r = http.post("/submit-create-position-tx", json={**built, "signedTxs": signed})
    assert r.status_code == 200, r.text
    record = r.json()
    landed = VersionedTransaction.from_bytes(base64.b64decode(signed[-1]))
    assert record["positionPda"] and record["openTxHash"] == str(landed.signatures[0])
    opened = http.post("/positions/open", json={"walletPubkey": owner}).json()
    assert [p["positionPda"] for p in opened] == [record["positionPda"]]


def test_the_bots_policy_knows_real_asgard_transactions(dn: DevnetProcess) -> None:
    """Asgard's builds route their swaps through Jupiter or DFlow and call Asgard's own program; the
    bot's packaged policy allows both routers everywhere and the devnet's Asgard stand-in on the devnet."""
    kp = Keypair()
    owner = str(kp.pubkey())
    dn.faucet("solana", "SOL", owner, "1")
    dn.faucet("solana", "USDC", owner, "2000")
    http = httpx.Client(base_url=dn.url("asgard"), headers=KEY, timeout=30)
    body = open_request(dn, http, kp, "USDC")
    devnet = TransactionValidator(TransactionPolicy.from_config(network="devnet"))
    seen: set[str] = set()
    for _ in range(2):
        _, txs = build(http, body)
        for tx in txs:
            seen |= programs_of(tx)
            devnet.check_solana_message(to_bytes_versioned(tx.message), owner=owner)
    assert {JUPITER_V6_PROGRAM, DFLOW_AGGREGATOR_PROGRAM, DEVNET_ASGARD_PROGRAM} <= seen
    # The devnet's Asgard program is nobody's elsewhere.
    elsewhere = TransactionValidator(TransactionPolicy.from_config(network="mainnet"))
    with pytest.raises(TransactionRejected, match=DEVNET_ASGARD_PROGRAM):
        elsewhere.check_solana_message(to_bytes_versioned(txs[0].message), owner=owner)  # the set-up


def test_sol_collateral_goes_to_custody_which_the_policy_must_trust(dn: DevnetProcess) -> None:
    kp = Keypair()
    owner = str(kp.pubkey())
    dn.faucet("solana", "SOL", owner, "5")
    http = httpx.Client(base_url=dn.url("asgard"), headers=KEY, timeout=30)
    _, txs = build(http, open_request(dn, http, kp, "SOL"))
    message = to_bytes_versioned(txs[-1].message)
    policy = TransactionPolicy.from_config().allowing_programs(DEVNET_ASGARD_PROGRAM)
    with pytest.raises(TransactionRejected, match=r"moves 2\.00001 SOL from the wallet"):
        TransactionValidator(policy).check_solana_message(message, owner=owner)
    custody = dn.state()["asgard"]["custody"]
    TransactionValidator(policy.trusting(custody)).check_solana_message(message, owner=owner)
