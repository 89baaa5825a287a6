"""structlog set-up shared by every process.

JSON lines when stderr is not a terminal (containers, CI, files), readable colour on a terminal.
Secrets never reach the output, by three independent guards:
- values typed `SecretStr` print as `**********`;
- any field whose key names a secret (`secret`, `password`, `private_key`, `token`, ...) is masked;
- every secret value registered with `register_secret` (settings do it for their `SecretStr`
  fields, key stores for the keys they load) is replaced wherever it appears in a log line,
  exception text included.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog
from pydantic import SecretStr

MASK = "**********"

# Keys whose values are secrets whatever they hold. A key is masked when, written in snake_case, it
# is or ends with one of these words (`app_secret`, `x-api-key`, `privateKey`, `refresh_token`), so
# `token_count` or `keyword` are not masked.
_SECRET_KEY = re.compile(
    r"(^|_)(secret|password|passwd|passphrase|private_?key|seed|mnemonic|token|authorization|cookie|"
    r"api_?key|session_?id|otp|code_hash|signature_?key)$"
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def is_secret_key(key: str) -> bool:
    normal = _CAMEL.sub("_", key).lower().replace("-", "_").replace(".", "_")
    return _SECRET_KEY.search(normal) is not None


_secrets_lock = threading.Lock()
_secrets: set[str] = set()
_secret_pattern: re.Pattern[str] | None = None

# Values too short to scrub safely (they would mask ordinary words and numbers).
_MIN_SECRET_LEN = 8


def register_secret(value: str | bytes | None) -> None:
    """Scrub `value` from every log line emitted from now on (in this process)."""
    global _secret_pattern
    if value is None:
        return
    text = value.hex() if isinstance(value, bytes) else str(value)
    if len(text) < _MIN_SECRET_LEN:
        return
    with _secrets_lock:
        if text in _secrets:
            return
        _secrets.add(text)
        # Longest first so that a secret containing another is replaced whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _secret_pattern = re.compile("|".join(re.escape(s) for s in ordered))


def scrub(text: str) -> str:
    """Replace every registered secret inside `text`."""
    pattern = _secret_pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def _clean(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and is_secret_key(k) else _clean(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_clean(v) for v in value)
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret keys, SecretStr values and registered secret values."""
    for key in list(event_dict.keys()):
        value = event_dict[key]
        if is_secret_key(key):
            event_dict[key] = MASK
        else:
            event_dict[key] = _clean(value)
    return event_dict


def _scrub_rendered(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # Exception text is rendered by format_exc_info before this runs; scrub it too.
    for key in ("exception", "stack"):
        if isinstance(event_dict.get(key), str):
            event_dict[key] = scrub(event_dict[key])
    return event_dict


class _ScrubbingFormatter(logging.Formatter):
    """For records from the standard `logging` module (uvicorn, httpx, sqlalchemy)."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class _CurrentStderr:
    """Whatever `sys.stderr` is at the moment of writing (test runners and CLIs swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


def configure_logging(level: str = "info", json: bool | None = None, stream: Any = None) -> None:
    """Configure structlog and the standard library logging once per process."""
    stream = stream or _CurrentStderr()
    if json is None:
        json = not (hasattr(stream, "isatty") and stream.isatty())
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        numeric = logging.INFO

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: Any
    if json:
        renderer = structlog.processors.JSONRenderer()
        tail: list[Any] = [structlog.processors.format_exc_info, _scrub_rendered, renderer]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=True)
        tail = [renderer]
    structlog.configure(
        processors=[*shared, *tail],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # Per-request access lines are noise at info level; keep warnings.
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))


def get_logger(name: str | None = None, **context: Any) -> Any:
    return structlog.get_logger(name).bind(**context) if context else structlog.get_logger(name)


def registered_secret_count() -> int:
    return len(_secrets)


def known_secrets() -> Iterable[str]:
    """For tests that check a file or log holds none of the secrets this process knows."""
    with _secrets_lock:
        return tuple(_secrets)
