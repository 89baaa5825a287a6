"""Issue 12, attack 1, process runtime: code inside one user's bot reads the control plane's secrets from
its environment, other bots' environments, memory, databases, keystores and logs, and pauses another
user's bot with a token it derived.

Replayed against a real `basis serve` (process runtime, as root, as CI runs it) in front of a real
devnet, with two users signed in through the portal's API and an operator-made tenant that keeps its
own keystore. "Code inside bot A" is a process with bot A's user and group and no other group (started
by the test as root, it drops to them before doing anything), which is exactly what the kernel sees of
bot A. Every attempt must be refused, while bot A still works for its user through the proxy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from orchestrator.config import DEVNET_SERVER_SECRET
from orchestrator.runtimes.process import PASSED_ENV
from shared.launch import bot_token
from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.devnet import ROOT, start_devnet
from tests.support.privileges import bot_data_root, needs_root
from tests.support.tenants import (
    cold_environ,
    pid_alive,
    settings_env,
    wait_for,
)

pytestmark = pytest.mark.devnet

OPERATOR_TENANT = "ops-keystore"
# Something an operator exported in the shell that starts the control plane: no bot may see it.
CANARY = ("OPERATOR_EXPORTED_TOKEN", "canary-6f1d0c1e9b")

# What "code inside bot A" runs. It imports everything first (the interpreter may live where only root
# reads), becomes bot A's user, then tries each attack; each outcome is "denied: <error>" or
# "ALLOWED: <what it got>". Positive controls show the harness itself works.
ATTACKER = textwrap.dedent(
    """
    import encodings.idna, http.client, json, os, sys
    job = json.loads(sys.stdin.read())
    os.setgroups([])
    os.setresgid(job["uid"], job["uid"], job["uid"])
    os.setresuid(job["uid"], job["uid"], job["uid"])
    out = {"whoami": [os.getuid(), os.getgid(), os.getgroups()]}

    def attempt(name, fn):
        try:
            got = fn()
        except OSError as exc:
            out[name] = "denied: " + type(exc).__name__
        else:
            out[name] = "ALLOWED: " + repr(got)[:120]

    def read(path):
        with open(path, "rb") as f:
            return f.read(256)

    for name, path in job["files"].items():
        attempt("read " + name, lambda path=path: read(path))
    for name, pid in job["processes"].items():
        attempt("signal " + name, lambda pid=pid: os.kill(pid, 0))  # 0: the permission check alone
    for name, (port, token) in job["requests"].items():
        def post(port=port, token=token):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/api/v1/control/pause", body=b"{}",
                         headers={"X-Basis-Token": token, "Content-Type": "application/json"})
            status = conn.getresponse().status
            if status >= 300:
                raise PermissionError(f"HTTP {status}")
            return status
        attempt("pause " + name, post)
    print(json.dumps(out))
    """
)


def _status_fields(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, v in (line.split(":", 1) for line in lines if ":" in line)}


def ids_of(pid: int) -> tuple[int, int, str]:
    """(real uid, real gid, supplementary groups) the kernel says the process has."""
    fields = _status_fields(pid)
    return int(fields["Uid"].split()[0]), int(fields["Gid"].split()[0]), fields["Groups"]


def attack_as(uid: int, job: dict[str, Any]) -> dict[str, str]:
    run = subprocess.run(
        [sys.executable, "-c", ATTACKER],
        input=json.dumps({**job, "uid": uid}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return dict(json.loads(run.stdout))


def basis(plane: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=ROOT,
        env=settings_env(plane.settings),
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    needs_root("bots run as Unix users of their own")
    dn = start_devnet(seed=41, speed=1.0)
    root = Path(tmp_path_factory.mktemp("isolation"))
    # The control plane's database where any user could reach it but for its own mode (0600).
    database = bot_data_root().parent / "control.sqlite3"
    cp = ControlPlane(dn, root, overrides={"database_url": f"sqlite:///{database}"})
    try:
        os.environ[CANARY[0]] = CANARY[1]
        try:
            cp.start()
        finally:
            del os.environ[CANARY[0]]
        yield cp
    finally:
        cp.stop()
        dn.stop()


@pytest.fixture(scope="module")
def users(plane: ControlPlane) -> tuple[SignedIn, SignedIn]:
    alice, bob = plane.sign_in("alice"), plane.sign_in("bob")
    plane.wait_running(alice)
    plane.wait_running(bob)
    # A tenant an operator made (no user): its bot keeps its own keys, in a keystore.
    made = basis(plane, "tenants", "create", OPERATOR_TENANT, "--json")
    assert made.returncode == 0, made.stderr[-3000:]
    return alice, bob


def test_code_inside_a_bot_reaches_nothing_of_other_bots_or_of_the_control_plane(
    plane: ControlPlane, users: tuple[SignedIn, SignedIn]
) -> None:
    alice, bob = users
    a, b, ops = (plane.tenant(t) for t in (alice.tenant_id, bob.tenant_id, OPERATOR_TENANT))
    assert a.uid and b.uid and ops.uid and a.pid and b.pid and ops.pid and b.port and ops.port and a.port
    root = plane.settings.data_root
    runtime = root / ".runtime"
    database = Path(plane.settings.database_url.removeprefix("sqlite:///"))
    files = {
        "control plane environ": f"/proc/{plane.process.pid}/environ",  # type: ignore[union-attr]
        "control plane mem": f"/proc/{plane.process.pid}/mem",  # type: ignore[union-attr]
        "control plane database": str(database),
        "control plane database wal": f"{database}-wal",
        "bob's bot environ": f"/proc/{b.pid}/environ",
        "bob's bot mem": f"/proc/{b.pid}/mem",
        "bob's bot database": str(root / b.id / "bot.sqlite3"),
        "bob's bot database wal": str(root / b.id / "bot.sqlite3-wal"),
        "bob's bot log": str(runtime / b.id / "bot.log"),
        "operator bot keystore": str(root / ops.id / "keystore.json"),
        "operator bot environ": f"/proc/{ops.pid}/environ",
        # Its own bot's environment too: not dumpable, so not even its own code reads it back from /proc.
        "alice's own bot environ": f"/proc/{a.pid}/environ",
    }
    assert all(Path(p).exists() for p in files.values())
    devnet_default_token = bot_token(SecretStr(DEVNET_SERVER_SECRET), b.id).get_secret_value()
    job = {
        "files": {**files, "own database (control)": str(root / a.id / "bot.sqlite3")},
        "processes": {"bob's bot": b.pid, "control plane": plane.process.pid},  # type: ignore[union-attr]
        "requests": {
            "bob's bot with the devnet's default secret": [b.port, devnet_default_token],
            "bob's bot with alice's own token": [b.port, alice.token],
            "operator bot with the devnet's default secret": [
                ops.port,
                bot_token(SecretStr(DEVNET_SERVER_SECRET), ops.id).get_secret_value(),
            ],
        },
    }
    result = attack_as(a.uid, job)

    assert result.pop("whoami") == [a.uid, a.uid, []]
    # Control: bot A's own folder is bot A's to read, so the refusals below are about whose data it is.
    assert result.pop("read own database (control)").startswith("ALLOWED")
    allowed = {name: outcome for name, outcome in result.items() if not outcome.startswith("denied")}
    assert allowed == {}, f"code inside alice's bot got: {allowed}"
    assert len(result) == len(files) + 2 + 3
    # Bob's bot was neither stopped nor paused.
    assert pid_alive(b.pid) and _status_fields(b.pid)["State"][0] in "SR"
    status = httpx.get(
        f"http://127.0.0.1:{b.port}/api/v1/status", headers={"X-Basis-Token": bob.token}, timeout=10
    )
    assert status.status_code == 200 and status.json()["paused"] is False

    # The legitimate path still works: alice's dashboard and API through the control plane's proxy.
    r = alice.client.get("/app/api/v1/status")
    assert r.status_code == 200 and r.json()["wallets"]["solana"] == alice.solana_address
    assert alice.client.get("/app/").status_code == 200


def test_each_bot_is_a_user_of_its_own_with_only_its_own_environment(
    plane: ControlPlane, users: tuple[SignedIn, SignedIn]
) -> None:
    alice, bob = users
    tenants = [plane.tenant(t) for t in (alice.tenant_id, bob.tenant_id, OPERATOR_TENANT)]
    uids = [t.uid for t in tenants]
    assert len(set(uids)) == 3 and all(
        plane.settings.bot_uid_min <= (u or 0) <= plane.settings.bot_uid_max for u in uids
    )
    for tenant in tenants:
        assert tenant.pid is not None
        assert ids_of(tenant.pid) == (tenant.uid, tenant.uid, "")
        # Not dumpable: the kernel makes its /proc files root's, though it runs as its own user.
        assert os.stat(f"/proc/{tenant.pid}/environ").st_uid == 0
        assert _status_fields(tenant.pid)["Umask"] == "0077"
        folder = plane.settings.data_root / tenant.id
        assert (folder.stat().st_uid, folder.stat().st_mode & 0o777) == (tenant.uid, 0o700)
    control_plane = plane.process.pid  # type: ignore[union-attr]
    assert _status_fields(control_plane)["Umask"] == "0077"

    # Each bot's whole environment (restarted cold, so /proc shows it): its settings and an allow-list.
    with open(f"/proc/{control_plane}/environ", "rb") as f:
        assert CANARY[1].encode() in f.read()  # the control plane has it: the check below means something
    secrets = {
        plane.settings.server_secret_value().get_secret_value(),
        plane.settings.privy_app_secret.get_secret_value(),  # type: ignore[union-attr]
    }
    for user in (alice, bob):
        env = {k.decode(): v.decode() for k, v in cold_environ(plane.settings, user.tenant_id).items()}
        assert not [k for k in env if k.startswith("BASIS_CP_")]
        assert not [k for k, v in env.items() if any(s in v for s in secrets)]
        assert env["HOME"] == str(plane.settings.data_root / user.tenant_id)
        extra = {k for k in env if not k.startswith(("BASIS_", "LC_"))}
        assert extra <= PASSED_ENV | {"HOME", "PYTHONUNBUFFERED"}, extra
        assert CANARY[0] not in env and not [v for v in env.values() if CANARY[1] in v]
        assert env["BASIS_API_TOKEN"] == user.token  # its own token, and no one else's
        plane.wait_running(user)
    # The spare waits with no setting and no secret at all (it knows no tenant yet).
    spare = wait_for(lambda: _spare_pid(control_plane), 60, "the next spare")
    with open(f"/proc/{spare}/environ", "rb") as f:
        spare_env = f.read().decode()
    assert "BASIS_" not in spare_env and not any(s in spare_env for s in secrets)


def _spare_pid(control_plane: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if parent == control_plane and b"tenant_bot.spare" in cmdline:
                return int(entry.name)
    return None


def test_users_are_kept_across_a_bot_restart_and_a_control_plane_restart(
    plane: ControlPlane, users: tuple[SignedIn, SignedIn]
) -> None:
    alice, bob = users
    before = {t: plane.tenant(t) for t in (alice.tenant_id, bob.tenant_id, OPERATOR_TENANT)}

    restarted = basis(plane, "tenants", "restart", bob.tenant_id, "--json")
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    new_pid = json.loads(restarted.stdout)["pid"]
    assert new_pid != before[bob.tenant_id].pid
    assert ids_of(new_pid)[0] == before[bob.tenant_id].uid

    # SIGKILLed and started again: every bot adopted as it runs, with the user it had.
    plane.kill()
    plane.start()
    for tenant_id, old in before.items():
        pid = new_pid if tenant_id == bob.tenant_id else old.pid
        assert pid is not None and pid_alive(pid)
        assert ids_of(pid)[0] == old.uid

        def adopted(tenant_id: str = tenant_id, pid: int = pid) -> bool:
            now = plane.tenant(tenant_id)
            return now.status == "running" and now.pid == pid

        wait_for(adopted, 60, f"{tenant_id} to be adopted")
        assert plane.tenant(tenant_id).uid == old.uid
    r = alice.client.get("/app/api/v1/status")
    assert r.status_code == 200


def test_outside_the_devnet_a_control_plane_without_root_refuses_to_run_bots_unisolated(
    plane: ControlPlane,
) -> None:
    """`basis serve` as an ordinary user with BASIS_CP_NETWORK=testnet exits 2 with the reason and the fix."""
    nobody = 65534
    script = textwrap.dedent(
        f"""
        import os, sys, resource, uvicorn, orchestrator.app, orchestrator.config, shared.process_hardening
        from orchestrator.cli import main
        # Imported as root first: this interpreter may live where only root reads (pyenv under /root).
        os.setgroups([])
        os.setresgid({nobody}, {nobody}, {nobody})
        os.setresuid({nobody}, {nobody}, {nobody})
        sys.argv = ["basis", "serve"]
        main()
        """
    )
    env = {**settings_env(plane.settings), "BASIS_CP_NETWORK": "testnet"}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2, out.stderr[-2000:]
    assert "needs root: run the control plane as root, or use the docker runtime" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_process_that_hardened_itself_cannot_be_read_by_its_own_user() -> None:
    """A control plane run without root (the devnet on a laptop) shares its user with its bots: not
    dumpable, its environment and memory stay unreadable to them all the same. Beside it, the same
    process without `harden_process` (dumpable, as any process of a user is) is readable: the control."""
    needs_root("running processes as another user")
    uid = 1_999_999_990

    def target(harden: bool) -> subprocess.Popen[str]:
        script = (
            "import os, sys, time; from shared.process_hardening import _prctl, harden_process; "
            f"os.setgroups([]); os.setresgid({uid}, {uid}, {uid}); os.setresuid({uid}, {uid}, {uid}); "
            "_prctl(4, 1); "  # PR_SET_DUMPABLE 1: what a process its user started itself would be
            + ("harden_process(); " if harden else "")
            + "print('ready', flush=True); time.sleep(60)"
        )
        return subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**os.environ, "BASIS_CP_PRIVY_APP_SECRET": "a-secret-in-the-environment"},
            stdout=subprocess.PIPE,
            text=True,
        )

    hardened, plain = target(True), target(False)
    try:
        for process in (hardened, plain):
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        files = {}
        for name, process in (("hardened", hardened), ("plain", plain)):
            files[f"{name} environ"] = f"/proc/{process.pid}/environ"
            files[f"{name} mem"] = f"/proc/{process.pid}/mem"
        result = attack_as(uid, {"files": files, "processes": {}, "requests": {}})
        assert result.pop("whoami") == [uid, uid, []]
        assert result["read hardened environ"] == result["read hardened mem"] == "denied: PermissionError"
        assert result["read plain environ"].startswith("ALLOWED: b'")
        assert result["read plain mem"].startswith("denied")  # /proc/<pid>/mem at offset 0: unmapped
    finally:
        for process in (hardened, plain):
            process.kill()
            process.wait(timeout=10)


def test_a_second_control_plane_sees_none_of_these_bots(plane: ControlPlane, users: Any) -> None:
    """The runtime knows its bots by the locks under its own data root: another data root sees none."""
    from orchestrator.runtimes.process import ProcessRuntime

    other = ProcessRuntime(bot_data_root())
    assert other._scan() == []
    mine = ProcessRuntime(plane.settings.data_root)
    assert {p.tenant_id for p in mine._scan()} == {users[0].tenant_id, users[1].tenant_id, OPERATOR_TENANT}
