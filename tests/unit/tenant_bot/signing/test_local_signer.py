import base64
import json
import os
import stat
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from pydantic import SecretStr
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from shared.crypto import derive_tenant_kek
from tenant_bot.signing import KeystoreError, LocalSigner, Signer

SECRET = SecretStr("server-secret-for-tests-0123456789")
TYPED = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "Agent": [{"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"}],
    },
    "primaryType": "Agent",
    "domain": {
        "name": "Exchange",
        "version": "1",
        "chainId": 1337,
        "verifyingContract": "0x0000000000000000000000000000000000000000",
    },
    "message": {"source": "b", "connectionId": "0x" + "ab" * 32},
}


@pytest.fixture
def keystore(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "keystore.json"


def _secrets(signer: LocalSigner) -> tuple[bytes, bytes]:
    return bytes(signer._solana), bytes(signer._evm.key)


def _b58(raw: bytes) -> bytes:
    """Base58 as Solana tools write keys: the 64-byte keypair, or 32 bytes (as a pubkey would be)."""
    text = str(Keypair.from_bytes(raw)) if len(raw) == 64 else str(Pubkey.from_bytes(raw))
    return text.encode()


def test_create_then_load_gives_the_same_keys(keystore: Path) -> None:
    created = LocalSigner.create(keystore, "tenant-a", SECRET)
    loaded = LocalSigner.load(keystore, "tenant-a", SECRET)
    assert isinstance(created, Signer)
    assert (loaded.solana_address, loaded.evm_address) == (created.solana_address, created.evm_address)
    assert _secrets(loaded) == _secrets(created)
    again = LocalSigner.load_or_create(keystore, "tenant-a", SECRET)
    assert again.evm_address == created.evm_address


def test_load_or_create_creates_once(keystore: Path) -> None:
    first = LocalSigner.load_or_create(keystore, "tenant-a", SECRET)
    assert keystore.exists()
    assert LocalSigner.load_or_create(keystore, "tenant-a", SECRET).solana_address == first.solana_address
    with pytest.raises(KeystoreError):
        LocalSigner.create(keystore, "tenant-a", SECRET)  # never overwrite keys


def test_wrong_server_secret_or_tenant_fails(keystore: Path) -> None:
    LocalSigner.create(keystore, "tenant-a", SECRET)
    with pytest.raises(KeystoreError):
        LocalSigner.load(keystore, "tenant-a", SecretStr("another-secret-another-secret"))
    with pytest.raises(KeystoreError):
        LocalSigner.load(keystore, "tenant-b", SECRET)


def test_tampered_keystore_fails(keystore: Path) -> None:
    LocalSigner.create(keystore, "tenant-a", SECRET)
    document = json.loads(keystore.read_text())
    blob = json.loads(base64.b64decode(document["sealed"]["evm"]))
    raw = bytearray(base64.b64decode(blob["ct"]))
    raw[5] ^= 0x80
    blob["ct"] = base64.b64encode(bytes(raw)).decode()
    document["sealed"]["evm"] = base64.b64encode(json.dumps(blob).encode()).decode()
    keystore.write_text(json.dumps(document))
    with pytest.raises(KeystoreError):
        LocalSigner.load(keystore, "tenant-a", SECRET)


def test_swapped_clear_address_fails(keystore: Path) -> None:
    LocalSigner.create(keystore, "tenant-a", SECRET)
    document = json.loads(keystore.read_text())
    document["evm_address"] = Account.create().address  # someone edits where deposits should go
    keystore.write_text(json.dumps(document))
    with pytest.raises(KeystoreError):
        LocalSigner.load(keystore, "tenant-a", SECRET)


def test_each_key_opens_with_the_tenant_kek_and_its_recorded_context(keystore: Path) -> None:
    from shared.crypto import open_sealed

    signer = LocalSigner.create(keystore, "tenant-a", SECRET)
    document = json.loads(keystore.read_text())
    kek = derive_tenant_kek("tenant-a", SECRET)
    opened = {
        name: open_sealed(base64.b64decode(blob), kek, aad=document["aad"][name].encode())
        for name, blob in document["sealed"].items()
    }
    assert opened == {"solana": bytes(signer._solana), "evm": bytes(signer._evm.key)}


def test_missing_keystore_fails(keystore: Path) -> None:
    with pytest.raises(KeystoreError):
        LocalSigner.load(keystore, "tenant-a", SECRET)


def test_keystore_holds_no_private_key_in_any_encoding(keystore: Path) -> None:
    signer = LocalSigner.create(keystore, "tenant-a", SECRET)
    content = keystore.read_bytes()
    solana, evm = _secrets(signer)
    needles = [
        solana,
        solana[:32],
        evm,
        solana.hex().encode(),
        solana[:32].hex().encode(),
        evm.hex().encode(),
        _b58(solana),
        _b58(solana[:32]),
        base64.b64encode(solana),
        base64.b64encode(evm),
        SECRET.get_secret_value().encode(),
        derive_tenant_kek("tenant-a", SECRET).hex().encode(),
    ]
    for needle in needles:
        assert needle not in content and needle.lower() not in content.lower()
    text = content.decode()
    assert signer.solana_address in text and signer.evm_address in text  # the public side is in clear


def test_keystore_file_mode_is_0400_and_no_temp_file_is_left(keystore: Path) -> None:
    LocalSigner.create(keystore, "tenant-a", SECRET)
    assert stat.S_IMODE(os.stat(keystore).st_mode) == 0o400
    assert [p.name for p in keystore.parent.iterdir()] == [keystore.name]


async def test_typed_data_signature_recovers_to_the_evm_address(keystore: Path) -> None:
    signer = LocalSigner.create(keystore, "tenant-a", SECRET)
    signature = await signer.sign_typed_data(TYPED)
    assert set(signature) == {"r", "s", "v"} and signature["v"] in (27, 28)
    recovered = Account.recover_message(
        encode_typed_data(full_message=TYPED), vrs=(signature["v"], signature["r"], signature["s"])
    )
    assert recovered == signer.evm_address


async def test_solana_signature_verifies(keystore: Path) -> None:
    signer = LocalSigner.create(keystore, "tenant-a", SECRET)
    message = b"a serialized solana message"
    raw = await signer.sign_solana_message(message)
    assert len(raw) == 64
    pubkey = Pubkey.from_string(signer.solana_address)
    assert Signature.from_bytes(raw).verify(pubkey, message)
    assert not Signature.from_bytes(raw).verify(pubkey, message + b"!")


async def test_evm_transaction_is_signed_by_the_evm_key() -> None:
    signer = LocalSigner(Keypair(), Account.create())
    tx = {
        "chainId": 42161,
        "nonce": 0,
        "to": "0xaf88d065e77c8cC2239327C5EDb3A432268e5831",
        "value": 0,
        "data": "0x",
        "gas": 60000,
        "maxFeePerGas": 10**8,
        "maxPriorityFeePerGas": 0,
    }
    raw = await signer.sign_evm_transaction(tx)
    assert isinstance(raw, bytes) and raw[0] == 2  # EIP-1559 envelope
    assert Account.recover_transaction(raw) == signer.evm_address


def test_repr_shows_addresses_only() -> None:
    signer = LocalSigner(Keypair(), Account.create())
    solana, evm = _secrets(signer)
    for text in (repr(signer), str(signer), f"{signer}"):
        assert signer.evm_address in text and signer.solana_address in text
        assert evm.hex() not in text and solana.hex() not in text
        assert _b58(solana).decode() not in text


def test_loading_tightens_a_keystore_left_readable_by_others(keystore: Path) -> None:
    LocalSigner.create(keystore, "tenant-a", SECRET)
    keystore.chmod(0o644)
    LocalSigner.load(keystore, "tenant-a", SECRET)
    assert stat.S_IMODE(os.stat(keystore).st_mode) == 0o400


def test_keys_never_reach_a_log_line(keystore: Path) -> None:
    import io

    from shared.logging import configure_logging, get_logger

    stream = io.StringIO()
    configure_logging("debug", json=True, stream=stream)
    signer = LocalSigner.create(keystore, "tenant-a", SECRET)
    solana, evm = _secrets(signer)
    get_logger("test").info("careless", key=evm.hex(), kp=_b58(solana).decode())
    output = stream.getvalue()
    assert signer.evm_address in output  # the create line itself was logged
    assert evm.hex() not in output and _b58(solana).decode() not in output
