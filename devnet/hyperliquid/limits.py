"""Hyperliquid's request limits: REST weight per IP, the request allowance per address, and the
websocket's limits per IP (`SocketLimits`, at the end; the figures and texts are documented there).

Per IP (gitbook "Rate limits and user limits", shared/research/venues.md §1.7): every REST request
has a weight, and an IP may spend `weight_per_minute` (1,200 on the venue) in any 60 seconds. The
weights are the venue's table in shared/hyperliquid_weights.py, which the shared gateway's meter
reads too (re-exported here for the emulator's modules). A websocket `post` weighs the same against
the same budget (metered.py).
Over the limit the venue answers HTTP 429 with the body `null` (what the official SDK reports:
`ClientError(429, None, 'null', None, headers)`, in many public captures). A refused request costs
nothing; the weight of the items answered is charged after the answer, so one large answer can
take an IP past the limit and the next request is refused.

Choices where the venue is not documented: the window slides over the last 60 real seconds (the
venue does not say whether it slides or resets each minute), and loopback clients are told apart
by address only (every test on 127.0.0.1 shares one budget, as bots on one host share an IP).

Per address (actions only): 1 request per 1 USDC traded, plus an initial 10,000. A batch of n
counts n. Past the cap an action is refused with the venue's text
"Too many cumulative requests sent (N > M) for cumulative volume traded $V. Place taker orders to
free up 1 request per USDC traded." (public captures), except one every 10 seconds.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shared.hyperliquid_weights import (
    PER_ITEMS,
    WEIGHT_PER_MINUTE,
    batch_length,
    exchange_weight,
    info_weight,
    items_weight,
)

__all__ = [
    "PER_ITEMS",
    "AddressRequests",
    "IpWeights",
    "batch_length",
    "exchange_weight",
    "info_weight",
    "items_weight",
]

WINDOW_S = 60.0
DEFAULT_WEIGHT_PER_MINUTE = WEIGHT_PER_MINUTE
INITIAL_REQUESTS = 10_000
LIMITED_EVERY_MS = 10_000
RATE_LIMITED_BODY = b"null"


class IpWeights:
    """Weight spent per client IP over the last minute; thread-safe (handlers and tests share it)."""

    def __init__(self, weight_per_minute: int, now: Callable[[], float] = time.monotonic) -> None:
        if weight_per_minute < 1:
            raise ValueError("the weight per minute must be at least 1")
        self.limit = weight_per_minute
        self._now = now
        self._spent: dict[str, deque[tuple[float, int]]] = {}
        self._totals: dict[str, int] = {}  # the sum of each IP's window, kept as it moves
        self._refused: dict[str, int] = {}
        self._lock = threading.Lock()

    def _total(self, ip: str, now: float) -> int:
        """What `ip` spent in the last minute, after forgetting what is older."""
        spent = self._spent.setdefault(ip, deque())
        total = self._totals.get(ip, 0)
        while spent and spent[0][0] <= now - WINDOW_S:
            total -= spent.popleft()[1]
        self._totals[ip] = total
        return total

    def _add(self, ip: str, now: float, weight: int) -> None:
        self._spent[ip].append((now, weight))
        self._totals[ip] += weight

    def spent(self, ip: str) -> int:
        with self._lock:
            return self._total(ip, self._now())

    def by_ip(self) -> dict[str, int]:
        """What each client IP spent in the last minute (the admin API's `GET /state`)."""
        with self._lock:
            now = self._now()
            return {ip: total for ip in list(self._spent) if (total := self._total(ip, now))}

    def admit(self, ip: str, weight: int) -> bool:
        """Charge `weight` to `ip` and say yes, or say no (charging nothing) when it would exceed."""
        with self._lock:
            now = self._now()
            if self._total(ip, now) + weight > self.limit:
                self._refused[ip] = self._refused.get(ip, 0) + 1
                return False
            self._add(ip, now, weight)
            return True

    def refused_by_ip(self) -> dict[str, int]:
        """Requests refused (429) per client IP since the devnet started (the admin API's `GET /state`)."""
        with self._lock:
            return dict(self._refused)

    def charge(self, ip: str, weight: int) -> None:
        """Charge weight known only after answering (the items of an answer)."""
        if weight <= 0:
            return
        with self._lock:
            now = self._now()
            self._total(ip, now)
            self._add(ip, now, weight)


@dataclass
class _Allowance:
    used: int = 0
    last_limited_ms: int = field(default=-LIMITED_EVERY_MS)


class AddressRequests:
    """Actions per address against 10,000 + 1 per USDC traded (the caller holds the exchange lock)."""

    def __init__(self) -> None:
        self._by_user: dict[str, _Allowance] = {}

    def used(self, user: str) -> int:
        allowance = self._by_user.get(user)
        return allowance.used if allowance else 0

    @staticmethod
    def cap(volume: Decimal) -> int:
        return INITIAL_REQUESTS + int(volume)

    def take(self, user: str, requests: int, volume: Decimal, now_ms: int) -> str | None:
        """Count `requests` for `user`; the venue's refusal text when past the cap (nothing counted)."""
        allowance = self._by_user.setdefault(user, _Allowance())
        cap = self.cap(volume)
        if allowance.used + requests > cap:
            if now_ms - allowance.last_limited_ms < LIMITED_EVERY_MS:
                return (
                    f"Too many cumulative requests sent ({allowance.used + requests} > {cap}) for cumulative "
                    f"volume traded ${_dollars(volume)}. Place taker orders to free up 1 request per "
                    "USDC traded."
                )
            allowance.last_limited_ms = now_ms
        allowance.used += requests
        return None

    def answer(self, user: str, volume: Decimal) -> dict[str, Any]:
        """The userRateLimit answer."""
        cap, used = self.cap(volume), self.used(user)
        return {
            "cumVlm": _volume_text(volume),
            "nRequestsUsed": used,
            "nRequestsCap": cap,
            # Requests bought with reserveRequestWeight, which the devnet does not sell.
            "nRequestsSurplus": 0,
        }


def _volume_text(volume: Decimal) -> str:
    text = f"{volume.quantize(Decimal('0.000001')):f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _dollars(volume: Decimal) -> str:
    """Volume in the refusal text: cents at most, no trailing zeros ("$4643", "$87457.46")."""
    text = f"{volume.quantize(Decimal('0.01')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# ---------------------------------------------------------------------------------------------- websocket
# Per IP, across all of its /ws connections. Two sources disagree on connections; the devnet must
# never be more generous than the venue, so it takes the stricter figure of each:
# - the official gitbook ("Rate limits and user limits"): at most 100 connections, 1,000
#   subscriptions, 10 unique users across user-specific subscriptions, 2,000 messages sent a
#   minute, 100 inflight posts;
# - a maintained SDK, df-hyperliquid-core (live/session/limits.rs), and a third-party measured
#   write-up of the live socket: 10 connections and 30 new connections a minute, the rest as above.
WS_CONNECTIONS = 10
WS_NEW_CONNECTIONS_PER_MINUTE = 30
WS_SUBSCRIPTIONS = 1000
WS_USERS = 10
WS_MESSAGES_PER_MINUTE = 2000
WS_INFLIGHT_POSTS = 100
# The venue's texts on the `error` channel (nktkas/hyperliquid issue #78, live captures).
WS_TOO_MANY_USERS = f"Cannot track more than {WS_USERS} total users."
WS_TOO_MANY_SUBSCRIPTIONS = f"Cannot subscribe to more than {WS_SUBSCRIPTIONS} channels."
WS_TOO_MANY_MESSAGES = f"Cannot send more than {WS_MESSAGES_PER_MINUTE} messages per minute."


def ws_too_many_posts(post_id: int) -> str:
    return f"too many pending post requests id={post_id}"


# Undocumented, chosen: a connection past either connection limit is refused at the handshake with
# HTTP 429 and this sentence (the venue's answer is not published).
WS_TOO_MANY_CONNECTIONS = (
    f"Too many websocket connections from this IP address (at most {WS_CONNECTIONS} at once)."
)
WS_TOO_MANY_NEW_CONNECTIONS = (
    "Too many new websocket connections from this IP address "
    f"(at most {WS_NEW_CONNECTIONS_PER_MINUTE} a minute)."
)


class SocketLimits:
    """The websocket limits of each client IP (used from the event loop only).

    A refused request costs nothing: a message past the minute's 2,000 is neither processed nor
    counted, a refused subscription holds no slot. Every message counts, pings included ("messages
    sent to Hyperliquid"). A user-specific subscription takes a user slot while any subscription of
    that IP names the user.
    """

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._open: dict[str, int] = {}
        self._opened: dict[str, deque[float]] = {}
        self._messages: dict[str, deque[float]] = {}
        self._subscriptions: dict[str, int] = {}
        self._users: dict[str, dict[str, int]] = {}  # ip → user → subscriptions naming it
        self._posts: dict[str, int] = {}

    def _recent(self, store: dict[str, deque[float]], ip: str, now: float) -> deque[float]:
        times = store.setdefault(ip, deque())
        while times and times[0] <= now - WINDOW_S:
            times.popleft()
        return times

    def connect(self, ip: str) -> str | None:
        """Count a new connection, or the sentence refusing it."""
        now = self._now()
        opened = self._recent(self._opened, ip, now)
        if self._open.get(ip, 0) >= WS_CONNECTIONS:
            return WS_TOO_MANY_CONNECTIONS
        if len(opened) >= WS_NEW_CONNECTIONS_PER_MINUTE:
            return WS_TOO_MANY_NEW_CONNECTIONS
        opened.append(now)
        self._open[ip] = self._open.get(ip, 0) + 1
        return None

    def disconnect(self, ip: str) -> None:
        self._open[ip] = max(0, self._open.get(ip, 0) - 1)

    def message(self, ip: str) -> str | None:
        """Count one message received, or the sentence refusing it."""
        now = self._now()
        times = self._recent(self._messages, ip, now)
        if len(times) >= WS_MESSAGES_PER_MINUTE:
            return WS_TOO_MANY_MESSAGES
        times.append(now)
        return None

    def subscribe(self, ip: str, user: str | None) -> str | None:
        """Take a subscription slot (and a user slot for a new user), or the refusal."""
        if self._subscriptions.get(ip, 0) >= WS_SUBSCRIPTIONS:
            return WS_TOO_MANY_SUBSCRIPTIONS
        users = self._users.setdefault(ip, {})
        if user is not None and user not in users and len(users) >= WS_USERS:
            return WS_TOO_MANY_USERS
        self._subscriptions[ip] = self._subscriptions.get(ip, 0) + 1
        if user is not None:
            users[user] = users.get(user, 0) + 1
        return None

    def unsubscribe(self, ip: str, user: str | None) -> None:
        self._subscriptions[ip] = max(0, self._subscriptions.get(ip, 0) - 1)
        users = self._users.get(ip, {})
        if user is not None and user in users:
            users[user] -= 1
            if users[user] <= 0:
                del users[user]

    def start_post(self, ip: str, post_id: int) -> str | None:
        """Count a post in flight until `end_post`, or the refusal."""
        if self._posts.get(ip, 0) >= WS_INFLIGHT_POSTS:
            return ws_too_many_posts(post_id)
        self._posts[ip] = self._posts.get(ip, 0) + 1
        return None

    def end_post(self, ip: str) -> None:
        self._posts[ip] = max(0, self._posts.get(ip, 0) - 1)
