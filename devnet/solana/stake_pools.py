"""The LSTs' stake pools on the devnet chain: each pool's state account at its real mainnet address,
owned by its real program, in its real layout: the SPL stake-pool `StakePool` (Borsh, as
solana-labs/solana-program-library stake-pool/program/src/state.rs declares it, padded to the 611
bytes the mainnet accounts have) for jitoSOL and jupSOL, Marinade's Anchor `State` (2,616 bytes) for
mSOL.

The pool is updated once per epoch, as the real pools are cranked: at each epoch boundary of the
simulated clock its `total_lamports` becomes supply x the market simulator's fundamental SOL per LST
(which grows at the LST's staking APY), and the figures it held move to `last_epoch_total_lamports` /
`last_epoch_pool_token_supply`, as `UpdateStakePoolBalance` does. Between boundaries the account does
not change, so the on-chain rate lags the market's by up to one epoch's yield, as on mainnet.
Marinade's State keeps no previous epoch: it gets the new figures and the epoch in
`last_stake_delta_epoch`, and `msol_price` (SOL per mSOL x 2^32).

Epochs are mainnet's length (432,000 slots of 400 ms: two days) on the simulated clock, so a fast
devnet runs through them; they are numbered on from the chain's epoch when the devnet started.
"""

from __future__ import annotations

import hashlib
import math
import struct

from solders.account import Account
from solders.pubkey import Pubkey

from devnet.market import YEAR_S, MarketSimulator
from devnet.solana.chain import GENESIS_SLOT, TOKEN_PROGRAM, SolanaChain
from shared.assets import (
    SLOTS_PER_EPOCH,
    STAKE_POOLS,
    TARGET_SLOT_SECONDS,
    TOKENS,
    Asset,
    Chain,
    PoolLayout,
    StakePool,
)

EPOCH_MS = int(SLOTS_PER_EPOCH * TARGET_SLOT_SECONDS * 1000)
FIRST_EPOCH = GENESIS_SLOT // SLOTS_PER_EPOCH
# Data length and rent-exempt lamports of each layout's mainnet account.
ACCOUNT_SIZE = {PoolLayout.SPL: 611, PoolLayout.MARINADE: 2616}
ACCOUNT_LAMPORTS = {PoolLayout.SPL: 5_143_440, PoolLayout.MARINADE: 19_098_240}
# Pool tokens in circulation (raw units, 9 decimals), near mainnet's figures; constant on the devnet.
POOL_SUPPLY = {
    Asset.JITOSOL: 12_000_000 * 10**9,
    Asset.JUPSOL: 4_000_000 * 10**9,
    Asset.MSOL: 3_500_000 * 10**9,
}
MARINADE_DISCRIMINATOR = hashlib.sha256(b"account:State").digest()[:8]  # Anchor: sha256("account:State")
PRICE_DENOMINATOR = 2**32  # Marinade's msol_price unit


def _key(pool: StakePool, role: str) -> bytes:
    """A stand-in for an account the devnet does not run (manager, reserve...): fixed per pool and role."""
    return hashlib.sha256(f"basis-devnet:{pool.address}:{role}".encode()).digest()


def _fee(numerator: int, denominator: int) -> bytes:
    return struct.pack("<QQ", denominator, numerator)  # Fee { denominator, numerator }


def encode_stake_pool(
    pool: StakePool,
    *,
    total_lamports: int,
    pool_token_supply: int,
    last_update_epoch: int,
    last_epoch_total_lamports: int,
    last_epoch_pool_token_supply: int,
) -> bytes:
    """An SPL `StakePool` account's data, every field in declaration order."""
    mint = TOKENS[(pool.asset, Chain.SOLANA)].address or ""
    out = bytearray()
    out += bytes([1])  # account_type: StakePool
    for role in ("manager", "staker", "stake_deposit_authority"):
        out += _key(pool, role)
    out += bytes([255])  # stake_withdraw_bump_seed
    out += _key(pool, "validator_list") + _key(pool, "reserve_stake")
    out += bytes(Pubkey.from_string(mint)) + _key(pool, "manager_fee_account") + bytes(TOKEN_PROGRAM)
    out += struct.pack("<QQQ", total_lamports, pool_token_supply, last_update_epoch)
    out += struct.pack("<qQ", 0, 0) + bytes(32)  # lockup: none
    out += _fee(4, 100)  # epoch_fee: 4 % of rewards (Jito's)
    out += bytes([0])  # next_epoch_fee: None
    out += bytes([0]) + bytes([0])  # preferred deposit / withdraw validators: None
    out += _fee(0, 1000) + _fee(1, 1000)  # stake_deposit_fee, stake_withdrawal_fee (0.1 %)
    out += bytes([0])  # next_stake_withdrawal_fee: None
    out += bytes([0])  # stake_referral_fee
    out += bytes([0])  # sol_deposit_authority: None
    out += _fee(0, 1000)  # sol_deposit_fee
    out += bytes([0])  # sol_referral_fee
    out += bytes([0])  # sol_withdraw_authority: None
    out += _fee(1, 1000)  # sol_withdrawal_fee
    out += bytes([0])  # next_sol_withdrawal_fee: None
    out += struct.pack("<QQ", last_epoch_pool_token_supply, last_epoch_total_lamports)
    return bytes(out.ljust(ACCOUNT_SIZE[PoolLayout.SPL], b"\0"))


