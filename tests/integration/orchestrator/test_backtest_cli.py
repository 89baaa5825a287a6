"""`basis backtest` as a real process: exit codes, one-sentence errors, the table, JSON and chart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

from tests.support.devnet import ROOT
from tests.support.synthetic_history import write_history


def basis(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "backtest", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _refused(out: subprocess.CompletedProcess[str], sentence: str) -> None:
    assert out.returncode == 2, out
    assert out.stderr.startswith("error: ") and sentence in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_a_folder_that_is_not_there_is_exit_2_and_a_sentence(tmp_path: Path) -> None:
    _refused(
        basis("--data", str(tmp_path / "nowhere")),
        f"{tmp_path / 'nowhere'} is not a folder of recorded history",
    )
    _refused(basis("--data", str(tmp_path)), "hyperliquid_sol_funding_hourly.json is missing")


def test_a_malformed_file_names_the_file_and_row(tmp_path: Path) -> None:
    folder = write_history(tmp_path / "h", [("100", "101", "99", "100")])
    rows = json.loads((folder / "hyperliquid_sol_candles_daily.json").read_text())
    rows[0]["c"] = "a lot"
    (folder / "hyperliquid_sol_candles_daily.json").write_text(json.dumps(rows))
    _refused(
        basis("--data", str(folder)), "hyperliquid_sol_candles_daily.json: row 0: field 'c' is not a number"
    )


def test_a_bad_leverage_capital_or_date_is_exit_2_and_a_sentence(tmp_path: Path) -> None:
    folder = str(write_history(tmp_path / "h", [("100", "101", "99", "100")]))
    _refused(basis("--data", folder, "--leverage", "5"), "leverage must be between 2x and 4x, got 5x")
    _refused(basis("--data", folder, "--leverage", "3,x"), "the leverage must be a number, got 'x'")
    _refused(basis("--data", folder, "--capital", "NaN"), "the capital must be a finite number")
    _refused(basis("--data", folder, "--from", "01/02/2025"), "--from must be a date as YYYY-MM-DD")
    out = basis("--leverage", "3")
    assert out.returncode == 2 and "--data" in out.stderr and "Traceback" not in out.stderr


def test_a_run_prints_the_table_and_writes_json_and_the_chart(tmp_path: Path) -> None:
    folder = str(write_history(tmp_path / "h", [("100", "104", "97", "102"), ("102", "103", "95", "96")]))
    json_path, svg_path = tmp_path / "out" / "r.json", tmp_path / "out" / "r.svg"
    out = basis(
        "--data",
        folder,
        "--leverage",
        "2",
        "--leverage",
        "3.5",
        "--json",
        str(json_path),
        "--svg",
        str(svg_path),
    )
    assert out.returncode == 0, out.stderr
    assert "annualised net return" in out.stdout and "liquidation losses" in out.stdout
    assert "3.5x" in out.stdout and "days out of the market" in out.stdout
    runs = json.loads(json_path.read_text())["runs"]
    assert [r["leverage"] for r in runs] == ["2", "3.5"]
    assert set(runs[0]["waterfall_usd"]) == {
        "funding",
        "supply",
        "borrow",
        "fees",
        "bridge_and_gas",
        "liquidation",
        "price",
    }
    assert runs[0]["events"][0]["kind"] == "open"
    root = ElementTree.fromstring(svg_path.read_text())
    assert root.tag.endswith("svg") and len(root.findall("{http://www.w3.org/2000/svg}polyline")) == 8
    assert basis("--help").returncode == 0
