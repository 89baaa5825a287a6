"""The `swarm` runtime: each bot is a Docker Swarm service of one replica, hardened like the `docker` runtime.

One service per tenant, `basis-bot-<tenant>`, labelled like the docker runtime's containers (on the
service and on its task's container), from the image of the tenant's version. The control plane talks
to a swarm *manager* (its local engine); the scheduler places the bot on any node that satisfies the
placement constraints (`constraints`, e.g. `node.labels.basis==bots`).

Choices, and why:

- **Restart policy `none`.** The reconciler is in charge, as with the docker runtime: it restarts a
  crashed bot with a doubling back-off, records the failure and its reason, counts restarts, and gives
  up on a start that never answers. Swarm restarting on its own would race it and hide crashes. A bot
  the engine's health check finds unhealthy is still replaced by Swarm's task logic (the task fails);
  the reconciler then sees it exited and starts it again.
- **Start = create the service, stop = remove it** (the task's container goes with it, after SIGTERM
  and at most `stop_timeout` s; one on this node is stopped directly, which saves Swarm's delays). A
  crashed bot's service is removed and created anew, so an upgrade and a rotated secret apply simply,
  and the service never carries stale state.
- **Image by ID.** The tag of the tenant's version is resolved to the local image ID when the manager
  has it: Swarm then never tries a registry (none is reachable offline) and every start runs exactly
  that build. Without it locally, the tag is handed on and the nodes pull it from their registry.
  On several nodes without a registry, load the image on each (`docker save | docker load`).
- **Secrets are Docker secrets**, created per start (`basis-<tenant>-<random>`, labelled with the
  tenant and the file name), mounted 0400 for the tenant's user under /run/secrets (tmpfs, never on disk on
  the node, encrypted in the swarm's Raft log), and removed when the bot stops. The bot reads
  `BASIS_<NAME>_FILE`; nothing secret is in the service's spec or the container's environment.
- **Data volume**: the named local volume `basis-data-<tenant>` at /data, created by the node on first
  mount. A local volume lives on one node, so once a bot has run its node is remembered (a swarm
  config `basis-node-<tenant>-…` labelled with the node id) and every later start is constrained to
  `node.id==<it>`: the bot never comes up empty on another node. Moving a tenant is an operator's job
  (move the volume, delete that config). `volumes()`, `reap()` and the purge see this engine's volumes
  only: on a multi-node swarm, volumes on other nodes must be removed there.
- **The volume is the tenant's user's.** A new volume starts as a copy of the image's /data (UID
  1000's), and an older version's belongs to UID 1000: before the bot's service is created, a
  one-replica job of the same image (`basis-owner-<tenant>-…`: root with CHOWN, FOWNER and
  DAC_READ_SEARCH only, read-only root) runs `chown -R -h` on the node the bot will run on. The node
  config then also records the user id (`basis.uid`), so later starts skip the job; without
  `pin_to_node` (a volume every node shares) the job runs at every start.
- **Networking.** With `host_network=True` the service joins the `host` network and the bot listens
  on 127.0.0.1:<port> of its node: the control plane reaches it when both are on one node (tests, the
  loopback devnet); the control plane's settings refuse it outside the devnet. Otherwise the port is
  published through the ingress routing mesh, so 127.0.0.1:<port> on every node reaches it. What holds
  there, and what does not: Swarm cannot publish on loopback only (published ports bind every
  interface of every node, so the bot port range must be firewalled from outside), and the routing
  mesh forwards any task's connection to a published port, so one bot *can* reach another's API
  (node address:<its port>); what stops it is the API's token, which is per tenant and which no bot
  can derive (each gets its own secret, never the control plane's). Containers on the ingress network
  are not otherwise isolated from each other. For bots that cannot reach each other at all, use the
  docker runtime (a bridge without inter-container traffic).

Hardening, as the docker runtime: the tenant's own user id (group the same, no other group),
read-only root, /tmp on tmpfs (the engine mounts it noexec,nosuid,nodev), every capability dropped
(API >= 1.41), an init process, memory / CPU / pids limits (pids: API >= 1.41), no Docker socket.
`no-new-privileges` goes in `Privileges.NoNewPrivileges`, which only engines of API 1.46 (Docker 27)
and later understand; older ones ignore the field, so there start dockerd with `--no-new-privileges`
(or `"no-new-privileges": true` in daemon.json) on every node; `basis doctor` checks it. Swarm has no
swap limit field on such engines either.

The SDK blocks: every engine call runs in a worker thread.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Sequence
from typing import Any

from orchestrator.runtimes.base import BotSpec, BotStatus, RuntimeState
from orchestrator.runtimes.container import (
    BOT_UID,
    CONTAINER_PORT,
    DATA_DIR,
    HEALTHCHECK_TEST,
    HEALTHCHECK_TIMING,
    OWNER_CAPS,
    OWNER_LABEL,
    TENANT_LABEL,
    TMP_SIZE,
    DockerRuntimeError,
    EngineRuntime,
    bot_environment,
    bot_uid,
    effective_limits,
    owner_command,
    port_of,
)

SECRET_DIR = "/run/secrets"
# On a secret: which file of the bot it is. On the node config and the service: the node it is pinned to.
SECRET_FILE_LABEL = "basis.secret"
NODE_LABEL = "basis.node"
# On the node config: the user id the tenant's volume on that node was given to.
UID_LABEL = "basis.uid"
# Final states of a job's task that are not a success.
FAILED_STATES = frozenset({"failed", "rejected", "orphaned", "shutdown", "remove"})
SERVICE_LABEL = "com.docker.swarm.service.id"  # the engine's label on every task container
# Task states before "running" (the scheduler and the node still work on it); later ones are final.
PENDING_STATES = frozenset({"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready"})


class SwarmRuntime(EngineRuntime):
    name = "swarm"

    def __init__(self, *, constraints: Sequence[str] = (), pin_to_node: bool = True, **engine: Any) -> None:
        """`engine`: the knobs every engine runtime has (`EngineRuntime`); `constraints`: placement
        constraints of every bot's service; `pin_to_node`: keep a bot on the node of its volume."""
        super().__init__(**engine)
        self.constraints = [c.strip() for c in constraints if c.strip()]
        self.pin_to_node = pin_to_node
        self._pinned: set[str] = set()  # tenants whose node is known to be remembered

    def service_name(self, tenant_id: str) -> str:
        return self.container_name(tenant_id)

    def _tenant_selector(self, tenant_id: str) -> list[str]:
        return [*self._selector(), f"{TENANT_LABEL}={tenant_id}"]

    # ------------------------------------------------------------------ engine objects
    def _get_service(self, tenant_id: str) -> Any | None:
        from docker.errors import NotFound

        try:
            service = self.client.services.get(self.service_name(tenant_id))
        except NotFound:
            return None
        if not self._owned(service.attrs.get("Spec", {}).get("Labels")):
            # Same name, someone else's service: never touch it, never start a second bot beside it.
            raise DockerRuntimeError(
                f"a service named {self.service_name(tenant_id)} exists that this control plane does not own"
            )
        return service

    def _tasks(self, service: Any) -> list[dict[str, Any]]:
        from docker.errors import NotFound

        try:
            return list(service.tasks())
        except NotFound:  # removed meanwhile
            return []

    def _resolve_image(self, version: str) -> str:
        from docker.errors import ImageNotFound

        tag = self.image(version)
        try:
            return str(self.client.images.get(tag).id)
        except ImageNotFound:
            return tag

    def _node_labels(self, tenant_id: str) -> dict[str, str]:
        """The labels of the tenant's node config (its node, and its volume's user id), if it has one."""
        for config in self.client.configs.list(filters={"label": self._tenant_selector(tenant_id)}):
            labels = config.attrs.get("Spec", {}).get("Labels") or {}
            if labels.get(NODE_LABEL):
                return dict(labels)
        return {}

    def _pinned_node(self, tenant_id: str) -> str | None:
        return self._node_labels(tenant_id).get(NODE_LABEL)

    def _own_volume(self, spec: BotSpec, uid: int, image: str, node: str | None) -> str:
        """Give the tenant's volume to its user with a one-replica job on `node` (or wherever the
        constraints place it); the id of the node it ran on, whose volume it was."""
        from docker.errors import APIError
        from docker.types import RestartPolicy, ServiceMode

        labels = self._owner_labels(spec.tenant_id)
        job = self.client.services.create(
            image,
            command=owner_command(uid),
            name=f"basis-owner-{spec.tenant_id}-{uuid.uuid4().hex[:8]}",
            mode=ServiceMode("replicated-job", concurrency=1, replicas=1),
            labels=labels,
            container_labels=labels,
            user="0:0",
            read_only=True,
            cap_drop=["ALL"],
            cap_add=OWNER_CAPS,
            privileges={"NoNewPrivileges": True},
            mounts=[self._data_mount(spec.tenant_id)],
            restart_policy=RestartPolicy(condition="none"),
            constraints=[*self.constraints, *([f"node.id=={node}"] if node else [])],
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                for task in self._tasks(job):
                    state = (task.get("Status") or {}).get("State", "")
                    if state == "complete":
                        return str(task["NodeID"])
                    if state in FAILED_STATES:
                        error = (task.get("Status") or {}).get("Err") or state
                        raise DockerRuntimeError(
                            f"the data volume of {spec.tenant_id} could not be given to its user: {error}"
                        )
                time.sleep(0.2)
            raise DockerRuntimeError(
                f"the data volume of {spec.tenant_id} was not given to its user in 120 s"
            )
        finally:
            with contextlib.suppress(APIError):
                job.remove()
            # Its finished container on this node would hold the volume until the agent removes it.
            finished = self.client.containers.list(
                all=True, filters={"label": f"{SERVICE_LABEL}={job.id}"}, ignore_removed=True
            )
            for container in finished:
                with contextlib.suppress(APIError):
                    container.remove(force=True)

    def _data_mount(self, tenant_id: str) -> Any:
        """The tenant's volume at /data. Never filled from the image (`no_copy`): Docker fills a volume
        that is still empty from the image's /data, owner included (UID 1000), at every mount, which would
        undo the job's handing it over before the bot wrote anything."""
        from docker.types import Mount

        return Mount(
            DATA_DIR,
            self.volume_name(tenant_id),
            type="volume",
            no_copy=True,
            labels=self._labels(tenant_id),  # given to the volume when the node creates it
        )

    def _remove_owner_leftovers(self, tenant_id: str) -> None:
        from docker.errors import APIError

        selector = f"{OWNER_LABEL}={self.instance}:{tenant_id}"
        for job in self.client.services.list(filters={"label": selector}):
            with contextlib.suppress(APIError):
                job.remove()
        super()._remove_owner_leftovers(tenant_id)

    def _pin(self, tenant_id: str, node_id: str, uid: int | None = None) -> None:
        """Remember the node the bot ran on (its volume is there), unless already remembered; with
        `uid`, (re)record it with the user its volume there was given to."""
        if uid is None and self._pinned_node(tenant_id) is not None:
            return
        labels = {**self._labels(tenant_id), NODE_LABEL: node_id}
        if uid is not None:
            self._remove_configs(tenant_id)  # configs cannot change: the old record goes
            labels[UID_LABEL] = str(uid)
        self.client.configs.create(
            name=f"basis-node-{tenant_id}-{uuid.uuid4().hex[:8]}", data=node_id.encode(), labels=labels
        )

    def _create_secrets(self, tenant_id: str, secrets: dict[str, str], uid: int) -> list[Any]:
        from docker.types import SecretReference

        refs = []
        for filename, value in secrets.items():
            name = f"basis-{tenant_id}-{uuid.uuid4().hex[:12]}"  # at most 64 characters
            secret = self.client.secrets.create(
                name=name,
                data=value.encode(),
                labels={**self._labels(tenant_id), SECRET_FILE_LABEL: filename},
            )
            refs.append(
                SecretReference(secret.id, name, filename=filename, uid=str(uid), gid=str(uid), mode=0o400)
            )
        return refs

    def _remove_secrets(self, tenant_id: str, only: set[str] | None = None) -> None:
        """The tenant's secrets (or those of `only` ids); one a service still uses stays (409)."""
        from docker.errors import APIError

        for secret in self.client.secrets.list(filters={"label": self._tenant_selector(tenant_id)}):
            if only is None or secret.id in only:
                with contextlib.suppress(APIError):
                    secret.remove()

    def _remove_configs(self, tenant_id: str) -> None:
        from docker.errors import APIError

        for config in self.client.configs.list(filters={"label": self._tenant_selector(tenant_id)}):
            with contextlib.suppress(APIError):
                config.remove()

    # ------------------------------------------------------------------ service specification
    def _service_kwargs(
        self, spec: BotSpec, env: dict[str, str], image: str, secrets: list[Any], node: str | None
    ) -> dict[str, Any]:
        from docker.types import EndpointSpec, Healthcheck, Mount, Resources, RestartPolicy, ServiceMode

        uid = bot_uid(spec)
        memory, nano_cpus, pids = effective_limits(spec)
        resources = Resources(cpu_limit=nano_cpus, mem_limit=memory)
        resources["Limits"]["Pids"] = pids  # API 1.41; the SDK has no argument for it
        labels = self._labels(spec.tenant_id, spec.version, spec.port)
        constraints = list(self.constraints)
        if node is not None:
            constraints.append(f"node.id=={node}")
            labels[NODE_LABEL] = node
        kwargs: dict[str, Any] = {
            "image": image,
            "args": ["serve"],  # a service's `command` would replace the image's entrypoint
            "name": self.service_name(spec.tenant_id),
            "mode": ServiceMode("replicated", replicas=1),
            "labels": labels,
            "container_labels": labels,
            "env": env,
            "user": f"{uid}:{uid}",
            "workdir": DATA_DIR,
            "read_only": True,
            "cap_drop": ["ALL"],
            "privileges": {"NoNewPrivileges": True},
            "init": True,
            "mounts": [
                self._data_mount(spec.tenant_id),
                Mount("/tmp", None, type="tmpfs", tmpfs_size=TMP_SIZE),
            ],
            "secrets": secrets,
            "resources": resources,
            # The reconciler restarts crashed bots (with back-off); Swarm must not race it.
            "restart_policy": RestartPolicy(condition="none"),
            "constraints": constraints,
            "log_driver": "json-file",
            "log_driver_options": {"max-size": "10m", "max-file": "3"},
            "stop_signal": "SIGTERM",
            "stop_grace_period": int(self.stop_timeout * 1_000_000_000),
            "healthcheck": Healthcheck(test=HEALTHCHECK_TEST, **HEALTHCHECK_TIMING),
        }
        if self.host_network:
            kwargs["networks"] = ["host"]
        else:
            # The routing mesh: 127.0.0.1:<port> on every node, but also every other interface.
            kwargs["endpoint_spec"] = EndpointSpec(ports={spec.port: CONTAINER_PORT})
        return kwargs

    def _create_service(self, spec: BotSpec) -> Any | None:
        """The new service, or None when the name is taken (another control plane process was first)."""
        from docker.errors import APIError

        uid = bot_uid(spec)
        env, secrets = bot_environment(spec, host_network=self.host_network, secret_dir=SECRET_DIR)
        image = self._resolve_image(spec.version)
        pinned = self._node_labels(spec.tenant_id) if self.pin_to_node else {}
        node = pinned.get(NODE_LABEL)
        if pinned.get(UID_LABEL) != str(uid):
            node = self._own_volume(spec, uid, image, node)
            if self.pin_to_node:
                self._pin(spec.tenant_id, node, uid)
            else:
                node = None  # a volume every node shares: the bot may run anywhere
        self._remove_secrets(spec.tenant_id)  # left by a start whose service is gone
        refs = self._create_secrets(spec.tenant_id, secrets, uid)
        try:
            return self.client.services.create(**self._service_kwargs(spec, env, image, refs, node))
        except APIError as exc:
            self._remove_secrets(spec.tenant_id, only={ref["SecretID"] for ref in refs})
            if exc.status_code == 409:
                return None
            raise DockerRuntimeError(
                f"the engine refused to create the bot of {spec.tenant_id}: {exc.explanation}"
            ) from None

    def _remove_service(self, service: Any, tenant_id: str) -> None:
        """Stop the bot (SIGTERM, then SIGKILL after the grace period), remove its service, wait until
        its container is gone, then remove the tenant's secrets.

        A task container on this node is stopped and removed here directly: left to Swarm, removing a
        service takes about 6 s more (the agent's fixed gossip delay, then its own stop and removal).
        On other nodes their agent does it, within the service's stop grace period.
        """
        from docker.errors import APIError, NotFound

        selector = {"label": f"{SERVICE_LABEL}={service.id}"}
        local = self.client.containers.list(all=True, filters=selector, ignore_removed=True)
        for container in local:
            with contextlib.suppress(APIError):  # stopped, gone or being removed already: fine
                container.stop(timeout=int(self.stop_timeout))
        with contextlib.suppress(NotFound):  # gone already, or removed by a concurrent call
            service.remove()
        for container in local:
            with contextlib.suppress(APIError):
                container.remove(force=True)
        wait = self.stop_timeout + 30
        deadline = time.monotonic() + wait
        while self.client.containers.list(all=True, filters=selector, ignore_removed=True):
            if time.monotonic() > deadline:
                raise DockerRuntimeError(f"the bot of {tenant_id} was not removed within {wait:g} s")
            time.sleep(0.1)
        self._remove_secrets(tenant_id)

    def _remove_volume_when_free(self, tenant_id: str, wait: float = 30.0) -> None:
        """The volume, once no container holds it (the engine may still be removing the last one)."""
        from docker.errors import APIError

        deadline = time.monotonic() + wait
        while True:
            try:
                self._remove_volume(tenant_id)
                return
            except APIError as exc:
                if exc.status_code != 409 or time.monotonic() > deadline:
                    raise DockerRuntimeError(
                        f"the data volume of {tenant_id} could not be removed: {exc.explanation}"
                    ) from None
            time.sleep(0.2)

    # ------------------------------------------------------------------ reading a service
    @staticmethod
    def _newest(tasks: list[dict[str, Any]]) -> dict[str, Any] | None:
        # One task per service (restart policy none, never updated); sorting only guards the odd case.
        return max(
            tasks, key=lambda t: (t.get("CreatedAt", ""), t.get("Version", {}).get("Index", 0)), default=None
        )

    async def _status_of(self, tenant_id: str, service: Any) -> BotStatus:
        labels = service.attrs.get("Spec", {}).get("Labels") or {}
        port = port_of(labels)
        task = self._newest(await self._call(self._tasks, service))
        if task is None:
            return BotStatus(tenant_id, "starting", None, port, "no task scheduled yet")
        status = task.get("Status") or {}
        state = status.get("State", "")
        container = status.get("ContainerStatus") or {}
        error = status.get("Err") or ""
        pid = container.get("PID") or None
        ours: RuntimeState
        detail = ""
        if state in ("running", "starting"):
            # Our own probe, not the task state: Swarm holds a task in "starting" until the engine's
            # health check first passes (its interval, 5 s, after the start), and the bot is ready the
            # moment it answers.
            ours = "running" if port is not None and await self._healthy(port) else "starting"
            if ours == "running" and self.pin_to_node and NODE_LABEL not in labels:
                await self._remember_node(tenant_id, task.get("NodeID"))
        elif state in PENDING_STATES:
            ours, pid = "starting", None
            detail = f"task {state}" + (f": {error}" if error else "")
        else:  # complete, failed, rejected, shutdown, orphaned, remove
            ours, pid = "exited", None
            code = container.get("ExitCode")
            detail = (
                f"task {state}" + (f": {error}" if error else "") + (f" (exit code {code})" if code else "")
            )
        return BotStatus(tenant_id, ours, pid, port, detail)

    async def _remember_node(self, tenant_id: str, node_id: str | None) -> None:
        if not node_id or tenant_id in self._pinned:
            return
        await self._call(self._pin, tenant_id, node_id)
        self._pinned.add(tenant_id)

    # ------------------------------------------------------------------ the interface
    async def start(self, spec: BotSpec) -> BotStatus:
        async with self._lock(spec.tenant_id):
            for _attempt in (1, 2):
                service = await self._call(self._get_service, spec.tenant_id)
                if service is not None:
                    status = await self._status_of(spec.tenant_id, service)
                    if status.alive:
                        return status  # adopted as it runs: never restarted, never doubled
                    # Exited (crashed, killed, unhealthy, rejected): a new service on the same volume.
                    await self._call(self._remove_service, service, spec.tenant_id)
                created = await self._call(self._create_service, spec)
                if created is not None:
                    return await self._status_of(spec.tenant_id, created)
            raise DockerRuntimeError(f"the bot of {spec.tenant_id} is being created and removed concurrently")

    async def stop(self, tenant_id: str) -> BotStatus:
        async with self._lock(tenant_id):
            service = await self._call(self._get_service, tenant_id)
            port = None
            if service is not None:
                port = port_of(service.attrs.get("Spec", {}).get("Labels"))
                await self._call(self._remove_service, service, tenant_id)
            else:
                await self._call(self._remove_secrets, tenant_id)
            return BotStatus(tenant_id, "stopped", None, port)

    async def status(self, tenant_id: str) -> BotStatus:
        service = await self._call(self._get_service, tenant_id)
        if service is None:
            return BotStatus(tenant_id, "stopped")
        return await self._status_of(tenant_id, service)

    async def list(self) -> list[BotStatus]:
        services = await self._call(self.client.services.list, filters={"label": self._selector()})
        out = []
        for service in services:
            tenant_id = (service.attrs.get("Spec", {}).get("Labels") or {}).get(TENANT_LABEL, "")
            out.append(await self._status_of(tenant_id, service))
        return out

    async def logs(self, tenant_id: str, lines: int = 100) -> str:
        """The bot's output; when its task failed, the engine's reason as a last line (a task rejected
        before its container ran, say for a missing image, has no output of its own)."""
        service = await self._call(self._get_service, tenant_id)
        if service is None or lines <= 0:
            return ""

        def read() -> str:
            raw = b"".join(service.logs(stdout=True, stderr=True, tail=lines))
            return raw.decode(errors="replace")

        text = await self._call(read)
        status = await self._status_of(tenant_id, service)
        if status.state == "exited" and status.detail:
            text = text + ("" if not text or text.endswith("\n") else "\n") + f"[swarm] {status.detail}\n"
        return text

    async def remove(self, tenant_id: str, purge: bool = False) -> None:
        await self.stop(tenant_id)
        if purge:
            await self._call(self._remove_data, tenant_id)
            await self._call(self._remove_configs, tenant_id)
            self._pinned.discard(tenant_id)

    # ------------------------------------------------------------------ beyond the interface
    # (`volumes` and `events` come from EngineRuntime: events about this node's task containers.)
    def _remove_data(self, tenant_id: str) -> None:
        self._remove_volume_when_free(tenant_id)

    async def reap(self, owners: set[str]) -> list[str]:
        """Remove services, volumes, secrets and node configs of ours that belong to none of `owners`;
        returns their tenant ids."""
        reaped = set(await super().reap(owners))
        leftovers = await self._call(self._leftover_tenants)
        for tenant_id in leftovers - owners:
            await self._call(self._remove_secrets, tenant_id)
            await self._call(self._remove_configs, tenant_id)
            self._pinned.discard(tenant_id)
            reaped.add(tenant_id)
        return sorted(reaped)

    def _leftover_tenants(self) -> set[str]:
        found = [
            *self.client.secrets.list(filters={"label": self._selector()}),
            *self.client.configs.list(filters={"label": self._selector()}),
        ]
        return {(o.attrs.get("Spec", {}).get("Labels") or {}).get(TENANT_LABEL, "") for o in found}

    async def swarm_active(self) -> bool:
        """True when this engine is a swarm manager (the runtime cannot work otherwise)."""
        info = await self._call(self.client.info)
        swarm = info.get("Swarm") or {}
        return swarm.get("LocalNodeState") == "active" and bool(swarm.get("ControlAvailable"))

    async def no_new_privileges_enforced(self, image: str) -> bool:
        """True when this engine's bots run with no-new-privileges. An engine of API 1.46 or later
        applies the service's own setting; an older one only its daemon-wide default, which no API
        reports: a throwaway container of the bot image (no options of its own) says what the kernel
        applies."""
        version = await self._call(self.client.version)
        major, minor = (int(x) for x in str(version.get("ApiVersion", "0.0")).split(".")[:2])
        if (major, minor) >= (1, 46):
            return True
        out = await self._call(self._probe_no_new_privileges, image)
        return out.decode().split()[-1:] == ["1"]

    def _probe_no_new_privileges(self, image: str) -> bytes:
        container = self.client.containers.create(
            image,
            ["NoNewPrivs", "/proc/self/status"],
            entrypoint=["grep"],  # not the bot's own
            network_mode="none",
            user=f"{BOT_UID}:{BOT_UID}",
            labels={"basis.probe": "no-new-privileges"},  # no tenant label: no runtime lists it
        )
        try:
            container.start()
            container.wait(timeout=60)
            return bytes(container.logs())
        finally:
            # With its anonymous /data volume (the image declares one), which `run(remove=True)` keeps.
            container.remove(v=True, force=True)
