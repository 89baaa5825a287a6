"""The interface every runtime implements (process today; Docker and Swarm next). Every call is idempotent."""

from __future__ import annotations

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
