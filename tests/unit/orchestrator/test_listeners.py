"""The listeners' pure parts: client networks, connection caps within the descriptors, and which
connection a full listener sheds. (The protocol itself is tested against a real `basis serve` in
tests/security/.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from orchestrator.config import ControlPlaneSettings
from orchestrator.listeners import Connections, ListenerLimits, listener_limits, network_of


@pytest.mark.parametrize(
    ("host", "network"),
    [
        ("203.0.113.9", "203.0.113"),
        ("203.0.113.250", "203.0.113"),
        ("::ffff:203.0.113.9", "203.0.113"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::"),
        ("fe80::1%eth0", "fe80::"),
        ("", ""),
    ],
)
def test_connections_are_counted_per_ipv4_24_and_ipv6_64(host: str, network: str) -> None:
    assert network_of(host) == network
    assert network_of("203.0.114.9") != network_of("203.0.113.9")
    assert network_of("2001:db8:1:3::1") != network_of("2001:db8:1:2::1")


def _settings(tmp_path: Path, **extra: Any) -> ControlPlaneSettings:
    return ControlPlaneSettings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'cp.sqlite3'}",
        server_secret=SecretStr("s"),
        privy_app_secret=SecretStr("p"),
        **extra,
    )


def test_the_caps_fit_in_the_open_files_limit(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    public, internal = listener_limits(settings, 20_000)
    # (20,000 - 2,048 reserved - 1,024 for the broker) / 2: each public connection may hold a bot's too.
    assert (public.max_connections, internal.max_connections) == (8_464, 1_024)
    assert 2 * public.max_connections + internal.max_connections + settings.reserved_descriptors <= 20_000
    assert public.max_body_bytes == internal.max_body_bytes == 1024 * 1024
    assert (public.max_connections_per_network, internal.max_connections_per_network) == (256, 0)
    # A generous limit leaves the configured cap; a tiny one still serves, with a warning.
    assert listener_limits(settings, 1_048_576)[0].max_connections == 10_000
    assert listener_limits(_settings(tmp_path, max_connections=6), 1_048_576)[0].max_connections == 6
    assert listener_limits(settings, 1_024)[0].max_connections == 16


class _Conn:
    """Stands in for a protocol: what `Connections` reads and calls (shedding forgets it at once,
    as closing does; it is released when its connection is gone)."""

    def __init__(self, pool: Connections) -> None:
        self.pool = pool
        self.network: Any = None
        self.was_shed = False

    def shed(self) -> None:
        self.was_shed = True
        self.pool.forget(self)  # type: ignore[arg-type]


def _limits(**extra: Any) -> ListenerLimits:
    values: dict[str, Any] = {
        "name": "public",
        "header_timeout": 10,
        "body_timeout": 30,
        "max_head_bytes": 32 * 1024,
        "max_body_bytes": 1024 * 1024,
        "max_connections": 3,
        "max_connections_per_network": 0,
    }
    return ListenerLimits(**{**values, **extra})


def test_a_full_listener_sheds_the_longest_idle_then_the_longest_sending_then_refuses() -> None:
    pool = Connections(_limits())
    a, b, c, d, e = (_Conn(pool) for _ in range(5))
    for conn in (a, b, c):
        assert pool.admit(conn, "10.0.0.1") is None  # type: ignore[arg-type]
    pool.started(a, body=False)  # a is busy (a request in progress); b and c wait
    pool.started(b, body=False)
    pool.waiting(b)  # b was answered and waits again: now the most recent
    assert pool.admit(d, "10.0.0.2") is None  # type: ignore[arg-type]
    assert (a.was_shed, b.was_shed, c.was_shed) == (False, False, True)
    pool.release(c)  # type: ignore[arg-type]
    pool.started(b, body=True)  # b sends a body; d waits for a head
    pool.started(d, body=False)  # d is busy
    assert pool.admit(e, "10.0.0.3") is None  # type: ignore[arg-type]
    assert b.was_shed  # nobody idle: the one sending a body the longest
    pool.release(b)  # type: ignore[arg-type]
    pool.started(e, body=False)
    refusal = pool.admit(_Conn(pool), "10.0.0.4")  # type: ignore[arg-type]
    assert refusal is not None and refusal.startswith(b"HTTP/1.1 503 ") and b"retry-after: 2" in refusal
    assert pool.all.count == 3 and not a.was_shed


def test_one_network_past_its_cap_sheds_its_own_and_leaves_the_others() -> None:
    pool = Connections(_limits(max_connections=100, max_connections_per_network=2))
    first, second, third, other = (_Conn(pool) for _ in range(4))
    assert pool.admit(other, "10.9.9.9") is None  # type: ignore[arg-type]
    for conn in (first, second, third):
        assert pool.admit(conn, "10.0.0.7") is None  # type: ignore[arg-type]
    assert first.was_shed and not second.was_shed and not other.was_shed
    pool.release(first)  # type: ignore[arg-type]
    pool.started(second, body=False)
    pool.started(third, body=False)
    refusal = pool.admit(_Conn(pool), "10.0.0.8")  # type: ignore[arg-type]
    assert refusal is not None and b"Too many connections from your network" in refusal
    assert pool.admit(_Conn(pool), "10.0.1.1") is None  # type: ignore[arg-type]
    assert set(pool.networks) == {"10.9.9", "10.0.0", "10.0.1"}


def test_a_trusted_proxy_is_not_capped_per_network(tmp_path: Path) -> None:
    """Behind a reverse proxy every user comes from its address: only the global cap applies to it."""
    public, _ = listener_limits(_settings(tmp_path, trusted_proxies=["10.0.0.2", "fd00::/64"]), 20_000)
    assert public.uncapped_networks == ("10.0.0.2", "fd00::/64")
    pool = Connections(
        _limits(max_connections=5, max_connections_per_network=2, uncapped_networks=public.uncapped_networks)
    )
    through_proxy = [_Conn(pool) for _ in range(4)]
    for conn in through_proxy:
        assert pool.admit(conn, "10.0.0.2") is None  # type: ignore[arg-type]
    assert not any(c.was_shed for c in through_proxy) and pool.all.count == 4
    neighbours = [_Conn(pool) for _ in range(3)]
    for conn in neighbours:  # the proxy's own /24 neighbours are capped as before
        assert pool.admit(conn, "10.0.0.3") is None  # type: ignore[arg-type]
    assert neighbours[0].was_shed
    assert pool.admit(_Conn(pool), "fd00::1") is None  # type: ignore[arg-type]
