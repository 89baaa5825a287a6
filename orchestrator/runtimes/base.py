"""The interface every runtime implements (process, docker, swarm). Every call is idempotent."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

# What a runtime sees: "running" = alive and `/health` answers; "starting" = alive, not answering yet;
# "exited" = it was started and is gone without being stopped (crashed); "stopped" = nothing runs.
RuntimeState = Literal["running", "starting", "exited", "stopped"]


@dataclass(frozen=True)
class BotSpec:
    """Everything a runtime needs to start one tenant's bot."""

    tenant_id: str
    version: str
    port: int
    data_dir: Path
    # The bot's whole configuration, as `BASIS_*` environment variables (secrets included).
    env: dict[str, str] = field(repr=False)
    limits: dict[str, int | float] = field(default_factory=dict)
    # The Unix user (and group) id the bot runs as: its tenant's own (`TenantService` allocates it
    # from `bot_uid_min`..`bot_uid_max`). Required by the container runtimes, and by the process
    # runtime when the control plane is root; without root the process runtime ignores it.
    uid: int | None = None


@dataclass(frozen=True)
class BotStatus:
    tenant_id: str
    state: RuntimeState
    pid: int | None = None
    port: int | None = None
    detail: str = ""

    @property
    def alive(self) -> bool:
        return self.state in ("running", "starting")

    @property
    def url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.port else None


class Runtime(Protocol):
    name: str

    async def start(self, spec: BotSpec) -> BotStatus:
        """Start the bot unless it already runs; never two bots for one tenant."""
        ...

    async def stop(self, tenant_id: str) -> BotStatus:
        """Stop it gracefully (SIGTERM, then SIGKILL after a grace period); nothing to do when stopped."""
        ...

    async def status(self, tenant_id: str) -> BotStatus: ...

    async def list(self) -> list[BotStatus]:
        """Every bot this runtime runs that carries our marker, whether a tenant owns it or not."""
        ...

    async def logs(self, tenant_id: str, lines: int = 100) -> str: ...

    async def remove(self, tenant_id: str, purge: bool = False) -> None:
        """Stop, then forget the bot; `purge` also deletes its data (database, keystore, log)."""
        ...


async def health_answers(port: int, timeout: float) -> bool:
    """`GET /health` on a loopback port answers 200. One plain request rather than an HTTP client:
    a client builds a TLS context per call (tens of ms), and a start is polled every few ms."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            writer.write(request.encode())
            status_line = await reader.readline()
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()
    parts = status_line.split(maxsplit=2)
    return len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and parts[1] == b"200"
