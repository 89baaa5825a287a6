"""A small recorded history written in the sources' own shapes, for tests that choose the market."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.market_history import BORROW_FILE, CANDLES_FILE, FUNDING_FILE, SUPPLY_FILE

START = datetime(2025, 1, 1, tzinfo=UTC)


def write_history(
    folder: Path,
    candles: list[tuple[str, str, str, str]],  # (open, high, low, close) per UTC day from START
    *,
    funding: str = "0.0000125",
    supply_pct: float = 5.0,
    borrow_pct: float = 5.0,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ms = lambda at: int(at.timestamp() * 1000)  # noqa: E731
    hours = [START + timedelta(hours=h) for h in range(24 * len(candles))]
    (folder / FUNDING_FILE).write_text(
        json.dumps(
            [{"coin": "SOL", "fundingRate": funding, "premium": "0", "time": ms(at) + 37} for at in hours]
        )
    )
    rows = []
    for i, (o, h, low, c) in enumerate(candles):
        day = START + timedelta(days=i)
        rows.append(
            {"t": ms(day), "T": ms(day) + 86_399_999, "s": "SOL", "i": "1d", "o": o, "c": c, "h": h, "l": low}
        )
    (folder / CANDLES_FILE).write_text(json.dumps(rows))
    days = [START + timedelta(days=i, hours=-1) for i in range(len(candles) + 1)]
    for name, key, value in (
        (SUPPLY_FILE, "apyBase", supply_pct),
        (BORROW_FILE, "apyBaseBorrow", borrow_pct),
    ):
        (folder / name).write_text(
            json.dumps([{"timestamp": d.strftime("%Y-%m-%dT%H:%M:%S.000Z"), key: value} for d in days])
        )
    return folder
