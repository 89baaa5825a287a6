"""The devnet's mailbox: every email the devnet "sends" (Privy one-time codes) lands here and in
the devnet log, readable through the admin API (`GET /mailbox?email=`)."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from shared.logging import get_logger

log = get_logger("devnet.mailbox")

MAX_PER_ADDRESS = 50


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    body: str
    code: str | None
    sent_ms: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Mailbox:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._boxes: dict[str, list[Message]] = {}

    def deliver(self, message: Message) -> None:
        key = message.to.strip().lower()
        with self._lock:
            box = self._boxes.setdefault(key, [])
            box.append(message)
            del box[: max(0, len(box) - MAX_PER_ADDRESS)]
        # The devnet log is a documented place to read codes from (no real mail leaves the machine).
        log.info("devnet email sent", to=message.to, subject=message.subject, one_time_code=message.code)

    def messages(self, email: str) -> list[Message]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._boxes.get(email.strip().lower(), [])))
