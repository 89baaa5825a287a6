"""Nonces per signer and the agent (API wallet) registry."""

from __future__ import annotations

import pytest

from devnet.hyperliquid import errors
from devnet.hyperliquid.agents import MAX_VALID_MS, ZERO_ADDRESS, AgentBook
from devnet.hyperliquid.nonces import FUTURE_MS, KEEP, PAST_MS, NonceBook

NOW = 1_800_000_000_000
MASTER = "0x" + "11" * 20
AGENT = "0x" + "22" * 20
OTHER = "0x" + "33" * 20


def test_a_nonce_is_used_once_per_signer() -> None:
    book = NonceBook()
    assert book.check(MASTER, NOW, NOW) is None
    book.use(MASTER, NOW)
    assert book.check(MASTER, NOW, NOW) == f"Invalid nonce: duplicate nonce {NOW}"
    assert book.check(AGENT, NOW, NOW) is None  # another signer has its own set


def test_nonces_must_be_near_the_wall_clock() -> None:
    book = NonceBook()
    assert book.check(MASTER, NOW - PAST_MS + 1, NOW) is None
    assert (
        book.check(MASTER, NOW - PAST_MS, NOW)
        == f"Invalid nonce: nonce too low {NOW - PAST_MS} < {NOW - PAST_MS}"
    )
    assert book.check(MASTER, NOW + FUTURE_MS - 1, NOW) is None
    assert (book.check(MASTER, NOW + FUTURE_MS, NOW) or "").startswith("Invalid nonce: nonce too high")


def test_only_the_highest_nonces_are_kept_and_older_ones_refused() -> None:
    book = NonceBook()
    for i in range(KEEP + 10):
        book.use(MASTER, NOW + i * 2)
    # The 10 lowest were forgotten, yet reusing them (or anything below the kept set) is refused.
    assert (book.check(MASTER, NOW, NOW) or "").startswith("Invalid nonce: nonce too low")
    assert (book.check(MASTER, NOW + 19, NOW) or "").startswith("Invalid nonce: nonce too low")
    assert book.check(MASTER, NOW + 21, NOW) is None  # above the smallest kept, never used
    assert book.check(MASTER, NOW + 22, NOW) == f"Invalid nonce: duplicate nonce {NOW + 22}"


def test_an_agent_acts_for_its_master_until_replaced_or_removed() -> None:
    agents = AgentBook()
    agents.approve(MASTER, AGENT.upper().replace("0X", "0x"), "bot", NOW)
    assert agents.master_of(AGENT, NOW) == MASTER
    assert [a.address for a in agents.named(MASTER)] == [AGENT]
    # The same name with a new address replaces the old agent at once.
    agents.approve(MASTER, OTHER, "bot", NOW)
    assert agents.master_of(AGENT, NOW) is None and agents.master_of(OTHER, NOW) == MASTER
    # An address once used as an agent cannot come back.
    with pytest.raises(errors.ActionError, match=r"Extra agent already used\."):
        agents.approve(MASTER, AGENT, "again", NOW)
    agents.approve(MASTER, ZERO_ADDRESS, "bot", NOW)
    assert agents.master_of(OTHER, NOW) is None and agents.named(MASTER) == []


def test_agent_limits_and_expiry() -> None:
    agents = AgentBook()
    for i in range(3):
        agents.approve(MASTER, "0x" + f"{i + 40:02x}" * 20, f"n{i}", NOW)
    with pytest.raises(errors.ActionError, match="Too many extra agents"):
        agents.approve(MASTER, "0x" + "50" * 20, "n3", NOW)
    agents.approve(MASTER, "0x" + "51" * 20, "", NOW)  # the unnamed slot is extra
    assert len(agents.named(MASTER)) == 3
    agents.approve(OTHER, "0x" + "52" * 20, f"short valid_until {NOW + 1000}", NOW)
    assert agents.master_of("0x" + "52" * 20, NOW + 999) == OTHER
    assert agents.master_of("0x" + "52" * 20, NOW + 1000) is None
    with pytest.raises(errors.ActionError, match="valid_until"):
        agents.approve(OTHER, "0x" + "53" * 20, f"x valid_until {NOW + MAX_VALID_MS + 1}", NOW)
