"""Users and their email accounts, and email address validation.

A user is `did:privy:<cuid>` with one linked email (the only login method the devnet offers) plus
their embedded wallets, rendered in Privy's `User` shape: `{id, created_at (s), has_accepted_terms,
is_guest, linked_accounts, mfa_methods, custom_metadata?}`. Emails are matched case-insensitively
and stored lower-cased, as Privy does.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from devnet.privy.errors import PrivyError, invalid_data
from devnet.privy.ids import new_user_id
from devnet.privy.wallets import Wallet, linked_accounts

MAX_EMAIL_LENGTH = 254
# One @, a non-empty local part and a dotted domain of letters, digits and hyphens: what mail
# servers accept in practice, without the quoted-string corners of RFC 5322.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$"
)


def normalise_email(value: Any) -> str:
    """The lower-cased address, or 400 if it is not an email address."""
    if not isinstance(value, str):
        raise invalid_data("email must be a string")
    email = value.strip().lower()
    local = email.split("@")[0]
    if (
        len(email) > MAX_EMAIL_LENGTH
        or not _EMAIL.match(email)
        or ".." in local
        or local.startswith(".")
        or local.endswith(".")
    ):
        raise invalid_data("Invalid email address")
    return email


@dataclass
class User:
    id: str
    email: str
    created_s: int
    email_first_verified_s: int
    email_latest_verified_s: int
    custom_metadata: dict[str, Any] = field(default_factory=dict)

    def as_json(self, wallets: list[Wallet]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "created_at": self.created_s,
            "has_accepted_terms": False,
            "is_guest": False,
            "linked_accounts": [
                {
                    "type": "email",
                    "address": self.email,
                    "verified_at": self.email_first_verified_s,
                    "first_verified_at": self.email_first_verified_s,
                    "latest_verified_at": self.email_latest_verified_s,
                },
                *linked_accounts(wallets),
            ],
            "mfa_methods": [],
        }
        if self.custom_metadata:
            body["custom_metadata"] = dict(self.custom_metadata)
        return body


class Users:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, User] = {}
        self._by_email: dict[str, str] = {}

    def create(self, email: str, now_s: int, custom_metadata: dict[str, Any] | None = None) -> User:
        user = User(new_user_id(), email, now_s, now_s, now_s, dict(custom_metadata or {}))
        with self._lock:
            if email in self._by_email:
                raise PrivyError(
                    400, "Email address is already linked to another user", "linked_to_another_user"
                )
            self._by_id[user.id] = user
            self._by_email[email] = user.id
        return user

    def get(self, user_id: str) -> User | None:
        with self._lock:
            return self._by_id.get(user_id)

    def by_email(self, email: str) -> User | None:
        with self._lock:
            user_id = self._by_email.get(email)
            return self._by_id.get(user_id) if user_id else None

    def record_login(self, user: User, now_s: int) -> None:
        with self._lock:
            user.email_latest_verified_s = now_s

    def delete(self, user_id: str) -> User | None:
        with self._lock:
            user = self._by_id.pop(user_id, None)
            if user is not None:
                self._by_email.pop(user.email, None)
            return user

    def all(self) -> list[User]:
        """Oldest first."""
        with self._lock:
            return list(self._by_id.values())

    def count(self) -> int:
        with self._lock:
            return len(self._by_id)
