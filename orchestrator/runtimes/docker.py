"""The `docker` runtime: each bot is a hardened container on a Docker engine, through the Docker SDK.

One container per tenant, `basis-bot-<tenant>`, from the image `<image_repo>:<version>`, labelled
(`basis.managed-by`, `basis.tenant`, `basis.version`, `basis.instance`, `basis.port`), so a restarted
control plane finds and adopts what runs by label and never restarts it. The tenant's data lives in
the named volume `basis-data-<tenant>`, mounted at /data; the container itself is disposable: stop
removes it, start creates a new one (on the image of the tenant's current version), and the bot
recovers its state from the volume.

Hardening: the tenant's own user id (`BotSpec.uid`, the same allocation as the process runtime's;
group the same, no other group), read-only root, /tmp on tmpfs, every capability dropped,
no-new-privileges, memory / CPU / pids limits, an init process, no Docker socket. Secrets (the API
token, the server secret, the Asgard key) are never in the container's environment, where `docker
inspect` shows them: they are written as 0400 files owned by the tenant's user into the volume before
the container starts, and the bot reads `BASIS_<NAME>_FILE`.

The data volume is the tenant's user's: a new volume (which starts as a copy of the image's /data, UID
1000's) or one an older version left (UID 1000's) is handed over before the bot starts, in one of two ways:

- **Here**, when this process runs as root beside the engine (the volume is a plain `local` one and its
  `Mountpoint`, from the engine, is a folder on this host): the folder is opened without following a
  link, recognised as the engine's by a random marker file the engine itself just wrote into the
  container's /data (with the secrets), and handed over entry by entry (`shared.process_hardening.
  hand_over`: links themselves, never their targets, walked by descriptor). A few milliseconds.
- **Otherwise** (a control plane reaching the engine only through its socket, from another container or
  another host, or not root), by a throwaway container of the same image that may only change owners
  (`chown -R -h`, no network, capabilities CHOWN, FOWNER and DAC_READ_SEARCH only): about half a second.

Networking. By default each bot is on the runtime's own bridge network `basis-bots-<instance>`, created
with inter-container communication disabled: a bot reaches the outside (the venues) and its host (the
signing broker, at the bridge's gateway address: `gateway()`; `BASIS_CP_BROKER_URL` names it), but not
another bot's container; its port is published on the host's 127.0.0.1 only, which no container
reaches. `network` names another bridge to use instead, which must disable inter-container traffic
too. `host_network=True` runs the bot in the host's network namespace on 127.0.0.1:<port>, where it
reaches everything on loopback, other bots included: for the loopback devnet only (tests, compose on
the devnet); the control plane's settings refuse it outside the devnet.

The SDK blocks: every engine call runs in a worker thread. What this runtime shares with the `swarm`
runtime (engine plumbing, labels, environment, limits, health check) lives in `container.py`.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
import time
from collections.abc import Generator
from secrets import token_hex
from typing import Any

from orchestrator.runtimes.base import BotSpec, BotStatus, RuntimeState
from orchestrator.runtimes.container import (
    BOT_UID,
    CONTAINER_PORT,
    DATA_DIR,
    DEFAULT_LIMITS,
    HEALTHCHECK_TEST,
    HEALTHCHECK_TIMING,
    INSTANCE,
    INSTANCE_LABEL,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    OWNER_CAPS,
    PORT_LABEL,
    SECRETS_DIR,
    TENANT_LABEL,
    TMP_SIZE,
    VERSION_LABEL,
    DockerRuntimeError,
    EngineRuntime,
    bot_environment,
    bot_uid,
    effective_limits,
    owner_command,
    port_of,
    secret_tar,
)
from shared.process_hardening import can_switch_users, hand_over

# Re-exported: callers and tests import these from here.
__all__ = [
    "BOT_UID",
    "CONTAINER_PORT",
    "DATA_DIR",
    "DEFAULT_LIMITS",
    "INSTANCE",
    "INSTANCE_LABEL",
    "MANAGED_BY",
    "MANAGED_BY_VALUE",
    "PORT_LABEL",
    "SECRETS_DIR",
    "TENANT_LABEL",
    "VERSION_LABEL",
    "DockerRuntime",
    "DockerRuntimeError",
]

_secret_tar = secret_tar
# The bridge option that keeps containers on one network from reaching each other.
ICC_OPTION = "com.docker.network.bridge.enable_icc"
# Creating a bot whose container name another process holds (`basis serve`'s reconciler beside a
# `basis tenants` command): this many attempts, pausing PAUSE x attempt seconds between them (4.5 s in
# all), long enough for the engine to finish a removal under load.
NAME_TAKEN_ATTEMPTS = 10
NAME_TAKEN_PAUSE_SECONDS = 0.1


class DockerRuntime(EngineRuntime):
    name = "docker"

    def __init__(self, *, network: str | None = None, hand_over_here: bool = True, **engine: Any) -> None:
        """`engine`: the knobs every engine runtime has (`EngineRuntime`); `network`: a bridge network
        of the operator's to put bots on (it must disable inter-container traffic) instead of the
        runtime's own `basis-bots-<instance>`; `hand_over_here`: give a volume to its tenant's user from
        this host when its folder is reachable here (see the module doc); False: always through a
        throwaway container."""
        super().__init__(**engine)
        self.network = network or f"basis-bots-{self.instance}"
        self._own_network = network is None
        self.hand_over_here = hand_over_here

    # ------------------------------------------------------------------ the bots' network
    def _ensure_network(self) -> Any:
        """The bridge the bots are on, created (inter-container traffic off) when it is the runtime's own."""
        from docker.errors import APIError, NotFound

        try:
            network = self.client.networks.get(self.network)
        except NotFound:
            if not self._own_network:
                raise DockerRuntimeError(f"network {self.network} does not exist") from None
            try:
                network = self.client.networks.create(
                    self.network,
                    driver="bridge",
                    options={ICC_OPTION: "false"},
                    labels={MANAGED_BY: MANAGED_BY_VALUE, INSTANCE_LABEL: self.instance},
                )
            except APIError as exc:
                if exc.status_code != 409:  # created by another control plane process meanwhile
                    raise
                network = self.client.networks.get(self.network)
        options = network.attrs.get("Options") or {}
        if network.attrs.get("Driver") == "bridge" and options.get(ICC_OPTION) != "false":
            raise DockerRuntimeError(
                f"network {self.network} lets containers reach each other: bots would reach each other's "
                f"APIs; create it with -o {ICC_OPTION}=false"
            )
        return network

    async def gateway(self) -> str:
        """The host's address on the bots' bridge: where bridged bots reach the host (the signing broker)."""
        network = await self._call(self._ensure_network)
        return str(network.attrs["IPAM"]["Config"][0]["Gateway"])

    # ------------------------------------------------------------------ the data volume's owner
    def _volume_owner(self, container: Any) -> int | None:
        """The user id owning /data in the (created) container's volume: the first entry of its archive."""
        stream, _stat = container.get_archive(DATA_DIR)
        reader = _ChunkReader(stream)
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                first = tar.next()
                return None if first is None else int(first.uid)
        finally:
            reader.close()

    def _folder_here(self, volume: Any) -> int | None:
        """An open descriptor of the volume's folder on this host, when this process may hand it over
        itself: root, a plain `local` volume (no driver options: no NFS or tmpfs mount), its Mountpoint
        an existing folder here, opened without following a link. Whether that folder is the engine's
        (and not a namesake, say on another host's engine) is checked with a marker afterwards."""
        attrs = volume.attrs or {}
        mountpoint = str(attrs.get("Mountpoint") or "")
        if not (self.hand_over_here and can_switch_users()):
            return None
        if attrs.get("Driver") != "local" or attrs.get("Options") or not os.path.isabs(mountpoint):
            return None
        try:
            return os.open(mountpoint, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None

    def _prepare_volume(
        self, container: Any, volume: Any, spec: BotSpec, uid: int, secrets: dict[str, str]
    ) -> None:
        """Write the bot's secrets into its volume (fresh every time: a rotated token applies) and give
        the volume to its user when it is not theirs yet (new, or an older version's): here when its
        folder is on this host, else through a throwaway container (see the module doc)."""
        folder = self._folder_here(volume)
        if folder is None:
            self._own_volume(container, spec, uid)
            if secrets:
                container.put_archive(DATA_DIR, secret_tar(secrets, uid))
            return
        try:
            # The engine writes the marker into the container's /data: seen in the folder here, the
            # folder is the very one the bot will mount.
            marker = f".basis-volume-{token_hex(16)}"
            container.put_archive(DATA_DIR, secret_tar(secrets, uid, marker=marker))
            try:
                os.unlink(marker, dir_fd=folder)
            except FileNotFoundError:
                # Not the engine's folder: left alone. The marker stays in the volume, an empty file
                # of the bot's own.
                self._own_volume(container, spec, uid)
                return
            try:
                hand_over(folder, uid)
            except OSError:  # a file system that refuses it here: the throwaway container does it all
                self._own_volume(container, spec, uid, check_owner=False)
        finally:
            os.close(folder)

    def _own_volume(self, container: Any, spec: BotSpec, uid: int, *, check_owner: bool = True) -> None:
        """Give the tenant's volume to its user through a throwaway container, unless (`check_owner`) its
        folder is theirs already."""
        from docker.errors import ContainerError

        if check_owner and self._volume_owner(container) == uid:
            return
        try:
            self.client.containers.run(
                self.image(spec.version),
                owner_command(uid),
                entrypoint=[],
                user="0:0",
                cap_drop=["ALL"],
                cap_add=OWNER_CAPS,
                security_opt=["no-new-privileges:true"],
                network_mode="none",
                read_only=True,
                volumes={self.volume_name(spec.tenant_id): {"bind": DATA_DIR, "mode": "rw"}},
                labels=self._owner_labels(spec.tenant_id),
                remove=True,  # one left by a killed control plane goes with the volume
            )
        except ContainerError as exc:
            raise DockerRuntimeError(
                f"the data volume of {spec.tenant_id} could not be given to its user (exit {exc.exit_status})"
            ) from None

    def _get_container(self, tenant_id: str) -> Any | None:
        from docker.errors import NotFound

        try:
            container = self.client.containers.get(self.container_name(tenant_id))
        except NotFound:
            return None
        if not self._owned(container.labels):
            # Same name, someone else's container: never touch it, never start a second bot beside it.
            raise DockerRuntimeError(
                f"a container named {self.container_name(tenant_id)} exists that this control plane "
                "does not own"
            )
        return container

    # ------------------------------------------------------------------ container specification
    def _limits(self, spec: BotSpec) -> dict[str, Any]:
        memory, nano_cpus, pids = effective_limits(spec)
        return {
            "mem_limit": memory,
            "memswap_limit": memory,  # no swap beyond the memory limit
            "nano_cpus": nano_cpus,
            "pids_limit": pids,
        }

    def _environment(self, spec: BotSpec) -> tuple[dict[str, str], dict[str, str]]:
        """(environment, secret files): each secret becomes `<NAME>_FILE` pointing at its file."""
        return bot_environment(spec, host_network=self.host_network, secret_dir=f"{DATA_DIR}/{SECRETS_DIR}")

    def _create_kwargs(self, spec: BotSpec, env: dict[str, str]) -> dict[str, Any]:
        uid = bot_uid(spec)
        kwargs: dict[str, Any] = {
            "image": self.image(spec.version),
            "command": ["serve"],
            "name": self.container_name(spec.tenant_id),
            "labels": self._labels(spec.tenant_id, spec.version, spec.port),
            "environment": env,
            "user": f"{uid}:{uid}",
            "working_dir": DATA_DIR,
            "read_only": True,
            "tmpfs": {"/tmp": f"rw,noexec,nosuid,nodev,size={TMP_SIZE // (1024 * 1024)}m"},
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true"],
            "init": True,
            "volumes": {self.volume_name(spec.tenant_id): {"bind": DATA_DIR, "mode": "rw"}},
            # The reconciler restarts crashed bots (with back-off); the engine must not race it.
            "restart_policy": {"Name": "no"},
            "log_config": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
            "stop_signal": "SIGTERM",
            "healthcheck": {"test": HEALTHCHECK_TEST, **HEALTHCHECK_TIMING},
            **self._limits(spec),
        }
        if self.host_network:
            kwargs["network_mode"] = "host"
        else:
            # The host's loopback only: no other container, and nothing beyond this host, reaches it.
            kwargs["ports"] = {f"{CONTAINER_PORT}/tcp": ("127.0.0.1", spec.port)}
            kwargs["network"] = self.network
        return kwargs

    def _create_and_start(self, spec: BotSpec) -> Any:
        from docker.errors import APIError, ImageNotFound

        uid = bot_uid(spec)
        if not self.host_network:
            self._ensure_network()
        volume = self._get_volume(spec.tenant_id)
        if volume is None:
            volume = self.client.volumes.create(
                name=self.volume_name(spec.tenant_id), labels=self._labels(spec.tenant_id)
            )
        env, secrets = self._environment(spec)
        seen: list[str] = []  # what held the name at each refused attempt, for the error
        for attempt in range(1, NAME_TAKEN_ATTEMPTS + 1):
            try:
                container = self.client.containers.create(**self._create_kwargs(spec, env))
                break
            except ImageNotFound:
                raise DockerRuntimeError(
                    f"image {self.image(spec.version)} is not on the engine (make images)"
                ) from None
            except APIError as exc:
                if exc.status_code != 409 or attempt == NAME_TAKEN_ATTEMPTS:
                    held = f" (the name was held by: {', '.join(seen)})" if seen else ""
                    raise DockerRuntimeError(
                        f"the engine refused to create the bot of {spec.tenant_id}: {exc.explanation}{held}"
                    ) from None
                # The name is taken: by a bot another control plane process (`basis serve`'s
                # reconciler beside a `basis tenants` command) just started (adopt it), or by an
                # exited one still being removed (wait for it, then create), or by one whose removal
                # the engine has not finished (the name is released last: wait a little, then again).
                existing = self._get_container(spec.tenant_id)
                seen.append(existing.status if existing is not None else "a container already gone")
                if existing is not None and existing.status in ("running", "created", "restarting"):
                    return existing
                if existing is not None:
                    self._remove(existing)
                time.sleep(NAME_TAKEN_PAUSE_SECONDS * attempt)
        try:
            # The volume is mounted (and filled from the image) once the container exists: it is made
            # the tenant's user's, with the secrets in it, before the bot starts.
            self._prepare_volume(container, volume, spec, uid, secrets)
            container.start()
            container.reload()
        except APIError as exc:  # NotFound too: removed meanwhile by a concurrent stop
            self._remove(container)
            raise DockerRuntimeError(
                f"the engine could not start the bot of {spec.tenant_id}: {exc.explanation}"
            ) from None
        except DockerRuntimeError:
            self._remove(container)
            raise
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
    @staticmethod
    def _port(container: Any) -> int | None:
        return port_of(container.labels)

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

    async def logs(self, tenant_id: str, lines: int = 100) -> str:
        container = await self._call(self._get_container, tenant_id)
        if container is None or lines <= 0:
            return ""
        raw = await self._call(container.logs, tail=lines, stdout=True, stderr=True)
        return raw.decode(errors="replace")

    async def remove(self, tenant_id: str, purge: bool = False) -> None:
        await self.stop(tenant_id)
        if purge:
            await self._call(self._remove_data, tenant_id)


class _ChunkReader:
    """A readable file over an iterator of byte chunks (the engine's archive stream), for `tarfile`."""

    def __init__(self, chunks: Generator[bytes, None, None]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def close(self) -> None:
        self._chunks.close()
