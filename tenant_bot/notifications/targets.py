"""Where a webhook may point: outside the devnet, only at public internet addresses.

The user chooses the webhook URL, and the bot sends requests to it from inside our network: pointed
at loopback, a private network or a cloud metadata service (169.254.169.254) it would let a user
reach what only the bot can reach. So outside the devnet:
- at save (`check_target`, called by the settings API): a `localhost` name is refused, an address
  must be public (shared/network_addresses.py), and a name is resolved and every address it has
  must be public;
- at delivery (`PublicOnlyTransport`, delivery.py): the name is resolved again and every address
  checked, then the connection goes to the address that was checked, not to the name, so a DNS
  answer that changes between check and connect (rebinding) cannot switch it. TLS still verifies
  the certificate for the name (SNI), and redirects are never followed.
On the devnet every address is allowed: the devnet's receivers and the tests' listen on loopback.
Refusals are sentences that never quote the URL (it may hold a token).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx

from shared.network_addresses import is_loopback_name, is_public_address, parse_ip
from tenant_bot.preferences import SettingsError

Resolver = Callable[[str, int], Awaitable[list[str]]]
AddressCheck = Callable[[str], bool]

NOT_PUBLIC = (
    "points at a private, loopback or link-local address; outside the devnet a webhook must be on "
    "the public internet"
)
UNRESOLVED = "names a host that could not be resolved; check the URL"


class UnsafeTarget(Exception):
    """The webhook's host is, or resolves to, an address it may not reach; the message says why."""


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order (raises OSError when none)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def vetted_addresses(
    host: str, port: int, *, resolve: Resolver = resolve_host, allowed: AddressCheck = is_public_address
) -> list[str]:
    """The addresses of `host`, every one `allowed`; `UnsafeTarget` if any is not. A name that does
    not resolve raises OSError (a caller at delivery retries; one at save refuses)."""
    if is_loopback_name(host):
        raise UnsafeTarget(NOT_PUBLIC)
    literal = parse_ip(host)
    addresses = [str(literal)] if literal is not None else await resolve(host, port)
    if not addresses:
        raise OSError(f"no address for the webhook's host ({UNRESOLVED})")
    if not all(allowed(address) for address in addresses):
        raise UnsafeTarget(NOT_PUBLIC)
    return addresses


async def check_target(url: str, *, resolve: Resolver = resolve_host) -> str | None:
    """None when the webhook URL may be saved outside the devnet, else the reason (a sentence's end)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "is not a valid URL"
    if not host:
        return "has no host"
    try:
        await vetted_addresses(host, port, resolve=resolve)
    except UnsafeTarget as exc:
        return str(exc)
    except (OSError, UnicodeError):
        return UNRESOLVED
    return None


class PublicOnlyTransport(httpx.AsyncBaseTransport):
    """Resolve, check every address, then connect to the checked one (Host header and SNI keep the name)."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        resolve: Resolver = resolve_host,
        allowed: AddressCheck = is_public_address,
    ) -> None:
        self._inner = inner
        self._resolve = resolve
        self._allowed = allowed

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.raw_host.decode("ascii")  # IDNA-encoded, IPv6 without brackets
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            addresses = await vetted_addresses(host, port, resolve=self._resolve, allowed=self._allowed)
        except (OSError, UnicodeError):
            # Like a refused connection: nothing was sent, and it may resolve on a retry.
            raise httpx.ConnectError("the webhook's host did not resolve", request=request) from None
        # `Host` was set from the URL when the request was built; only where to connect changes.
        request.url = request.url.copy_with(host=addresses[0])
        if request.url.scheme == "https" and parse_ip(host) is None:
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def check_webhook_target(
    url: str | None,
    *,
    public_only: bool,
    loc: tuple[str, ...] = ("body", "notifications", "webhook_url"),
    resolve: Resolver = resolve_host,
) -> None:
    """SettingsError (a 422 at `loc`) when `public_only` and the webhook URL's host is, or resolves
    to, an address that is not public (see `check_target`); None is always fine."""
    if not public_only or url is None or not url.strip():
        return
    reason = await check_target(url.strip(), resolve=resolve)
    if reason is not None:
        raise SettingsError([{"loc": list(loc), "msg": f"The webhook URL {reason}.", "type": "value_error"}])
