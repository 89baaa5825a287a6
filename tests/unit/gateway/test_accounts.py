"""The accounts the feed follows (gateway/accounts.py): which tenants' accounts it chooses within the
venue's 10 users, and that a pushed state is answered only to the tenant it was followed for."""

from __future__ import annotations

import json

from gateway.accounts import PushedAccounts, asks_account


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


A, B = "0x" + "a" * 40, "0x" + "b" * 40
STATE = {"marginSummary": {"accountValue": "5.0"}, "assetPositions": [{"position": {"coin": "SOL"}}]}


def accounts(clock: Clock, slots: int = 2) -> PushedAccounts:
    return PushedAccounts(slots, hold_s=60, idle_s=120, now=clock)


def follow(p: PushedAccounts) -> None:
    p.applied(p.plan())


def test_only_exactly_an_account_read_is_answered_from_a_push() -> None:
    assert asks_account({"type": "clearinghouseState", "user": A.upper().replace("0X", "0x")}) == A
    assert asks_account({"type": "clearinghouseState", "user": A, "dex": ""}) == A
    assert asks_account({"type": "clearinghouseState", "user": A, "dex": "xyz"}) is None
    assert asks_account({"type": "clearinghouseState", "user": A, "extra": 1}) is None
    assert asks_account({"type": "userFills", "user": A}) is None


def test_a_pushed_state_is_answered_to_its_tenant_only() -> None:
    clock = Clock()
    p = accounts(clock)
    p.read("alice", A)
    follow(p)
    assert p.subscribed() == [A]
    assert p.answer("alice", A) is None  # nothing pushed yet
    p.pushed(A, STATE, 5000)
    pushed = p.answer("alice", A)
    assert pushed is not None and json.loads(pushed.body) == STATE and pushed.observed_ms == 5000
    assert p.answer("mallory", A) is None  # another tenant, the same address: never
    # A second tenant naming the same address does not share the subscription, nor take it over.
    p.read("mallory", A)
    follow(p)
    assert p.answer("mallory", A) is None and p.answer("alice", A) is not None
    p.confirm(9000)  # a pong: unchanged as of then
    assert p.answer("alice", A).observed_ms == 9000  # type: ignore[union-attr]
    p.disconnected()
    assert p.answer("alice", A) is None  # the socket down: the reads are forwarded


def test_positions_first_then_the_most_read_within_the_slots_and_without_churn() -> None:
    clock = Clock()
    p = accounts(clock, slots=1)
    for _ in range(5):
        p.read("reader", A)
    p.read("holder", B)
    follow(p)
    assert p.subscribed() == [A]  # the most read, while nobody is known to hold a position
    p.saw("holder", B, json.dumps(STATE).encode())  # a REST answer shows B holds a position
    follow(p)
    assert p.subscribed() == [A]  # kept its minimum time
    clock.t += 61
    p.read("reader", A)
    p.read("holder", B)
    follow(p)
    assert p.subscribed() == [B]  # the position first
    clock.t += 121  # nobody reads for longer than idle: dropped
    follow(p)
    assert p.subscribed() == []
