"""A backtest's results as people and programs read them: a text table, JSON, and an SVG chart.

The chart is hand-written SVG (no plotting library): one panel per leverage with the equity of each
leg and the total (left axis, USD), the SOL price (right axis) and the events as ticks along the
bottom. The dashboard can show the file as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape
from typing import Any

from tenant_bot.backtest.run import Point, Result

# The published study's figures (data README), for comparison: Dec 2024 to Feb 2026 (a longer window
# than the recorded data here), $10k, daily steps, 50 % penalty on a liquidated leg.
STUDY = {
    Decimal(2): ("+5.9 %", "+4.0 %", "+4.8 %"),
    Decimal(3): ("+7.1 %", "-3.5 % (1 liq.)", "-14.9 %"),
    Decimal(4): ("+8.3 %", "-19.6 % (5 liq.)", "-14.1 %"),
}
STUDY_ROWS = (
    "study: static carry (ceiling)",
    "study: capital moved between legs",
    "study: close near liquidation, reopen",
)
WATERFALL = (
    ("funding", "funding"),
    ("supply", "supply"),
    ("borrow", "borrow"),
    ("fees", "fees"),
    ("bridge_and_gas", "bridge and gas"),
    ("liquidation", "liquidation losses"),
    ("price", "price (legs unequal or alone)"),
)
EVENT_COLOURS = {
    "open": "#2e7d32",
    "close": "#616161",
    "end": "#616161",
    "reduce": "#ef6c00",
    "rebalance": "#1565c0",
    "liquidation": "#c62828",
    "halt": "#6a1b9a",
    "bridge": "#00838f",
}


def pct(value: Decimal) -> str:
    return f"{value * 100:+.2f} %"


def usd(value: Decimal) -> str:
    return f"{value:+,.2f}"


def table(results: Sequence[Result]) -> str:
    """One column per leverage: the return, its waterfall in USD, and what happened."""
    first = results[0]
    mode = "static carry (no price path)" if first.config.static else "the bot's own decisions, hourly"
    head = (
        f"Backtest {first.start:%Y-%m-%d %H:%M} to {first.end:%Y-%m-%d %H:%M} UTC "
        f"({first.days:.1f} days), ${first.config.capital_usd:,.0f}, {mode}"
    )
    rows: list[tuple[str, list[str]]] = [
        ("leverage", [f"{r.config.leverage}x" for r in results]),
        ("annualised net return", [pct(r.annualised) for r in results]),
        ("net result, USD", [usd(r.net_usd) for r in results]),
    ]
    rows += [(f"  {label}", [usd(r.waterfall()[key]) for r in results]) for key, label in WATERFALL]
    rows += [
        ("max drawdown", [f"{r.max_drawdown * 100:.2f} %" for r in results]),
        ("liquidations", [str(r.liquidations) for r in results]),
        ("rebalances", [str(r.count("rebalances")) for r in results]),
        ("reductions", [str(r.count("reductions")) for r in results]),
        ("opens / closes", [f"{r.count('opens')} / {r.count('closes')}" for r in results]),
        ("days out of the market", [f"{Decimal(r.hours_out) / 24:.1f}" for r in results]),
    ]
    for i, label in enumerate(STUDY_ROWS):
        rows.append(
            (label, [STUDY[r.config.leverage][i] if r.config.leverage in STUDY else "" for r in results])
        )
    width = max(len(label) for label, _ in rows)
    cols = [max(len(row[1][i]) for row in rows) for i in range(len(results))]
    lines = [head]
    for label, cells in rows:
        lines.append(f"{label:<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(cells, cols, strict=True)))
    lines.append(
        "The study covers Dec 2024 to Feb 2026 (longer than this data) with daily steps; "
        "the static row is the figure to compare with --static."
    )
    return "\n".join(lines)


def to_json(results: Sequence[Result]) -> dict[str, Any]:
    """Every figure as a string Decimal (USD, or a fraction for returns and drawdown)."""
    runs = []
    for r in results:
        c = r.config
        runs.append(
            {
                "leverage": str(c.leverage),
                "capital_usd": str(c.capital_usd),
                "static": c.static,
                "start": r.start.isoformat(),
                "end": r.end.isoformat(),
                "hours": r.hours,
                "final_equity_usd": str(r.final_equity),
                "net_usd": str(r.net_usd),
                "annualised_return": str(r.annualised),
                "waterfall_usd": {k: str(v) for k, v in r.waterfall().items()},
                "max_drawdown": str(r.max_drawdown),
                "liquidations": r.liquidations,
                "counts": dict(r.ledger.counts),
                "days_out_of_market": str(Decimal(r.hours_out) / 24),
                "assumptions": {
                    "hl_taker_fee": str(c.fees.hl_taker_fee),
                    "asgard_open_fee": str(c.fees.asgard_open_fee),
                    "bridge_fee_usd": str(c.bridge_fee_usd),
                    "bridge_hours": c.bridge_hours,
                    "solana_gas_usd": str(c.solana_gas_usd),
                    "min_entry_net_apy": str(c.min_entry_net_apy),
                },
                "seconds": r.seconds,
                "events": [{"at": e.at.isoformat(), "kind": e.kind, "text": e.text} for e in r.events],
                "series": [
                    {
                        "at": p.at.isoformat(),
                        "price": str(p.price),
                        "solana_usd": str(p.solana),
                        "hyperliquid_usd": str(p.hyperliquid),
                        "total_usd": str(p.total),
                    }
                    for p in r.series
                ],
            }
        )
    return {"runs": runs}


# ---------------------------------------------------------------------- the chart
W, PANEL, PAD_L, PAD_R, PAD_T, PAD_B = 960, 300, 70, 70, 36, 40


def svg(results: Sequence[Result]) -> str:
    """The chart: one panel per leverage, stacked."""
    height = PANEL * len(results)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" '
        f'viewBox="0 0 {W} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{W}" height="{height}" fill="#ffffff"/>',
    ]
    for i, r in enumerate(results):
        parts.append(_panel(r, i * PANEL))
    parts.append("</svg>")
    return "\n".join(parts)


def _scale(lo: Decimal, hi: Decimal, top: float, bottom: float) -> Any:
    span = hi - lo or Decimal(1)
    return lambda v: bottom - float((v - lo) / span) * (bottom - top)


def _panel(r: Result, y0: int) -> str:
    pts: Sequence[Point] = r.series
    top, bottom = y0 + PAD_T, y0 + PANEL - PAD_B
    left, right = PAD_L, W - PAD_R
    t0, t1 = r.start.timestamp(), max(r.end.timestamp(), r.start.timestamp() + 1)

    def x(at: Any) -> float:
        return left + (at.timestamp() - t0) / (t1 - t0) * (right - left)

    money = [v for p in pts for v in (p.solana, p.hyperliquid, p.total)]
    y_usd = _scale(min(money), max(money), top, bottom)
    prices = [p.price for p in pts]
    y_px = _scale(min(prices), max(prices), top, bottom)
    mode = "static" if r.config.static else "bot"
    out = [
        f'<text x="{left}" y="{y0 + 20}" font-size="13" font-weight="bold">{r.config.leverage}x ({mode}): '
        f"{escape(pct(r.annualised))} a year, {r.liquidations} liquidation(s), "
        f"max drawdown {r.max_drawdown * 100:.1f} %</text>",
        f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
        'fill="none" stroke="#ccc"/>',
    ]
    for value, anchor, xpos, scale in (
        (max(money), "end", left - 4, y_usd),
        (min(money), "end", left - 4, y_usd),
        (max(prices), "start", right + 4, y_px),
        (min(prices), "start", right + 4, y_px),
    ):
        out.append(
            f'<text x="{xpos}" y="{scale(value) + 4:.1f}" text-anchor="{anchor}">'
            f"{'$' if scale is y_usd else 'SOL $'}{value:,.0f}</text>"
        )
    for series, colour, name, scale, dash in (
        ([p.price for p in pts], "#f9a825", "SOL price", y_px, ' stroke-dasharray="4 3"'),
        ([p.solana for p in pts], "#7b1fa2", "Solana leg", y_usd, ""),
        ([p.hyperliquid for p in pts], "#00897b", "Hyperliquid leg", y_usd, ""),
        ([p.total for p in pts], "#212121", "total", y_usd, ""),
    ):
        path = " ".join(f"{x(p.at):.1f},{scale(v):.1f}" for p, v in zip(pts, series, strict=True))
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5"{dash} points="{path}">')
        out.append(f"<title>{name}</title></polyline>")
    legend_x = right - 390
    for j, (colour, name) in enumerate(
        (
            ("#212121", "total"),
            ("#7b1fa2", "Solana leg"),
            ("#00897b", "Hyperliquid leg"),
            ("#f9a825", "SOL price"),
        )
    ):
        lx = legend_x + j * 100
        out.append(f'<rect x="{lx}" y="{y0 + 12}" width="10" height="3" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14}" y="{y0 + 17}">{name}</text>')
    for e in r.events:
        colour = EVENT_COLOURS.get(e.kind, "#000")
        ex = x(e.at)
        out.append(
            f'<line x1="{ex:.1f}" y1="{bottom + 4}" x2="{ex:.1f}" y2="{bottom + 14}" stroke="{colour}">'
            f"<title>{e.at:%Y-%m-%d %H:%M} {escape(e.kind)}: {escape(e.text)}</title></line>"
        )
    out.append(
        f'<text x="{left}" y="{bottom + 28}">{r.start:%Y-%m-%d}</text>'
        f'<text x="{right}" y="{bottom + 28}" text-anchor="end">{r.end:%Y-%m-%d}</text>'
        f'<text x="{(left + right) / 2:.0f}" y="{bottom + 28}" text-anchor="middle">events: open green, '
        "close grey, reduce orange, rebalance blue, liquidation red, halt purple, bridge teal</text>"
    )
    return "\n".join(out)
