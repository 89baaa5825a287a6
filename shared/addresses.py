"""Address checks without the chain libraries: EIP-55 checksums (Keccak-256 in pure Python) and
Solana public keys (base58, 32 bytes).

eth_utils (with its hashing backend) and solders cost a bot about 0.15 s of start-up and 16 MB of
memory when they are imported only to check the addresses of its risk configuration; these give the
same answers (the unit tests compare them with both libraries).
"""

from __future__ import annotations

import re

_MASK = (1 << 64) - 1
_ROUND_CONSTANTS = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)  # fmt: skip
# Rotation offsets, indexed [x][y].
_ROTATIONS = (
    (0, 36, 3, 41, 18),
    (1, 44, 10, 45, 2),
    (62, 6, 43, 15, 61),
    (28, 55, 25, 21, 56),
    (27, 20, 39, 8, 14),
)
_RATE = 136  # bytes absorbed per permutation for a 256-bit output


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & _MASK if shift else value


def _permute(lanes: list[list[int]]) -> None:
    """Keccak-f[1600] on lanes[x][y], in place."""
    for constant in _ROUND_CONSTANTS:
        c = [lanes[x][0] ^ lanes[x][1] ^ lanes[x][2] ^ lanes[x][3] ^ lanes[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rotl(c[(x + 1) % 5], 1) for x in range(5)]
        for x in range(5):
            for y in range(5):
                lanes[x][y] ^= d[x]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rotl(lanes[x][y], _ROTATIONS[x][y])
        for x in range(5):
            for y in range(5):
                lanes[x][y] = b[x][y] ^ ((~b[(x + 1) % 5][y]) & b[(x + 2) % 5][y])
        lanes[0][0] ^= constant


def keccak256(data: bytes) -> bytes:
    """Keccak-256 as Ethereum uses it (the original padding, not SHA3-256's)."""
    padded = bytearray(data)
    padded.append(0x01)
    padded.extend(b"\x00" * (-len(padded) % _RATE))
    padded[-1] |= 0x80
    lanes = [[0] * 5 for _ in range(5)]
    for start in range(0, len(padded), _RATE):
        block = padded[start : start + _RATE]
        for i in range(_RATE // 8):
            lanes[i % 5][i // 5] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        _permute(lanes)
    return b"".join(lanes[i % 5][i // 5].to_bytes(8, "little") for i in range(4))


_HEX_ADDRESS = re.compile(r"^(?:0[xX])?[0-9a-fA-F]{40}$")


def to_checksum_address(address: str) -> str:
    """The EIP-55 form of a 20-byte hex address (with or without 0x); ValueError for anything else."""
    if not isinstance(address, str) or not _HEX_ADDRESS.match(address):
        raise ValueError(f"{address!r} is not a 20-byte hex address")
    lower = address[-40:].lower()
    nibbles = keccak256(lower.encode("ascii")).hex()[:40]
    # EIP-55: a letter is upper case where the hash's nibble at its place is 8 or more.
    return "0x" + "".join(
        ch.upper() if int(nibble, 16) >= 8 else ch for ch, nibble in zip(lower, nibbles, strict=True)
    )


def is_evm_address(text: object) -> bool:
    """As eth_utils' is_address: 20 hex bytes, in any case (the checksum is not checked)."""
    return isinstance(text, str) and _HEX_ADDRESS.match(text) is not None


_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {ch: i for i, ch in enumerate(_BASE58)}


def is_solana_address(text: object) -> bool:
    """A base58 string of exactly 32 bytes, as solders' Pubkey.from_string accepts."""
    if not isinstance(text, str) or not 32 <= len(text) <= 44:
        return False
    value = 0
    for ch in text:
        digit = _BASE58_INDEX.get(ch)
        if digit is None:
            return False
        value = value * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))  # each leading '1' is a leading zero byte
    size = zeros + (value.bit_length() + 7) // 8
    return size == 32
