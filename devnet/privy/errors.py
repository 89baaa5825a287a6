"""Privy's error body and the errors the emulator answers with.

Privy answers `{"error": "<sentence>", "code": "<privy_error_code>"}` (the `APIError` schema of
@privy-io/api-base; `code` values from its `PrivyErrorCode` enum and from the wallet API's error
code page). Every refusal here is a `PrivyError` carrying its HTTP status; the app turns it into
that body. Messages never contain a secret (app secret, refresh token, code, key).
"""

from __future__ import annotations

from typing import Any

# Messages Privy itself sends (seen in the wild), kept word for word so that client code that
# matches on them behaves the same against the devnet.
INVALID_APP_CREDENTIALS = "Invalid app ID or app secret."
INVALID_EMAIL_CODE = "Invalid email and code combination"
TOO_MANY_REQUESTS = "Too many requests. Please wait to try again."
MISSING_AUTH_TOKEN = "Missing auth token."
INVALID_AUTH_TOKEN = "Invalid auth token."
MISSING_SIGNATURE = "Missing privy-authorization-signature header"
ZERO_SIGNATURES = (
    "No valid authorization signatures were provided. Your payload may be malformed or your "
    "signing keys may be incorrect or expired."
)
INSUFFICIENT_SIGNATURES = "Not enough valid authorization signatures were provided."


class PrivyError(Exception):
    def __init__(self, status: int, message: str, code: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.retry_after_s = retry_after_s

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "code": self.code}


def invalid_data(message: str) -> PrivyError:
    """A body, query or header that breaks the API's rules."""
    return PrivyError(400, message, "invalid_data")


def not_found(message: str) -> PrivyError:
    return PrivyError(404, message, "not_found")


def too_many_requests(retry_after_s: int) -> PrivyError:
    return PrivyError(429, TOO_MANY_REQUESTS, "too_many_requests", retry_after_s=max(1, retry_after_s))


def invalid_token(message: str = INVALID_AUTH_TOKEN) -> PrivyError:
    return PrivyError(401, message, "missing_or_invalid_token")
