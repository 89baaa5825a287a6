"""The JSON-RPC 2.0 envelope the devnet's two chain nodes share (Solana's agave validator, Arbitrum's
geth): a body holds one call or a batch; a notification (no "id") runs but is not answered; a request
that is not a valid call is answered even without an id; a node's own error becomes an error object; a
bug becomes an internal error, never a dropped connection. And the HTTP side they share: reading a
capped body, replying with a length and, for a preflight, CORS headers.

What differs between the nodes, as it differs between the real ones, each node states (`JsonRpcNode`):
the wording of the envelope's errors, the batch limit, the order of the answer's keys, which requests
are invalid, and how a method's parameters are checked before it runs (`refuse`, `call`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

Handler = Callable[[list[Any]], Any]


class NodeError(Exception):
    """An error the node answers with: its JSON-RPC code, message and optional data."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class JsonRpcNode(ABC):
    """A node's methods behind the shared envelope; a subclass sets the wording and answers `refuse`
    and `call`."""

    parse_error = "Parse error"
    invalid_request = "Invalid request"
    empty_batch = "Invalid request"
    internal_error = "Internal error"
    # At most this many calls in a batch (None: no limit), and what a longer batch is told.
    max_batch: int | None = None
    batch_too_large = "batch too large"
    # geth answers {"jsonrpc", "id", "result"}; agave {"jsonrpc", "result", "id"}.
    id_first = False

    @abstractmethod
    def refuse(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The error answer for a request that is not a valid call (sent even without an id), else None."""

    @abstractmethod
    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """The answer to a valid call: its method's parameters checked, then `run`."""

    # ------------------------------------------------------------------ the envelope
    def answer_body(self, body: bytes) -> bytes:
        """`handle_body`, and an internal error rather than an exception whatever happens."""
        try:
            return self.handle_body(body)
        except Exception as exc:  # never a bare 500: the client gets a JSON-RPC internal error
            return dump(self.error(None, -32603, f"{self.internal_error}: {exc}"))

    def handle_body(self, body: bytes) -> bytes:
        """A whole HTTP body in, the whole answer out (b"" when only notifications came in)."""
        try:
            request = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to read
            return dump(self.error(None, -32700, self.parse_error))
        if isinstance(request, list):
            if not request:
                return dump(self.error(None, -32600, self.empty_batch))
            if self.max_batch is not None and len(request) > self.max_batch:
                return dump(self.error(None, -32600, self.batch_too_large))
            answers = [a for a in (self.handle_call(r) for r in request) if a is not None]
            return dump(answers) if answers else b""
        answer = self.handle_call(request)
        return dump(answer) if answer is not None else b""

    def handle_call(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict):
            return self.error(None, -32600, self.invalid_request)
        refused = self.refuse(request)
        if refused is not None:
            return refused
        answer = self.call(request)
        # A notification runs like a call, but its answer is not sent (JSON-RPC 2.0).
        return answer if "id" in request else None

    def run(self, request_id: Any, handler: Handler, params: list[Any]) -> dict[str, Any]:
        try:
            result = handler(params)
        except NodeError as exc:
            return self.error(request_id, exc.code, exc.message, exc.data)
        except Exception as exc:  # a bug reads as an internal error, never a dropped connection
            return self.error(request_id, -32603, f"{self.internal_error}: {exc}")
        return self._envelope(request_id, "result", result)

    def error(self, request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
        error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        return self._envelope(request_id, "error", error)

    def _envelope(self, request_id: Any, key: str, value: Any) -> dict[str, Any]:
        if self.id_first:
            return {"jsonrpc": "2.0", "id": request_id, key: value}
        return {"jsonrpc": "2.0", key: value, "id": request_id}


# ---------------------------------------------------------------------------------------------- HTTP
async def read_body(receive: Any, limit: int) -> bytes:
    """The request's body; once it grows past `limit` bytes, what was read so far (the rest is not)."""
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > limit or not message.get("more_body"):
            return bytes(body)


async def reply(
    send: Any, status: int, body: bytes, content_type: bytes, cors_methods: bytes | None = None
) -> None:
    """One whole HTTP answer; with `cors_methods`, the CORS headers a preflight gets."""
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if cors_methods is not None:
        headers += [
            (b"access-control-allow-origin", b"*"),
            (b"access-control-allow-methods", cors_methods),
            (b"access-control-allow-headers", b"content-type"),
        ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
