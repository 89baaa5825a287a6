"""The interface every runtime implements (process, docker, swarm): `Runtime`, and what it takes and says.

Every call is idempotent and may race the same call from another control-plane process (`basis serve`
and a `basis tenants ...` command share a data root or an engine): a runtime settles such races itself.
Six calls are the bot's life (`start`, `stop`, `status`, `list`, `logs`, `remove`); the rest have
defaults for a runtime that has nothing to do there, and the reconciler and the app call them as they
are, never after asking whether a runtime has them.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

# What a runtime sees: "running" = alive and `/health` answers; "starting" = alive, not answering yet;
# "exited" = it was started and is gone without being stopped (crashed); "stopped" = nothing runs.
RuntimeState = Literal["running", "starting", "exited", "stopped"]


class RuntimeUnavailable(RuntimeError):
    """The runtime's engine refused or could not be reached; the message names the tenant, never a
    secret. The CLI exits 3 with it, as for a database that cannot be reached."""


@dataclass(frozen=True)
class BotSpec:
    """Everything a runtime needs to start one tenant's bot."""

    tenant_id: str
    version: str
    port: int
    data_dir: Path
    # The bot's settings, as `BASIS_*` environment variables, secrets included: `BotLaunch.environment()`
    # (shared/launch.py). The runtime adds where the bot runs (`shared.launch.placement`) and, for a
    # container, moves the secrets into files (`shared.launch.secret_files`).
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


class Runtime(ABC):
    """Runs the bots of one control plane: one bot per tenant, each where only its tenant's data is.

    A runtime knows its bots by a marker of its own (the process runtime's data root, the container
    runtimes' instance label), so a restarted control plane finds and adopts what an earlier one
    started, and never touches another control plane's bots.
    """

    # The runtime's name in the settings (`BASIS_CP_RUNTIME`) and in logs.
    name: ClassVar[str]

    # ------------------------------------------------------------------ the bot's life
    @abstractmethod
    async def start(self, spec: BotSpec) -> BotStatus:
        """Start the tenant's bot unless it already runs; never two bots for one tenant.

        Returns:
          The bot's status right after the start: "starting" as a rule, "running" when it answers
          already. A bot that was running is adopted as it is (not restarted): its status is returned.

        - Returns without waiting for `/health`; the caller polls `status` (`TenantService`
          `wait_until_settled`, or the reconciler's next pass).
        - A bot that exited (crashed) is replaced by a new one on the same data.
        - Raises `RuntimeUnavailable` when the engine refuses or cannot be reached, and
          `BotIsolationError` (process runtime) when the bot cannot be given a user of its own.
        """

    @abstractmethod
    async def stop(self, tenant_id: str) -> BotStatus:
        """Stop the tenant's bot gracefully and return when it is gone: SIGTERM (the bot parks the step
        in flight), SIGKILL after the runtime's stop timeout. Its data stays.

        Returns:
          A "stopped" status (with the port it last had, when known). Nothing running: nothing to do.
        """

    @abstractmethod
    async def status(self, tenant_id: str) -> BotStatus:
        """What the tenant's bot is doing now.

        Returns:
          - "running": alive, and `GET /health` answers 200 (the runtime's own probe, at most
            `health_timeout` seconds);
          - "starting": alive and not answering yet, or being created by the engine;
          - "exited": it was started and is gone without a `stop` (crashed, killed, out of memory;
            `detail` says why when the engine knows);
          - "stopped": nothing runs and nothing says it crashed (never started, stopped, removed).

        May be called at any time: before any `start` (a tenant this runtime never saw is "stopped"),
        every few milliseconds while a start settles (it costs one local request), and by a control
        plane that has just restarted, which sees the bots an earlier one started.
        """

    @abstractmethod
    async def list(self) -> list[BotStatus]:
        """Every bot this runtime runs that carries its marker, whether a tenant owns it or not: the
        reconciler adopts those of a tenant and hands the others to `kill_stray`."""

    @abstractmethod
    async def logs(self, tenant_id: str, lines: int = 100) -> str:
        """The last `lines` lines of the bot's output (its last run's when it has exited); "" when
        there are none. The reconciler quotes the last line as a failed start's reason."""

    @abstractmethod
    async def remove(self, tenant_id: str, purge: bool = False) -> None:
        """Stop the bot, then forget it; `purge` also deletes its data (database, keystore, log, and
        a container runtime's volume). Without `purge` a new start finds the data again."""

    # ------------------------------------------------------------------ with defaults
    async def kill_stray(self, bot: BotStatus) -> None:
        """Stop a bot that `list` returned and no tenant owns. Its data stays (the reconciler reaps
        data apart, through `volumes` or `reap`). Default: `stop(bot.tenant_id)`."""
        await self.stop(bot.tenant_id)

    async def volumes(self) -> list[str] | None:
        """Tenant ids of the data this runtime keeps apart from its bots (a container runtime's data
        volumes), whether a tenant owns them or not. The reconciler removes those that belong to no
        tenant and are not kept for a deleted one (`remove(tenant_id, purge=True)`), asking again
        right before each.

        Returns None (the default) when the runtime has no data of its own it can list: the
        reconciler then calls `reap` instead."""
        return None

    async def reap(self, owners: set[str]) -> list[str]:
        """Remove whatever of this runtime belongs to none of `owners` (every tenant's id and every id
        whose data is kept), and return the tenant ids removed. The reconciler calls it each pass when
        `volumes` returns None. Default: nothing to reap ([])."""
        return []

    def events(self) -> AsyncIterator[tuple[str, str]] | None:
        """The engine's events about this runtime's bots as they happen, as (tenant id, action):
        "start", "die", "oom", "kill", "destroy", ... The reconciler follows them so that a crashed bot
        is restarted at once rather than at its next timer tick; when the stream ends or fails it calls
        `events()` again, after a back-off.

        Returns None (the default) when the runtime has no event stream: the timer alone reconciles."""
        return None

    def warm(self) -> None:
        """Get ready to start bots fast (the process runtime starts its pre-imported spare bot).
        `basis serve` calls it once at start-up; a runtime may call it again itself. Default: nothing."""
        return None

    def close(self) -> None:
        """Let go of what `warm` prepared, when the control plane stops; the bots keep running (a
        restarted control plane adopts them). Default: nothing."""
        return None


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
