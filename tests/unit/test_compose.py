"""docker-compose.yml: the services, the images `make images` builds, the docker runtime with the
engine socket, host networking, PostgreSQL as an optional profile. Also `compose config` when a
compose tool is installed (the Debian package `docker-compose`, or the `docker compose` plugin)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_services_run_the_images_make_images_builds(compose: dict[str, Any]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    services = compose["services"]
    assert {"devnet", "control-plane", "postgres"} <= set(services)
    for name in ("devnet", "control-plane"):
        assert services[name]["image"] == f"basis/control-plane:${{BASIS_VERSION:-{version}}}"
    assert services["devnet"]["command"] == ["devnet", "up"]
    assert services["control-plane"]["command"][-1].rstrip().endswith("exec basis serve")


def test_the_control_plane_runs_bots_on_the_host_engine(compose: dict[str, Any]) -> None:
    cp = compose["services"]["control-plane"]
    env = cp["environment"]
    assert env["BASIS_CP_RUNTIME"] == "docker"
    assert env["BASIS_CP_DOCKER_HOST_NETWORK"] == "true"
    assert "/var/run/docker.sock:/var/run/docker.sock" in cp["volumes"]
    assert cp["depends_on"]["devnet"]["condition"] == "service_healthy"
    # The devnet listens on loopback only: everything shares the host's network.
    assert cp["network_mode"] == compose["services"]["devnet"]["network_mode"] == "host"
    # Secrets come from the shell, never from the file.
    for secret in ("BASIS_CP_SERVER_SECRET", "BASIS_CP_PRIVY_APP_SECRET", "BASIS_CP_ASGARD_API_KEY"):
        assert env[secret] is None


def test_services_are_hardened(compose: dict[str, Any]) -> None:
    for name in ("devnet", "control-plane"):
        service = compose["services"][name]
        assert service["user"] == "1000:1000"
        assert service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
        assert service["read_only"] is True


def test_postgres_is_an_optional_profile(compose: dict[str, Any]) -> None:
    pg = compose["services"]["postgres"]
    assert pg["profiles"] == ["postgres"]
    assert pg["image"] == "postgres:15"
    assert "pg-data" in compose["volumes"]


def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        done = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if done.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


@pytest.mark.parametrize("profile", [None, "postgres"])
def test_compose_accepts_the_file(profile: str | None) -> None:
    command = _compose_command()
    if command is None:
        reason = "no compose tool (apt-get install docker-compose, or the docker compose plugin)"
        if os.environ.get("BASIS_REQUIRE_DOCKER", "").strip().lower() in {"1", "true", "yes"}:
            pytest.fail(f"BASIS_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    args = [*command, "-f", str(COMPOSE)] + (["--profile", profile] if profile else []) + ["config", "-q"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
