"""`LocalSigner`: self-custody keys held by the bot, sealed at rest in a keystore file.

The keystore is JSON: the public addresses in clear (so the dashboard can show them without the
server secret) and, per key, one sealed blob (`shared.crypto`: AES-256-GCM under the tenant's KEK,
base64) of the raw private key (the 64-byte Solana keypair, the 32-byte EVM key). Each blob's
associated data binds it to the tenant, the key's name and its public address, so a keystore whose
clear addresses were edited, or that was copied to another tenant, does not open.
The file is written atomically (temp file, fsync, rename) with mode 0600.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_hex
from pydantic import SecretStr
from solders.keypair import Keypair

from shared.crypto import DecryptionError, derive_tenant_kek, open_sealed, seal
from shared.logging import get_logger, register_secret

log = get_logger("tenant_bot.signing.local")

KEYSTORE_FORMAT = "basis-keystore"
KEYSTORE_VERSION = 1


class KeystoreError(Exception):
    """The keystore file is missing, malformed, or does not open with this tenant's key."""


def _aad(tenant_id: str, name: str, address: str) -> str:
    """What each sealed key is bound to: its tenant, its name and its public address."""
    return f"basis/keystore/v1|{tenant_id}|{name}|{address}"


def _write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves either the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o400)  # a secret file: replaced whole, never written in place
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)


