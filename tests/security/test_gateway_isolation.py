"""Two tenants' bots share the host's venue gateway: neither can read the other's account data.

Replayed against a real `basis serve` (gateway on, its internal listener) and a real devnet. Bob's
Hyperliquid account holds 123 USDC and an order, Alice's nothing, so an answer of his is told from one
of hers. Alice's bot (her tenant token) asks the gateway for Bob's clearinghouseState, userFills,
orderStatus and openOrders: with his address as it is, in other cases, without 0x, padded, escaped,
repeated behind her own under the same key, nested in a `post`-like wrapper; with his tenant id; and,
once her share is spent (when the gateway serves kept answers), with the exact request Bob's bot made,
whose answer the gateway keeps. Every one is refused (403 or 401) and no answer carries Bob's data;
Bob's own reads still work, and Alice still gets her own kept answers, never his.

Pushed accounts (the gateway follows a tenant's account over its websocket and answers its reads from
what the venue pushes): with both accounts followed, Bob's pushed state (changed while followed) never
reaches Alice, whatever she sends, and each gets their own pushed state at no weight. The first module
fixture follows no account (so that Alice's reads spend her share), the second follows both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.gateway import (
    budget,
    gateway_url,
    headers,
    info,
    plane_with_gateway,
    wait_cached,
    wait_followed,
)

pytestmark = pytest.mark.devnet

BOBS_USDC = "123"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlane, SignedIn, SignedIn]]:
    root = Path(tmp_path_factory.mktemp("gateway-isolation"))
    with plane_with_gateway(root, seed=43, user_subscriptions=0) as cp:
        alice, bob = cp.sign_in("alice"), cp.sign_in("bob")
        cp.dn.faucet("hyperliquid", "USDC", bob.evm_address, BOBS_USDC)
        wait_cached(cp, alice)
        yield cp, alice, bob


def bobs_requests(bob: str) -> list[dict[str, Any]]:
    return [
        {"type": "clearinghouseState", "user": bob},
        {"type": "userFills", "user": bob},
        {"type": "orderStatus", "user": bob, "oid": 1},
        {"type": "openOrders", "user": bob},
    ]


def spellings(address: str) -> list[str]:
    bare = address[2:]
    return [
        address,
        address.lower(),
        "0x" + bare.upper(),
        "0X" + bare.lower(),
        bare,
        f" {address} ",
        address.lower() + "\n",
    ]


def carries_bobs_data(r: httpx.Response, bob: SignedIn) -> bool:
    text = r.text.lower()
    # Bob's balance as the venue writes an amount ("123.0"), never a bare digit run: a timestamp
    # such as 1765123456789 holds "123" (CI drew one).
    amounts = (f'"{BOBS_USDC}"', f'"{BOBS_USDC}.0"')
    return any(a in text for a in amounts) or bob.evm_address.lower()[2:] in text


def test_alices_bot_cannot_read_bobs_account_through_the_gateway(
    world: tuple[ControlPlane, SignedIn, SignedIn],
) -> None:
    cp, alice, bob = world
    refused = 0
    # Bob's address, however it is spelled, in each account read.
    for spelled in spellings(bob.evm_address):
        for body in bobs_requests(spelled):
            r = info(cp, alice, body)
            assert r.status_code == 403, (body, r.status_code, r.text)
            assert r.headers["X-Basis-Gateway"] == "refused" and not carries_bobs_data(r, bob)
            refused += 1
    bare = bob.evm_address.lower()[2:]
    raw_attempts = [
        # JSON escapes: the same string once read.
        '{"type": "clearinghouseState", "user": "\\u0030x' + bare + '"}',
        # The same key twice: hers first (what a checker reading the first sees), his last, and back.
        f'{{"type": "clearinghouseState", "user": "{alice.evm_address}", "user": "0x{bare}"}}',
        f'{{"type": "clearinghouseState", "user": "0x{bare}", "user": "{alice.evm_address}"}}',
    ]
    for raw in raw_attempts:
        r = info(cp, alice, None, content=raw.encode())
        assert r.status_code in (400, 403), (raw, r.status_code, r.text)
        assert not carries_bobs_data(r, bob)
        refused += 1
    wrapped = [
        # A `post`-like wrapper (the websocket's shape), and other places an address can hide.
        {
            "type": "post",
            "request": {"type": "info", "payload": {"type": "clearinghouseState", "user": bare}},
        },
        {"type": "clearinghouseState", "req": {"user": bob.evm_address}},
        {"type": "clearinghouseState", "user": alice.evm_address, "extra": [{"u": bob.evm_address}]},
        {"type": "userFills", "user": alice.evm_address, bob.evm_address: 1},
        {"type": "webData2", "user": bob.evm_address},
    ]
    for body in wrapped:
        r = info(cp, alice, body)
        assert r.status_code == 403, (body, r.status_code, r.text)
        assert not carries_bobs_data(r, bob)
        refused += 1
    # Bob's tenant id with Alice's token, Alice's id with a forged token: one 401.
    for hdrs in (headers(alice, tenant=bob.tenant_id), headers(alice, token=bob.token[::-1])):
        r = info(cp, alice, {"type": "clearinghouseState", "user": bob.evm_address}, headers=hdrs)
        assert r.status_code == 401 and not carries_bobs_data(r, bob)
        refused += 1
    assert refused == len(spellings("0x" + "0" * 40)) * 4 + len(raw_attempts) + len(wrapped) + 2

    # The legitimate paths still work: Bob reads his own account, Alice hers.
    r = info(cp, bob, {"type": "clearinghouseState", "user": bob.evm_address})
    assert r.status_code == 200 and r.json()["marginSummary"]["accountValue"] == "123.0"
    r = info(cp, alice, {"type": "clearinghouseState", "user": alice.evm_address.lower()})
    assert r.status_code == 200 and r.json()["marginSummary"]["accountValue"] == "0.0"


def test_no_tenants_token_reaches_another_tenants_kept_answers(
    world: tuple[ControlPlane, SignedIn, SignedIn],
) -> None:
    """The gateway keeps each bot's last answers, to serve them stale once its share is spent. Bob's
    bot reads his account; Alice spends her share so that the gateway serves kept answers, then asks
    exactly what Bob asked (same bytes, same cache key), and her own request: she gets hers only."""
    cp, alice, bob = world
    bobs = {"type": "clearinghouseState", "user": bob.evm_address}
    mine = {"type": "clearinghouseState", "user": alice.evm_address}
    assert info(cp, bob, bobs).json()["marginSummary"]["accountValue"] == "123.0"
    assert info(cp, alice, mine).status_code == 200
    # Spend Alice's share: the gateway now answers her from what it kept (stale) or 429.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = info(cp, alice, mine)
        if int(r.headers["X-Basis-Observed-At"]) < int(time.time() * 1000) - 1500:
            break
    else:
        raise AssertionError("Alice's share was never spent")
    for body in (bobs, json.loads(json.dumps(bobs, sort_keys=True))):
        r = info(cp, alice, body)
        assert r.status_code == 403 and not carries_bobs_data(r, bob)
    # Her own kept answer, never his, at the key his would have.
    r = info(cp, alice, mine)
    assert r.status_code == 200 and r.json()["marginSummary"]["accountValue"] == "0.0"
    assert not carries_bobs_data(r, bob)
    # Nor through the budget view: only her own figures.
    view = httpx.get(gateway_url(cp) + "/budget", headers=headers(alice), timeout=10)
    assert view.status_code == 200 and bob.tenant_id not in view.text and not carries_bobs_data(view, bob)
    # Bob, quiet, is still served fresh.
    asked = int(time.time() * 1000)
    r = info(cp, bob, bobs)
    assert r.status_code == 200 and int(r.headers["X-Basis-Observed-At"]) >= asked


# ---------------------------------------------------------------------- pushed accounts
@pytest.fixture(scope="module")
def followed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlane, SignedIn, SignedIn]]:
    root = Path(tmp_path_factory.mktemp("gateway-isolation-pushed"))
    with plane_with_gateway(root, seed=44, user_rebalance_seconds=1) as cp:
        alice, bob = cp.sign_in("alice"), cp.sign_in("bob")
        cp.dn.faucet("hyperliquid", "USDC", bob.evm_address, BOBS_USDC)
        wait_cached(cp, alice)
        yield cp, alice, bob


def test_a_pushed_account_reaches_only_its_own_tenant(
    followed: tuple[ControlPlane, SignedIn, SignedIn],
) -> None:
    cp, alice, bob = followed
    wait_followed(cp, bob)
    wait_followed(cp, alice)
    bobs = {"type": "clearinghouseState", "user": bob.evm_address}
    mine = {"type": "clearinghouseState", "user": alice.evm_address}
    # Bob's account changes while followed: the venue pushes it to the gateway, which keeps it under
    # Bob's tenant; his reads get it at no weight.
    cp.dn.faucet("hyperliquid", "USDC", bob.evm_address, "7")
    spent = budget(cp, bob)["tenant_spent"]
    deadline = time.monotonic() + 10
    while info(cp, bob, bobs).json()["marginSummary"]["accountValue"] != "130.0":
        assert time.monotonic() < deadline, "Bob's change was not pushed"
        time.sleep(0.2)
    assert budget(cp, bob)["tenant_spent"] == spent

    def pushed_to_alice(r: httpx.Response) -> bool:
        return carries_bobs_data(r, bob) or "130" in r.text

    # Alice asks for it every way the REST path was attacked, and as her own account's read.
    attempts = [body for spelled in spellings(bob.evm_address) for body in bobs_requests(spelled)]
    attempts += [
        {"type": "clearinghouseState", "user": bob.evm_address, "dex": ""},
        {"type": "clearinghouseState", "user": alice.evm_address, "extra": bob.evm_address},
    ]
    for body in attempts:
        r = info(cp, alice, body)
        assert r.status_code == 403 and not pushed_to_alice(r), (body, r.status_code, r.text)
    r = info(cp, alice, bobs, headers=headers(alice, tenant=bob.tenant_id))  # his tenant id, her token
    assert r.status_code == 401 and not pushed_to_alice(r)
    # Her own read: her pushed state, never his.
    for _ in range(10):
        r = info(cp, alice, mine)
        assert r.status_code == 200 and r.json()["marginSummary"]["accountValue"] == "0.0"
        assert not pushed_to_alice(r) and int(r.headers["Age"]) <= 7
    view = httpx.get(gateway_url(cp) + "/budget", headers=headers(alice), timeout=10)
    assert bob.tenant_id not in view.text and not pushed_to_alice(view)
