"""The control plane's own tables: users and their tenants (one bot each), the addresses users
registered for withdrawals, and what the signing broker let flow out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.database.base import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(Base):
    """A person who signed in with Privy, and the two Privy wallets created for them."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    privy_user_id: Mapped[str] = mapped_column(String(128), unique=True)
    solana_wallet_id: Mapped[str | None] = mapped_column(String(128))
    solana_address: Mapped[str | None] = mapped_column(String(64))
    evm_wallet_id: Mapped[str | None] = mapped_column(String(128))
    evm_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# Desired states a tenant can be asked for.
DESIRED_STATES = ("running", "stopped")
# Observed states the control plane records: "starting" always ends, in "running" or "failed".
STATUSES = ("provisioned", "starting", "running", "stopped", "failed")


class Tenant(Base):
    """One bot: what it should be doing (desired state, version, limits) and what it was last seen doing."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # None for a tenant an operator created without a user (`basis tenants create`).
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), unique=True)
    desired_state: Mapped[str] = mapped_column(String(16), default="running")
    status: Mapped[str] = mapped_column(String(16), default="provisioned")
    version: Mapped[str] = mapped_column(String(64))
    # {"memory_mb": ..., "cpus": ..., "pids": ...}: enforced by container runtimes, recorded here.
    limits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    port: Mapped[int | None] = mapped_column(Integer)
    pid: Mapped[int | None] = mapped_column(Integer)
    # The Unix user (and group) id its bot runs as, its own (see `bot_uid_min` in the settings);
    # given at its bot's first start, kept for the tenant's life.
    uid: Mapped[int | None] = mapped_column(Integer, unique=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Consecutive failed starts; drives the back-off, reset once the bot is healthy.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # The bot's positions as it answered just before it was stopped (`bot_reports.position_summary`,
    # bounded), for its user's read-only view while it is stopped; and when they were read.
    positions_snapshot: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    positions_read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RetainedData(Base):
    """The data of a tenant deleted without `--purge` (its folder or volume), kept on purpose.

    The reconciler removes data that belongs to no tenant; a row here makes this data someone's.
    Creating a tenant with the same id takes the data back (and drops the row); deleting the id with
    `--purge` removes the data and the row.
    """

    __tablename__ = "retained_data"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Whose bot it was, for the operator (no foreign key: the record outlives the user).
    user_id: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The Unix user id that owns the data: no other tenant is given it while the data is kept, and a
    # tenant created again with this id takes it back.
    uid: Mapped[int | None] = mapped_column(Integer, unique=True)


class WithdrawalAddress(Base):
    """An address a user registered for withdrawals, one per chain ("solana": a wallet, whose
    associated token accounts receive tokens; "evm": an address on Arbitrum and Hyperliquid).

    The signing broker signs transfers to it (within the per-transaction caps and the outflow
    budget) once `usable_at` has passed: a registration waits `withdrawal_delay_seconds`, so a stolen
    session cannot redirect funds at once. Only the signed-in user sets it (orchestrator/withdrawals.py).
    """

    __tablename__ = "withdrawal_addresses"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    chain: Mapped[str] = mapped_column(String(16), primary_key=True)
    address: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    usable_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BrokerOutflow(Base):
    """One asset's outflow from one signature the broker made (`shared.transaction_policy.Outflow`);
    the rows inside the budget window are summed per tenant and asset (orchestrator/outflow.py)."""

    __tablename__ = "broker_outflows"
    __table_args__ = (Index("ix_broker_outflows_tenant_asset_at", "tenant_id", "asset", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # No foreign key: the record outlives a deleted tenant until the window passes.
    tenant_id: Mapped[str] = mapped_column(String(64))
    asset: Mapped[str] = mapped_column(String(16))
    # A Decimal in whole units, as text: exact on SQLite and PostgreSQL alike.
    amount: Mapped[str] = mapped_column(String(48))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
