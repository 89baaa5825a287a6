"""Address classification (public or not, loopback or not) and the network a client is counted by."""

from __future__ import annotations

import pytest

from shared.network_addresses import (
    client_network,
    is_loopback_host,
    is_loopback_url,
    is_public_address,
    parse_ip,
)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # CGNAT
        "0.0.0.0",
        "224.0.0.1",  # multicast
        "239.255.255.250",
        "255.255.255.255",
        "192.0.2.1",  # documentation
        "198.18.0.1",  # benchmarking
        "240.0.0.1",  # reserved
        "::",
        "::1",
        "[::1]",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd12:3456::1",  # unique local
        "ff02::1",  # multicast
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",  # IPv4-compatible (deprecated, reserved)
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "2002:a00:1::",  # 6to4 around 10.0.0.1
        "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
        "64:ff9b::7f00:1",
        "2001:db8::1",  # documentation
        "not-an-address",
        "",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses(address: str) -> None:
    assert is_public_address(address)


def test_ipv4_mapped_addresses_are_ipv4() -> None:
    assert str(parse_ip("::ffff:203.0.113.5")) == "203.0.113.5"
    assert parse_ip("[2001:db8::1]") is not None and parse_ip("example.com") is None


@pytest.mark.parametrize(
    ("client", "network"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("203.0.113.1", "203.0.113.0/24"),
        ("::ffff:203.0.113.9", "203.0.113.0/24"),
        ("127.0.1.5", "127.0.1.0/24"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("testclient", "testclient"),
    ],
)
def test_clients_are_counted_by_their_network(client: str, network: str) -> None:
    assert client_network(client) == network


def test_loopback_hosts_and_urls() -> None:
    for host in ("127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost", "LOCALHOST.", "api.localhost"):
        assert is_loopback_host(host), host
    for host in ("0.0.0.0", "::", "", "10.0.0.1", "example.com", "localhost.example.com", "mylocalhost"):
        assert not is_loopback_host(host), host
    assert is_loopback_url("http://127.0.0.1:3001") and is_loopback_url("http://[::1]:8899/x")
    assert is_loopback_url("https://localhost/margin-trading")
    assert not is_loopback_url("http://10.0.0.1:3001") and not is_loopback_url("https://api.hyperliquid.xyz")
    assert not is_loopback_url("127.0.0.1:3001") and not is_loopback_url("garbage")  # no scheme: no host
