"""Fixtures of the container tests: a Docker engine (skip without one, fail with BASIS_REQUIRE_DOCKER=1)
and the bot image, built once per session with the deploy scripts (offline when no registry answers).

BASIS_DOCKER_SKIP_BUILD=1 uses the image already on the engine (CI builds it with `make images` first).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from docker.errors import NotFound

from tests.support.devnet import ROOT
from tests.support.waiting import wait_until_async

REQUIRE = os.environ.get("BASIS_REQUIRE_DOCKER") == "1"
PY_IMAGE = "python:3.11-slim-bookworm"
OFFLINE_BASE = "basis/base:bookworm"
BOT_REPO = "basis/bot"


def _version() -> str:
    from orchestrator.config import ControlPlaneSettings

    return ControlPlaneSettings.model_fields["bot_version"].default


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason} (BASIS_REQUIRE_DOCKER=1: the container tests may not be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    try:
        import docker

        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:
        _unavailable(f"no Docker engine answers ({type(exc).__name__}); start dockerd to run these tests")
    yield client
    client.close()


def _run(cmd: list[str], timeout: float) -> None:
    # The wheelhouse is built with this interpreter (a 3.11 with pip, like the image's Python).
    env = {**os.environ, "WHEEL_PYTHON": sys.executable}
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def _has_image(client: Any, name: str) -> bool:
    import docker.errors

    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


@pytest.fixture(scope="session")
def bot_image(docker_client: Any) -> str:
    """`basis/bot:<version>`, built from the current source once per session."""
    version = _version()
    image = f"{BOT_REPO}:{version}"
    if os.environ.get("BASIS_DOCKER_SKIP_BUILD") == "1" and _has_image(docker_client, image):
        return image
    started = time.monotonic()
    base = PY_IMAGE
    if not _has_image(docker_client, PY_IMAGE):
        try:
            docker_client.images.pull(PY_IMAGE)
        except Exception:
            base = OFFLINE_BASE
            _run(["deploy/base-image.sh", OFFLINE_BASE], timeout=900)
    _run(["deploy/wheelhouse.sh"], timeout=900)
    _run(
        [
            "docker", "build", "-q", "--build-arg", f"BASE_IMAGE={base}",
            "-f", "deploy/bot.Dockerfile", "-t", image, "deploy",
        ],
        timeout=900,
    )  # fmt: skip
    docker_client.images.prune(filters={"label": "basis.image", "dangling": True})
    print(f"\nbuilt {image} on {base} in {time.monotonic() - started:.1f} s")
    return image


@pytest.fixture
def instance(docker_client: Any) -> Iterator[str]:
    """A label of this test's own: its runtime sees only its containers; all are removed after it."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    selector = {"label": [f"basis.instance={name}"]}
    for container in docker_client.containers.list(all=True, filters=selector, ignore_removed=True):
        with contextlib.suppress(NotFound):  # removed meanwhile by the engine (a swarm task's)
            container.remove(force=True)
    for volume in docker_client.volumes.list(filters=selector):
        volume.remove(force=True)
    for network in docker_client.networks.list(filters=selector):  # the bots' own bridge
        network.remove()


@pytest.fixture(scope="session")
def swarm(docker_client: Any) -> Iterator[str]:
    """This engine as a swarm manager (its node id): a single-node swarm on loopback is created for the
    session when the engine is in none, and left again at the end; an existing swarm stays as it was."""
    state = docker_client.info().get("Swarm") or {}
    created = False
    if state.get("LocalNodeState") != "active":
        try:
            docker_client.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
        except Exception as exc:
            _unavailable(f"this engine cannot start a swarm ({type(exc).__name__}: {exc})")
        created = True
        state = docker_client.info().get("Swarm") or {}
    elif not state.get("ControlAvailable"):
        _unavailable("this engine is a swarm worker, not a manager: the swarm runtime needs a manager")
    yield str(state["NodeID"])
    if created:
        docker_client.swarm.leave(force=True)


@pytest.fixture
def swarm_instance(docker_client: Any, swarm: str) -> Iterator[str]:
    """A label of this test's own; its services, secrets, configs, containers and volumes go after it."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    selector = {"label": [f"basis.instance={name}"]}
    for service in docker_client.services.list(filters=selector):
        service.remove()
    deadline = time.monotonic() + 30
    while (
        docker_client.containers.list(all=True, filters=selector, ignore_removed=True)
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    for container in docker_client.containers.list(all=True, filters=selector, ignore_removed=True):
        with contextlib.suppress(NotFound):  # removed meanwhile by the engine (a swarm task's)
            container.remove(force=True)
    for item in [
        *docker_client.secrets.list(filters=selector),
        *docker_client.configs.list(filters=selector),
    ]:
        item.remove()
    for volume in docker_client.volumes.list(filters=selector):
        volume.remove(force=True)


async def event_stream_open(container: Any, seen: list[tuple[str, str]], tenant: str) -> None:
    """Wait until a runtime's event stream, whose (tenant, action) pairs a follower appends to `seen`,
    is open: it is once it reports something done after it was asked for. The probe is harmless, an
    exec of `true` in the tenant's container, repeated until one comes through."""

    async def probed() -> bool:
        await asyncio.to_thread(container.exec_run, ["true"])
        return any(t == tenant and a.startswith("exec_") for t, a in seen)

    await wait_until_async(probed, timeout=30, what="the engine's event stream to open", every=0.2)
