"""What an address, host or URL is: loopback or not, public or not, and the network a client counts as.

Pure functions over `ipaddress`; nothing here resolves a name (a caller that must, resolves first
and passes every address it got).

- Loopback: 127.0.0.0/8, ::1 and their IPv4-mapped forms, and the name `localhost` (RFC 6761:
  `localhost` and every name under `.localhost` are loopback by definition).
- Public: an address a service on the internet may have. Not public: private (10/8, 172.16/12,
  192.168/16), loopback, link-local (169.254/16, fe80::/10), shared CGNAT space (100.64/10),
  multicast, unspecified, reserved and documentation ranges, IPv6 unique-local (fc00::/7), and any
  IPv6 form that embeds one of those IPv4 addresses (IPv4-mapped, 6to4, NAT64).
- A client's network: its IPv4 /24 or its IPv6 /64 (an IPv4-mapped address counts as IPv4), so one
  person or machine cannot multiply a per-client limit by using many addresses of one allocation.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

IPAddress = IPv4Address | IPv6Address

# NAT64 prefixes: the last 32 bits are an IPv4 address, reached through a translator.
_NAT64 = (IPv6Network("64:ff9b::/96"), IPv6Network("64:ff9b:1::/48"))
# Besides what `ipaddress` calls non-global: every multicast range, and the IPv4 ranges a given
# Python version may still count as global.
_NOT_PUBLIC = (
    IPv4Network("0.0.0.0/8"),
    IPv4Network("100.64.0.0/10"),
    IPv4Network("192.0.0.0/24"),
    IPv4Network("224.0.0.0/4"),
    IPv4Network("240.0.0.0/4"),
    IPv6Network("ff00::/8"),
    IPv6Network("fc00::/7"),
    IPv6Network("fe80::/10"),
    IPv6Network("fec0::/10"),
)


def parse_ip(text: str) -> IPAddress | None:
    """The address in `text` (brackets, an IPv6 zone allowed); IPv4-mapped IPv6 as IPv4; None if none."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0]  # fe80::1%eth0: the zone names an interface, not an address
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_loopback_name(host: str) -> bool:
    """`localhost` and the names under `.localhost` (always loopback, RFC 6761 §6.3)."""
    name = host.strip().lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def is_loopback_host(host: str) -> bool:
    """True for a loopback address or a loopback name; False for any other name or address."""
    address = parse_ip(host)
    if address is None:
        return is_loopback_name(host)
    return address.is_loopback


def url_host(url: str) -> str | None:
    """The host a URL names (lower case, IPv6 without brackets), or None when it names none."""
    try:
        return urlsplit(url.strip()).hostname
    except ValueError:
        return None


def is_loopback_url(url: str) -> bool:
    host = url_host(url)
    return host is not None and is_loopback_host(host)


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in _NAT64):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: IPAddress | str) -> bool:
    """True only for an address a public internet service may have (see the module docstring)."""
    ip = parse_ip(address) if isinstance(address, str) else parse_ip(str(address))
    if ip is None:
        return False
    if isinstance(ip, IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public_address(embedded)
        if ip.teredo is not None:  # a tunnel endpoint: where it leads is not ours to judge
            return False
    if any(ip in net for net in _NOT_PUBLIC if net.version == ip.version):
        return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def client_network(host: str) -> str:
    """The network a client is counted by: `a.b.c.0/24`, `x:x:x:x::/64`; anything else unchanged."""
    ip = parse_ip(host)
    if ip is None:
        return host  # e.g. a test client's name or a Unix socket: nothing to group
    prefix = 24 if isinstance(ip, IPv4Address) else 64
    return str(ip_network(f"{ip}/{prefix}", strict=False))
