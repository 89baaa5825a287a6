"""Registered withdrawal addresses on a real database (SQLite and PostgreSQL): validation, the delay
before one is usable, replacing and removing. The HTTP API (session + CSRF) and the broker signing
to them are exercised against a real control plane in tests/security/test_broker_drains.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from solders.keypair import Keypair
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.database.models import User
from orchestrator.database.session import open_database
from orchestrator.withdrawals import WithdrawalBook
from shared.transaction_policy import WithdrawalAddresses

OWN_SOLANA = str(Keypair().pubkey())
OWN_EVM = "0x" + "ab" * 20
ELSEWHERE = str(Keypair().pubkey())
ELSEWHERE_EVM = "0xCdCDCdCdcdcdcdCdcDcDCdcDcDCdCdcdCdcDCDcD"  # 0xcdcd…cd, checksummed


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db(control_plane_db_url: str) -> Iterator[sessionmaker[Session]]:
    sessions = open_database(control_plane_db_url)
    with sessions.begin() as s:
        s.add(
            User(
                id="u1",
                email="u1@example.com",
                privy_user_id="did:u1",
                solana_address=OWN_SOLANA,
                evm_address=OWN_EVM,
            )
        )
    yield sessions
    sessions.kw["bind"].dispose()


def test_an_address_becomes_usable_after_the_delay(db: sessionmaker[Session]) -> None:
    clock = Clock()
    book = WithdrawalBook(db, timedelta(hours=24), clock=clock)
    assert book.usable("u1") == WithdrawalAddresses() and book.usable(None) == WithdrawalAddresses()
    book.register("u1", "solana", ELSEWHERE)
    book.register("u1", "evm", "0x" + "cd" * 20)
    view = book.view("u1")
    assert view["solana"]["address"] == ELSEWHERE and view["solana"]["usable"] is False
    assert view["evm"]["address"] == ELSEWHERE_EVM and view["evm"]["usable_at"] == "2026-01-02T00:00:00+00:00"
    assert view["delay_seconds"] == 86400
    assert book.usable("u1") == WithdrawalAddresses()
    clock.now += timedelta(hours=24)
    usable = book.usable("u1")
    assert usable == WithdrawalAddresses(solana=ELSEWHERE, evm=ELSEWHERE_EVM)


def test_replacing_starts_the_delay_again_and_the_old_one_stops_at_once(db: sessionmaker[Session]) -> None:
    clock = Clock()
    book = WithdrawalBook(db, timedelta(hours=24), clock=clock)
    book.register("u1", "solana", ELSEWHERE)
    clock.now += timedelta(days=2)
    assert book.usable("u1").solana == ELSEWHERE
    book.register("u1", "solana", ELSEWHERE)  # the same again: still usable
    assert book.usable("u1").solana == ELSEWHERE
    other = str(Keypair().pubkey())
    book.register("u1", "solana", other)
    assert book.usable("u1").solana is None
    clock.now += timedelta(hours=24)
    assert book.usable("u1").solana == other
    book.remove("u1", "solana")
    assert book.usable("u1").solana is None and book.view("u1")["solana"] is None


def test_addresses_are_checked(db: sessionmaker[Session]) -> None:
    book = WithdrawalBook(db, timedelta(0))
    for chain, address in [
        ("solana", "0x" + "cd" * 20),
        ("solana", "not-base58-0OIl"),
        ("evm", ELSEWHERE),
        ("evm", "cd" * 20),
        ("evm", "0x" + "cd" * 19),
        ("solana", OWN_SOLANA),  # the bot's own wallet: nothing to withdraw to
        ("evm", OWN_EVM.upper().replace("0X", "0x")),
    ]:
        with pytest.raises(ValueError):
            book.register("u1", chain, address)  # type: ignore[arg-type]
    assert book.view("u1")["solana"] is None and book.view("u1")["evm"] is None
    book.register("u1", "evm", "  0x" + "cd" * 20 + " ")
    assert book.usable("u1").evm == ELSEWHERE_EVM  # stored checksummed, usable at once without a delay
