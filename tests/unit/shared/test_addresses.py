"""The pure-Python address checks give the chain libraries' answers."""

from __future__ import annotations

import os

import pytest
from eth_hash.auto import keccak
from eth_utils import is_address
from eth_utils import to_checksum_address as eth_checksum
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from shared.addresses import is_evm_address, is_solana_address, keccak256, to_checksum_address


@pytest.mark.parametrize("size", [0, 1, 31, 135, 136, 137, 271, 272, 300])
def test_keccak256_matches_eth_hash(size: int) -> None:
    data = os.urandom(size)
    assert keccak256(data) == keccak(data)


def test_checksums_match_eth_utils() -> None:
    for _ in range(200):
        raw = "0x" + os.urandom(20).hex()
        assert to_checksum_address(raw) == eth_checksum(raw)
        assert to_checksum_address(raw[2:].upper()) == eth_checksum(raw[2:].upper())


@pytest.mark.parametrize(
    "text",
    [
        "0x" + "ab" * 20,
        "ab" * 20,
        "0X" + "AB" * 20,
        "0xD3bF167E06F3A095f98c6d28e914cb41E881f1Cc",  # a wrong checksum is still an address
        "0x" + "ab" * 19,
        "0x" + "ab" * 21,
        "0x" + "zz" * 20,
        "",
        "0x",
    ],
)
def test_is_evm_address_as_eth_utils(text: str) -> None:
    assert is_evm_address(text) == is_address(text)


def test_checksum_refuses_what_is_not_an_address() -> None:
    with pytest.raises(ValueError):
        to_checksum_address("0x1234")


def _solders_accepts(text: str) -> bool:
    try:
        Pubkey.from_string(text)
    except ValueError:
        return False
    return True


def test_solana_addresses_as_solders() -> None:
    for _ in range(100):
        key = str(Keypair().pubkey())
        assert is_solana_address(key) and _solders_accepts(key)
    for text in [
        "11111111111111111111111111111111",
        "So11111111111111111111111111111111111111112",
        "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
        "1" * 33,
        "z" * 44,
        "z" * 43,
        "2" * 44,
        "0OIl" * 10,
        "abc",
        str(Keypair()),  # a keypair (64 bytes), not a public key
    ]:
        assert is_solana_address(text) == _solders_accepts(text), text
