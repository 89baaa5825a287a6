import pytest

from devnet.clock import SimClock
from devnet.config import DevnetConfig, Ports
from devnet.faults import FaultBook


class FakeTime:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_sim_clock_runs_at_speed_and_advances() -> None:
    real = FakeTime()
    clock = SimClock(speed=360, start_ms=0, real=real)
    real.t += 10
    assert clock.now() == pytest.approx(3600)
    clock.advance(60)
    assert clock.now() == pytest.approx(3660)
    clock.set_speed(1)
    real.t += 10
    assert clock.now() == pytest.approx(3670)
    assert clock.real_ms() == int(real.t * 1000)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_ports_from_base_and_defaults() -> None:
    assert Ports.default().as_dict() == {
        "admin": 3000,
        "hyperliquid": 3001,
        "asgard": 3002,
        "privy": 3003,
        "solana": 8899,
        "arbitrum": 8547,
    }
    assert Ports.from_base(40000).as_dict() == {
        "admin": 40000,
        "hyperliquid": 40001,
        "asgard": 40002,
        "privy": 40003,
        "solana": 40004,
        "arbitrum": 40005,
    }
    with pytest.raises(ValueError):
        Ports.from_base(80)


def test_config_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="speed"):
        DevnetConfig(speed=0)
    with pytest.raises(ValueError, match="scenario"):
        DevnetConfig(scenario="moon")
    with pytest.raises(ValueError, match="loopback"):
        DevnetConfig(host="0.0.0.0")


def test_fault_settings_merge_and_validate() -> None:
    book = FaultBook(1, SimClock(1, real=FakeTime()))
    book.set("hyperliquid", latency_ms=100)
    book.set("hyperliquid", error_rate=0.5)
    f = book.get("hyperliquid")
    assert f.latency_ms == 100 and f.error_rate == 0.5
    with pytest.raises(ValueError):
        book.set("hyperliquid", error_rate=2)
    with pytest.raises(ValueError, match="unknown fault"):
        book.set("hyperliquid", explode=True)
    with pytest.raises(ValueError, match="unknown venue"):
        book.set("binance", latency_ms=1)
    book.clear("hyperliquid")
    assert book.get("hyperliquid").is_clear()


def test_outages_end_in_simulated_time() -> None:
    real = FakeTime()
    clock = SimClock(speed=60, start_ms=0, real=real)
    book = FaultBook(1, clock)
    book.start_outage("asgard", minutes=30)
    assert book.is_down("asgard") and not book.is_down("hyperliquid")
    assert "asgard" in book.snapshot()["outages"]
    real.t += 29  # 29 simulated minutes
    assert book.is_down("asgard")
    real.t += 2
    assert not book.is_down("asgard")
    book.start_outage("solana", minutes=None)
    real.t += 10_000
    assert book.is_down("solana")
    book.end_outage()
    assert not book.is_down("solana")


def test_rolls_follow_the_rate() -> None:
    book = FaultBook(3, SimClock(1, real=FakeTime()))
    book.set("solana", drop_rate=0.25)
    drops = sum(book.should_drop("solana") for _ in range(4000))
    assert 800 < drops < 1200
    assert not any(book.should_drop("arbitrum") for _ in range(100))
