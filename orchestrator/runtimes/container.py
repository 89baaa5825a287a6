"""What the `docker` and `swarm` runtimes share: the engine client, labels, the bot's environment with
its secrets split out as files, limits, the health check, the secret archive and the event stream.

Both run the same image with the same hardening; they differ only in what the engine is asked for (a
container, or a Swarm service whose one task is a container), so the decisions live here, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import tarfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from orchestrator.runtimes.base import BotSpec, Runtime, RuntimeUnavailable, health_answers
from shared.launch import placement, secret_files, variable

T = TypeVar("T")

MANAGED_BY = "basis.managed-by"
MANAGED_BY_VALUE = "basis"
TENANT_LABEL = "basis.tenant"
VERSION_LABEL = "basis.version"
INSTANCE_LABEL = "basis.instance"
PORT_LABEL = "basis.port"

DATA_DIR = "/data"
SECRETS_DIR = ".secrets"
CONTAINER_PORT = 8080
# The image's own user (deploy/bot.Dockerfile). No bot runs as it: each runs as its tenant's user id
# (`BotSpec.uid`); throwaway probes of the image do.
BOT_UID = 1000
# What a throwaway container that hands a tenant's volume to its user may do, and nothing more.
OWNER_CAPS = ["CHOWN", "FOWNER", "DAC_READ_SEARCH"]
# On that container (or swarm job): "<instance>:<tenant>", whose volume it hands over. It carries no
# tenant or instance label, so nothing takes it for a bot; one a killed control plane left is removed
# with the volume.
OWNER_LABEL = "basis.volume-owner"
# Limits when the tenant's own do not say: `memory_mb`, `cpus`, `pids`.
DEFAULT_LIMITS: dict[str, int | float] = {"memory_mb": 512, "cpus": 1.0, "pids": 256}
INSTANCE = re.compile(r"^[A-Za-z0-9._-]{1,63}$")
TMP_SIZE = 64 * 1024 * 1024

# The engine's own health check (the control plane probes `/health` itself; this one is for operators
# and, under Swarm, replaces a container that stops answering). Durations in nanoseconds. Each check is
# a `docker exec`: about 25 ms of CPU in the container (runc) and 30 ms in the engine's daemons, for
# bash's /dev/tcp (python3 with urllib cost 80 ms more). Every 60 s that is about 1 milli-core per
# idle bot; at 5 s it was the largest cost of one. The status line must say 200.
HEALTHCHECK_TEST = [
    "CMD",
    "bash",
    "-c",
    # The port the bot's API listens on in its container (the launch's placement).
    f'exec 3<>"/dev/tcp/127.0.0.1/${variable("api_port")}" && '
    "printf 'GET /health HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' >&3 && "
    'read -r -t 2 status <&3 && [[ "$status" == "HTTP/1."?" 200 "* ]]',
]
HEALTHCHECK_TIMING = {
    "interval": 60_000_000_000,
    "timeout": 3_000_000_000,
    "retries": 3,
    "start_period": 30_000_000_000,
}


class DockerRuntimeError(RuntimeUnavailable):
    """The engine refused or could not be reached; the message names the tenant, never a secret."""


def secret_tar(secrets: dict[str, str], uid: int, marker: str | None = None) -> bytes:
    """A tar of `.secrets/<name>` files, 0400 and owned by the bot's user, for `put_archive` into /data;
    with `marker`, also an empty file of that name beside `.secrets` (the bot's own, 0600), by which the
    runtime recognises the volume's folder on this host. (PAX format: a user id above 2097151 does not
    fit the older tar headers.)"""
    buf = io.BytesIO()
    stamp = time.time()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if marker is not None:
            info = tarfile.TarInfo(marker)
            info.mode = 0o600
            info.uid = info.gid = uid
            info.mtime = stamp
            tar.addfile(info, io.BytesIO(b""))
        folder = tarfile.TarInfo(SECRETS_DIR)
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o500
        folder.uid = folder.gid = uid
        folder.mtime = stamp
        tar.addfile(folder)
        for name, value in secrets.items():
            data = value.encode()
            info = tarfile.TarInfo(f"{SECRETS_DIR}/{name}")
            info.size = len(data)
            info.mode = 0o400
            info.uid = info.gid = uid
            info.mtime = stamp
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def bot_uid(spec: BotSpec) -> int:
    """The user id the tenant's container runs as: its own, never the image's shared one, never root."""
    if spec.uid is None or spec.uid <= 0 or spec.uid == BOT_UID:
        raise DockerRuntimeError(f"the bot of {spec.tenant_id} has no user id of its own to run as")
    return spec.uid


def owner_command(uid: int) -> list[str]:
    """What a throwaway root container runs to give a data volume (mounted at /data) to `uid`: every
    entry, links themselves rather than what they point at (-h; -R follows none), the folder 0700."""
    return ["sh", "-c", f"chown -R -h {uid}:{uid} {DATA_DIR} && chmod 0700 {DATA_DIR}"]


def effective_limits(spec: BotSpec) -> tuple[int, int, int]:
    """(memory bytes, nano CPUs, pids): the tenant's limits over the defaults."""
    limits = {**DEFAULT_LIMITS, **{k: v for k, v in spec.limits.items() if k in DEFAULT_LIMITS}}
    return (
        int(float(limits["memory_mb"]) * 1024 * 1024),
        int(float(limits["cpus"]) * 1_000_000_000),
        int(limits["pids"]),
    )


