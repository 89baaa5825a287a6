"""Assets, chains, lending protocols and the on-chain addresses that name them.

The addresses are the real mainnet ones, so code written against the devnet is right on mainnet.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
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


class PoolLayout(StrEnum):
    """How a pool's state account is laid out."""

    SPL = "spl"  # SPL stake-pool `StakePool` (Borsh): solana-program-library stake-pool state.rs
    MARINADE = "marinade"  # Marinade's Anchor `State`: marinade-finance liquid-staking-program


@dataclass(frozen=True, slots=True)
class StakePool:
    """Where an LST's exchange rate lives on Solana: its pool's state account, the program that owns
    it, and that account's layout."""

    asset: Asset
    address: str  # the pool's state account
    program: str  # the program that owns it
    layout: PoolLayout


# Mainnet pools, cited:
# - SPL stake-pool program and Jito's pool: jito-foundation/jito-omnidocs
#   jitosol/jitosol-liquid-staking/security/deployed-programs/index.md ("Jito Network will be using the
#   Solana Program Library deployed stake pool program at address SPoo1Ku8...", "Stake pool address:
#   Mainnet: Jito4APy...").
# - jupSOL's pool and Sanctum's multi-validator SPL stake-pool program (a deployment of the SPL code):
#   igneous-labs/inf-1.5 test-utils/src/keys.rs (JUPSOL_POOL_ID) and igneous-labs/sol-val-calc
#   test-fixtures/jupsol-pool.json (that account, owner SPMBzsVU...).
# - Marinade's State and program: igneous-labs/sanctum-marinade-liquid-staking-sdk
#   test-fixtures/marinade-state.json (that account, owner MarBmsSg...), and MSOL_STATE_ADDRESS in
#   breakAIDev/2026-02-jupiter-lend tests/src/addresses.rs.
# INF (Sanctum Infinity, an LST of LSTs priced by its own S-controller pool) is not read yet: the bot
# values it at the market rate and credits it no staking yield.
STAKE_POOLS: dict[Asset, StakePool] = {
    Asset.JITOSOL: StakePool(
        Asset.JITOSOL,
        "Jito4APyf642JPZPx3hGc6WWJ8zPKtRbRs4P815Awbb",
        "SPoo1Ku8WFXoNDMHPsrGSTSG1Y47rzgn41SLUNakuHy",
        PoolLayout.SPL,
    ),
    Asset.JUPSOL: StakePool(
        Asset.JUPSOL,
        "8VpRhuxa7sUUepdY3kQiTmX9rS5vx4WgaXiAnXq4KCtr",
        "SPMBzsVUuoHA4Jm6KunbsotaahvVikZs1JyTW6iJvbn",
        PoolLayout.SPL,
    ),
    Asset.MSOL: StakePool(
        Asset.MSOL,
        "8szGkuLTAux9XMgZ2vtY39jVSowEcpBfFfD8hXSEqdGC",
        "MarBmsSgKXdrN1egZf5sqe1TMai9K1rChYNDJgjq7aD",
        PoolLayout.MARINADE,
    ),
}
# Solana's epoch schedule on mainnet (getEpochSchedule) and its target slot time: the epoch length a
# per-epoch growth is annualised with. Real slots run a little slower than 400 ms, so an APY derived
# with this length is a few percent (relative) high; the devnet runs epochs of exactly this length.
SLOTS_PER_EPOCH = 432_000
TARGET_SLOT_SECONDS = Decimal("0.4")

ARBITRUM_CHAIN_ID = 42161
# Hyperliquid's Bridge2 on Arbitrum One: native USDC sent here is credited to the sender's perp account.
HYPERLIQUID_BRIDGE = "0x2Df1c51E09aECF9cacB7bc98cB1742757f163dF7"
# Smaller deposits are lost by the real bridge.
HYPERLIQUID_MIN_DEPOSIT_USDC = 5
# What a bot's wallets need at least for fees: SOL on Solana (below it the bot opens nothing), and ETH
# on Arbitrum for the gas of the transfer to the bridge (below it deposits wait; the bot's
# `deposit_min_gas_eth` defaults to it).
SOLANA_MIN_FEE_SOL = Decimal("0.01")
ARBITRUM_MIN_GAS_ETH = Decimal("0.0001")
# What Hyperliquid keeps from each withdrawal to Arbitrum (withdraw3), USDC.
HYPERLIQUID_WITHDRAW_FEE_USDC = 1
