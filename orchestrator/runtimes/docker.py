"""The `docker` runtime: each bot is a hardened container on a Docker engine, through the Docker SDK.

One container per tenant, `basis-bot-<tenant>`, from the image `<image_repo>:<version>`, labelled
(`basis.managed-by`, `basis.tenant`, `basis.version`, `basis.instance`, `basis.port`), so a restarted
control plane finds and adopts what runs by label and never restarts it. The tenant's data lives in
the named volume `basis-data-<tenant>`, mounted at /data; the container itself is disposable: stop
removes it, start creates a new one (on the image of the tenant's current version), and the bot
recovers its state from the volume.

Hardening: UID 1000, read-only root, /tmp on tmpfs, every capability dropped, no-new-privileges,
memory / CPU / pids limits, an init process, no Docker socket. Secrets (the API token, the server
secret, the Asgard key) are never in the container's environment, where `docker inspect` shows them:
they are written as 0400 files owned by UID 1000 into the volume before the container starts, and
the bot reads `BASIS_<NAME>_FILE`.

The bot is published on 127.0.0.1:<port> (bridge networking, optionally a private network), or,
with `host_network=True`, listens on 127.0.0.1:<port> in the host's network namespace (tests and the
loopback devnet, whose services a bridged container cannot reach).

The SDK blocks: every engine call runs in a worker thread.
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

from orchestrator.runtimes.base import BotSpec, BotStatus, RuntimeState, health_answers

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
BOT_UID = 1000
# Settings that are secrets: delivered as files, never as environment variables.
SECRET_ENV = ("BASIS_SERVER_SECRET", "BASIS_API_TOKEN", "BASIS_ASGARD_API_KEY")
# Limits when the tenant's own do not say: `memory_mb`, `cpus`, `pids`.
DEFAULT_LIMITS: dict[str, int | float] = {"memory_mb": 512, "cpus": 1.0, "pids": 256}
INSTANCE = re.compile(r"^[A-Za-z0-9._-]{1,63}$")


class DockerRuntimeError(RuntimeError):
    """The engine refused or could not be reached; the message names the tenant, never a secret."""


def _secret_tar(secrets: dict[str, str]) -> bytes:
    """A tar of `.secrets/<name>` files, 0400 and owned by the bot's UID, for `put_archive` into /data."""
    buf = io.BytesIO()
    stamp = time.time()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        folder = tarfile.TarInfo(SECRETS_DIR)
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o500
        folder.uid = folder.gid = BOT_UID
        folder.mtime = stamp
        tar.addfile(folder)
        for name, value in secrets.items():
            data = value.encode()
            info = tarfile.TarInfo(f"{SECRETS_DIR}/{name}")
            info.size = len(data)
            info.mode = 0o400
            info.uid = info.gid = BOT_UID
            info.mtime = stamp
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class DockerRuntime:
    name = "docker"

    def __init__(
        self,
        *,
        image_repo: str = "basis/bot",
        instance: str = "default",
        host_network: bool = False,
        network: str | None = None,
        stop_timeout: float = 30.0,
        health_timeout: float = 2.0,
        client: Any = None,
        name_prefix: str = "basis-bot-",
        volume_prefix: str = "basis-data-",
    ) -> None:
        if not INSTANCE.match(instance):
            raise ValueError("instance must be 1 to 63 letters, digits, dots, dashes or underscores")
        self.image_repo = image_repo
        # Several control planes may share one engine (tests do): each sees only its own containers.
        self.instance = instance
        self.host_network = host_network
        self.network = network
        self.stop_timeout = stop_timeout
        self.health_timeout = health_timeout
        self.name_prefix = name_prefix
        self.volume_prefix = volume_prefix
        self._client = client
        self._locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------------ engine plumbing
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

    def _lock(self, tenant_id: str) -> asyncio.Lock:
        return self._locks.setdefault(tenant_id, asyncio.Lock())

    def _get_container(self, tenant_id: str) -> Any | None:
        from docker.errors import NotFound

        try:
            container = self.client.containers.get(self.container_name(tenant_id))
        except NotFound:
            return None
        labels = container.labels or {}
        if labels.get(MANAGED_BY) != MANAGED_BY_VALUE or labels.get(INSTANCE_LABEL) != self.instance:
            # Same name, someone else's container: never touch it, never start a second bot beside it.
            raise DockerRuntimeError(
                f"a container named {self.container_name(tenant_id)} exists that this control plane "
                "does not own"
            )
        return container

    def _get_volume(self, tenant_id: str) -> Any | None:
        from docker.errors import NotFound

        try:
            return self.client.volumes.get(self.volume_name(tenant_id))
        except NotFound:
            return None

    # ------------------------------------------------------------------ container specification
    def _limits(self, spec: BotSpec) -> dict[str, Any]:
        limits = {**DEFAULT_LIMITS, **{k: v for k, v in spec.limits.items() if k in DEFAULT_LIMITS}}
        memory = int(float(limits["memory_mb"]) * 1024 * 1024)
        return {
            "mem_limit": memory,
            "memswap_limit": memory,  # no swap beyond the memory limit
            "nano_cpus": int(float(limits["cpus"]) * 1_000_000_000),
            "pids_limit": int(limits["pids"]),
        }

    def _environment(self, spec: BotSpec) -> tuple[dict[str, str], dict[str, str]]:
        """(environment, secret files): each secret becomes `<NAME>_FILE` pointing at its file."""
        env: dict[str, str] = {}
        secrets: dict[str, str] = {}
        for key, value in spec.env.items():
            if key in SECRET_ENV:
                filename = key.removeprefix("BASIS_").lower()
                secrets[filename] = value
                env[f"{key}_FILE"] = f"{DATA_DIR}/{SECRETS_DIR}/{filename}"
            else:
                env[key] = value
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "BASIS_TENANT_ID": spec.tenant_id,
                "BASIS_DATA_DIR": DATA_DIR,
                "BASIS_API_HOST": "127.0.0.1" if self.host_network else "0.0.0.0",
                "BASIS_API_PORT": str(spec.port if self.host_network else CONTAINER_PORT),
            }
        )
        return env, secrets

    def _create_kwargs(self, spec: BotSpec, env: dict[str, str]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "image": self.image(spec.version),
            "command": ["serve"],
            "name": self.container_name(spec.tenant_id),
            "labels": self._labels(spec.tenant_id, spec.version, spec.port),
            "environment": env,
            "user": f"{BOT_UID}:{BOT_UID}",
            "working_dir": DATA_DIR,
            "read_only": True,
            "tmpfs": {"/tmp": "rw,noexec,nosuid,nodev,size=64m"},
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true"],
            "init": True,
            "volumes": {self.volume_name(spec.tenant_id): {"bind": DATA_DIR, "mode": "rw"}},
            # The reconciler restarts crashed bots (with back-off); the engine must not race it.
            "restart_policy": {"Name": "no"},
            "log_config": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
            "stop_signal": "SIGTERM",
            "healthcheck": {
                "test": [
                    "CMD",
                    "python3",
                    "-c",
                    "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + "
                    "os.environ['BASIS_API_PORT'] + '/health', timeout=2)",
                ],
                "interval": 5_000_000_000,
                "timeout": 3_000_000_000,
                "retries": 3,
                "start_period": 30_000_000_000,
            },
            **self._limits(spec),
        }
        if self.host_network:
            kwargs["network_mode"] = "host"
        else:
            kwargs["ports"] = {f"{CONTAINER_PORT}/tcp": ("127.0.0.1", spec.port)}
            if self.network is not None:
                kwargs["network"] = self.network
        return kwargs

    def _create_and_start(self, spec: BotSpec) -> Any:
        from docker.errors import APIError, ImageNotFound

        if self._get_volume(spec.tenant_id) is None:
            self.client.volumes.create(
                name=self.volume_name(spec.tenant_id), labels=self._labels(spec.tenant_id)
            )
        env, secrets = self._environment(spec)
        for attempt in (1, 2):
            try:
                container = self.client.containers.create(**self._create_kwargs(spec, env))
                break
            except ImageNotFound:
                raise DockerRuntimeError(
                    f"image {self.image(spec.version)} is not on the engine (make images)"
                ) from None
            except APIError as exc:
                existing = self._get_container(spec.tenant_id) if exc.status_code == 409 else None
                if existing is None or attempt == 2:
                    raise DockerRuntimeError(
                        f"the engine refused to create the bot of {spec.tenant_id}: {exc.explanation}"
                    ) from None
                # The name is taken: by a bot another control plane process just started (adopt
                # it), or by an exited one still being removed (wait for it, then create).
                if existing.status in ("running", "created", "restarting"):
                    return existing
                self._remove(existing)
        try:
            # The volume is mounted (and filled from the image) once the container exists; the
            # secrets go in before the bot starts, written fresh every time (a rotated token applies).
            if secrets:
                container.put_archive(DATA_DIR, _secret_tar(secrets))
            container.start()
            container.reload()
        except APIError as exc:  # NotFound too: removed meanwhile by a concurrent stop
            self._remove(container)
            raise DockerRuntimeError(
                f"the engine could not start the bot of {spec.tenant_id}: {exc.explanation}"
            ) from None
        return container

    def _remove(self, container: Any, wait: float = 30.0) -> None:
        """Force-remove a container and wait until it is gone; one already gone, or being removed by
        a concurrent call (a control plane that died mid-operation left it to the engine), is fine."""
        from docker.errors import APIError, NotFound

        try:
            container.remove(force=True)
        except NotFound:
            return
        except APIError as exc:
            if exc.status_code != 409:  # 409: "removal ... is already in progress"
                raise
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                container.reload()
            except NotFound:
                return
            time.sleep(0.1)
        raise DockerRuntimeError(f"the engine did not remove {container.name} within {wait:g} s")

    # ------------------------------------------------------------------ reading a container
    async def _healthy(self, port: int) -> bool:
        """`GET /health` on the published port answers 200."""
        return await health_answers(port, self.health_timeout)

    @staticmethod
    def _port(container: Any) -> int | None:
        try:
            return int((container.labels or {}).get(PORT_LABEL, ""))
        except ValueError:
            return None

    async def _status_of(self, tenant_id: str, container: Any) -> BotStatus:
        state = container.attrs.get("State", {})
        engine_state = state.get("Status", "")
        port = self._port(container)
        pid = state.get("Pid") or None
        ours: RuntimeState
        if engine_state == "running":
            # Our own probe, not the engine's health status: that one is only refreshed every few
            # seconds, and a bot is ready the moment it answers.
            ours = "running" if port is not None and await self._healthy(port) else "starting"
        elif engine_state in ("created", "restarting", "paused"):
            ours = "starting"
        elif engine_state in ("exited", "dead"):
            ours = "exited"
            pid = None
        else:  # "removing"
            ours = "stopped"
            pid = None
        detail = ""
        if ours == "exited":
            oom = " (out of memory)" if state.get("OOMKilled") else ""
            detail = f"exit code {state.get('ExitCode')}{oom}"
        return BotStatus(tenant_id, ours, pid, port, detail)

    # ------------------------------------------------------------------ the interface
    async def start(self, spec: BotSpec) -> BotStatus:
        async with self._lock(spec.tenant_id):
            existing = await self._call(self._get_container, spec.tenant_id)
            if existing is not None:
                status = await self._status_of(spec.tenant_id, existing)
                if status.alive:
                    return status  # adopted as it runs: never restarted, never doubled
                # Exited (crashed or killed): a new container on the same volume.
                await self._call(self._remove, existing)
            container = await self._call(self._create_and_start, spec)
            return await self._status_of(spec.tenant_id, container)

    async def stop(self, tenant_id: str) -> BotStatus:
        async with self._lock(tenant_id):
            container = await self._call(self._get_container, tenant_id)
            port = None
            if container is not None:
                port = self._port(container)
                await self._call(self._stop_and_remove, container)
            return BotStatus(tenant_id, "stopped", None, port)

    def _stop_and_remove(self, container: Any) -> None:
        from docker.errors import APIError

        # SIGTERM, then SIGKILL after the grace period: the bot parks its step in flight first.
        # A container already stopping, gone or being removed (404, 409) is fine: it goes anyway.
        with contextlib.suppress(APIError):
            container.stop(timeout=int(self.stop_timeout))
        self._remove(container)

    async def status(self, tenant_id: str) -> BotStatus:
        container = await self._call(self._get_container, tenant_id)
        if container is None:
            return BotStatus(tenant_id, "stopped")
        return await self._status_of(tenant_id, container)

    async def list(self) -> list[BotStatus]:
        containers = await self._call(
            self.client.containers.list, all=True, filters={"label": self._selector()}
        )
        out = []
        for container in containers:
            tenant_id = (container.labels or {}).get(TENANT_LABEL, "")
            out.append(await self._status_of(tenant_id, container))
        return out

    async def kill_stray(self, pid: int) -> None:
        """Remove a container of ours that no tenant owns (its pid from `list`); its volume stays."""
        for bot in await self.list():
            if bot.pid == pid:
                await self.stop(bot.tenant_id)

    async def logs(self, tenant_id: str, lines: int = 100) -> str:
        container = await self._call(self._get_container, tenant_id)
        if container is None or lines <= 0:
            return ""
        raw = await self._call(container.logs, tail=lines, stdout=True, stderr=True)
        return raw.decode(errors="replace")

    async def remove(self, tenant_id: str, purge: bool = False) -> None:
        await self.stop(tenant_id)
        if purge:
            await self._call(self._remove_volume, tenant_id)

    def _remove_volume(self, tenant_id: str) -> None:
        from docker.errors import NotFound

        volume = self._get_volume(tenant_id)
        if volume is None:
            return
        labels = volume.attrs.get("Labels") or {}
        if labels.get(MANAGED_BY) != MANAGED_BY_VALUE or labels.get(INSTANCE_LABEL) != self.instance:
            raise DockerRuntimeError(f"volume {volume.name} is not this control plane's: left in place")
        with contextlib.suppress(NotFound):
            volume.remove(force=True)

    # ------------------------------------------------------------------ beyond the interface
    async def volumes(self) -> list[str]:
        """Tenant ids of every data volume of ours, whether a tenant owns it or not."""
        found = await self._call(self.client.volumes.list, filters={"label": self._selector()})
        return sorted((v.attrs.get("Labels") or {}).get(TENANT_LABEL, "") for v in found)

    async def reap(self, tenant_ids: set[str]) -> list[str]:
        """Remove containers *and volumes* of ours that belong to none of `tenant_ids`; returns their ids."""
        reaped: set[str] = set()
        for bot in await self.list():
            if bot.tenant_id not in tenant_ids:
                await self.stop(bot.tenant_id)
                reaped.add(bot.tenant_id)
        for tenant_id in await self.volumes():
            if tenant_id not in tenant_ids:
                await self._call(self._remove_volume, tenant_id)
                reaped.add(tenant_id)
        return sorted(reaped)

    async def events(self) -> AsyncIterator[tuple[str, str]]:
        """(tenant id, action) for every engine event about our containers, as it happens: "start",
        "die", "oom", "kill", "destroy", "health_status: healthy" ... A reconciler that follows this
        reacts to a crashed bot at once instead of at its next timer tick.

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
