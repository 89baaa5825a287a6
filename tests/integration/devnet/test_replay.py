"""`basis devnet up --history DIR`: a real devnet process replaying the recorded SOL market, read
through the venues' own APIs (Hyperliquid /info, Asgard /markets) and the admin API."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal

import httpx
import pytest

from shared.assets import Protocol
from shared.market_history import load_history
from tests.support.devnet import start_devnet
from tests.support.history import HISTORY_DIR

pytestmark = pytest.mark.devnet

DAY = date(2025, 3, 10)
HOUR_MS = 3_600_000


def _up(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devnet", "up", "--base-port", "47000", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--history", "/nonexistent/history"], "is not a folder of recorded history"),
        (["--history", str(HISTORY_DIR), "--history-from", "2025-13-01"], "--history-from must be a day"),
        (["--history-to", "2025-03-01"], "need --history DIR"),
        (["--history", str(HISTORY_DIR), "--history-from", "2030-01-01"], "no recorded funding between"),
    ],
)
def test_up_refuses_a_bad_history_with_a_sentence(args: list[str], sentence: str) -> None:
    r = _up(*args)
    assert r.returncode == 2, r.stderr
    assert sentence in r.stderr and "Traceback" not in r.stderr


def test_the_venues_serve_the_recorded_market() -> None:
    history = load_history(HISTORY_DIR).window(DAY, DAY)
    dn = start_devnet(
        seed=5,
        speed=0.001,  # still: the test moves it
        extra=[
            "--history",
            str(HISTORY_DIR),
            "--history-from",
            DAY.isoformat(),
            "--history-to",
            DAY.isoformat(),
        ],
    )
    try:
        assert "Replaying recorded history 2025-03-10T00:00:00+00:00" in dn.log()
        # Settlement stamps land up to 60 ms after the hour: be past them, in the hour's first minute.
        dn.advance(hours=6, seconds=0.061)
        replay = dn.state()["market"]["replay"]
        assert replay["replaying"].startswith("2025-03-10T06:00") and replay["recorded_hours"] == 24
        shift = replay["shift_hours"] * HOUR_MS

        def info(body: dict[str, object]) -> object:
            r = httpx.post(dn.url("hyperliquid") + "/info", json=body, timeout=10)
            r.raise_for_status()
            return r.json()

        # Funding: the record's rates, each at its hour moved by the shift.
        rows = info({"type": "fundingHistory", "coin": "SOL", "startTime": 0})
        assert isinstance(rows, list)
        by_hour = {int(r["time"]) - int(r["time"]) % HOUR_MS - shift: Decimal(r["fundingRate"]) for r in rows}
        for f in history.funding[:7]:
            assert by_hour[int(f.at.timestamp() * 1000)] == f.rate.per_hour
        # The mark and oracle price: the candle path at 06:00.
        expected = history.candle_price(datetime.fromisoformat("2025-03-10T06:00:00+00:00"))
        ctx = info({"type": "metaAndAssetCtxs"})
        assert isinstance(ctx, list)
        sol = next(c for a, c in zip(ctx[0]["universe"], ctx[1], strict=True) if a["name"] == "SOL")
        assert Decimal(sol["oraclePx"]) == pytest.approx(expected, rel=Decimal("1e-5"))
        assert Decimal(sol["markPx"]) == pytest.approx(expected, rel=Decimal("1e-5"))
        # Asgard's Kamino SOL market: the recorded supply and borrow APY; the other markets are off.
        markets = httpx.get(
            dn.url("asgard") + "/markets", headers={"X-API-Key": "test-key"}, timeout=10
        ).json()
        rows = markets["strategies"]["SOL/USDC"]["liquiditySources"]
        kamino = next(r for r in rows if r["lendingProtocol"] == Protocol.KAMINO.value)
        at = datetime.fromisoformat(replay["replaying"])
        assert kamino["isActive"] is True
        assert Decimal(str(kamino["tokenALendingApyRate"])) == pytest.approx(
            history.supply_at(at).value, abs=Decimal("1e-6")
        )
        assert Decimal(str(kamino["tokenBBorrowingApyRate"])) == pytest.approx(
            history.borrow_at(at).value, abs=Decimal("1e-6")
        )
        assert not any(r["isActive"] for r in rows if r["lendingProtocol"] != Protocol.KAMINO.value)
        # Scenarios that would move SOL away from the record are refused, with a sentence.
        r = dn.admin("POST", "/scenario", json={"name": "flash_crash", "params": {}})
        assert r.status_code in (400, 422) and "replaying recorded history" in r.text
    finally:
        dn.stop()
