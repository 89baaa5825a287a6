"""The `process` runtime: each bot is a `basis-bot serve` child process on a loopback port.

Each bot runs in a session of its own (`start_new_session=True`), so it outlives the control plane
and a signal sent to the control plane's process group never reaches it. Per tenant, under
`data_root/<tenant>/`: the bot's data (SQLite, keystore), `bot.log` (its stdout and stderr),
`bot.pid` (pid and kernel start time, so a reused pid is never mistaken for the bot) and
`bot.port`. A restarted control plane reads these files and adopts what runs. Every bot carries
a marker in its environment naming this data root, so processes that belong to no tenant can be
found (in /proc) and reaped, without touching another control plane's bots.

With `spare=True` (`basis serve`), the runtime keeps one spare ready: a `python -m tenant_bot.spare`
process that has done the bot's imports and waits on its stdin. A start hands it the bot's environment,
folder and log (one JSON line) instead of starting a cold process, which saves about a second of a new
user's wait. The spare writes that environment over the block /proc shows, so it is identified like
any other bot; until then the pid file names the spare's id. A waiting spare is nobody's bot: `list`
skips it, and it exits when the control plane closes its stdin or dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from orchestrator.runtimes.base import BotSpec, BotStatus, health_answers

MARKER_ENV = "BASIS_RUNTIME_MARKER"
TENANT_ENV = "BASIS_TENANT_ID"
# A spare's id, and the room it is given for the environment of the bot it becomes (bytes; a bot's
# environment is the control plane's own, minus its settings, plus a few kilobytes).
SPARE_ENV = "BASIS_SPARE_ID"
SPARE_ROOM_ENV = "BASIS_SPARE_ROOM"
SPARE_ROOM = 64 * 1024
PROC = Path("/proc")


def marker_for(data_root: Path) -> str:
    digest = hashlib.sha256(str(data_root.resolve()).encode()).hexdigest()[:16]
    return f"basis-process-runtime:{digest}"


@dataclass(frozen=True)
class _Proc:
    pid: int
    start_time: str
    tenant_id: str
    spare: str = ""  # the spare's id when a spare became this bot


def _stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time in clock ticks) of a live process, None when it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], fields[19]


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode(errors="replace")] = value.decode(errors="replace")
    return out


def _alive(stat: tuple[str, str] | None) -> bool:
    # A zombie (Z) or dead (X) entry is a process that has exited.
    return stat is not None and stat[0] not in ("Z", "X")


class ProcessRuntime:
    name = "process"

    def __init__(
        self,
        data_root: Path,
        *,
        stop_timeout: float = 30.0,
        health_timeout: float = 2.0,
        command: list[str] | None = None,
        spare: bool = False,
    ) -> None:
        self.data_root = data_root.resolve()
        self.marker = marker_for(self.data_root)
        self.stop_timeout = stop_timeout
        self.health_timeout = health_timeout
        self.command = command or [sys.executable, "-m", "tenant_bot.main", "serve"]
        # Keep a pre-imported spare for the next start (see the module's docstring); `warm` starts it.
        self.spare = spare
        self._spare: tuple[subprocess.Popen[bytes], str] | None = None
        # Bots this control plane started: kept to reap them (wait) when they exit, so no zombie stays.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # ------------------------------------------------------------------ files
    def tenant_dir(self, tenant_id: str) -> Path:
        return self.data_root / tenant_id

    def log_path(self, tenant_id: str) -> Path:
        return self.tenant_dir(tenant_id) / "bot.log"

    def _pid_path(self, tenant_id: str) -> Path:
        return self.tenant_dir(tenant_id) / "bot.pid"

    def _port_path(self, tenant_id: str) -> Path:
        return self.tenant_dir(tenant_id) / "bot.port"

    @contextlib.contextmanager
    def _lock(self, tenant_id: str) -> Iterator[None]:
        # The CLI and `basis serve` may start the same tenant at once: one of them spawns.
        path = self.tenant_dir(tenant_id)
        path.mkdir(parents=True, exist_ok=True)
        with (path / ".lock").open("w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _read_pidfile(self, tenant_id: str) -> _Proc | None:
        try:
            data = json.loads(self._pid_path(tenant_id).read_text())
            return _Proc(int(data["pid"]), str(data["start_time"]), tenant_id, str(data.get("spare", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_pidfile(self, tenant_id: str, pid: int, spare: str = "") -> None:
        stat = _stat(pid)
        data = {"pid": pid, "start_time": stat[1] if stat else ""}
        if spare:
            data["spare"] = spare
        self._pid_path(tenant_id).write_text(json.dumps(data))

    def _read_port(self, tenant_id: str) -> int | None:
        try:
            return int(self._port_path(tenant_id).read_text().strip())
        except (OSError, ValueError):
            return None

    # ------------------------------------------------------------------ processes
    def _reap(self) -> None:
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[pid]

    def _is_ours(self, proc: _Proc) -> bool:
        stat = _stat(proc.pid)
        if not _alive(stat) or stat is None or stat[1] != proc.start_time:
            return False
        env = _environ(proc.pid)
        if env.get(MARKER_ENV) != self.marker:
            return False
        # A spare handed this tenant shows its own id until it has taken the bot's environment.
        return env.get(TENANT_ENV) == proc.tenant_id or bool(proc.spare and env.get(SPARE_ENV) == proc.spare)

    def _scan(self) -> list[_Proc]:
        """Every live bot carrying our marker, from /proc (spares that wait for a tenant are no bots)."""
        self._reap()
        found: list[_Proc] = []
        for entry in PROC.iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            env = _environ(pid)
            if env.get(MARKER_ENV) != self.marker or TENANT_ENV not in env:
                continue
            stat = _stat(pid)
            if _alive(stat) and stat is not None:
                found.append(_Proc(pid, stat[1], env.get(TENANT_ENV, "")))
        return found

    def _find(self, tenant_id: str) -> _Proc | None:
        self._reap()
        proc = self._read_pidfile(tenant_id)
        if proc is not None and self._is_ours(proc):
            return proc
        # No trustworthy pid file (deleted, or written by a crashed start): look in /proc.
        return next((p for p in self._scan() if p.tenant_id == tenant_id), None)

    async def _healthy(self, port: int) -> bool:
        """`GET /health` answers 200."""
        return await health_answers(port, self.health_timeout)

    def _env(self, spec: BotSpec) -> dict[str, str]:
        # The operator's own BASIS_* settings are the control plane's, not the bot's: none leaks in.
        base = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
        return {
            **base,
            **spec.env,
            "PYTHONUNBUFFERED": "1",
            TENANT_ENV: spec.tenant_id,
            "BASIS_DATA_DIR": str(spec.data_dir.resolve()),
            "BASIS_API_HOST": "127.0.0.1",
            "BASIS_API_PORT": str(spec.port),
            MARKER_ENV: self.marker,
        }

    # ------------------------------------------------------------------ the spare
    def warm(self) -> None:
        """Start a spare now if none waits (with `spare=True`); `basis serve` calls it at start-up."""
        if not self.spare:
            return
        if self._spare is not None and self._spare[0].poll() is None:
            return
        spare_id = uuid.uuid4().hex
        env = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                MARKER_ENV: self.marker,
                SPARE_ENV: spare_id,
                SPARE_ROOM_ENV: "x" * SPARE_ROOM,
            }
        )
        self.data_root.mkdir(parents=True, exist_ok=True)
        with (self.data_root / "spare.log").open("ab") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "tenant_bot.spare"],
                cwd=self.data_root,
                env=env,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children[child.pid] = child
        self._spare = (child, spare_id)

    def close(self) -> None:
        """Let the waiting spare go (it exits when its stdin closes)."""
        if self._spare is not None:
            with contextlib.suppress(OSError):
                if self._spare[0].stdin is not None:
                    self._spare[0].stdin.close()
            self._spare = None

    def _take_spare(self, spec: BotSpec, env: dict[str, str]) -> tuple[int, str] | None:
        """Hand the bot to the waiting spare: (its pid, its id), or None when there is none to use."""
        spare, self._spare = self._spare, None
        if spare is None:
            return None
        child, spare_id = spare
        size = sum(len(f"{k}={v}".encode()) + 1 for k, v in env.items())
        if child.poll() is not None or child.stdin is None or size > SPARE_ROOM:
            self._spare = spare if child.poll() is None else None
            return None
        # The pid file first: from the moment the spare reads its order, it is this tenant's bot.
        self._write_pidfile(spec.tenant_id, child.pid, spare_id)
        order = {
            "env": env,
            "cwd": str(self.tenant_dir(spec.tenant_id)),
            "log": str(self.log_path(spec.tenant_id)),
        }
        try:
            child.stdin.write(json.dumps(order).encode() + b"\n")
            child.stdin.close()
        except OSError:  # it died meanwhile: start cold
            self._pid_path(spec.tenant_id).unlink(missing_ok=True)
            return None
        return child.pid, spare_id

    # ------------------------------------------------------------------ the interface
    async def start(self, spec: BotSpec) -> BotStatus:
        with self._lock(spec.tenant_id):
            existing = self._find(spec.tenant_id)
            if existing is not None:
                return await self._status_of(spec.tenant_id, existing)
            spec.data_dir.mkdir(parents=True, exist_ok=True)
            directory = self.tenant_dir(spec.tenant_id)
            env = self._env(spec)
            self._port_path(spec.tenant_id).write_text(f"{spec.port}\n")
            with self.log_path(spec.tenant_id).open("ab") as log:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                log.write(f"\n### started by the control plane at {stamp}\n".encode())
                log.flush()
                taken = self._take_spare(spec, env)
                if taken is None:
                    child = subprocess.Popen(
                        self.command,
                        cwd=directory,  # so an operator's `.env` in the control plane's folder is not read
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                    self._children[child.pid] = child
                    self._write_pidfile(spec.tenant_id, child.pid)
                    pid = child.pid
                else:
                    pid = taken[0]
            # The next spare at once (or a new one, if the last died): on two cores its imports barely
            # slow this bot's start, and users who sign in one after another each find one ready.
            self.warm()
        return BotStatus(spec.tenant_id, "starting", pid, spec.port)

    async def stop(self, tenant_id: str) -> BotStatus:
        proc = self._find(tenant_id)
        if proc is not None:
            await self._terminate(proc)
        self._pid_path(tenant_id).unlink(missing_ok=True)
        return BotStatus(tenant_id, "stopped", None, self._read_port(tenant_id))

    async def _terminate(self, proc: _Proc) -> None:
        # The bot leads its own process group: signal the group, so nothing it spawned stays behind.
        for sig, grace in ((signal.SIGTERM, self.stop_timeout), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                self._reap()
                stat = _stat(proc.pid)
                if not _alive(stat) or (stat is not None and stat[1] != proc.start_time):
                    return
                await asyncio.sleep(0.05)

    async def status(self, tenant_id: str) -> BotStatus:
        proc = self._find(tenant_id)
        if proc is None:
            state = "exited" if self._pid_path(tenant_id).exists() else "stopped"
            return BotStatus(tenant_id, state, None, self._read_port(tenant_id))
        return await self._status_of(tenant_id, proc)

    async def _status_of(self, tenant_id: str, proc: _Proc) -> BotStatus:
        port = self._read_port(tenant_id)
        healthy = port is not None and await self._healthy(port)
        return BotStatus(tenant_id, "running" if healthy else "starting", proc.pid, port)

    async def list(self) -> list[BotStatus]:
        out = []
        for proc in self._scan():
            out.append(await self._status_of(proc.tenant_id, proc))
        return out

    async def kill_stray(self, pid: int) -> None:
        """Stop a process carrying our marker that no tenant owns (its pid from `list`)."""
        for proc in self._scan():
            if proc.pid == pid:
                await self._terminate(proc)

    async def logs(self, tenant_id: str, lines: int = 100) -> str:
        try:
            with self.log_path(tenant_id).open(errors="replace") as f:
                return "".join(deque(f, maxlen=max(lines, 0)))
        except OSError:
            return ""

    async def remove(self, tenant_id: str, purge: bool = False) -> None:
        await self.stop(tenant_id)
        self._port_path(tenant_id).unlink(missing_ok=True)
        if purge:
            shutil.rmtree(self.tenant_dir(tenant_id), ignore_errors=True)
