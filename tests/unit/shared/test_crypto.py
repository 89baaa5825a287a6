import base64
import json

import pytest
from pydantic import SecretStr

from shared.crypto import DecryptionError, derive_tenant_kek, open_sealed, seal

SECRET = SecretStr("server-secret-for-tests-0123456789")
KEK = derive_tenant_kek("tenant-a", SECRET)
AAD = b"keystore|tenant-a"


def test_kek_is_hmac_sha256_of_the_tenant_id_and_differs_per_tenant_and_secret() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.get_secret_value().encode(), b"basis/kek/v1/tenant-a", hashlib.sha256).digest()
    assert expected == KEK and len(KEK) == 32
    assert derive_tenant_kek("tenant-a", SECRET.get_secret_value().encode()) == KEK
    assert derive_tenant_kek("tenant-b", SECRET) != KEK
    assert derive_tenant_kek("tenant-a", SecretStr("another-server-secret-000000")) != KEK


def test_kek_needs_a_tenant_and_a_secret() -> None:
    with pytest.raises(ValueError):
        derive_tenant_kek("", SECRET)
    with pytest.raises(ValueError):
        derive_tenant_kek("tenant-a", SecretStr(""))


def test_round_trip_and_fresh_randomness_each_time() -> None:
    plaintext = b"\x00private key bytes\xff" * 3
    blob1, blob2 = seal(plaintext, KEK, aad=AAD), seal(plaintext, KEK, aad=AAD)
    assert blob1 != blob2  # fresh data key and nonces
    assert open_sealed(blob1, KEK, aad=AAD) == plaintext
    assert open_sealed(blob2, KEK, aad=AAD) == plaintext
    assert plaintext not in blob1 and base64.b64encode(plaintext) not in blob1


def test_blob_is_versioned_json() -> None:
    blob = json.loads(seal(b"x", KEK, aad=AAD))
    assert blob["v"] == 1 and blob["alg"] == "A256GCM" and blob["kw"] == "A256GCMKW"
    assert len(base64.b64decode(blob["wk"])) == 48  # 32-byte data key + 16-byte tag
    assert len(base64.b64decode(blob["n"])) == 12 and len(base64.b64decode(blob["wn"])) == 12


def test_wrong_key_or_context_fails_without_leaking_the_key() -> None:
    blob = seal(b"secret", KEK, aad=AAD)
    other = derive_tenant_kek("tenant-b", SECRET)
    with pytest.raises(DecryptionError) as info:
        open_sealed(blob, other, aad=AAD)
    assert other.hex() not in str(info.value) and KEK.hex() not in str(info.value)
    with pytest.raises(DecryptionError):
        open_sealed(blob, KEK, aad=b"keystore|tenant-b")


@pytest.mark.parametrize("field", ["wn", "wk", "n", "ct"])
def test_any_altered_field_fails(field: str) -> None:
    blob = json.loads(seal(b"secret value", KEK, aad=AAD))
    raw = bytearray(base64.b64decode(blob[field]))
    raw[0] ^= 0x01
    blob[field] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(DecryptionError):
        open_sealed(json.dumps(blob).encode(), KEK, aad=AAD)


@pytest.mark.parametrize(
    "blob",
    [b"not json", b"[]", b'{"v": 2}', json.dumps({"v": 1, "alg": "A256GCM", "kw": "A256GCMKW"}).encode()],
)
def test_malformed_or_unknown_blobs_fail_cleanly(blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        open_sealed(blob, KEK, aad=AAD)


def test_a_kek_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        seal(b"x", b"short", aad=AAD)
