"""A flash crash the bots can see: the devnet's clock slows to `crash_speed` while the crash falls,
and its own speed comes back when the fall ends (or when someone sets a speed or another scenario)."""

from __future__ import annotations

from devnet.config import DevnetConfig
from devnet.server import Devnet


def _devnet(speed: float = 360.0) -> Devnet:
    return Devnet(DevnetConfig(speed=speed), only=["hyperliquid"])


def test_a_crash_falls_at_a_minute_per_bot_tick_then_the_speed_comes_back() -> None:
    devnet = _devnet()
    start = devnet.market.perps["SOL"].oracle
    devnet.set_scenario("flash_crash", {"drop": 0.3, "minutes": 10})
    assert devnet.clock.speed == 12.0  # a simulated minute (one market step) every 5 real seconds
    assert devnet.state()["clock"]["speed_after_crash"] == 360.0
    devnet.clock.advance(5 * 60)
    devnet.tick()
    assert devnet.market.crash_falling and devnet.clock.speed == 12.0  # halfway down
    devnet.clock.advance(6 * 60)
    devnet.tick()
    assert not devnet.market.crash_falling
    assert devnet.market.perps["SOL"].oracle < start * 0.75  # it fell, and recovers slowly from here
    assert devnet.clock.speed == 360.0 and devnet.state()["clock"]["speed_after_crash"] is None


def test_a_speed_set_or_a_calm_market_during_the_fall_is_what_holds() -> None:
    devnet = _devnet()
    devnet.set_scenario("flash_crash", {"drop": 0.3})
    devnet.set_speed(60)  # asked for: kept, and the crash's end changes nothing
    devnet.clock.advance(15 * 60)
    devnet.tick()
    assert devnet.clock.speed == 60
    devnet.set_scenario("flash_crash", {"drop": 0.3})
    assert devnet.clock.speed == 12.0
    devnet.set_scenario("calm")  # the crash is over at once
    assert devnet.clock.speed == 60


def test_a_devnet_slower_than_the_crash_speed_keeps_its_own() -> None:
    devnet = _devnet(speed=1.0)
    devnet.set_scenario("flash_crash", {"drop": 0.3})
    assert devnet.clock.speed == 1.0 and devnet.state()["clock"]["speed_after_crash"] is None
