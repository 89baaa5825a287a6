"""What each image installs (pyproject.toml, deploy/bot_package.py): the bot image's distribution holds
the bot's packages and the core dependencies only, and the bot imports nothing that only the control
plane's or the devnet's extras bring."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _bot_package() -> Any:
    spec = importlib.util.spec_from_file_location("bot_package", ROOT / "deploy" / "bot_package.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", Requirement(requirement).name).lower()


def _closure(requirements: list[str]) -> set[str]:
    """The distributions these requirements install, with everything they require (no extras)."""
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        req = Requirement(todo.pop())
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = _name(str(req))
        if name in seen:
            continue
        seen.add(name)
        todo.extend(importlib.metadata.requires(name) or [])
        for extra in req.extras:  # e.g. uvicorn[standard]
            todo.extend(
                r
                for r in importlib.metadata.requires(name) or []
                if f'extra == "{extra}"' in r.replace("'", '"')
            )
    return seen


def _imported_roots(*folders: str) -> set[str]:
    roots: set[str] = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    roots.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    roots.add(node.module.split(".")[0])
    return roots


def test_the_bot_distribution_holds_the_bot_and_the_core_dependencies_only() -> None:
    bot = tomllib.loads(_bot_package().bot_pyproject(PROJECT))
    packages = bot["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {"shared*", "tenant_bot*", "migrations.tenant*"} <= set(packages)
    assert not [p for p in packages if p.startswith(("orchestrator", "devnet", "migrations.control"))]
    assert bot["project"]["dependencies"] == PROJECT["project"]["dependencies"]
    assert "optional-dependencies" not in bot["project"]
    assert bot["project"]["scripts"] == {"basis-bot": "tenant_bot.main:main"}
    assert bot["project"]["version"] == PROJECT["project"]["version"]


def test_the_bot_distribution_carries_the_recorded_history_it_backtests_on() -> None:
    from fnmatch import fnmatch

    from tenant_bot.backtest import SHIPPED_HISTORY

    bot = tomllib.loads(_bot_package().bot_pyproject(PROJECT))
    patterns = bot["tool"]["setuptools"]["package-data"]["tenant_bot.backtest"]
    folder = SHIPPED_HISTORY.relative_to(ROOT / "tenant_bot" / "backtest")
    files = sorted(p.name for p in SHIPPED_HISTORY.iterdir())
    assert len(files) == 5  # the four files of the record and their README
    assert all(any(fnmatch(f"{folder}/{name}", pattern) for pattern in patterns) for name in files)


def test_the_bot_imports_nothing_only_the_control_plane_or_the_devnet_brings() -> None:
    extras = PROJECT["project"]["optional-dependencies"]
    core = _closure(PROJECT["project"]["dependencies"])
    only_extras = {_name(r) for r in extras["control-plane"] + extras["devnet"]} - core
    assert {"docker", "psycopg", "pyjwt", "segno"} <= only_extras  # not in the bot image
    by_module = importlib.metadata.packages_distributions()
    imported = _imported_roots("shared", "tenant_bot", "migrations/tenant")
    wrong = {
        module: dists
        for module in imported
        if (dists := {_name(d) for d in by_module.get(module, [])}) & only_extras
    }
    assert wrong == {}
    assert not imported & {"orchestrator", "devnet"}


def test_every_extra_is_imported_by_the_process_it_is_for() -> None:
    extras = PROJECT["project"]["optional-dependencies"]
    by_module = importlib.metadata.packages_distributions()

    def dists(folder: str) -> set[str]:
        return {_name(d) for module in _imported_roots(folder) for d in by_module.get(module, [])}

    # psycopg is loaded by SQLAlchemy for a postgresql+psycopg:// URL, never imported by name.
    # The shared venue gateway runs in the control plane's process (its websocket feed: websockets).
    assert {_name(r) for r in extras["control-plane"]} - {"psycopg"} <= dists("orchestrator") | dists(
        "gateway"
    )
    assert {_name(r) for r in extras["devnet"]} <= dists("devnet")
