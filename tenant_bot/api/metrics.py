"""Prometheus text exposition (format 0.0.4), written by hand: a handful of series needs no library."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from tenant_bot.cadence import TICK_BUCKETS
from tenant_bot.execution.states import PositionStatus
from tenant_bot.risk.states import TradingState
from tenant_bot.status import StatusView
from tenant_bot.storage.events import EventLog
from tenant_bot.storage.models import Event

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _histogram(name: str, counts: list[int], total: int) -> list[str]:
    """The cumulative `_bucket` lines of a histogram from per-bucket counts (TICK_BUCKETS)."""
    lines, running = [], 0
    for bound, count in zip(TICK_BUCKETS, counts, strict=True):
        running += count
        lines.append(f'{name}_bucket{{le="{bound:g}"}} {running}')
    lines.append(f'{name}_bucket{{le="+Inf"}} {total}')
    return lines


class Metrics:
    def __init__(self, status: StatusView, events: EventLog) -> None:
        self.status = status
        self.log = events
        self.http: Counter[tuple[str, int]] = Counter()
        self.events: Counter[str] = Counter()
        self.started = time.time()
        self._detach: Any = None

    def attach(self) -> None:
        self._detach = self.log.subscribe(self._on_event)

    def detach(self) -> None:
        if self._detach is not None:
            self._detach()
            self._detach = None

    def _on_event(self, event: Event) -> None:
        self.events[event.kind] += 1

    def record_request(self, route: str, status: int) -> None:
        self.http[(route, status)] += 1

    def render(self) -> str:
        view = self.status
        trading = view.trading()
        ticks, seconds = view.stats.ticks, view.stats.seconds
        lines = [
            "# HELP basis_ticks_total Bot loop ticks since the process started.",
            "# TYPE basis_ticks_total counter",
            f"basis_ticks_total {ticks}",
            "# HELP basis_tick_seconds Duration of a bot tick (observe, decide, act).",
            "# TYPE basis_tick_seconds histogram",
            *_histogram("basis_tick_seconds", view.stats.buckets, ticks),
            f"basis_tick_seconds_count {ticks}",
            f"basis_tick_seconds_sum {seconds:.6f}",
            "# HELP basis_trading_state 1 for the bot's current trading state.",
            "# TYPE basis_trading_state gauge",
        ]
        for state in TradingState:
            lines.append(
                f'basis_trading_state{{state="{state.value}"}} {int(trading["trading_state"] == state)}'
            )
        lines += [
            "# HELP basis_paused 1 while new entries are paused.",
            "# TYPE basis_paused gauge",
            f"basis_paused {int(trading['paused'])}",
            "# HELP basis_open_positions Positions open now.",
            "# TYPE basis_open_positions gauge",
            f"basis_open_positions {len(view.positions(PositionStatus.OPEN))}",
            "# HELP basis_events_total Events written to the event log since the process started.",
            "# TYPE basis_events_total counter",
        ]
        for kind, count in sorted(self.events.items()):
            lines.append(f'basis_events_total{{kind="{_label(kind)}"}} {count}')
        lines += [
            "# HELP basis_http_requests_total API requests answered, by route template and status.",
            "# TYPE basis_http_requests_total counter",
        ]
        for (route, status), count in sorted(self.http.items()):
            lines.append(f'basis_http_requests_total{{route="{_label(route)}",status="{status}"}} {count}')
        lines += [
            "# HELP basis_process_start_time_seconds Start time of the process, Unix seconds.",
            "# TYPE basis_process_start_time_seconds gauge",
            f"basis_process_start_time_seconds {self.started:.3f}",
        ]
        return "\n".join(lines) + "\n"
