"""The devnet's market replaying recorded history: SOL's price on the backtest's candle path, the
recorded hourly funding, Kamino's recorded rates, from the window's first hour."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from devnet.clock import SimClock
from devnet.config import DevnetConfig
from devnet.market import HOUR_MS, REPLAYED_MARKET, MarketSimulator
from devnet.replay import Replay
from devnet.server import Devnet
from shared.assets import Asset, Protocol
from shared.market_history import HistoryError, candle_price, load_history
from tests.support.history import HISTORY_DIR
from tests.support.synthetic_history import START, write_history


class FakeTime:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def _market(replay: Replay) -> tuple[MarketSimulator, SimClock]:
    clock = SimClock(speed=1.0, start_ms=replay.start_ms, real=FakeTime())
    return MarketSimulator(7, clock, Decimal("150"), replay), clock


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def test_sol_price_funding_and_rates_follow_the_record(tmp_path: Path) -> None:
    folder = write_history(
        tmp_path / "h",
        [("100", "120", "90", "110"), ("110", "115", "80", "85")],
        funding="0.00004",
        supply_pct=6.0,
        borrow_pct=9.0,
    )
    replay = Replay.load(folder)  # replayed from the wall clock's hour
    market, clock = _market(replay)
    now = datetime.now(UTC)
    assert 0 <= _ms(now) - clock.now_ms() < HOUR_MS
    assert replay.shift_ms % HOUR_MS == 0 and market.snapshot()["replay"]["replaying"] == START.isoformat()
    assert market.oracle_px("SOL") == Decimal(100)
    paid: list[tuple[int, dict[str, float]]] = []
    market.on_hour(lambda t, rates: paid.append((t, rates)))

    clock.advance(4 * 3600)  # an up day: the low first, reached at hour 8
    assert market.oracle_px("SOL") == Decimal(95)
    assert market.mark_px("SOL") == market.oracle_px("SOL")  # no premium: the record has none
    assert [rates["SOL"] for _, rates in paid] == [pytest.approx(0.00004)] * 4
    assert market.predicted_funding("SOL") == Decimal("0.0000400000")
    kamino = market.lending_state(*REPLAYED_MARKET)
    assert kamino is not None and kamino.active
    assert kamino.supply_apy == pytest.approx(0.06) and kamino.usdc_borrow_apy == pytest.approx(0.09)
    other = market.lending_state(Protocol.MARGINFI, Asset.SOL)
    assert other is not None and not other.active  # the record holds Kamino SOL only

    clock.advance(28 * 3600)  # day 2, hour 8: a down day visits its high first
    assert market.oracle_px("SOL") == Decimal(115)
    clock.advance(30 * 24 * 3600)  # after the record: the last close, funding 0
    assert market.oracle_px("SOL") == Decimal(85)
    assert paid[-1][1]["SOL"] == 0.0
    assert market.snapshot()["replay"]["ended"] is True


def test_the_devnet_prices_each_recorded_hour_as_the_backtest_does() -> None:
    history = load_history(HISTORY_DIR).window(date(2025, 3, 10), date(2025, 3, 11))
    replay = Replay(history, _ms(history.funding[0].at))  # unshifted: simulated time is recorded time
    market, clock = _market(replay)
    for hour in range(48):
        at = history.funding[0].at + timedelta(hours=hour)
        assert clock.now_ms() == _ms(at)
        expected = candle_price(history.candles[at.date()], at.hour)
        assert market.oracle_px("SOL") == pytest.approx(expected, rel=Decimal("1e-5"))
        clock.advance(3600)
    settled = {t - t % HOUR_MS: rate for t, rate, _ in market.funding_history("SOL")}
    for f in history.funding[1:]:
        assert settled[_ms(f.at)] == pytest.approx(f.rate.per_hour, abs=Decimal("1e-10"))
    # The venue's history at start is the record's three days before the window.
    first = min(settled)
    assert first == _ms(history.funding[0].at) - 71 * HOUR_MS


def test_a_shifted_replay_moves_every_recorded_time_by_whole_hours() -> None:
    history = load_history(HISTORY_DIR).window(date(2025, 1, 18), date(2025, 1, 18))
    start = _ms(datetime(2026, 12, 7, 9, tzinfo=UTC))
    market, clock = _market(Replay(history, start))
    shift = start - _ms(history.funding[0].at)
    clock.advance(15 * 3600 + 30 * 60)
    at = history.funding[0].at + timedelta(hours=15, minutes=30)
    assert market.oracle_px("SOL") == pytest.approx(history.candle_price(at), rel=Decimal("1e-5"))
    settled = market.funding_history("SOL")
    assert settled[-1][0] - settled[-1][0] % HOUR_MS == _ms(history.funding[15].at) + shift
    assert settled[-1][1] == pytest.approx(history.funding[15].rate.per_hour, abs=Decimal("1e-10"))
    assert market.snapshot()["replay"]["replaying"] == at.isoformat()
    with pytest.raises(ValueError, match="whole hour"):
        Replay(history, start + 1)


def test_a_replay_refuses_scenarios_that_move_sol(tmp_path: Path) -> None:
    market, _ = _market(Replay.load(write_history(tmp_path / "h", [("100", "101", "99", "100")])))
    with pytest.raises(ValueError, match="replaying recorded history"):
        market.set_scenario("flash_crash")
    assert market.set_scenario("lst_depeg").name == "lst_depeg"


def test_a_bad_history_folder_is_a_sentence_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="is not a folder of recorded history"):
        Devnet(DevnetConfig(history=tmp_path / "nowhere"), only=["hyperliquid"])
    with pytest.raises(ValueError, match="need --history"):
        DevnetConfig(history_from=date(2025, 1, 1))


def test_a_devnet_with_history_starts_its_clock_at_the_window() -> None:
    devnet = Devnet(
        DevnetConfig(history=HISTORY_DIR, history_from=date(2025, 4, 2), history_to=date(2025, 4, 2)),
        only=["hyperliquid"],
    )
    assert devnet.replay is not None
    # At the default speed (360x) building the devnet took some simulated minutes, not an hour.
    assert 0 <= devnet.clock.now_ms() - devnet.replay.start_ms < HOUR_MS
    replay = devnet.state()["market"]["replay"]
    assert replay["recorded_hours"] == 24 and replay["replaying"].startswith("2025-04-02T00:")
