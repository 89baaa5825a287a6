"""A real HTTP webhook receiver for tests: a threaded `http.server` on a free loopback port.

It answers each POST with the next scripted status (then 200), records what it was sent, and can
answer like Discord (204, no body) or Telegram (`{"ok": true, "result": {...}}`).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    status: int


class WebhookReceiver:
    def __init__(self, statuses: list[int] | None = None, style: str = "json") -> None:
        self.statuses = list(statuses or [])
        self.style = style
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                with receiver._lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.requests.append(Received(self.path, dict(self.headers), body, status))
                answer = b""
                if status == 200 and receiver.style == "telegram":
                    answer = json.dumps(
                        {"ok": True, "result": {"message_id": len(receiver.requests)}}
                    ).encode()
                elif status == 200 and receiver.style == "discord":
                    status = 204  # Discord's execute-webhook answer without ?wait=true
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.status == 200]

    async def wait_for(self, predicate: Any, timeout: float = 30.0) -> list[Received]:
        """Wait (without blocking the event loop the notifier runs in) for accepted requests matching."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.accepted() if predicate(r)]
            if found:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"nothing matching arrived in {timeout} s; got {[r.body for r in self.requests]}"
        )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
