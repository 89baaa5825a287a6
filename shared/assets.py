"""Assets, chains, lending protocols and the on-chain addresses that name them.

The addresses are the real mainnet ones, so code written against the devnet is right on mainnet.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Chain(StrEnum):
    SOLANA = "solana"
    ARBITRUM = "arbitrum"
    HYPERLIQUID = "hyperliquid"


class Asset(StrEnum):
    SOL = "SOL"
    USDC = "USDC"
    ETH = "ETH"
    JITOSOL = "jitoSOL"
    MSOL = "mSOL"
    JUPSOL = "jupSOL"
    INF = "INF"

    @property
    def is_lst(self) -> bool:
        """A liquid-staking token: worth a growing amount of SOL."""
        return self in LSTS

    @property
    def is_sol_like(self) -> bool:
        """SOL or an LST: what the long leg can hold."""
        return self is Asset.SOL or self.is_lst

    @classmethod
    def parse(cls, text: str) -> Asset:
        """Case-insensitive lookup with a clear error (`jitosol` → `jitoSOL`)."""
        for asset in cls:
            if asset.value.lower() == text.strip().lower():
                return asset
        known = ", ".join(a.value for a in cls)
        raise ValueError(f"unknown asset {text!r}; known assets: {known}")

    @classmethod
    def parse_collateral(cls, text: str) -> Asset:
        """An asset the long leg can hold (SOL or an LST), case-insensitive, with a clear error."""
        try:
            asset = cls.parse(text)
        except ValueError:
            asset = None
        if asset is None or not asset.is_sol_like:
            known = ", ".join(a.value for a in cls if a.is_sol_like)
            raise ValueError(f"unknown collateral {text!r}; use {known}")
        return asset


LSTS: frozenset[Asset] = frozenset({Asset.JITOSOL, Asset.MSOL, Asset.JUPSOL, Asset.INF})


class Protocol(IntEnum):
    """Lending protocols Asgard routes to, with Asgard's own numeric ids."""

    MARGINFI = 0
    KAMINO = 1
    SOLEND = 2
    DRIFT = 3

    @property
    def label(self) -> str:
        return {0: "marginfi", 1: "Kamino", 2: "Solend", 3: "Drift"}[self.value]

    @classmethod
    def parse(cls, text: str | int) -> Protocol:
        if isinstance(text, int) or (isinstance(text, str) and text.isdigit()):
            return cls(int(text))
        for p in cls:
            if p.name.lower() == str(text).strip().lower():
                return p
        raise ValueError(f"unknown lending protocol {text!r}; known: {', '.join(p.label for p in cls)}")


@dataclass(frozen=True, slots=True)
class Token:
    """One asset on one chain: where it lives and how many decimals its raw units have."""

    asset: Asset
    chain: Chain
    address: str | None  # mint / contract; None for a chain's native coin
    decimals: int


SOLANA_NATIVE_MINT = "So11111111111111111111111111111111111111112"  # wrapped SOL

TOKENS: dict[tuple[Asset, Chain], Token] = {
    (Asset.SOL, Chain.SOLANA): Token(Asset.SOL, Chain.SOLANA, None, 9),
    (Asset.USDC, Chain.SOLANA): Token(
        Asset.USDC, Chain.SOLANA, "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6
    ),
    (Asset.JITOSOL, Chain.SOLANA): Token(
        Asset.JITOSOL, Chain.SOLANA, "J1toso1uCk3RLmjorhTtrVwY9HJ7X8V9yYac6Y7kGCPn", 9
    ),
    (Asset.MSOL, Chain.SOLANA): Token(
        Asset.MSOL, Chain.SOLANA, "mSoLzYCxHdYgdzU16g5QSh3i5K3z3KZK7ytfqcJm7So", 9
    ),
    (Asset.JUPSOL, Chain.SOLANA): Token(
        Asset.JUPSOL, Chain.SOLANA, "jupSoLaHXQiZZTSfEWMTRRgpnyFm8f6sZdosWBjx93v", 9
    ),
    (Asset.INF, Chain.SOLANA): Token(
        Asset.INF, Chain.SOLANA, "5oVNBeEEQvYi1cX3ir8Dx5n1P7pdxydbGF2X4TxVusJm", 9
    ),
    (Asset.ETH, Chain.ARBITRUM): Token(Asset.ETH, Chain.ARBITRUM, None, 18),
    # Native USDC on Arbitrum One (not bridged USDC.e, which the Hyperliquid bridge does not accept).
    (Asset.USDC, Chain.ARBITRUM): Token(
        Asset.USDC, Chain.ARBITRUM, "0xaf88d065e77c8cC2239327C5EDb3A432268e5831", 6
    ),
    # Hyperliquid perp balances are USDC with 6 decimals on the wire (usd × 1e6 in `ntli`).
    (Asset.USDC, Chain.HYPERLIQUID): Token(Asset.USDC, Chain.HYPERLIQUID, None, 6),
}


def token(asset: Asset, chain: Chain) -> Token:
    try:
        return TOKENS[(asset, chain)]
    except KeyError:
        raise ValueError(f"{asset.value} is not held on {chain.value} by Basis") from None


def token_by_mint(mint: str) -> Token | None:
    for t in TOKENS.values():
        if t.chain is Chain.SOLANA and t.address == mint:
            return t
    return None


ARBITRUM_CHAIN_ID = 42161
# Hyperliquid's Bridge2 on Arbitrum One: native USDC sent here is credited to the sender's perp account.
HYPERLIQUID_BRIDGE = "0x2Df1c51E09aECF9cacB7bc98cB1742757f163dF7"
# Smaller deposits are lost by the real bridge.
HYPERLIQUID_MIN_DEPOSIT_USDC = 5
