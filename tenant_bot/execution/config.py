"""`ExecutionConfig`: how the execution engine sends, waits and retries (not what it trades)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExecutionConfig:
    # Seconds the hedge may take after the long confirms; then the long is unwound.
    hedge_timeout_seconds: float = 30.0
    # Slippage band of the hedge's marketable IOC orders, basis points from the mid.
    slippage_bps: int = 50
    # Wider band for orders that reduce risk (closing the short, unwinding): getting out matters more.
    exit_slippage_bps: int = 150
    # How many times an opening long transaction is built again after it failed or its blockhash
    # expired; then the open fails (nothing landed). Exits (close, reduce, unwind) keep trying.
    tx_attempts: int = 3
    # Pause between two order attempts on the same leg.
    retry_delay_seconds: float = 0.3
    # How long one run waits for a signature before parking (the next tick resumes).
    confirm_timeout_seconds: float = 90.0
    # Orders one perp step may send before it gives up (a refused or unfilled IOC is one).
    order_attempts: int = 20
