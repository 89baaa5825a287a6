"""The runtime interface is declared whole (`orchestrator/runtimes/base.py`): every runtime implements
it, and a runtime with nothing to do beyond the bot's life gets the documented defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.runtimes.base import BotSpec, BotStatus, Runtime
from orchestrator.runtimes.docker import DockerRuntime
from orchestrator.runtimes.process import ProcessRuntime
from orchestrator.runtimes.swarm import SwarmRuntime


class Minimal(Runtime):
    """The six calls of a bot's life, and nothing else."""

    name = "minimal"

    def __init__(self) -> None:
        self.stopped: list[str] = []

    async def start(self, spec: BotSpec) -> BotStatus:
        return BotStatus(spec.tenant_id, "running", 1, spec.port)

    async def stop(self, tenant_id: str) -> BotStatus:
        self.stopped.append(tenant_id)
        return BotStatus(tenant_id, "stopped")

    async def status(self, tenant_id: str) -> BotStatus:
        return BotStatus(tenant_id, "stopped")

    async def list(self) -> list[BotStatus]:
        return []

    async def logs(self, tenant_id: str, lines: int = 100) -> str:
        return ""

    async def remove(self, tenant_id: str, purge: bool = False) -> None:
        await self.stop(tenant_id)


def test_every_runtime_implements_the_whole_interface(tmp_path: Path) -> None:
    # Instantiating proves no abstract method is left; the engine client is made on first use only.
    runtimes = [
        ProcessRuntime(tmp_path / "tenants"),
        DockerRuntime(client=object()),
        SwarmRuntime(client=object()),
    ]
    assert [r.name for r in runtimes] == ["process", "docker", "swarm"]
    assert all(isinstance(r, Runtime) for r in runtimes)


def test_a_runtime_without_the_six_calls_cannot_be_made() -> None:
    class Partial(Runtime):
        name = "partial"

    with pytest.raises(TypeError, match="abstract"):
        Partial()  # type: ignore[abstract]


async def test_the_defaults_of_a_runtime_that_has_nothing_more_to_do() -> None:
    runtime = Minimal()
    await runtime.kill_stray(BotStatus("stray", "running", 42, 30000))
    assert runtime.stopped == ["stray"]  # a stray is stopped like any bot
    assert await runtime.volumes() is None  # no data of its own to list: the reconciler calls reap
    assert await runtime.reap({"a", "b"}) == []
    assert runtime.events() is None  # no event stream: the timer alone reconciles
    runtime.warm()
    runtime.close()


async def test_the_container_runtimes_have_an_event_stream_and_list_their_volumes() -> None:
    for runtime in (DockerRuntime(client=object()), SwarmRuntime(client=object())):
        stream = runtime.events()
        assert stream is not None  # an async generator: nothing runs until it is iterated
        await stream.aclose()  # type: ignore[attr-defined]
        assert type(runtime).volumes is not Runtime.volumes