def encode_marinade_state(pool: StakePool, *, lamports: int, msol_supply: int, epoch: int) -> bytes:
    """Marinade's `State` with the figures the rate comes from; the validator and liquidity-pool
    bookkeeping the devnet does not run left zero. A twentieth of the SOL sits in the reserve."""
    mint = TOKENS[(pool.asset, Chain.SOLANA)].address or ""
    reserve = lamports // 20
    out = bytearray(ACCOUNT_SIZE[PoolLayout.MARINADE])
    out[0:8] = MARINADE_DISCRIMINATOR
    out[8:40] = bytes(Pubkey.from_string(mint))  # msol_mint
    for at, value in (
        (244, epoch),  # stake_system.last_stake_delta_epoch
        (376, lamports - reserve),  # validator_system.total_active_balance
        (496, reserve),  # available_reserve_balance
        (504, msol_supply),
        (512, lamports * PRICE_DENOMINATOR // msol_supply),  # msol_price
    ):
        struct.pack_into("<Q", out, at, value)
    return bytes(out)


class StakePools:
    """Keeps each supported LST's pool account on `chain` in step with `market`, epoch by epoch."""

    def __init__(self, chain: SolanaChain, market: MarketSimulator) -> None:
        self.chain, self.market = chain, market
        self._start_ms = market.sim_ms
        self.epoch = FIRST_EPOCH
        epoch_years = EPOCH_MS / 1000 / YEAR_S
        # (total_lamports, supply) per pool as of the current epoch; the previous epoch's from the APY.
        self._now: dict[Asset, tuple[int, int]] = {}
        self._before: dict[Asset, tuple[int, int]] = {}
        for asset in STAKE_POOLS:
            lst, supply = market.lsts[asset], POOL_SUPPLY[asset]
            self._now[asset] = (round(supply * lst.rate), supply)
            previous = lst.rate / math.exp(math.log1p(lst.staking_apy) * epoch_years)
            self._before[asset] = (round(supply * previous), supply)
            self._write(asset)
        market.on_step(self._on_step)

    def epoch_at(self, sim_ms: int) -> int:
        return FIRST_EPOCH + (sim_ms - self._start_ms) // EPOCH_MS

    def _on_step(self, t: int) -> None:
        epoch = self.epoch_at(t)
        if epoch <= self.epoch:
            return
        self.epoch = epoch
        for asset in STAKE_POOLS:
            supply = POOL_SUPPLY[asset]
            self._before[asset] = self._now[asset]
            self._now[asset] = (round(supply * self.market.lsts[asset].rate), supply)
            self._write(asset)

    def _write(self, asset: Asset) -> None:
        pool = STAKE_POOLS[asset]
        (lamports, supply), (last_lamports, last_supply) = self._now[asset], self._before[asset]
        if pool.layout is PoolLayout.MARINADE:
            data = encode_marinade_state(pool, lamports=lamports, msol_supply=supply, epoch=self.epoch)
        else:
            data = encode_stake_pool(
                pool,
                total_lamports=lamports,
                pool_token_supply=supply,
                last_update_epoch=self.epoch,
                last_epoch_total_lamports=last_lamports,
                last_epoch_pool_token_supply=last_supply,
            )
        owner = Pubkey.from_string(pool.program)
        account = Account(lamports=ACCOUNT_LAMPORTS[pool.layout], data=data, owner=owner, executable=False)
        self.chain.put_account(Pubkey.from_string(pool.address), account)
