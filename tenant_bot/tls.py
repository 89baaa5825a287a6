"""One TLS context for every HTTP client of the bot.

httpx builds a context per client and loads the CA bundle into each one (tens of milliseconds of
CPU and some memory every time); a bot has five clients. A shared context verifies the same way.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()
