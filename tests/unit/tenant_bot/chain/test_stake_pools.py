"""The SPL stake-pool layout read from a real mainnet account's bytes, and the staking yield derived
from the pool's two epochs."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from shared.assets import STAKE_POOLS, Asset
from tenant_bot.chain.stake_pools import (
    EpochSamples,
    PoolLayoutError,
    PoolRate,
    StakePoolState,
    decode_marinade_state,
    decode_stake_pool,
    marinade_rate,
    pool_rate,
)

FIXTURE = Path(__file__).parent / "fixtures" / "jupsol-pool.json"
EPOCH = timedelta(seconds=432_000 * 0.4)  # two days: mainnet's nominal epoch
EPOCHS_PER_YEAR = D(365 * 24 * 3600) / D(172_800)


def _jupsol_bytes() -> bytes:
    account = json.loads(FIXTURE.read_text())["account"]
    return base64.b64decode(account["data"][0])


def test_a_real_jupsol_pool_account_decodes() -> None:
    fixture = json.loads(FIXTURE.read_text())
    # The account the fixture holds is the pool Basis reads, owned by the program Basis expects.
    assert fixture["pubkey"] == STAKE_POOLS[Asset.JUPSOL].address
    assert fixture["account"]["owner"] == STAKE_POOLS[Asset.JUPSOL].program
    state = decode_stake_pool(_jupsol_bytes())
    assert state.total_lamports == 5_279_156_915_932_922
    assert state.pool_token_supply == 4_737_129_478_525_448
    # The two figures at the end of the account, after the variable-length options and fees.
    assert state.last_epoch_total_lamports == 5_284_366_500_875_175
    assert state.last_epoch_pool_token_supply == 4_743_771_992_228_486


def test_the_real_pool_gives_jupsol_s_fair_value_and_a_plausible_yield() -> None:
    rate = pool_rate(Asset.JUPSOL, decode_stake_pool(_jupsol_bytes()), EPOCH)
    assert rate.sol_per_token == D(5_279_156_915_932_922) / D(4_737_129_478_525_448)
    assert D("1.1144") < rate.sol_per_token < D("1.1145")
    growth = (D(5_279_156_915_932_922) / D(4_737_129_478_525_448)) / (
        D(5_284_366_500_875_175) / D(4_743_771_992_228_486)
    )
    assert rate.epoch_growth == growth
    apy = rate.staking_apy
    assert apy is not None
    assert abs(apy.value - (growth**EPOCHS_PER_YEAR - 1)) < D("1e-20")
    assert D("0.07") < apy.value < D("0.09")  # jupSOL's published yield is about 8 %


def test_the_yield_is_annualised_with_the_epoch_length() -> None:
    # A pool that grew by exactly 8 %/yr over one two-day epoch reads as 8 %...
    growth = D("1.08") ** (1 / EPOCHS_PER_YEAR)
    two_days = PoolRate(Asset.JITOSOL, D("1.25"), 800, growth, EPOCH)
    assert two_days.staking_apy is not None
    assert abs(two_days.staking_apy.value - D("0.08")) < D("1e-20")
    # ...and the same growth over an epoch twice as long is half the compounding periods.
    four_days = PoolRate(Asset.JITOSOL, D("1.25"), 800, growth, EPOCH * 2)
    assert four_days.staking_apy is not None
    assert abs(four_days.staking_apy.value - (D("1.08").sqrt() - 1)) < D("1e-20")


def test_a_pool_without_a_previous_epoch_has_no_yield_yet() -> None:
    state = StakePoolState(1_250_000_000, 1_000_000_000, 900, 0, 0)
    rate = pool_rate(Asset.JITOSOL, state, EPOCH)
    assert rate.sol_per_token == D("1.25") and rate.epoch == 900
    assert rate.epoch_growth is None and rate.staking_apy is None


def test_bytes_that_are_not_a_stake_pool_are_refused() -> None:
    data = bytearray(_jupsol_bytes())
    data[0] = 2  # a validator list
    with pytest.raises(PoolLayoutError, match="not an SPL stake pool"):
        decode_stake_pool(bytes(data))
    with pytest.raises(PoolLayoutError, match="ends at byte 300"):
        decode_stake_pool(_jupsol_bytes()[:300])
    with pytest.raises(PoolLayoutError, match="empty"):
        pool_rate(Asset.JITOSOL, StakePoolState(0, 0, 900, 0, 0), EPOCH)


MARINADE = Path(__file__).parent / "fixtures" / "marinade-state.json"


def _marinade_bytes() -> bytes:
    account = json.loads(MARINADE.read_text())["account"]
    return base64.b64decode(account["data"][0]).ljust(account["space"], b"\0")


def test_a_real_marinade_state_gives_msol_s_fair_value() -> None:
    fixture = json.loads(MARINADE.read_text())
    assert fixture["pubkey"] == STAKE_POOLS[Asset.MSOL].address
    assert fixture["account"]["owner"] == STAKE_POOLS[Asset.MSOL].program
    data = _marinade_bytes()
    state = decode_marinade_state(data)
    assert state.total_active_balance == 4_410_746_507_832_307
    assert state.available_reserve_balance == 265_139_147_340_070
    assert state.circulating_ticket_balance == 60_693_442_364_708
    assert state.msol_supply == 3_597_210_656_032_211
    samples = EpochSamples()
    rate = marinade_rate(Asset.MSOL, state, samples, EPOCH)
    assert rate.sol_per_token == D(state.virtual_staked_lamports) / D(state.msol_supply)
    # The same figure as the State's own msol_price (SOL per mSOL x 2^32), which its front end shows.
    msol_price = D(int.from_bytes(data[512:520], "little")) / D(2**32)
    assert abs(rate.sol_per_token - msol_price) < D("1e-9")
    assert rate.epoch_growth is None and rate.staking_apy is None  # one epoch seen: no yield yet
    with pytest.raises(PoolLayoutError, match="discriminator"):
        decode_marinade_state(_jupsol_bytes())


def test_epoch_samples_compound_the_growth_between_the_two_latest_epochs() -> None:
    samples = EpochSamples()
    assert samples.record(Asset.MSOL, 800, D("1.28")) is None
    assert samples.record(Asset.MSOL, 800, D("1.28")) is None  # the same epoch again
    assert samples.record(Asset.MSOL, 801, D("1.2805")) == D("1.2805") / D("1.28")
    # Two epochs apart (a missed one): the growth per epoch is the square root.
    growth = samples.record(Asset.MSOL, 803, D("1.2815"))
    assert growth is not None and abs(growth - (D("1.2815") / D("1.2805")).sqrt()) < D("1e-25")
    # An older epoch (a lagging RPC node) changes nothing.
    assert samples.record(Asset.MSOL, 802, D("1.3")) == growth
