"""Email address and one-time code validation, with answers a person can act on."""

from __future__ import annotations

import re

MAX_EMAIL_LENGTH = 254
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$"
)
_CODE = re.compile(r"^[0-9]{6}$")


class InvalidInput(ValueError):
    """The message is a sentence meant for the person who typed the value."""


def normalise_email(value: str) -> str:
    """The trimmed, lower-cased address; `InvalidInput` with the reason when it is not one."""
    email = value.strip().lower()
    if not email:
        raise InvalidInput("Enter your email address.")
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidInput(f"An email address has at most {MAX_EMAIL_LENGTH} characters.")
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise InvalidInput("An email address looks like name@example.com.")
    if not _LOCAL.match(local) or ".." in local or local.startswith(".") or local.endswith("."):
        raise InvalidInput("The part before the @ has characters an email address cannot have.")
    if not _DOMAIN.match(domain):
        raise InvalidInput("The part after the @ is not a domain name like example.com.")
    return email


def normalise_code(value: str) -> str:
    """The 6 digits, spaces and dashes from a paste removed."""
    code = re.sub(r"[\s-]", "", value)
    if not _CODE.match(code):
        raise InvalidInput("The code is the 6 digits from the email.")
    return code
