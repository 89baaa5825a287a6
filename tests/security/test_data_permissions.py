"""Issue 12, attack 5: world-readable data. Everything under the data folder was 0644/0755, so another
local user read a Discord webhook token from a bot's SQLite WAL, and e-mails and addresses from the
control-plane database.

Replayed against a real `basis serve` (process runtime, as root) and real bots: the modes of every
folder and file the control plane and a bot write (folders 0700, files 0600, the keystore 0400, the
SQLite databases with their WAL and shared-memory files 0600), another local user (`nobody`) failing
to read them, and a data folder as an older version left it (0755/0644, root's) tightened when the
control plane starts and handed to the bot's user when the bot starts, without following a link the
bot may have planted there.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.launch import bot_token
from tests.security.test_bot_isolation import attack_as, basis
from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.devnet import start_devnet
from tests.support.privileges import bot_data_root, needs_root
from tests.support.tenants import wait_for

pytestmark = pytest.mark.devnet

NOBODY = 65534
WEBHOOK = "https://discord.com/api/webhooks/1234/webhook-secret-token-9f8e7d"
OPERATOR_TENANT = "ops-modes"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def owner(path: Path) -> int:
    return path.lstat().st_uid


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    needs_root("bots run as Unix users of their own")
    dn = start_devnet(seed=43, speed=1.0)
    # The control plane's database in a folder any user may cross: only the files' own modes protect it.
    database = bot_data_root().parent / "control.sqlite3"
    cp = ControlPlane(
        dn, Path(tmp_path_factory.mktemp("modes")), overrides={"database_url": f"sqlite:///{database}"}
    )
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()
        dn.stop()


@pytest.fixture(scope="module")
def user(plane: ControlPlane) -> SignedIn:
    alice = plane.sign_in("alice")
    plane.wait_running(alice)
    made = basis(plane, "tenants", "create", OPERATOR_TENANT, "--json")  # keeps its own keystore
    assert made.returncode == 0, made.stderr[-3000:]
    return alice


def test_every_folder_and_file_is_private_and_another_user_reads_none(
    plane: ControlPlane, user: SignedIn
) -> None:
    # The user stores a webhook URL with its token in their bot's settings (its SQLite, WAL first).
    r = user.client.post(
        "/app/api/v1/settings",
        json={"notifications": {"webhook_url": WEBHOOK, "format": "discord"}},
        headers={"X-CSRF-Token": user.csrf},
    )
    assert r.status_code == 200, r.text
    root = plane.settings.data_root
    tenant = plane.tenant(user.tenant_id)
    ops = plane.tenant(OPERATOR_TENANT)
    folder, run = root / tenant.id, root / ".runtime" / tenant.id
    database = Path(plane.settings.database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in folder.glob("bot.sqlite3*"))
    assert WEBHOOK.encode() in stored, "the token is in the bot's database files (what the attack read)"

    assert (mode(root), owner(root)) == (0o711, 0)  # crossed by each bot to its own folder, never listed
    assert (mode(root / ".runtime"), owner(root / ".runtime")) == (0o700, 0)
    assert mode(run) == 0o700
    for name in ("bot.pid", "bot.port", "bot.log", "bot.lock", "start.lock"):
        assert (mode(run / name), owner(run / name)) == (0o600, 0), name
    assert mode(root / ".runtime" / "spare.log") == 0o600
    for bot, name in ((tenant, "bot.sqlite3"), (tenant, "bot.sqlite3-wal"), (tenant, "bot.sqlite3-shm")):
        path = root / bot.id / name
        assert (mode(path), owner(path)) == (0o600, bot.uid), name
    for bot in (tenant, ops):
        assert (mode(root / bot.id), owner(root / bot.id)) == (0o700, bot.uid)
    keystore = root / ops.id / "keystore.json"
    assert (mode(keystore), owner(keystore)) == (0o400, ops.uid)
    for suffix in ("", "-wal", "-shm"):
        assert mode(Path(f"{database}{suffix}")) == 0o600, suffix

    files = {
        "bot database": str(folder / "bot.sqlite3"),
        "bot database wal": str(folder / "bot.sqlite3-wal"),
        "keystore": str(keystore),
        "bot log": str(run / "bot.log"),
        "control plane database": str(database),
        "control plane database wal": f"{database}-wal",
    }
    result = attack_as(NOBODY, {"files": files, "processes": {}, "requests": {}})
    assert result.pop("whoami") == [NOBODY, NOBODY, []]
    assert result == {f"read {name}": "denied: PermissionError" for name in files}


def test_an_older_installation_is_tightened_and_handed_to_the_bots_user(
    plane: ControlPlane, user: SignedIn
) -> None:
    """A data folder as an older version left it: root's, 0755 folders and 0644 files, the control
    plane's database 0644; in the bot's folder links to a file and a folder of root's, which a careless
    chown -R or chmod -R run by root would follow."""
    root = plane.settings.data_root
    ops = plane.tenant(OPERATOR_TENANT)
    wallets_before = wallets(plane, ops.id)
    stopped = basis(plane, "tenants", "stop", ops.id, "--json")
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    plane.kill()  # the control plane is down while the "older version" is in place
    database = Path(plane.settings.database_url.removeprefix("sqlite:///"))
    folder = root / ops.id
    target = bot_data_root().parent / "root-only.txt"
    target.write_text("root's own\n")
    target.chmod(0o600)
    (folder / "planted").symlink_to(target)
    (folder / "planted-folder").symlink_to(target.parent)  # listed with the folders, never walked into
    folder_before = (owner(target.parent), mode(target.parent))
    (folder / "notes").mkdir()
    (folder / "notes" / "old.txt").write_text("left by an older version\n")
    for path in [root, folder, *folder.rglob("*")]:
        if not path.is_symlink():
            os.chown(path, 0, 0)
            path.chmod(0o755 if path.is_dir() else 0o644)
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{database}{suffix}").exists():
            Path(f"{database}{suffix}").chmod(0o644)

    plane.start()
    # At start-up, before any bot starts: nothing is readable by others any more.
    assert mode(root) == 0o711 and mode(folder) == 0o700
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{database}{suffix}").exists():
            assert mode(Path(f"{database}{suffix}")) == 0o600, suffix

    started = basis(plane, "tenants", "start", ops.id, "--json")
    assert started.returncode == 0, started.stderr[-3000:]
    assert json.loads(started.stdout)["status"] == "running"
    # The bot's user owns its folder and everything in it, nothing is open to others, the keystore is
    # 0400 again, and the link was changed itself, never what it points at.
    uid = plane.tenant(ops.id).uid
    assert uid == ops.uid
    for path in [folder, *folder.rglob("*")]:
        assert owner(path) == uid, path
        if not path.is_symlink():
            assert mode(path) & 0o077 == 0, (path, oct(mode(path)))
    assert mode(folder / "keystore.json") == 0o400
    assert (owner(target), mode(target), target.read_text()) == (0, 0o600, "root's own\n")
    assert (owner(target.parent), mode(target.parent)) == folder_before
    # And its data is the same: it opened its keystore, with the wallets it had.
    wait_for(lambda: plane.tenant(ops.id).status == "running", 60, "the operator's bot")
    assert wallets(plane, ops.id) == wallets_before


def wallets(plane: ControlPlane, tenant_id: str) -> dict[str, str]:
    port = plane.tenant(tenant_id).port
    token = bot_token(plane.settings.server_secret_value(), tenant_id).get_secret_value()
    r = httpx.get(f"http://127.0.0.1:{port}/api/v1/status", headers={"X-Basis-Token": token}, timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json()["wallets"])
