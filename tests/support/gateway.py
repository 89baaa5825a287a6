"""A real `basis serve` with its shared venue gateway on, in front of a real devnet that counts
Hyperliquid's REST weight per client address as the venue does (1,200 a minute), and bots' calls to
the gateway as a bot makes them (its token and tenant id).

The gateway's requests leave from 127.0.0.2 (`source_address`), so the devnet's count for that address
(`GET /state` `hyperliquid_weight_by_ip`) is the gateway's alone: the bots the control plane starts,
the broker and the tests themselves read from 127.0.0.1.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect as ws_connect

from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.devnet import VENUE_HYPERLIQUID_WEIGHT, DevnetProcess, start_devnet

GATEWAY_SOURCE = "127.0.0.2"


@contextmanager
def plane_with_gateway(root: Path, seed: int, **gateway: Any) -> Iterator[ControlPlane]:
    dn = start_devnet(seed=seed, hyperliquid_weight=VENUE_HYPERLIQUID_WEIGHT)
    # The tests play the bots and count every read: the control plane's own bots read directly.
    overrides = {"gateway": {"source_address": GATEWAY_SOURCE, **gateway}, "gateway_for_bots": False}
    cp = ControlPlane(dn, root, overrides=overrides)
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()
        dn.stop()


def gateway_url(cp: ControlPlane) -> str:
    return cp.internal_url + "/gateway/v1"


def headers(user: SignedIn, token: str | None = None, tenant: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or user.token}", "X-Basis-Tenant": tenant or user.tenant_id}


def info(cp: ControlPlane, user: SignedIn, body: Any, **kwargs: Any) -> httpx.Response:
    """`POST /gateway/v1/hyperliquid/info` as `user`'s bot; `content=` sends raw bytes instead."""
    content = kwargs.pop("content", None)
    hdrs = {**headers(user), **kwargs.pop("headers", {})}
    if content is not None:
        return httpx.post(gateway_url(cp) + "/hyperliquid/info", content=content, headers=hdrs, timeout=30)
    return httpx.post(gateway_url(cp) + "/hyperliquid/info", json=body, headers=hdrs, timeout=30)


def weight_spent_by(dn: DevnetProcess, address: str = GATEWAY_SOURCE) -> int:
    """What `address` spent on the devnet's Hyperliquid in the last minute."""
    return int(dn.state().get("hyperliquid_weight_by_ip", {}).get(address, 0))


def budget(cp: ControlPlane, user: SignedIn) -> dict[str, Any]:
    r = httpx.get(gateway_url(cp) + "/budget", headers=headers(user), timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def wait_cached(cp: ControlPlane, user: SignedIn, timeout: float = 30) -> None:
    """Until the gateway has read the public entries once (its first refresh): Asgard's answer, and the
    public Hyperliquid reads answered without touching the tenant's share."""
    deadline = time.monotonic() + timeout
    bodies = [{"type": k} for k in ("meta", "metaAndAssetCtxs", "predictedFundings", "allMids")]
    while time.monotonic() < deadline:
        asgard = all(
            httpx.get(gateway_url(cp) + path, headers=headers(user), timeout=10).status_code == 200
            for path in ("/asgard/markets", "/asgard/token-metadata")
        )
        before = budget(cp, user)["tenant_spent"]
        answered = all(info(cp, user, b).status_code == 200 for b in bodies)
        if asgard and answered and budget(cp, user)["tenant_spent"] == before:
            return
        time.sleep(0.3)
    raise AssertionError(f"the gateway did not fill its cache:\n{cp.logs()[-3000:]}")


def restart_devnet(cp: ControlPlane, seed: int) -> DevnetProcess:
    """Stop the control plane's devnet and start a new one on the same ports (its state starts anew);
    the caller stops the new one."""
    base = cp.dn.base_port
    cp.dn.stop()
    cp.dn = start_devnet(seed=seed, hyperliquid_weight=VENUE_HYPERLIQUID_WEIGHT, base_port=base)
    return cp.dn


@contextmanager
def sockets_held(dn: DevnetProcess, count: int, source: str = GATEWAY_SOURCE) -> Iterator[list[Any]]:
    """`count` websocket connections to the devnet's /ws from `source`, held open (as another client
    of the same address would hold them), closed at the end."""
    url = dn.url("hyperliquid").replace("http", "ws", 1) + "/ws"
    host, port = url.split("//")[1].split("/")[0].split(":")
    with ExitStack() as stack:
        held = []
        for _ in range(count):
            sock = socket.create_connection((host, int(port)), timeout=10, source_address=(source, 0))
            held.append(stack.enter_context(ws_connect(url, sock=sock, proxy=None, open_timeout=10)))
        yield held


def wait_followed(cp: ControlPlane, user: SignedIn, timeout: float = 40) -> None:
    """Read `user`'s account through the gateway until the gateway follows it over its feed: three
    reads in a row answered at no weight (from the pushed state)."""
    own = {"type": "clearinghouseState", "user": user.evm_address}
    deadline = time.monotonic() + timeout
    free = 0
    while time.monotonic() < deadline:
        before = budget(cp, user)["tenant_spent"]
        assert info(cp, user, own).status_code == 200
        free = free + 1 if budget(cp, user)["tenant_spent"] == before else 0
        if free >= 3:
            return
        time.sleep(0.5)
    raise AssertionError(f"the gateway did not follow the account:\n{cp.logs()[-3000:]}")
