"""LST rates from the stake pools' own accounts: the fair SOL value of a token and its staking yield.

An SPL stake pool's state account (`StakePool` in solana-labs/solana-program-library
stake-pool/program/src/state.rs, Borsh-encoded) holds `total_lamports` and `pool_token_supply` as of
its last update (`last_update_epoch`), and the same two figures as they stood before that update
(`last_epoch_total_lamports`, `last_epoch_pool_token_supply`). So one read gives two epochs:

- fair value: SOL per token = total_lamports / pool_token_supply, as of `last_update_epoch` (a pool
  token has SOL's 9 decimals, so the raw ratio is the whole-unit ratio);
- staking yield: growth = fair now / fair one epoch before, annualised over the epoch's length
  (`PoolRate.epoch_length`): APY = growth ^ (year / epoch length) − 1.

Reading two epochs from one account was chosen over keeping samples: it is right from the first read
(a bot that starts, or restarts, knows the yield at once) and needs nothing stored. Its limit: if a
pool missed an update the two figures are more than one epoch apart and the yield is overstated for
that epoch; pools are cranked every epoch in practice. Deposits and withdrawals move both numbers at
the current rate, so the ratio is untouched by them.

Marinade (mSOL) keeps one Anchor `State` account (marinade-finance liquid-staking-program
programs/marinade-finance/src/state/mod.rs). Its fair value is the SOL under its control that backs
mSOL, over the mSOL supply, the formula of its `total_virtual_staked_lamports`: active stake + stake
cooling down (delayed and emergency) + the reserve − SOL owed to unstake tickets. The account keeps no
previous epoch, so its yield comes from samples: `EpochSamples` keeps the rate last seen in each of
the two latest epochs (the State's `last_stake_delta_epoch`, moved once per epoch by the stake-delta
crank) and compounds the growth between them per epoch. A bot knows mSOL's yield once it has seen
an epoch change (samples are not stored: after a restart, within two days); until then it credits
none, which understates mSOL and never overstates it.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from shared.assets import Asset
from shared.rates import YEAR, Apy

ACCOUNT_TYPE_STAKE_POOL = 1  # AccountType::StakePool (0 uninitialised, 2 a validator list)
# account_type (u8), manager, staker, stake_deposit_authority (3 pubkeys), stake_withdraw_bump_seed (u8),
# validator_list, reserve_stake, pool_mint, manager_fee_account, token_program_id (5 pubkeys).
_TOTAL_LAMPORTS_AT = 1 + 3 * 32 + 1 + 5 * 32
_LOCKUP_SIZE = 8 + 8 + 32  # unix_timestamp i64, epoch u64, custodian
_FEE_SIZE = 16  # denominator u64, numerator u64


class PoolLayoutError(ValueError):
    """The account's bytes are not an SPL `StakePool` (wrong type, too short)."""


@dataclass(frozen=True, slots=True)
class StakePoolState:
    """The fields of an SPL `StakePool` account the bot reads, in raw units (lamports, pool-token units)."""

    total_lamports: int
    pool_token_supply: int
    last_update_epoch: int
    last_epoch_total_lamports: int
    last_epoch_pool_token_supply: int


class _Reader:
    """A cursor over Borsh bytes: little-endian integers, `Option` and enum tags."""

    def __init__(self, data: bytes, at: int) -> None:
        self.data, self.at = data, at

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise PoolLayoutError(
                f"the stake pool account ends at byte {len(self.data)}, before {self.at + n}"
            )
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def skip_option(self, size: int) -> None:
        """`Option<T>`: a 0/1 tag, then T when 1."""
        if self.u8():
            self.take(size)

    def skip_future_fee(self) -> None:
        """`FutureEpoch<Fee>`: tag 0 None, 1 One(Fee), 2 Two(Fee)."""
        if self.u8():
            self.take(_FEE_SIZE)


def decode_stake_pool(data: bytes) -> StakePoolState:
    """An SPL `StakePool` account's data (trailing padding allowed, as on chain: 611 bytes there)."""
    if not data or data[0] != ACCOUNT_TYPE_STAKE_POOL:
        raise PoolLayoutError("not an SPL stake pool account (account type is not StakePool)")
    r = _Reader(data, _TOTAL_LAMPORTS_AT)
    total_lamports, supply, epoch = r.u64(), r.u64(), r.u64()
    r.take(_LOCKUP_SIZE)
    r.take(_FEE_SIZE)  # epoch_fee
    r.skip_future_fee()  # next_epoch_fee
    r.skip_option(32)  # preferred_deposit_validator_vote_address
    r.skip_option(32)  # preferred_withdraw_validator_vote_address
    r.take(2 * _FEE_SIZE)  # stake_deposit_fee, stake_withdrawal_fee
    r.skip_future_fee()  # next_stake_withdrawal_fee
    r.u8()  # stake_referral_fee
    r.skip_option(32)  # sol_deposit_authority
    r.take(_FEE_SIZE)  # sol_deposit_fee
    r.u8()  # sol_referral_fee
    r.skip_option(32)  # sol_withdraw_authority
    r.take(_FEE_SIZE)  # sol_withdrawal_fee
    r.skip_future_fee()  # next_sol_withdrawal_fee
    last_supply, last_lamports = r.u64(), r.u64()
    return StakePoolState(total_lamports, supply, epoch, last_lamports, last_supply)


