"""Fixtures shared by every test: real devnet processes on free loopback ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.devnet import DevnetProcess, start_devnet
from tests.support.postgres import BACKENDS, database_url_for

# Test modules that drive the one Docker engine of the machine (its swarm, images and bridge rules):
# under pytest-xdist they all run in one test process, one after another.
DOCKER_ENGINE_MODULES = ("tests/docker/", "tests/security/test_bot_network.py")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups for `make test`'s test processes (pytest-xdist, --dist loadgroup): each module's tests
    run in one process, so a module's devnet or control plane starts once, and every test of the
    Docker engine runs in the same process (a swarm left by one must not pull it from another)."""
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        module = item.nodeid.split("::", 1)[0]
        group = "docker-engine" if module.startswith(DOCKER_ENGINE_MODULES) else module
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def devnet() -> Iterator[DevnetProcess]:
    """One full devnet for the session, at real-time speed (tests move time with `advance`).

    Tests that change the scenario or inject faults must use `devnet_factory` instead, so they
    do not disturb the others.
    """
    dn = start_devnet(seed=7, speed=1.0)
    yield dn
    dn.stop()


@pytest.fixture
def devnet_factory() -> Iterator[Callable[..., DevnetProcess]]:
    """Start devnets of one's own (each on its own ports); all are stopped after the test."""
    started: list[DevnetProcess] = []

    def make(**kwargs: object) -> DevnetProcess:
        dn = start_devnet(**kwargs)  # type: ignore[arg-type]
        started.append(dn)
        return dn

    yield make
    for dn in started:
        dn.stop()


@pytest.fixture(params=BACKENDS)
def control_plane_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The control plane's database for one test: a SQLite file, or a fresh PostgreSQL database.

    Tests and fixtures that use it run once per backend (ids `sqlite` and `postgres`); the
    PostgreSQL variant skips without BASIS_TEST_POSTGRES_URL, or fails with BASIS_REQUIRE_POSTGRES=1.
    """
    with database_url_for(request.param, tmp_path / "control.sqlite3") as url:
        yield url
