"""Tables of the bot's database. Schema changes go through Alembic (`migrations/tenant/`).

Decimals are stored as text so no amount is ever rounded through a float; times are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class DecimalText(TypeDecorator[Decimal]):
    """A Decimal kept exactly, as its string."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else str(Decimal(value))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class UtcDateTime(TypeDecorator[datetime]):
    """SQLite forgets time zones; every time written is UTC and comes back UTC-aware."""

    impl = DateTime()
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Execution(Base):
    """One open, close, reduction or rebalance of a two-leg position, driven step by step by the
    execution engine (its flows, states and outcomes are `tenant_bot/execution/states.py`)."""

    __tablename__ = "executions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # a Flow: open | close | reduce | rebalance
    # The state machine's current state (see tenant_bot/execution/states.py).
    state: Mapped[str] = mapped_column(String(32), index=True)
    position_id: Mapped[str] = mapped_column(ForeignKey("positions.id"), index=True)
    # The plan the execution follows (sizes, prices, limits), fixed when it starts.
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # completed | unwound | failed, once finished; None while it runs.
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Who asked: "auto", "manual", "risk:<breaker>", "emergency".
    requested_by: Mapped[str] = mapped_column(String(64), default="manual")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Step(Base):
    """The journal: one row per side effect, written (status "intent") before the effect happens.

    `key` is the side effect's idempotency key (a Hyperliquid cloid, a Solana transaction
    signature), known before sending, by which recovery asks the venue what happened.
    """

    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("execution_id", "name", "attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16))  # intent | done | failed
    key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Position(Base):
    """A two-leg position as the bot believes it is; reconciled against the venues every tick."""

    __tablename__ = "positions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # opening | open | closing | closed | unwound | failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    asset: Mapped[str] = mapped_column(String(16))
    protocol: Mapped[str] = mapped_column(String(16))
    leverage: Mapped[Decimal] = mapped_column(DecimalText)
    shadow: Mapped[bool] = mapped_column(default=False)
    # Long leg on Asgard.
    asgard_position_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    long_token_size: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    long_entry_price: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    collateral_usdc: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    debt_usdc: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    # Short leg on Hyperliquid (SOL, positive number).
    short_size: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    short_entry_px: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    # Money recorded as it happened: fees, funding, realised price PnL; text Decimals by name.
    ledger: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # When the bot found the long gone without its own close (liquidated, or closed outside the
    # bot): from then on the long is valued at nothing and the short is what is left.
    long_lost_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    def header(self) -> dict[str, Any]:
        """What every view of a position starts with (the dashboard, the daily summary, the CLI's
        report): which one, what it holds, when it opened and closed."""
        return {
            "id": self.id,
            "status": self.status,
            "asset": self.asset,
            "protocol": self.protocol,
            "leverage": str(self.leverage),
            "shadow": self.shadow,
            "opened_at": self.opened_at.isoformat() if self.opened_at else None,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "long_lost_at": self.long_lost_at.isoformat() if self.long_lost_at else None,
        }


class Event(Base):
    """Everything a user should be able to see afterwards, in order; the event stream replays it."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(48), index=True)
    severity: Mapped[str] = mapped_column(String(16), default="info")  # info | warning | critical
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class KeyValue(Base):
    """Small pieces of state that must survive a restart: pause reasons, the halted state."""

    __tablename__ = "state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Sample(Base):
    """One point of a dashboard chart (funding APR, best net APY, total PnL), at most one a minute."""

    __tablename__ = "samples"
    __table_args__ = (Index("ix_samples_series_at", "series", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    series: Mapped[str] = mapped_column(String(16))  # funding | apy | pnl
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    value: Mapped[Decimal] = mapped_column(DecimalText)


class Job(Base):
    """An open or close asked for through the API: answered at once, followed until it finishes."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # a Flow: open | close | reduce | rebalance
    state: Mapped[str] = mapped_column(String(16), index=True)  # queued | running | done | failed
    position_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    execution_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # [{"name", "status", "at"}]: the execution states reached, in order.
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
