"""One benchmark figure, and the table and JSON file `make bench` produces."""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parents[2] / "bench-results"


@dataclass(frozen=True)
class Figure:
    group: str
    name: str
    value: float
    unit: str
    target: str = ""  # the figure to reach, as written in the issue or the architecture page
    met: bool | None = None
    note: str = ""


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def report(figures: list[Figure], path: Path | None = None) -> Path:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Basis benchmarks")
    for col in ("group", "figure", "value", "unit", "target", "met"):
        table.add_column(col)
    for f in figures:
        met = "" if f.met is None else ("yes" if f.met else "NO")
        table.add_row(f.group, f.name, f"{f.value:,.3f}", f.unit, f.target, met)
    Console().print(table)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = path or RESULTS_DIR / "latest.json"
    payload: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": __import__("os").cpu_count(),
        },
        "figures": [asdict(f) for f in figures],
    }
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path}")
    return path
