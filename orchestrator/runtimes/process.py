"""The `process` runtime: each bot is a `basis-bot serve` process on a loopback port, as a user of its own.

Layout under `data_root` (0711: a bot may cross it to its own folder, nobody may list it):

- `<tenant>/`: the bot's folder (its SQLite, keystore, kill switch), owned by the tenant's user, 0700;
  its working directory, `BASIS_DATA_DIR` and `HOME`. A bot must be able to cross every folder above
  it (SQLite resolves the whole path): a start refuses, saying which folder, when one cannot be crossed.
- `.runtime/` (0700, the control plane's): per tenant `<tenant>/bot.pid` (pid and kernel start time,
  so a reused pid is never mistaken for the bot), `bot.port`, `bot.log` (the bot's stdout and stderr,
  written through a descriptor it inherits), `bot.lock` (the bot's identity lock) and `start.lock`
  (one start at a time); `spare.log`. Nothing the control plane reads or writes by name lives in a
  folder a bot can write, so no bot can forge its pid file or turn one of the control plane's writes
  into a write elsewhere (a symbolic link in its own folder).

**Users.** When the control plane runs as root, each bot runs as the user id its tenant was given
(`BotSpec.uid`, from the database): group id the same number, no supplementary groups, no /etc/passwd
entry needed. Its folder is made that user's (the whole tree when it was someone else's: a folder
from an older version, or data taken back) and 0700 before it starts. A bot starts as root and drops to
its user itself (`basis-bot serve`, or the spare when it gets its order): its imports are done as
root, so the interpreter and the code need not be readable by the bot's user; `python -P` keeps its
folder off `sys.path` while it is root, and it reads its settings and touches its folder only after.
Without root (a developer's devnet), bots run as the control plane's user and a warning says so once;
outside the devnet the control plane's settings refuse that (`orchestrator/config.py`).

**Code the bots can read.** What a bot imports after it drops to its user (a module a rare path loads
lazily) must be readable by "other". As root, the runtime checks at start-up that every folder of the
bots' code (the interpreter's standard library, the virtualenv's site-packages, the project's source:
`orchestrator/runtimes/bot_code.py`) and every folder above it can be used so; when one cannot, it
refuses to start bots with the sentence naming the first such folder and the fix
(`refuse_closed_code`, outside the devnet), or says so once in a warning (the devnet).

**Environment.** A bot's environment is its settings (`BotSpec.env`) plus an allow-list of the
control plane's own (`PASSED_ENV`: PATH, locale, time zone, proxies, CA files, a few PYTHON* knobs);
`HOME` is its folder. Nothing else the control plane holds reaches it.

**Identity.** A bot holds a POSIX write lock on its `bot.lock` for its whole life (`shared/runtime_lock.py`;
the runtime hands it the open file, since bots cannot open the runtime's folder). The tenant's bot is
the process the kernel says holds that lock; one started but not holding it yet is the process the pid
file names, if it is alive with the recorded start time. A second bot of a tenant cannot take the lock
and exits. A restarted control plane adopts what it finds this way, and `list` (the reconciler's
strays) is every such process under `.runtime/`, so another data root's bots are never touched.

**Spare** (`spare=True`, `basis serve`): one `python -m tenant_bot.spare` process that has done the
bot's imports waits on its stdin, with no secret in its environment (as root, when the control plane
is). A start hands it the bot's environment, folder, log, lock and user (one JSON line) instead of
starting a cold process, which saves about a second of a new user's wait; it takes the lock, drops to
the user, then takes the folder and the environment. A waiting spare holds no lock and has no pid
file: it is nobody's bot, `list` skips it, and it exits when the control plane closes its stdin or dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from orchestrator.runtimes.base import BotSpec, BotStatus, Runtime, health_answers
from orchestrator.runtimes.bot_code import closed_bot_code
from shared.launch import placement
from shared.logging import get_logger
from shared.process_hardening import RUN_AS_ENV, can_switch_users, hand_over
from shared.runtime_lock import LOCK_FD_ENV, holder

log = get_logger(__name__)

RUNTIME_DIR = ".runtime"
PROC = Path("/proc")
# What a bot gets of the control plane's environment (besides its own settings): the search path,
# locale and time zone, proxies and CA files (to reach the venues), and Python knobs that change no
# behaviour the control plane relies on. Nothing else: the operator's shell may hold anything.
PASSED_ENV = frozenset(
    {
        "PATH",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TZDIR",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "PYTHONPATH",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONFAULTHANDLER",
        "PYTHONIOENCODING",
        "PYTHONUTF8",
        "PYTHONWARNINGS",
    }
)
PASSED_PREFIXES = ("LC_",)
# Run as root, the bot must not import from its working directory (its own, writable folder).
PYTHON = [sys.executable, "-P"]
_shared_user_warned = False


class BotIsolationError(PermissionError):
    """A bot cannot be given a user of its own; the message says why and what to do."""


def passed_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The part of the control plane's environment a bot (or the spare) gets: `PASSED_ENV` and `LC_*`.
    PYTHONPATH keeps only absolute folders (an empty or relative entry would be the bot's own folder)."""
    environ = dict(os.environ if environ is None else environ)
    out = {k: v for k, v in environ.items() if k in PASSED_ENV or k.startswith(PASSED_PREFIXES)}
    if "PYTHONPATH" in out:
        kept = [p for p in out["PYTHONPATH"].split(os.pathsep) if os.path.isabs(p)]
        if kept:
            out["PYTHONPATH"] = os.pathsep.join(kept)
        else:
            del out["PYTHONPATH"]
    return out