@dataclass(frozen=True, slots=True)
class PoolRate:
    """An LST's rates from its stake pool, each with the interval it covers.

    `sol_per_token` is the fair value as of `epoch`; `epoch_growth` is the factor the fair value grew
    by over the one epoch (of `epoch_length`) before it, None when the pool has no previous epoch.
    """

    asset: Asset
    sol_per_token: Decimal
    epoch: int
    epoch_growth: Decimal | None
    epoch_length: timedelta

    @property
    def staking_apy(self) -> Apy | None:
        """The epoch's growth compounded over a year of such epochs."""
        if self.epoch_growth is None:
            return None
        year_ms = Decimal(int(YEAR.total_seconds() * 1000))
        periods = year_ms / Decimal(int(self.epoch_length.total_seconds() * 1000))
        return Apy((self.epoch_growth.ln() * periods).exp() - 1)


def pool_rate(asset: Asset, state: StakePoolState, epoch_length: timedelta) -> PoolRate:
    """The fair value and per-epoch growth of `asset` from its pool's state."""
    if state.pool_token_supply <= 0 or state.total_lamports <= 0:
        raise PoolLayoutError(f"the {asset.value} stake pool is empty: no exchange rate")
    now = Decimal(state.total_lamports) / Decimal(state.pool_token_supply)
    growth = None
    if state.last_epoch_pool_token_supply > 0 and state.last_epoch_total_lamports > 0:
        before = Decimal(state.last_epoch_total_lamports) / Decimal(state.last_epoch_pool_token_supply)
        growth = now / before
    return PoolRate(asset, now, state.last_update_epoch, growth, epoch_length)


# Anchor's account discriminator: the first 8 bytes of sha256("account:State").
MARINADE_DISCRIMINATOR = hashlib.sha256(b"account:State").digest()[:8]
# Offsets in Marinade's `State` (Borsh, after the discriminator): 4 pubkeys, 2 bumps,
# rent_exempt_for_token_acc u64, reward_fee u32; StakeSystem (a 76-byte List, then
# delayed_unstake_cooling_down at 226, 2 bumps, slots_for_stake_delta, last_stake_delta_epoch at 244,
# min_stake, extra_stake_delta_runs u32); ValidatorSystem (List, manager, score u32,
# total_active_balance at 376, a u8); LiqPool (to 496); then available_reserve_balance 496,
# msol_supply 504, msol_price 512, circulating_ticket_count 520, circulating_ticket_balance 528,
# lent_from_reserve, min_deposit, min_withdraw, staking_sol_cap, emergency_cooling_down 568.
_MARINADE_AT = {
    "delayed_unstake_cooling_down": 226,
    "last_stake_delta_epoch": 244,
    "total_active_balance": 376,
    "available_reserve_balance": 496,
    "msol_supply": 504,
    "circulating_ticket_balance": 528,
    "emergency_cooling_down": 568,
}
_MARINADE_MIN_SIZE = 576


@dataclass(frozen=True, slots=True)
class MarinadeState:
    """What the bot reads of Marinade's `State`, in lamports and raw mSOL units."""

    total_active_balance: int
    delayed_unstake_cooling_down: int
    emergency_cooling_down: int
    available_reserve_balance: int
    circulating_ticket_balance: int
    msol_supply: int
    last_stake_delta_epoch: int

    @property
    def virtual_staked_lamports(self) -> int:
        """The SOL that backs mSOL (Marinade's `total_virtual_staked_lamports`)."""
        under_control = (
            self.total_active_balance
            + self.delayed_unstake_cooling_down
            + self.emergency_cooling_down
            + self.available_reserve_balance
        )
        return max(under_control - self.circulating_ticket_balance, 0)


def decode_marinade_state(data: bytes) -> MarinadeState:
    """Marinade's `State` account data (2,616 bytes on chain; only the first 576 are read)."""
    if data[:8] != MARINADE_DISCRIMINATOR:
        raise PoolLayoutError("not Marinade's State account (wrong Anchor discriminator)")
    if len(data) < _MARINADE_MIN_SIZE:
        raise PoolLayoutError(f"Marinade's State account is {len(data)} bytes, not {_MARINADE_MIN_SIZE}")
    return MarinadeState(**{k: int(struct.unpack_from("<Q", data, at)[0]) for k, at in _MARINADE_AT.items()})


class EpochSamples:
    """The rate last seen in each of the two latest epochs, per asset: growth per epoch between them."""

    def __init__(self) -> None:
        self._latest: dict[Asset, tuple[int, Decimal]] = {}
        self._before: dict[Asset, tuple[int, Decimal]] = {}

    def record(self, asset: Asset, epoch: int, rate: Decimal) -> Decimal | None:
        """Note `rate` at `epoch`; the per-epoch growth from the previous epoch seen, None before one."""
        latest = self._latest.get(asset)
        if latest is not None and epoch > latest[0]:
            self._before[asset] = latest
        if latest is None or epoch >= latest[0]:
            self._latest[asset] = (epoch, rate)
        before = self._before.get(asset)
        if before is None:
            return None
        epochs = Decimal(self._latest[asset][0] - before[0])
        return ((self._latest[asset][1] / before[1]).ln() / epochs).exp()


def marinade_rate(
    asset: Asset, state: MarinadeState, samples: EpochSamples, epoch_length: timedelta
) -> PoolRate:
    """mSOL's fair value from Marinade's State, its growth per epoch from `samples`."""
    if state.msol_supply <= 0 or state.virtual_staked_lamports <= 0:
        raise PoolLayoutError(f"the {asset.value} pool is empty: no exchange rate")
    now = Decimal(state.virtual_staked_lamports) / Decimal(state.msol_supply)
    growth = samples.record(asset, state.last_stake_delta_epoch, now)
    return PoolRate(asset, now, state.last_stake_delta_epoch, growth, epoch_length)
