"""Issue 12, attack 1, docker runtime: every tenant's container ran as UID 1000 (the secret files in its
volume too), on the host's network, where one bot reached every other bot's API on loopback.

Replayed against a real `basis serve` on the docker runtime with its default networking (a bridge of
its own without inter-container traffic, ports published on the host's 127.0.0.1): two users sign in;
their containers run as two different users, and from inside Alice's container (`docker exec`, what
code inside her bot can do) Bob's bot cannot be reached, neither at its container address nor at its
published port, while the signing broker (wherever `broker_url` names it) and the venues can. The
devnet listens on loopback only, which a bridged container cannot reach: the test relays each venue
from the bridge's gateway address, as a real venue would be reached through the host's routing.
Skipped without a Docker engine, failed without one under BASIS_REQUIRE_DOCKER=1.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from orchestrator.runtimes.docker import DockerRuntime
from tests.docker.conftest import bot_image, docker_client, instance  # noqa: F401  (fixtures)
from tests.docker.test_docker_runtime import bot_ports, container_of
from tests.support.control_plane import ControlPlane, free_port
from tests.support.devnet import DevnetProcess

pytestmark = pytest.mark.devnet

VENUES = ("hyperliquid", "asgard", "solana", "arbitrum")


class Relay:
    """A TCP relay from `host`:<its own port> to 127.0.0.1:`target` (threads; the test's own process)."""

    def __init__(self, host: str, target: int) -> None:
        self.target = target
        self.server = socket.create_server((host, 0))
        self.host, self.port = host, int(self.server.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                return
            upstream.settimeout(None)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.server.close()


class BridgedControlPlane(ControlPlane):
    """`basis serve` bound to the bots' bridge gateway (both listeners), where the bots reach its
    signing broker."""

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"


@pytest.fixture
def plane(
    devnet: DevnetProcess,
    tmp_path: Path,
    instance: str,  # noqa: F811
    bot_image: str,  # noqa: F811
) -> Iterator[BridgedControlPlane]:
    gateway = asyncio.run(DockerRuntime(instance=instance).gateway())
    relays = {name: Relay(gateway, getattr(devnet.ports, name)) for name in VENUES}
    low, high = bot_ports(instance)
    port = free_port()
    venue = {name: f"http://{gateway}:{relay.port}" for name, relay in relays.items()}
    overrides = {
        "runtime": "docker",
        "docker_instance": instance,
        "docker_host_network": False,
        "bot_port_min": low,
        "bot_port_max": high,
        "bot_stop_timeout_seconds": 10,
        "host": gateway,
        "port": port,
        "broker_host": gateway,  # the signing broker's internal listener, where bridged bots reach it
        "hyperliquid_url": venue["hyperliquid"],
        "asgard_url": venue["asgard"] + "/margin-trading",
        "solana_rpc_url": venue["solana"],
        "arbitrum_rpc_url": venue["arbitrum"],
    }
    cp = BridgedControlPlane(devnet, tmp_path, overrides=overrides)
    # The portal is served at the gateway's address: its origin is allowed on the Privy app, as an
    # operator lists their site in Privy's dashboard (the devnet allows loopback pages only).
    devnet.admin("POST", "/privy/allowed-origins", json={"origin": cp.url})
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()
        for relay in relays.values():
            relay.close()


def probe(container: Any, host: str, port: int, http: bool = False) -> str:
    """From inside the container: "open" (or the HTTP status line of GET /health) or "closed"."""
    script = f"exec 3<>/dev/tcp/{host}/{port} || exit 1; "
    if http:
        script += "printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3; read -r line <&3; echo \"$line\""
    else:
        script += "echo open"
    code, out = container.exec_run(["timeout", "3", "bash", "-c", script])
    return str(out.decode().strip()) if code == 0 else "closed"


def test_bridged_bots_run_as_users_of_their_own_and_reach_the_broker_and_venues_but_not_each_other(
    plane: BridgedControlPlane,
    docker_client: Any,  # noqa: F811
) -> None:
    alice, bob = plane.sign_in("alice"), plane.sign_in("bob")
    plane.wait_running(alice)
    plane.wait_running(bob)
    a, b = plane.tenant(alice.tenant_id), plane.tenant(bob.tenant_id)
    box_a, box_b = container_of(docker_client, a.id), container_of(docker_client, b.id)

    # Two users of their own, for the container and for everything in its volume.
    assert a.uid and b.uid and a.uid != b.uid and 1000 not in (a.uid, b.uid)
    for tenant, box in ((a, box_a), (b, box_b)):
        assert box.attrs["Config"]["User"] == f"{tenant.uid}:{tenant.uid}"
        code, out = box.exec_run(["sh", "-c", "id -u; id -G; stat -c %u /data /data/.secrets/api_token"])
        assert code == 0 and out.decode().split() == [str(tenant.uid)] * 4

    runtime = DockerRuntime(instance=plane.settings.docker_instance)
    gateway = plane.settings.host
    networks = box_b.attrs["NetworkSettings"]["Networks"]
    assert list(networks) == [runtime.network]
    bob_address = networks[runtime.network]["IPAddress"]
    assert b.port is not None

    # Controls: Bob's bot answers on the host's loopback, where the control plane's proxy reaches it.
    assert httpx.get(f"http://127.0.0.1:{b.port}/health", timeout=5).status_code == 200
    assert probe(box_b, "127.0.0.1", 8080, http=True).startswith("HTTP/1.1 200")

    # From inside Alice's bot: Bob's bot is out of reach, however addressed.
    assert probe(box_a, bob_address, 8080) == "closed"  # its container address (no inter-container traffic)
    assert probe(box_a, gateway, b.port) == "closed"  # its published port, through the host
    assert probe(box_a, "127.0.0.1", b.port) == "closed"  # the container's own loopback is not the host's

    # What it needs, it reaches: the signing broker where broker_url names it, and every venue.
    broker = urlsplit(plane.settings.broker_url_value())
    assert broker.hostname and broker.port
    assert probe(box_a, broker.hostname, broker.port, http=True).startswith("HTTP/1.1 200")
    st = plane.settings
    for name, url in (
        ("hyperliquid", st.hyperliquid_url),
        ("asgard", st.asgard_url),
        ("solana", st.solana_rpc_url),
        ("arbitrum", st.arbitrum_rpc_url),
    ):
        venue = urlsplit(url)
        assert venue.hostname and venue.port
        assert probe(box_a, venue.hostname, venue.port) == "open", name

    # And Alice's bot still works for her, through the control plane's proxy.
    r = alice.client.get("/app/api/v1/status")
    assert r.status_code == 200 and r.json()["wallets"]["solana"] == alice.solana_address
