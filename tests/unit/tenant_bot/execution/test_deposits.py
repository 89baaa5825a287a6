"""The deposit book as the journal keeps it, and the settings that drive the bridge."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tenant_bot.config import BotSettings
from tenant_bot.execution.crash import POINTS, CrashPoints
from tenant_bot.execution.deposits import (
    KEEP_TRANSFERS,
    DepositBook,
    Notice,
    Transfer,
    TransferState,
    ledger_key,
)


def _transfer(n: int, state: TransferState = TransferState.CREDITED) -> Transfer:
    return Transfer(
        id=f"0x{n:064x}",
        amount_usdc="12.5",
        nonce=n,
        raw="0x02",
        state=state,
        signed_at="2026-01-01T00:00:00+00:00",
        ledger_before=["1:0x0:12.5"],
    )


def test_the_book_survives_its_json_form() -> None:
    book = DepositBook([_transfer(1, TransferState.SIGNED), _transfer(2)], ["9:0xab:5"], Notice.NO_GAS, "why")
    again = DepositBook.load(book.dump())
    assert again == book
    assert again.transfers[0].state is TransferState.SIGNED and again.notice is Notice.NO_GAS
    assert again.transfers[1].amount == "12.5"


def test_an_empty_or_unreadable_value_is_an_empty_book() -> None:
    assert DepositBook.load(None) == DepositBook()
    assert DepositBook.load("nonsense") == DepositBook()


def test_the_book_keeps_the_newest_transfers() -> None:
    book = DepositBook([_transfer(n) for n in range(KEEP_TRANSFERS + 5)])
    kept = DepositBook.load(book.dump()).transfers
    assert len(kept) == KEEP_TRANSFERS and kept[-1].nonce == KEEP_TRANSFERS + 4


def test_a_ledger_entry_is_known_by_time_hash_and_amount() -> None:
    entry = {"time": 5, "hash": "0xab", "delta": {"type": "deposit", "usdc": "40.0"}}
    assert ledger_key(entry) == "5:0xab:40.0"
    assert ledger_key({**entry, "time": 6}) != ledger_key(entry)


def test_the_deposit_crash_points_are_known_but_not_walked_as_execution_points() -> None:
    CrashPoints("deposit.sent").reached("deposit.signed")  # another point: nothing happens
    assert not [p for p in POINTS if p.startswith("deposit.")]
    with pytest.raises(ValueError, match="unknown crash point"):
        CrashPoints("deposit.nowhere")


def test_the_withdrawal_address_setting_must_be_an_evm_address() -> None:
    with pytest.raises(ValidationError, match="BASIS_WITHDRAWAL_EVM_ADDRESS is not an EVM address"):
        BotSettings(withdrawal_evm_address="0x1234")
    assert BotSettings(withdrawal_evm_address="0x" + "ab" * 20).withdrawal_evm_address == "0x" + "ab" * 20
    assert BotSettings().deposit_credit_timeout_seconds == 300
