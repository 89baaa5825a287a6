"""The recorded history is read in its sources' shapes, strictly: real files, and malformed copies."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from shared.market_history import (
    BORROW_FILE,
    CANDLES_FILE,
    FUNDING_FILE,
    SUPPLY_FILE,
    HistoryError,
    load_history,
)
from shared.rates import HOUR
from tests.support.history import HISTORY_DIR


def test_the_recorded_files_read_whole_in_decimal_with_their_intervals() -> None:
    h = load_history(HISTORY_DIR)
    assert len(h.funding) == 5836 and len(h.candles) == 244
    assert len(h.supply) == 653 and len(h.borrow) == 653
    first = h.funding[0]
    assert first.at == datetime(2024, 12, 31, 20, tzinfo=UTC)  # 1735675200076 ms, on the hour
    assert first.rate.rate == Decimal("0.0000125") and first.rate.interval == HOUR
    jan1 = h.candles[date(2025, 1, 1)]
    assert (jan1.open, jan1.high, jan1.low, jan1.close) == tuple(
        Decimal(x) for x in ("189.43", "195.55", "188.08", "194.42")
    )
    assert h.candles[date(2024, 12, 31)].open == Decimal("191.47")  # the README's opening price
    # The rate in force is the latest recorded at or before the moment: no look-ahead.
    assert h.supply_at(datetime(2025, 8, 31, 23, 30, tzinfo=UTC)).value == Decimal("5.6692") / 100
    assert h.borrow_at(datetime(2025, 8, 31, 23, 30, tzinfo=UTC)).value == Decimal("4.65396") / 100
    assert h.borrow_at(datetime(2025, 8, 31, 22, 0, tzinfo=UTC)).value != Decimal("4.65396") / 100


def test_a_window_keeps_the_hours_of_its_days() -> None:
    h = load_history(HISTORY_DIR).window(date(2025, 2, 1), date(2025, 2, 28))
    assert len(h.funding) == 28 * 24
    assert h.funding[0].at == datetime(2025, 2, 1, tzinfo=UTC)
    with pytest.raises(HistoryError, match="no recorded funding between 2030-01-01"):
        load_history(HISTORY_DIR).window(date(2030, 1, 1), None)


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "history"
    shutil.copytree(HISTORY_DIR, folder)
    for f in folder.iterdir():
        f.chmod(0o644)
    return folder


def _edit(folder: Path, name: str, row: int, change: dict[str, object], drop: str | None = None) -> None:
    rows = json.loads((folder / name).read_text())
    rows[row].update(change)
    if drop:
        del rows[row][drop]
    (folder / name).write_text(json.dumps(rows))


@pytest.mark.parametrize(
    ("name", "row", "change", "drop", "says"),
    [
        (FUNDING_FILE, 3, {}, "fundingRate", "field 'fundingRate' is missing"),
        (FUNDING_FILE, 7, {"fundingRate": "abc"}, None, "field 'fundingRate' is not a number: 'abc'"),
        (FUNDING_FILE, 9, {"fundingRate": 0.0000125}, None, None),  # a JSON number reads too
        (FUNDING_FILE, 11, {"coin": "BTC"}, None, "field 'coin' must be 'SOL'"),
        (FUNDING_FILE, 12, {"time": "yesterday"}, None, "field 'time' must be a time in milliseconds"),
        (CANDLES_FILE, 5, {"h": "1.0"}, None, "prices are not a candle"),
        (CANDLES_FILE, 6, {"i": "1h"}, None, "field 'i' must be '1d'"),
        (CANDLES_FILE, 2, {}, "l", "field 'l' is missing"),
        (SUPPLY_FILE, 40, {"apyBase": None}, None, "field 'apyBase' is not a number: None"),
        (BORROW_FILE, 41, {}, "apyBaseBorrow", "field 'apyBaseBorrow' is missing"),
        (BORROW_FILE, 42, {"timestamp": "2024-13-01"}, None, "field 'timestamp' is not an ISO time"),
    ],
)
def test_a_malformed_row_is_named_with_its_file_and_row(
    tmp_path: Path, name: str, row: int, change: dict[str, object], drop: str | None, says: str | None
) -> None:
    folder = _copy(tmp_path)
    _edit(folder, name, row, change, drop)
    if says is None:
        assert len(load_history(folder).funding) == 5836
        return
    with pytest.raises(HistoryError) as caught:
        load_history(folder)
    assert str(caught.value).startswith(f"{folder / name}: row {row}: {says}")


def test_missing_files_unreadable_json_order_and_gaps_are_said(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / SUPPLY_FILE).unlink()
    with pytest.raises(HistoryError, match=f"{SUPPLY_FILE} is missing"):
        load_history(folder)
    folder = _copy(tmp_path / "b")
    (folder / BORROW_FILE).write_text("[{]")
    with pytest.raises(HistoryError, match=f"{BORROW_FILE} is not readable JSON"):
        load_history(folder)
    folder = _copy(tmp_path / "c")
    rows = json.loads((folder / FUNDING_FILE).read_text())
    rows[10], rows[11] = rows[11], rows[10]
    (folder / FUNDING_FILE).write_text(json.dumps(rows))
    with pytest.raises(HistoryError, match="row 11 is not later than the row before it"):
        load_history(folder)
    folder = _copy(tmp_path / "d")
    candles = json.loads((folder / CANDLES_FILE).read_text())
    (folder / CANDLES_FILE).write_text(json.dumps(candles[:-1]))
    with pytest.raises(HistoryError, match="no candle for 2025-08-31"):
        load_history(folder)
    with pytest.raises(HistoryError, match="is not a folder of recorded history"):
        load_history(tmp_path / "nowhere")


def test_defillama_envelope_reads_like_the_bare_list(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    rows = json.loads((folder / SUPPLY_FILE).read_text())
    (folder / SUPPLY_FILE).write_text(json.dumps({"status": "success", "data": rows}))
    assert load_history(folder).supply == load_history(HISTORY_DIR).supply
