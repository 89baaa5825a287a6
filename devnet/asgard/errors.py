"""Asgard's error body: `{"error": {"name", "code", "message", "details"}}`.

Asgard answers logic errors with HTTP 422 and server errors with 500, always in this shape. The
names and codes here are the devnet's own (Asgard publishes no catalogue); each names the failed
rule so a client can branch on `code` and show `message` to a person.
"""

from __future__ import annotations

from typing import Any


class AsgardError(Exception):
    def __init__(
        self, code: str, message: str, *, name: str = "AsgardError", details: Any = None, status: int = 422
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.name = name
        self.details = details
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"error": error_body(self.name, self.code, self.message, self.details)}


def error_body(name: str, code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"name": name, "code": code, "message": message, "details": details}


def invalid(message: str, details: Any = None, code: str = "INVALID_REQUEST") -> AsgardError:
    """A request that breaks a rule of the API (bad field, unknown market, size out of range)."""
    return AsgardError(code, message, name="ValidationError", details=details)
