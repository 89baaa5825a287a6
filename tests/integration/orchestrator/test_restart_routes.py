"""A control-plane restart while a signed-in user's bot runs: the same bot keeps running, the user's
session and route work on the first request after the restart, and killing the bot restarts it."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.control_plane import ControlPlane
from tests.support.devnet import DevnetProcess

pytestmark = pytest.mark.devnet


@pytest.fixture
def plane(devnet: DevnetProcess, tmp_path: Path) -> Iterator[ControlPlane]:
    cp = ControlPlane(devnet, tmp_path)
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_restart_keeps_the_bot_and_the_route(plane: ControlPlane) -> None:
    user = plane.sign_in("restart")
    plane.wait_running(user)
    before = user.client.get("/app/api/v1/status")
    assert before.status_code == 200, before.text
    tenant = plane.tenant(user.tenant_id)
    assert tenant.pid is not None
    bot_pid = tenant.pid

    # Stop only the control plane (SIGTERM, as an operator or a deploy would).
    assert plane.process is not None
    plane.process.send_signal(signal.SIGTERM)
    plane.process.wait(timeout=30)
    assert _alive(bot_pid)

    plane.start()
    # The very first request after the restart reaches the same bot with the same session.
    again = user.client.get("/app/api/v1/status")
    assert again.status_code == 200, again.text
    assert again.json()["wallets"] == before.json()["wallets"]
    assert plane.tenant(user.tenant_id).pid == bot_pid and _alive(bot_pid)

    # A bot killed under the control plane is started again and serves the same wallets.
    os.kill(bot_pid, signal.SIGKILL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        t = plane.tenant(user.tenant_id)
        if t.status == "running" and t.pid not in (None, bot_pid):
            r = user.client.get("/app/api/v1/status")
            if r.status_code == 200:
                assert r.json()["wallets"] == before.json()["wallets"]
                assert t.restarts >= 1
                return
        time.sleep(0.2)
    raise AssertionError(f"the killed bot was not restarted:\n{plane.logs()[-3000:]}")
