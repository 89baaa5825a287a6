"""The devnet's stake pools: real addresses and owners, the SPL layout, one update per epoch at the
LST's staking APY."""

from __future__ import annotations

from decimal import Decimal

from solders.pubkey import Pubkey

from devnet.clock import SimClock
from devnet.market import MarketSimulator
from devnet.solana.chain import SolanaChain
from devnet.solana.stake_pools import EPOCH_MS, FIRST_EPOCH, StakePools
from shared.assets import STAKE_POOLS, Asset, PoolLayout
from tenant_bot.chain.stake_pools import StakePoolState, decode_marinade_state, decode_stake_pool

START_MS = 1_790_000_000_000


class FakeTime:
    def __init__(self) -> None:
        self.t = START_MS / 1000

    def __call__(self) -> float:
        return self.t


def _devnet() -> tuple[SolanaChain, MarketSimulator, SimClock, StakePools]:
    clock = SimClock(speed=1.0, start_ms=START_MS, real=FakeTime())
    market = MarketSimulator(7, clock, Decimal("150"))
    chain = SolanaChain(7, 400)
    return chain, market, clock, StakePools(chain, market)


SPL = [a for a, p in STAKE_POOLS.items() if p.layout is PoolLayout.SPL]


def _data(chain: SolanaChain, asset: Asset) -> bytes:
    account = chain.account(Pubkey.from_string(STAKE_POOLS[asset].address))
    assert account is not None
    assert str(account.owner) == STAKE_POOLS[asset].program
    assert len(bytes(account.data)) == (611 if STAKE_POOLS[asset].layout is PoolLayout.SPL else 2616)
    return bytes(account.data)


def _state(chain: SolanaChain, asset: Asset) -> StakePoolState:
    return decode_stake_pool(_data(chain, asset))


def test_each_pool_is_at_its_mainnet_address_with_the_market_s_rate_and_last_epoch() -> None:
    chain, market, _clock, _pools = _devnet()
    assert set(SPL) == {Asset.JITOSOL, Asset.JUPSOL}
    for asset in SPL:
        state = _state(chain, asset)
        lst = market.lsts[asset]
        assert state.last_update_epoch == FIRST_EPOCH
        assert abs(state.total_lamports / state.pool_token_supply - lst.rate) < 1e-9
        growth = (state.total_lamports / state.pool_token_supply) / (
            state.last_epoch_total_lamports / state.last_epoch_pool_token_supply
        )
        epochs_per_year = 365 * 24 * 3600 * 1000 / EPOCH_MS
        assert abs(growth**epochs_per_year - 1 - lst.staking_apy) < 1e-6


def test_the_rate_moves_once_per_epoch_at_the_staking_apy() -> None:
    chain, market, clock, pools = _devnet()
    before = _state(chain, Asset.JITOSOL)
    clock.advance(EPOCH_MS / 1000 / 2)
    market.advance()
    assert _state(chain, Asset.JITOSOL) == before  # half an epoch: not updated
    clock.advance(EPOCH_MS / 1000)
    market.advance()
    after = _state(chain, Asset.JITOSOL)
    assert after.last_update_epoch == FIRST_EPOCH + 1 == pools.epoch
    assert (after.last_epoch_total_lamports, after.last_epoch_pool_token_supply) == (
        before.total_lamports,
        before.pool_token_supply,
    )
    growth = (after.total_lamports / after.pool_token_supply) / (
        before.total_lamports / before.pool_token_supply
    )
    epochs_per_year = 365 * 24 * 3600 * 1000 / EPOCH_MS
    assert abs(growth**epochs_per_year - 1 - market.lsts[Asset.JITOSOL].staking_apy) < 1e-6


def test_marinade_s_state_carries_msol_s_rate_and_moves_each_epoch() -> None:
    chain, market, clock, _pools = _devnet()
    data = _data(chain, Asset.MSOL)
    state = decode_marinade_state(data)
    rate = state.virtual_staked_lamports / state.msol_supply
    assert abs(rate - market.lsts[Asset.MSOL].rate) < 1e-9
    assert state.last_stake_delta_epoch == FIRST_EPOCH
    # msol_price, the figure Marinade's own front end shows, agrees (SOL per mSOL x 2^32).
    assert abs(int.from_bytes(data[512:520], "little") / 2**32 - rate) < 1e-9
    clock.advance(EPOCH_MS / 1000)
    market.advance()
    after = decode_marinade_state(_data(chain, Asset.MSOL))
    assert after.last_stake_delta_epoch == FIRST_EPOCH + 1
    growth = (after.virtual_staked_lamports / after.msol_supply) / rate
    epochs_per_year = 365 * 24 * 3600 * 1000 / EPOCH_MS
    assert abs(growth**epochs_per_year - 1 - market.lsts[Asset.MSOL].staking_apy) < 1e-6