def bot_environment(
    spec: BotSpec, *, host_network: bool, secret_dir: str
) -> tuple[dict[str, str], dict[str, str]]:
    """(environment, secret files): the launch's settings with each secret as a file in `secret_dir`
    (`shared.launch.secret_files`), and where the bot runs: /data, on the container's port 8080 (or on
    its own port on the host's loopback, with the host's network)."""
    env, secrets = secret_files(spec.env, secret_dir)
    env["PYTHONUNBUFFERED"] = "1"
    if host_network:
        env.update(placement(spec.tenant_id, DATA_DIR, "127.0.0.1", spec.port))
    else:
        env.update(placement(spec.tenant_id, DATA_DIR, "0.0.0.0", CONTAINER_PORT))
    return env, secrets


def port_of(labels: dict[str, str] | None) -> int | None:
    try:
        return int((labels or {}).get(PORT_LABEL, ""))
    except ValueError:
        return None


class EngineRuntime(Runtime):
    """The engine plumbing both runtimes stand on: a lazy SDK client, blocking calls in worker threads,
    names, labels, per-tenant locks, the tenants' data volumes and the engine's event stream."""

    def __init__(
        self,
        *,
        image_repo: str = "basis/bot",
        instance: str = "default",
        host_network: bool = False,
        stop_timeout: float = 30.0,
        health_timeout: float = 2.0,
        client: Any = None,
        name_prefix: str = "basis-bot-",
        volume_prefix: str = "basis-data-",
    ) -> None:
        """`image_repo`: the bot image's repository, tagged with each tenant's version; `instance`: the
        label of this control plane's bots; `host_network`: bots share the host's network (else their
        port is published); `stop_timeout` / `health_timeout`: seconds a bot has to stop, and `/health`
        to answer; `client`: a Docker SDK client (default: from the environment, made on first use)."""
        if not INSTANCE.match(instance):
            raise ValueError("instance must be 1 to 63 letters, digits, dots, dashes or underscores")
        self.image_repo = image_repo
        # Several control planes may share one engine (tests do): each sees only its own bots.
        self.instance = instance
        self.host_network = host_network
        self.stop_timeout = stop_timeout
        self.health_timeout = health_timeout
        self.name_prefix = name_prefix
        self.volume_prefix = volume_prefix
        self._client = client
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            import docker  # imported lazily: the process runtime never needs the SDK

            try:
                self._client = docker.from_env()
            except docker.errors.DockerException as exc:
                raise DockerRuntimeError(
                    f"the Docker engine cannot be reached ({type(exc).__name__})"
                ) from None
        return self._client

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        from docker.errors import APIError, DockerException
        from requests.exceptions import ConnectionError as EngineUnreachable

        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (EngineUnreachable, DockerException) as exc:
            if isinstance(exc, APIError) and exc.status_code is not None and exc.status_code < 500:
                raise  # a refusal about one object (404, 409): the caller decides
            raise DockerRuntimeError(
                f"the Docker engine cannot be reached or failed ({type(exc).__name__})"
            ) from None

    def container_name(self, tenant_id: str) -> str:
        return f"{self.name_prefix}{tenant_id}"

    def volume_name(self, tenant_id: str) -> str:
        return f"{self.volume_prefix}{tenant_id}"

    def image(self, version: str) -> str:
        return f"{self.image_repo}:{version}"

    def _labels(self, tenant_id: str, version: str | None = None, port: int | None = None) -> dict[str, str]:
        labels = {MANAGED_BY: MANAGED_BY_VALUE, TENANT_LABEL: tenant_id, INSTANCE_LABEL: self.instance}
        if version is not None:
            labels[VERSION_LABEL] = version
        if port is not None:
            labels[PORT_LABEL] = str(port)
        return labels

    def _selector(self) -> list[str]:
        return [f"{MANAGED_BY}={MANAGED_BY_VALUE}", f"{INSTANCE_LABEL}={self.instance}"]

    def _owned(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return labels.get(MANAGED_BY) == MANAGED_BY_VALUE and labels.get(INSTANCE_LABEL) == self.instance

    def _lock(self, tenant_id: str) -> asyncio.Lock:
        return self._locks.setdefault(tenant_id, asyncio.Lock())

    async def _healthy(self, port: int) -> bool:
        """`GET /health` on the bot's loopback port answers 200."""
        return await health_answers(port, self.health_timeout)

    def _get_volume(self, tenant_id: str) -> Any | None:
        from docker.errors import NotFound

        try:
            return self.client.volumes.get(self.volume_name(tenant_id))
        except NotFound:
            return None

    def _owner_labels(self, tenant_id: str) -> dict[str, str]:
        return {OWNER_LABEL: f"{self.instance}:{tenant_id}"}

    def _remove_owner_leftovers(self, tenant_id: str) -> None:
        """Containers that handed the tenant's volume over and were left behind (their control plane was
        killed meanwhile): they hold the volume."""
        selector = f"{OWNER_LABEL}={self.instance}:{tenant_id}"
        for container in self.client.containers.list(
            all=True, filters={"label": selector}, ignore_removed=True
        ):
            with contextlib.suppress(Exception):  # gone meanwhile
                container.remove(force=True)

    def _remove_volume(self, tenant_id: str) -> None:
        from docker.errors import NotFound

        volume = self._get_volume(tenant_id)
        if volume is None:
            return
        self._remove_owner_leftovers(tenant_id)
        if not self._owned(volume.attrs.get("Labels")):
            raise DockerRuntimeError(f"volume {volume.name} is not this control plane's: left in place")
        with contextlib.suppress(NotFound):
            volume.remove(force=True)

    def _remove_data(self, tenant_id: str) -> None:
        """Remove the tenant's data volume (blocking; `reap` and `remove` run it in a worker thread)."""
        self._remove_volume(tenant_id)

    async def volumes(self) -> list[str]:
        """Tenant ids of every data volume of ours on this engine, whether a tenant owns it or not."""
        found = await self._call(self.client.volumes.list, filters={"label": self._selector()})
        return sorted((v.attrs.get("Labels") or {}).get(TENANT_LABEL, "") for v in found)

    async def reap(self, owners: set[str]) -> list[str]:
        """Remove the bots *and volumes* of ours that belong to none of `owners`; their tenant ids. (The
        reconciler lists `volumes` instead, and asks again before each; operators and tests call this.)"""
        reaped: set[str] = set()
        for bot in await self.list():
            if bot.tenant_id not in owners:
                await self.stop(bot.tenant_id)
                reaped.add(bot.tenant_id)
        for tenant_id in await self.volumes():
            if tenant_id not in owners:
                await self._call(self._remove_data, tenant_id)
                reaped.add(tenant_id)
        return sorted(reaped)

    async def events(self) -> AsyncIterator[tuple[str, str]]:
        """(tenant id, action) for every engine event about containers of ours on this engine, as it
        happens: "start", "die", "oom", "kill", "destroy", "health_status: healthy" ... A reconciler
        that follows this reacts to a crashed bot at once instead of at its next timer tick.

        The SDK's event stream blocks: a thread reads it and hands each event over to the loop.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        stream = await self._call(
            self.client.events, decode=True, filters={"type": "container", "label": self._selector()}
        )

        def pump() -> None:
            try:
                for event in stream:
                    loop.call_soon_threadsafe(queue.put_nowait, event)
            except Exception:  # the stream was closed (below) or the engine went away
                pass
            finally:
                with contextlib.suppress(RuntimeError):  # the loop may be closed already
                    loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=pump, name="docker-events", daemon=True).start()
        try:
            while (event := await queue.get()) is not None:
                attributes = (event.get("Actor") or {}).get("Attributes") or {}
                yield attributes.get(TENANT_LABEL, ""), str(event.get("Action") or event.get("status") or "")
        finally:
            stream.close()

    async def ping(self) -> bool:
        """True when the engine answers."""
        try:
            return bool(await self._call(self.client.ping))
        except Exception:
            return False