class LocalSigner:
    """Implements `tenant_bot.signing.Signer` with keys in this process (self-custody mode)."""

    __slots__ = ("_evm", "_solana")

    def __init__(self, solana_keypair: Keypair, evm_account: LocalAccount) -> None:
        self._solana = solana_keypair
        self._evm = evm_account
        # Whatever happens later, these never reach a log line in this process.
        register_secret(bytes(solana_keypair))
        register_secret(str(solana_keypair))
        register_secret(bytes(evm_account.key))
        register_secret(evm_account.key.hex())

    # ------------------------------------------------------------------ keystore
    @classmethod
    def create(cls, keystore_path: Path, tenant_id: str, server_secret: SecretStr) -> LocalSigner:
        """New keys for the tenant, sealed into `keystore_path` (refuses to overwrite a keystore)."""
        keystore_path = Path(keystore_path)
        if keystore_path.exists():
            raise KeystoreError(f"a keystore already exists at {keystore_path}")
        signer = cls(Keypair(), Account.create())
        signer._save(keystore_path, tenant_id, server_secret)
        log.info(
            "keystore created",
            path=str(keystore_path),
            solana_address=signer.solana_address,
            evm_address=signer.evm_address,
        )
        return signer

    @classmethod
    def load(cls, keystore_path: Path, tenant_id: str, server_secret: SecretStr) -> LocalSigner:
        keystore_path = Path(keystore_path)
        try:
            if keystore_path.stat().st_mode & 0o077:
                # Sealed, so not a leak by itself, but nobody else should be able to copy it.
                log.warning("keystore is readable by others; tightening to 0400", path=str(keystore_path))
                keystore_path.chmod(0o400)
            document = json.loads(keystore_path.read_bytes())
        except FileNotFoundError:
            raise KeystoreError(f"no keystore at {keystore_path}") from None
        except (ValueError, UnicodeDecodeError):
            raise KeystoreError(f"keystore {keystore_path} is not valid JSON") from None
        if (
            not isinstance(document, dict)
            or document.get("format") != KEYSTORE_FORMAT
            or document.get("version") != KEYSTORE_VERSION
        ):
            raise KeystoreError(f"keystore {keystore_path}: unknown format or version")
        solana_address, evm_address = document.get("solana_address"), document.get("evm_address")
        sealed = document.get("sealed")
        if not (
            isinstance(solana_address, str) and isinstance(evm_address, str) and isinstance(sealed, dict)
        ):
            raise KeystoreError(f"keystore {keystore_path}: missing fields")
        if document.get("tenant_id") != tenant_id:
            raise KeystoreError(f"keystore {keystore_path} belongs to another tenant")
        kek = derive_tenant_kek(tenant_id, server_secret)
        raw: dict[str, bytes] = {}
        for name, address in (("solana", solana_address), ("evm", evm_address)):
            try:
                blob = base64.b64decode(sealed[name], validate=True)
                raw[name] = open_sealed(blob, kek, aad=_aad(tenant_id, name, address).encode())
            except (KeyError, TypeError, ValueError, DecryptionError) as exc:
                reason = exc if isinstance(exc, DecryptionError) else "missing or not base64"
                raise KeystoreError(f"keystore {keystore_path}: {name} key did not open: {reason}") from None
        try:
            solana = Keypair.from_bytes(raw["solana"])
            evm = Account.from_key(raw["evm"])
        except Exception:
            raise KeystoreError(f"keystore {keystore_path}: sealed keys are malformed") from None
        signer = cls(solana, evm)
        if signer.solana_address != solana_address or signer.evm_address != evm_address:
            raise KeystoreError(f"keystore {keystore_path}: keys do not match the recorded addresses")
        return signer

    @classmethod
    def load_or_create(cls, keystore_path: Path, tenant_id: str, server_secret: SecretStr) -> LocalSigner:
        if Path(keystore_path).exists():
            return cls.load(keystore_path, tenant_id, server_secret)
        return cls.create(keystore_path, tenant_id, server_secret)

    def _save(self, path: Path, tenant_id: str, server_secret: SecretStr) -> None:
        kek = derive_tenant_kek(tenant_id, server_secret)
        keys = {
            "solana": (bytes(self._solana), self.solana_address),
            "evm": (bytes(self._evm.key), self.evm_address),
        }
        aad = {name: _aad(tenant_id, name, address) for name, (_, address) in keys.items()}
        sealed = {
            name: base64.b64encode(seal(secret, kek, aad=aad[name].encode())).decode("ascii")
            for name, (secret, _) in keys.items()
        }
        document = {
            "format": KEYSTORE_FORMAT,
            "version": KEYSTORE_VERSION,
            "tenant_id": tenant_id,
            "solana_address": self.solana_address,
            "evm_address": self.evm_address,
            "sealed": sealed,
            # In clear for tools and audits; `load` recomputes it from the addresses, never reads it.
            "aad": aad,
        }
        _write_atomic(path, json.dumps(document, indent=2).encode() + b"\n")

    # ------------------------------------------------------------------ Signer
    @property
    def solana_address(self) -> str:
        return str(self._solana.pubkey())

    @property
    def evm_address(self) -> str:
        return str(self._evm.address)

    async def sign_solana_message(self, message: bytes) -> bytes:
        return bytes(self._solana.sign_message(bytes(message)))

    async def sign_typed_data(self, typed_data: dict[str, Any]) -> dict[str, Any]:
        signed = Account.sign_typed_data(self._evm.key, full_message=typed_data)
        # The same shape as the Hyperliquid SDK's sign_inner: to_hex of the ints (no zero padding).
        return {"r": to_hex(signed.r), "s": to_hex(signed.s), "v": signed.v}

    async def sign_hyperliquid_l1(
        self, action: dict[str, Any], nonce: int, *, mainnet: bool, expires_after: int | None = None
    ) -> dict[str, Any]:
        from shared.hyperliquid_l1 import l1_typed_data

        return await self.sign_typed_data(
            l1_typed_data(action, nonce, mainnet=mainnet, expires_after=expires_after)
        )

    async def sign_evm_transaction(self, tx: dict[str, Any]) -> bytes:
        return bytes(Account.sign_transaction(tx, self._evm.key).raw_transaction)

    def __repr__(self) -> str:
        return f"LocalSigner(solana_address={self.solana_address!r}, evm_address={self.evm_address!r})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a LocalSigner cannot be pickled (it would copy private keys)")
