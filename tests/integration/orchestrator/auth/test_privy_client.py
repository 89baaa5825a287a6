"""The Privy client against the devnet's Privy: JWKS verification, key rotation, wallets, signing."""

from __future__ import annotations

import base64
import io
import logging
import time
from collections.abc import AsyncIterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address
from pydantic import SecretStr
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from orchestrator.auth.privy import InvalidAccessToken, InvalidCode, PrivyClient, PrivyError
from shared.logging import configure_logging
from tests.integration.orchestrator.auth.conftest import new_email
from tests.support.devnet import DevnetProcess

pytestmark = pytest.mark.devnet


@pytest.fixture
async def privy(privy_credentials: tuple[str, str, str]) -> AsyncIterator[PrivyClient]:
    url, app_id, secret = privy_credentials
    # The server-driven sign-in sends the page's origin, one the test devnet allows.
    client = PrivyClient(url, url, app_id, SecretStr(secret), origin="http://127.0.0.1:8000")
    yield client
    await client.aclose()


def code_of(dn: DevnetProcess, email: str) -> str:
    return str(dn.admin("GET", "/mailbox", params={"email": email}).json()["messages"][0]["code"])


async def sign_in(privy: PrivyClient, dn: DevnetProcess) -> tuple[str, str]:
    email = new_email()
    await privy.initiate(email)
    user = await privy.verify(email, code_of(dn, email))
    assert user.id.startswith("did:privy:") and user.email == email
    return user.id, user.access_token


async def test_access_tokens_verify_against_the_jwks_and_survive_rotation(
    privy: PrivyClient, dn: DevnetProcess
) -> None:
    user_id, token = await sign_in(privy, dn)
    claims = await privy.verify_access_token(token)
    assert claims.user_id == user_id and claims.expires_at > time.time()
    kid = jwt.get_unverified_header(token)["kid"]

    # The same claims and kid, signed by a key of our own: refused.
    stranger = ec.generate_private_key(ec.SECP256R1())
    unverified = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(unverified, stranger, algorithm="ES256", headers={"kid": kid})
    with pytest.raises(InvalidAccessToken):
        await privy.verify_access_token(forged)
    # An unknown kid: refetched once, still refused.
    with pytest.raises(InvalidAccessToken, match="not in the app's JWKS"):
        await privy.verify_access_token(
            jwt.encode(unverified, stranger, algorithm="ES256", headers={"kid": "nope"})
        )
    # Wrong audience, expired, not a JWT.
    with pytest.raises(InvalidAccessToken):
        await privy.verify_access_token("not.a.jwt")

    rotated = dn.admin("POST", "/privy/rotate-signing-key")
    assert rotated.status_code == 200 and rotated.json()["kid"] != kid
    time.sleep(1.05)  # past the cool-down the forged unknown kid above started
    new_user, fresh = await sign_in(privy, dn)
    assert jwt.get_unverified_header(fresh)["kid"] == rotated.json()["kid"]
    assert (await privy.verify_access_token(fresh)).user_id == new_user
    # The old token still verifies within Privy's grace period (the old key is still published).
    assert (await privy.verify_access_token(token)).user_id == user_id


async def test_wrong_code_is_invalid_code(privy: PrivyClient, dn: DevnetProcess) -> None:
    email = new_email()
    await privy.initiate(email)
    right = code_of(dn, email)
    with pytest.raises(InvalidCode):
        await privy.verify(email, f"{(int(right) + 1) % 1_000_000:06d}")


async def test_the_app_secret_never_appears_in_logs_or_errors(
    privy_credentials: tuple[str, str, str], dn: DevnetProcess
) -> None:
    url, app_id, secret = privy_credentials
    stream = io.StringIO()
    configure_logging("debug", json=True, stream=stream)
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    try:
        client = PrivyClient(url, url, app_id, SecretStr(secret))
        assert secret not in repr(client)
        wallet = await client.create_wallet("ethereum")
        await client.sign_typed_data(wallet.id, typed_data())
        errors: list[str] = []
        for bad_call in (
            client.sign_typed_data(wallet.id, {"domain": {}}),
            client.sign_typed_data("missing-wallet", typed_data()),
        ):
            with pytest.raises(PrivyError) as caught:
                await bad_call
            errors += [str(caught.value), repr(caught.value), caught.value.message]
        wrong = PrivyClient(url, url, app_id, SecretStr(secret[::-1]))
        with pytest.raises(PrivyError) as refused:
            await wrong.create_wallet("solana")
        assert refused.value.status == 401
        errors += [str(refused.value), repr(refused.value)]
        down = PrivyClient("http://127.0.0.1:9", "http://127.0.0.1:9", app_id, SecretStr(secret))
        with pytest.raises(PrivyError) as unreachable:
            await down.create_wallet("solana")
        assert unreachable.value.status == 503
        errors.append(str(unreachable.value))
        for c in (client, wrong, down):
            await c.aclose()
    finally:
        configure_logging("info")
    basic = base64.b64encode(f"{app_id}:{secret}".encode()).decode()
    for text in [stream.getvalue(), *errors]:
        assert secret not in text and basic not in text
    assert "privy" in stream.getvalue()  # something was logged


async def test_create_wallets_of_the_right_shapes(privy: PrivyClient) -> None:
    sol = await privy.create_wallet("solana")
    assert sol.chain_type == "solana" and len(bytes(Pubkey.from_string(sol.address))) == 32
    eth = await privy.create_wallet("ethereum", idempotency_key="basis-test-" + new_email())
    assert eth.chain_type == "ethereum" and eth.address.startswith("0x")
    assert len(eth.address) == 42 and eth.address == to_checksum(eth.address)
    with pytest.raises(ValueError):
        await privy.create_wallet("bitcoin")  # type: ignore[arg-type]


def to_checksum(address: str) -> str:
    return str(to_checksum_address(address))


def typed_data() -> dict[str, object]:
    return {
        "domain": {
            "chainId": 1337,
            "name": "Exchange",
            "verifyingContract": "0x" + "00" * 20,
            "version": "1",
        },
        "types": {
            "Agent": [{"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"}]
        },
        "primaryType": "Agent",
        "message": {"source": "b", "connectionId": "0x" + "ab" * 32},
    }


async def test_sign_typed_data_recovers_to_the_wallet(privy: PrivyClient) -> None:
    wallet = await privy.create_wallet("ethereum")
    data = typed_data()
    signature = await privy.sign_typed_data(wallet.id, data)
    assert len(bytes.fromhex(signature.removeprefix("0x"))) == 65
    full = {
        **data,
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            **data["types"],  # type: ignore[dict-item]
        },
    }
    signer = Account.recover_message(encode_typed_data(full_message=full), signature=signature)
    assert signer == wallet.address


async def test_sign_solana_transaction_verifies(privy: PrivyClient) -> None:
    wallet = await privy.create_wallet("solana")
    payer = Pubkey.from_string(wallet.address)
    ix = transfer(TransferParams(from_pubkey=payer, to_pubkey=Keypair().pubkey(), lamports=1_000))
    message = MessageV0.try_compile(payer, [ix], [], Hash.new_unique())
    unsigned = VersionedTransaction.populate(message, [Signature.default()])
    signed_b64 = await privy.sign_solana_transaction(wallet.id, base64.b64encode(bytes(unsigned)).decode())
    signed = VersionedTransaction.from_bytes(base64.b64decode(signed_b64))
    assert signed.message == message
    assert signed.signatures[0].verify(payer, to_bytes_versioned(signed.message))
    assert signed.verify_with_results() == [True]
