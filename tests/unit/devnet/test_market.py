from decimal import Decimal

import pytest

from devnet.clock import SimClock
from devnet.market import HOUR_MS, STEP_MS, MarketSimulator, hourly_funding
from shared.assets import Asset, Protocol

START_MS = 1_790_000_000_000 - 1_790_000_000_000 % HOUR_MS  # a whole hour


class FakeTime:
    def __init__(self) -> None:
        self.t = START_MS / 1000

    def __call__(self) -> float:
        return self.t


def _sim(seed: int = 7) -> tuple[MarketSimulator, SimClock]:
    clock = SimClock(speed=1.0, start_ms=START_MS, real=FakeTime())
    return MarketSimulator(seed, clock, Decimal("150")), clock


def test_hourly_funding_formula_clamp_and_cap() -> None:
    # Within ±0.05% of the 0.01%/8h interest rate the clamp cancels the premium: the baseline.
    assert hourly_funding(0.0) == pytest.approx(0.0000125)
    assert hourly_funding(0.0004) == pytest.approx(0.0000125)
    # Beyond the clamp the premium shows through.
    assert hourly_funding(0.002) == pytest.approx((0.002 - 0.0005) / 8)
    assert hourly_funding(-0.001) == pytest.approx((-0.001 + 0.0005) / 8)
    # Capped at 4% an hour.
    assert hourly_funding(5.0) == 0.04 and hourly_funding(-5.0) == -0.04


def test_the_path_depends_on_the_seed_not_on_polling() -> None:
    a, ca = _sim(11)
    b, cb = _sim(11)
    c, cc = _sim(12)
    # a is polled every simulated minute, b once at the end.
    for _ in range(180):
        ca.advance(60)
        a.advance()
    cb.advance(180 * 60)
    cc.advance(180 * 60)
    assert a.oracle_px("SOL") == b.oracle_px("SOL")
    assert a.funding_history("SOL")[-3:] == b.funding_history("SOL")[-3:]
    assert a.oracle_px("SOL") != c.oracle_px("SOL")


def test_funding_settles_every_hour_with_listeners() -> None:
    sim, clock = _sim()
    settled: list[tuple[int, dict[str, float]]] = []
    sim.on_hour(lambda t, rates: settled.append((t, rates)))
    steps: list[int] = []
    sim.on_step(steps.append)
    clock.advance(3 * 3600 + 30)
    sim.advance()
    assert len(settled) == 3
    assert len(steps) == 180 and all(t % STEP_MS == 0 for t in steps)
    for t, rates in settled:
        assert 0 < t % HOUR_MS < 100  # stamped a few ms past the hour, as on the venue
        assert set(rates) == {"BTC", "ETH", "ATOM", "DYDX", "SOL"}  # not the delisted MATIC
    history = sim.funding_history("SOL")
    assert [h[0] for h in history[-3:]] == [t for t, _ in settled]
    assert Decimal(f"{settled[-1][1]['SOL']:.10f}") == history[-1][1]


def test_history_exists_at_start_and_filters_by_time() -> None:
    sim, _ = _sim()
    history = sim.funding_history("SOL")
    assert len(history) == 72
    assert all(history[i][0] < history[i + 1][0] for i in range(len(history) - 1))
    cut = history[10][0]
    assert sim.funding_history("SOL", start_ms=cut)[0][0] == cut


def test_funding_flip_turns_funding_negative() -> None:
    sim, clock = _sim()
    sim.set_scenario("funding_flip")
    clock.advance(3 * 3600)
    last = [rate for _, rate, _ in sim.funding_history("SOL")[-2:]]
    assert all(rate < 0 for rate in last), last
    sim.set_scenario("calm")
    clock.advance(4 * 3600)
    assert sim.funding_history("SOL")[-1][1] > 0


def test_flash_crash_drops_sol_then_partly_recovers() -> None:
    sim, clock = _sim()
    before = sim.oracle_px("SOL")
    sim.set_scenario("flash_crash", {"drop": 0.3, "minutes": 10})
    clock.advance(11 * 60)
    bottom = sim.oracle_px("SOL")
    assert bottom < before * Decimal("0.75")
    clock.advance(3 * 3600)
    assert sim.oracle_px("SOL") > bottom * Decimal("1.08")  # recovers 60% of the drop over two hours
    with pytest.raises(ValueError):
        sim.set_scenario("flash_crash", {"drop": 1.5})


def test_lst_depeg_widens_the_market_discount_of_one_lst() -> None:
    sim, clock = _sim()
    sim.set_scenario("lst_depeg", {"asset": "mSOL", "discount": 0.08})
    clock.advance(2 * 3600)
    msol = sim.lst_market_rate(Asset.MSOL) / sim.lst_rate(Asset.MSOL)
    jito = sim.lst_market_rate(Asset.JITOSOL) / sim.lst_rate(Asset.JITOSOL)
    assert msol < Decimal("0.94") and jito > Decimal("0.99")
    assert sim.price_usd(Asset.MSOL) < sim.price_usd(Asset.SOL) * sim.lst_rate(Asset.MSOL) * Decimal("0.94")
    with pytest.raises(ValueError, match="not an LST"):
        sim.set_scenario("lst_depeg", {"asset": "SOL"})


def test_lst_rate_grows_at_the_staking_yield() -> None:
    sim, clock = _sim()
    start = sim.lst_rate(Asset.JITOSOL)
    apy = sim.staking_apy(Asset.JITOSOL)
    clock.advance(10 * 24 * 3600)
    growth = sim.lst_rate(Asset.JITOSOL) / start
    expected = (1 + float(apy)) ** (10 / 365)
    assert float(growth) == pytest.approx(expected, rel=1e-6)


def test_lending_rates_stay_positive_and_near_their_levels() -> None:
    sim, clock = _sim()
    clock.advance(7 * 24 * 3600)
    kamino_sol = sim.lending_state(Protocol.KAMINO, Asset.SOL)
    assert kamino_sol is not None
    assert 0.02 < kamino_sol.supply_apy < 0.09
    assert 0.03 < kamino_sol.usdc_borrow_apy < 0.11
    assert sim.lending_state(Protocol.SOLEND, Asset.JUPSOL) is None  # not listed there


def test_unknown_scenario_is_refused() -> None:
    sim, _ = _sim()
    with pytest.raises(ValueError, match="unknown scenario"):
        sim.set_scenario("moon")


def test_snapshot_is_json_ready() -> None:
    import json

    sim, _ = _sim()
    snap = json.loads(json.dumps(sim.snapshot()))
    assert snap["scenario"]["name"] == "calm"
    assert set(snap["perps"]) == {"BTC", "ETH", "ATOM", "DYDX", "SOL"}
    assert Decimal(snap["prices_usd"]["SOL"]) > 0
