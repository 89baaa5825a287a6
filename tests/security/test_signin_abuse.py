"""Sign-in abuse against a real `basis serve` on a real devnet (Privy's email codes from its mailbox).

Before: five wrong codes for someone else's email locked that person out for 15 minutes, their
real code included, and every per-client limit counted one address, so an attacker spreading
requests over the addresses of one network was never limited. Now wrong codes spend only the flow
they were typed in (or a small per-email budget outside any flow), the owner's code passes from
their own browser, and every per-client limit counts the client's /24 (rate_limit.py has the design).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.auth.rate_limit import (
    INITIATE_PER_EMAIL_NETWORK,
    INITIATE_PER_NETWORK,
    WRONG_CODE_OUTSIDE_FLOW,
    WRONG_CODE_PER_NETWORK,
)
from orchestrator.auth.router import FLOW_COOKIE
from tests.security.signin_support import Plane, control_plane, new_email, wrong_code
from tests.support.devnet import DevnetProcess

pytestmark = pytest.mark.devnet


@pytest.fixture
def plane(devnet: DevnetProcess, tmp_path: Path) -> Plane:
    with control_plane(devnet, tmp_path) as running:
        yield running  # type: ignore[misc]


@pytest.mark.parametrize("guesses", [5, 50])
def test_wrong_codes_from_elsewhere_do_not_lock_the_owner_out(plane: Plane, guesses: int) -> None:
    owner = plane.browser("127.0.0.1")
    victim = new_email("victim")
    assert owner.initiate(victim).status_code == 202
    right = plane.code(victim)
    # The attacker never asked for a code: each guess from another address on another network.
    statuses = []
    for i in range(guesses):
        attacker = plane.browser(f"127.0.{10 + i}.{1 + i % 200}")
        r = attacker.verify(victim, wrong_code(right))
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert "send a new code" in r.json()["detail"] and int(r.headers["Retry-After"]) > 0
        attacker.close()
    # A few reach Privy (fewer than the five that would kill the owner's code there), the rest stop here.
    allowed = min(guesses, WRONG_CODE_OUTSIDE_FLOW.limit)
    assert statuses == [401] * allowed + [429] * (guesses - allowed)
    # The owner, in the browser that asked for the code, signs in with it.
    r = owner.verify(victim, right)
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] and owner.client.get("/api/v1/auth/me").status_code == 200


def test_codes_an_attacker_asks_for_do_not_keep_the_owner_out(plane: Plane) -> None:
    """The attacker asks for the victim's codes from one network until refused, guesses in its flow
    until it is spent, then outside any flow until refused; the owner then asks for a code of their
    own and signs in at once (Privy still has checks left for them: one network cannot spend them)."""
    victim = new_email("victim")
    attacker = plane.browser("127.0.1.2")
    asked = [attacker.initiate(victim).status_code for _ in range(INITIATE_PER_EMAIL_NETWORK.limit + 1)]
    assert asked == [202] * INITIATE_PER_EMAIL_NETWORK.limit + [429]
    in_flow = [attacker.verify(victim, wrong_code(plane.code(victim))).status_code for _ in range(7)]
    assert in_flow == [401] * 5 + [429] * 2
    attacker.client.cookies.delete(FLOW_COOKIE)
    outside = [attacker.verify(victim, wrong_code(plane.code(victim))).status_code for _ in range(5)]
    assert outside == [401] * WRONG_CODE_OUTSIDE_FLOW.limit + [429] * (5 - WRONG_CODE_OUTSIDE_FLOW.limit)
    assert (in_flow + outside).count(401) <= WRONG_CODE_PER_NETWORK.limit
    owner = plane.browser("127.0.0.1")
    assert owner.initiate(victim).status_code == 202
    r = owner.verify(victim, plane.code(victim))
    assert r.status_code == 200, r.text


def test_wrong_codes_spread_over_one_network_are_limited_together(plane: Plane) -> None:
    """Each guess from a new address of 127.0.5.0/24, each at a different email (so no per-email
    limit applies): the network's budget ends them; another network is not affected."""
    statuses = []
    for i in range(WRONG_CODE_PER_NETWORK.limit + 3):
        b = plane.browser(f"127.0.5.{10 + i}")
        statuses.append(b.verify(new_email(), "123456").status_code)
        b.close()
    limit = WRONG_CODE_PER_NETWORK.limit
    assert statuses == [401] * limit + [429] * 3
    elsewhere = plane.browser("127.0.6.10")
    assert elsewhere.verify(new_email(), "123456").status_code == 401
    # Signing in from the limited network is refused until the window passes...
    person = plane.browser("127.0.5.200")
    email = new_email()
    assert person.initiate(email).status_code == 202
    assert person.verify(email, plane.code(email)).status_code == 429
    # ... which is why the limit counts only this network: the same person elsewhere signs in.
    moved = plane.browser("127.0.7.200")
    assert moved.initiate(email).status_code == 202
    assert moved.verify(email, plane.code(email)).status_code == 200


def test_code_requests_spread_over_one_network_are_limited_together(plane: Plane) -> None:
    statuses = []
    for i in range(INITIATE_PER_NETWORK.limit + 1):
        b = plane.browser(f"127.0.8.{10 + i}")
        statuses.append(b.initiate(new_email()).status_code)
        b.close()
    assert statuses == [202] * INITIATE_PER_NETWORK.limit + [429]
    assert plane.browser("127.0.9.10").initiate(new_email()).status_code == 202