@dataclass(frozen=True)
class _Proc:
    pid: int
    start_time: str
    tenant_id: str
    locked: bool = True  # False: started, not holding its lock yet


def _stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time in clock ticks) of a live process, None when it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], fields[19]


def _alive(stat: tuple[str, str] | None) -> bool:
    # A zombie (Z) or dead (X) entry is a process that has exited.
    return stat is not None and stat[0] not in ("Z", "X")


def _open_private(path: Path, flags: int) -> int:
    """Open a file of the runtime's own folder for this process (0600, never through a link)."""
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


class ProcessRuntime(Runtime):
    name = "process"

    def __init__(
        self,
        data_root: Path,
        *,
        stop_timeout: float = 30.0,
        health_timeout: float = 2.0,
        command: list[str] | None = None,
        spare: bool = False,
        bot_users: bool | None = None,
        refuse_closed_code: bool = False,
    ) -> None:
        """`command`: what a cold start runs (default `basis-bot serve`); `spare`: keep a pre-imported
        spare (see the module's docstring; `warm` starts it); `bot_users`: run each bot as its tenant's
        user (default: when this process is root); `refuse_closed_code`: with bot users, refuse to start
        bots while their code is closed to them (the control plane outside the devnet); else warn once."""
        self.data_root = data_root.resolve()
        self.runtime_root = self.data_root / RUNTIME_DIR
        self.stop_timeout = stop_timeout
        self.health_timeout = health_timeout
        self.command = command or [*PYTHON, "-m", "tenant_bot.main", "serve"]
        self.spare = spare
        self.bot_users = can_switch_users() if bot_users is None else bot_users
        self.refuse_closed_code = refuse_closed_code
        # Checked once, at start-up: the interpreter and the code do not move while this process runs.
        self._closed_code = closed_bot_code() if self.bot_users else None
        self._closed_code_warned = False
        self._spare: subprocess.Popen[bytes] | None = None
        # Bots this control plane started: kept to reap them (wait) when they exit, so no zombie stays.
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._starting: dict[str, asyncio.Lock] = {}
        self._prepare_root()

    def _prepare_root(self) -> None:
        """The layout, and its modes tightened (an older version left folders 0755 and files 0644):
        the data root 0711, the runtime's folder 0700, each tenant's folder 0700 (what is inside is
        tightened by its bot when it starts). A command that may not change them leaves them as they are."""
        with contextlib.suppress(PermissionError):
            self.data_root.mkdir(parents=True, exist_ok=True)
            self.runtime_root.mkdir(mode=0o700, exist_ok=True)
            os.chmod(self.data_root, 0o711)
            os.chmod(self.runtime_root, 0o700)
            for entry in self.data_root.iterdir():
                if entry.name != RUNTIME_DIR:
                    with contextlib.suppress(OSError):
                        fd = os.open(entry, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
                        try:
                            os.fchmod(fd, 0o700)
                        finally:
                            os.close(fd)

    # ------------------------------------------------------------------ files
    def tenant_dir(self, tenant_id: str) -> Path:
        """The bot's own folder (its data)."""
        return self.data_root / tenant_id

    def _run_dir(self, tenant_id: str) -> Path:
        return self.runtime_root / tenant_id

    def log_path(self, tenant_id: str) -> Path:
        return self._run_dir(tenant_id) / "bot.log"

    def lock_path(self, tenant_id: str) -> Path:
        return self._run_dir(tenant_id) / "bot.lock"

    def _pid_path(self, tenant_id: str) -> Path:
        return self._run_dir(tenant_id) / "bot.pid"

    def _port_path(self, tenant_id: str) -> Path:
        return self._run_dir(tenant_id) / "bot.port"

    @contextlib.asynccontextmanager
    async def _start_lock(self, tenant_id: str) -> AsyncIterator[None]:
        # The CLI and `basis serve` may start the same tenant at once: one of them spawns. Within this
        # process an asyncio lock comes first, so a second start waits without blocking the loop.
        async with self._starting.setdefault(tenant_id, asyncio.Lock()):
            self._run_dir(tenant_id).mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = _open_private(self._run_dir(tenant_id) / "start.lock", os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def _read_pidfile(self, tenant_id: str) -> _Proc | None:
        try:
            data = json.loads(self._pid_path(tenant_id).read_text())
            return _Proc(int(data["pid"]), str(data["start_time"]), tenant_id, locked=False)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_pidfile(self, tenant_id: str, pid: int) -> None:
        stat = _stat(pid)
        data = json.dumps({"pid": pid, "start_time": stat[1] if stat else ""})
        fd = _open_private(self._pid_path(tenant_id), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "w") as f:
            f.write(data)

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

    def _find(self, tenant_id: str) -> _Proc | None:
        """The tenant's bot: the holder of its lock, else the process its pid file names while that
        one has not taken the lock yet (alive, with the recorded start time)."""
        self._reap()
        pid = holder(self.lock_path(tenant_id))
        stat = _stat(pid) if pid is not None else None
        if pid is not None and _alive(stat) and stat is not None:
            recorded = self._read_pidfile(tenant_id)
            if recorded is None or (recorded.pid, recorded.start_time) != (pid, stat[1]):
                self._write_pidfile(tenant_id, pid)  # lost or stale: the lock says who runs
            return _Proc(pid, stat[1], tenant_id)
        recorded = self._read_pidfile(tenant_id)
        if recorded is not None:
            stat = _stat(recorded.pid)
            if _alive(stat) and stat is not None and stat[1] == recorded.start_time:
                return recorded
        return None

    def _scan(self) -> list[_Proc]:
        """Every bot of this data root (spares that wait for a tenant are no bots)."""
        if not self.runtime_root.is_dir():
            return []
        found = []
        for entry in sorted(self.runtime_root.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                proc = self._find(entry.name)
                if proc is not None:
                    found.append(proc)
        return found

    async def _healthy(self, port: int) -> bool:
        """`GET /health` answers 200."""
        return await health_answers(port, self.health_timeout)

    def _env(self, spec: BotSpec) -> dict[str, str]:
        """The bot's whole environment: the allow-list of the control plane's, then its settings."""
        folder = str(self.tenant_dir(spec.tenant_id))
        return {
            **passed_environment(),
            **spec.env,
            "PYTHONUNBUFFERED": "1",
            "HOME": folder,
            **placement(spec.tenant_id, folder, "127.0.0.1", spec.port),
        }

    def _user(self, spec: BotSpec) -> int | None:
        """The user the bot runs as: its tenant's, or None (this control plane's user) without root."""
        global _shared_user_warned
        if not self.bot_users:
            if not _shared_user_warned:
                _shared_user_warned = True
                log.warning(
                    "bots run as this control plane's Unix user, so they can read each other's files: "
                    "fine on the devnet; run the control plane as root to give each bot a user of its own"
                )
            return None
        if spec.uid is None or spec.uid <= 0:
            raise BotIsolationError(f"the bot of {spec.tenant_id} has no Unix user of its own to run as")
        self._check_crossable()
        self._check_code()
        return spec.uid

    def _check_code(self) -> None:
        """The bots' users can read the code the bots import late; else refuse (outside the devnet)
        or warn once (the devnet, where the bots' imports as root cover the usual paths)."""
        closed = self._closed_code
        if closed is None:
            return
        if self.refuse_closed_code:
            raise BotIsolationError(closed.sentence())
        if not self._closed_code_warned:
            self._closed_code_warned = True
            log.warning(closed.sentence(), folder=str(closed.folder))

    def _check_crossable(self) -> None:
        """Every folder above the data root can be crossed by other users (a bot must reach its own)."""
        for folder in self.data_root.parents:
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                raise BotIsolationError(
                    f"bots run as users of their own and must reach their folders under {self.data_root}, "
                    f"but {folder} cannot be crossed by other users: chmod o+x {folder} (it need not be "
                    "readable), or choose a data root (BASIS_CP_DATA_ROOT) below folders others can cross"
                )

    def _prepare_folder(self, tenant_id: str, uid: int | None) -> None:
        """The bot's folder exists, is 0700, and (with a user) is that user's, all of it: a folder
        another user owns (from an older version, or data taken back) is handed over entry by entry."""
        folder = self.tenant_dir(tenant_id)
        folder.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            if uid is not None:
                hand_over(fd, uid)
            else:
                os.fchmod(fd, 0o700)
        finally:
            os.close(fd)

    async def _stop_legacy(self, tenant_id: str) -> None:
        """A bot an older version started (its pid file in the bot's own folder, no lock) is stopped,
        so it is started again the current way and never runs beside a new one. It is recognised by
        its recorded start time and by its working directory, the tenant's folder."""
        folder = self.tenant_dir(tenant_id)
        try:
            fd = os.open(folder / "bot.pid", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd) as f:
                data = json.loads(f.read(4096))
            old = _Proc(int(data["pid"]), str(data["start_time"]), tenant_id, locked=False)
        except (OSError, ValueError, KeyError, TypeError):
            return
        stat = _stat(old.pid)
        with contextlib.suppress(OSError):
            ours = _alive(stat) and stat is not None and stat[1] == old.start_time
            if ours and os.readlink(PROC / str(old.pid) / "cwd") == str(folder):
                log.warning("stopping a bot started by an older version", tenant_id=tenant_id, pid=old.pid)
                await self._terminate(old)
        for name in ("bot.pid", "bot.port", ".lock"):
            with contextlib.suppress(OSError):
                (folder / name).unlink()

    # ------------------------------------------------------------------ the spare
    def warm(self) -> None:
        """Start a spare now if none waits (with `spare=True`); `basis serve` calls it at start-up."""
        if not self.spare:
            return
        if self._spare is not None and self._spare.poll() is None:
            return
        if self.bot_users and self.refuse_closed_code and self._closed_code is not None:
            return  # no bot may start (`_check_code`): a spare would wait for nothing
        self.runtime_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = _open_private(self.runtime_root / "spare.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        with os.fdopen(fd, "ab") as spare_log:
            child = subprocess.Popen(
                [*PYTHON, "-m", "tenant_bot.spare"],
                cwd=self.runtime_root,
                env={**passed_environment(), "PYTHONUNBUFFERED": "1"},  # no secret: it knows no tenant yet
                stdin=subprocess.PIPE,
                stdout=spare_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children[child.pid] = child
        self._spare = child

    def close(self) -> None:
        """Let the waiting spare go (it exits when its stdin closes)."""
        if self._spare is not None:
            with contextlib.suppress(OSError):
                if self._spare.stdin is not None:
                    self._spare.stdin.close()
            self._spare = None

    def _take_spare(self, spec: BotSpec, env: dict[str, str], uid: int | None) -> int | None:
        """Hand the bot to the waiting spare: its pid, or None when there is none to use."""
        child, self._spare = self._spare, None
        if child is None:
            return None
        if child.poll() is not None or child.stdin is None:
            return None
        # The pid file first: from the moment the spare reads its order, it is this tenant's bot.
        self._write_pidfile(spec.tenant_id, child.pid)
        order = {
            "env": env,
            "cwd": str(self.tenant_dir(spec.tenant_id)),
            "log": str(self.log_path(spec.tenant_id)),
            "lock": str(self.lock_path(spec.tenant_id)),
            "uid": uid,
        }
        try:
            child.stdin.write(json.dumps(order).encode() + b"\n")
            child.stdin.close()
        except OSError:  # it died meanwhile: start cold
            self._pid_path(spec.tenant_id).unlink(missing_ok=True)
            return None
        return child.pid

    def _start_cold(self, spec: BotSpec, env: dict[str, str], uid: int | None, log_fd: int) -> int:
        lock_fd = _open_private(self.lock_path(spec.tenant_id), os.O_RDWR | os.O_CREAT)
        try:
            env = {**env, LOCK_FD_ENV: str(lock_fd)}
            if uid is not None:
                env[RUN_AS_ENV] = str(uid)
            child = subprocess.Popen(
                self.command,
                cwd=self.tenant_dir(spec.tenant_id),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(lock_fd,),
            )
        finally:
            os.close(lock_fd)
        self._children[child.pid] = child
        self._write_pidfile(spec.tenant_id, child.pid)
        return child.pid

    # ------------------------------------------------------------------ the interface
    async def start(self, spec: BotSpec) -> BotStatus:
        async with self._start_lock(spec.tenant_id):
            existing = self._find(spec.tenant_id)
            if existing is not None:
                return await self._status_of(spec.tenant_id, existing)
            uid = self._user(spec)
            await self._stop_legacy(spec.tenant_id)
            self._prepare_folder(spec.tenant_id, uid)
            env = self._env(spec)
            port_fd = _open_private(self._port_path(spec.tenant_id), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            with os.fdopen(port_fd, "w") as f:
                f.write(f"{spec.port}\n")
            log_fd = _open_private(self.log_path(spec.tenant_id), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                os.write(log_fd, f"\n### started by the control plane at {stamp}\n".encode())
                pid = self._take_spare(spec, env, uid)
                if pid is None:
                    pid = self._start_cold(spec, env, uid, log_fd)
            finally:
                os.close(log_fd)
        # The next spare at once (or a new one, if the last died): on two cores its imports barely
        # slow this bot's start, and users who sign in one after another each find one ready.
        self.warm()
        return BotStatus(spec.tenant_id, "starting", pid, spec.port)

    async def stop(self, tenant_id: str) -> BotStatus:
        proc = self._find(tenant_id)
        if proc is not None:
            await self._terminate(proc)
        await self._stop_legacy(tenant_id)
        self._pid_path(tenant_id).unlink(missing_ok=True)
        return BotStatus(tenant_id, "stopped", None, self._read_port(tenant_id))

    def _gone(self, proc: _Proc) -> bool:
        self._reap()
        stat = _stat(proc.pid)
        return not _alive(stat) or (stat is not None and stat[1] != proc.start_time)

    async def _terminate(self, proc: _Proc) -> None:
        # The bot leads its own process group: signal the group, so nothing it spawned stays behind.
        for sig, grace in ((signal.SIGTERM, self.stop_timeout), (signal.SIGKILL, 10.0)):
            if self._gone(proc):
                return
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if self._gone(proc):
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
        healthy = proc.locked and port is not None and await self._healthy(port)
        return BotStatus(tenant_id, "running" if healthy else "starting", proc.pid, port)

    async def list(self) -> list[BotStatus]:
        out = []
        for proc in self._scan():
            out.append(await self._status_of(proc.tenant_id, proc))
        return out

    async def kill_stray(self, bot: BotStatus) -> None:
        """Stop a bot of this data root that no tenant owns, by the pid `list` gave (its files stay)."""
        for proc in self._scan():
            if proc.pid == bot.pid:
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
            # rmtree removes by descriptor and never follows a link the bot may have left.
            shutil.rmtree(self.tenant_dir(tenant_id), ignore_errors=True)
            shutil.rmtree(self._run_dir(tenant_id), ignore_errors=True)
