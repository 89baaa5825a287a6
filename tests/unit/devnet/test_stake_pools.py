"""The devnet's stake pools: real addresses and owners, the SPL layout, one update per epoch at the
LST's staking APY."""

from __future__ import annotations

from decimal import Decimal

from solders.pubkey import Pubkey

from devnet.clock import SimClock
from devnet.market import MarketSimulator
from devnet.solana.chain import SolanaChain
from devnet.solana.stake_pools import EPOCH_MS, FIRST_EPOCH, StakePools
from shared.assets import STAKE_POOLS, Asset
from tenant_bot.chain.stake_pools import decode_stake_pool

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


def _state(chain: SolanaChain, asset: Asset):
    account = chain.account(Pubkey.from_string(STAKE_POOLS[asset].address))
    assert account is not None
    assert str(account.owner) == STAKE_POOLS[asset].program
    assert len(bytes(account.data)) == 611
    return decode_stake_pool(bytes(account.data))


def test_each_pool_is_at_its_mainnet_address_with_the_market_s_rate_and_last_epoch() -> None:
    chain, market, _clock, _pools = _devnet()
    for asset in STAKE_POOLS:
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
