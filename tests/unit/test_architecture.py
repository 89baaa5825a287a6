"""ARCHITECTURE.md stays true: which of our packages may import which, no module-level import cycle in
any of them, no production class over 25 public methods.

Read from the source (tests/support/source.py): an import at any depth (in a function, under
TYPE_CHECKING) is a dependency; only module-level ones can make a cycle. tenant_bot's own layers are
tests/unit/tenant_bot/test_structure.py's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.source import ROOT, import_cycle, imports, modules, wide_classes

# What each of our packages (or a part of one: the longest prefix wins) may import of ours. shared
# is below everything; the gateway (which may later run as a process of its own) just above it; the
# two processes (orchestrator, tenant_bot) never import each other; nothing but the tests imports the
# devnet. `tests` may import anything.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "shared": frozenset(),
    "tenant_bot": frozenset({"shared"}),
    # The control plane builds the shared venue gateway and serves it; the gateway knows nothing of it.
    "orchestrator": frozenset({"shared", "gateway"}),
    "gateway": frozenset({"shared"}),
    "devnet": frozenset({"shared"}),
    "migrations": frozenset(),
    "migrations.tenant": frozenset({"tenant_bot", "shared"}),  # the bot's tables
    "migrations.control_plane": frozenset({"orchestrator", "shared"}),  # the control plane's tables
}
# Deliberate exceptions, each with its reason.
ALLOWED: dict[tuple[str, str], str] = {
    # `basis devnet ...`: the operator's CLI carries the devnet's commands; only the control-plane image
    # installs it (deploy/control-plane.Dockerfile, with the devnet's extra), never the bot image.
    ("orchestrator.cli", "devnet.cli"): "the devnet's commands in the operator's CLI",
}
OURS = ("shared", "gateway", "tenant_bot", "orchestrator", "devnet", "migrations", "tests")
PRODUCTION = (
    "shared",
    "gateway",
    "tenant_bot",
    "orchestrator",
)  # the devnet emulates venues; it is not product
MAX_PUBLIC_METHODS = 25


def _rules_of(module: str) -> frozenset[str]:
    owner = max((p for p in MAY_IMPORT if module == p or module.startswith(p + ".")), key=len)
    return MAY_IMPORT[owner]


def wrong_imports(root: Path = ROOT) -> list[str]:
    """Every import of one of our packages that MAY_IMPORT (and ALLOWED) does not let through."""
    wrong = []
    for package in MAY_IMPORT:
        if "." in package:
            continue
        for module, path in modules(package, root):
            allowed = _rules_of(module) | {package}
            for imported in sorted(imports(path, root=root)):
                theirs = imported.split(".")[0]
                if theirs not in OURS or theirs in allowed:
                    continue
                if (module, imported) not in ALLOWED:
                    wrong.append(f"{module} imports {imported}")
    return wrong


def test_every_package_of_ours_has_its_rules() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages <= set(OURS), f"add {sorted(packages - set(OURS))} to MAY_IMPORT"
    assert {p for p in OURS if p != "tests"} <= packages


def test_imports_point_the_allowed_way() -> None:
    assert wrong_imports() == []
    for module, imported in ALLOWED:  # an exception that is no longer needed goes
        assert imported in imports(ROOT.joinpath(*module.split(".")).with_suffix(".py"))


@pytest.mark.parametrize(
    "package", ["shared", "gateway", "tenant_bot", "orchestrator", "devnet", "migrations"]
)
def test_no_module_level_import_cycle(package: str) -> None:
    assert import_cycle(package) == []


@pytest.mark.parametrize("package", PRODUCTION)
def test_no_production_class_has_more_than_25_public_methods(package: str) -> None:
    assert wide_classes(package, MAX_PUBLIC_METHODS) == []


def test_architecture_md_names_every_package_and_only_files_that_exist() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    for name in [p for p in OURS if p != "tests"] + ["shared/launch.py"]:
        assert f"`{name}" in text, f"ARCHITECTURE.md does not name {name}"
    named = set(re.findall(r"`([a-z_]+/[\w/]+\.py)", text))
    assert len(named) > 10
    assert sorted(n for n in named if not (ROOT / n).is_file()) == []


# ---------------------------------------------------------------------- the checks catch what they look for
def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_wrong_way_import_is_caught(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "shared/__init__.py": "",
            "shared/a.py": "def f():\n    import tenant_bot.b\n",  # even inside a function
            "tenant_bot/__init__.py": "",
            "tenant_bot/b.py": "from orchestrator import c\n",
            "orchestrator/__init__.py": "",
            "orchestrator/c.py": "from tenant_bot.b import x\nimport devnet.d\n",
            "orchestrator/cli.py": "from devnet.cli import app\n",  # the one allowed
            "devnet/__init__.py": "",
            "devnet/cli.py": "",
            "devnet/d.py": "from shared import a\n",
        },
    )
    assert wrong_imports(tmp_path) == [
        "shared.a imports tenant_bot.b",
        "tenant_bot.b imports orchestrator.c",
        "orchestrator.c imports devnet.d",
        "orchestrator.c imports tenant_bot.b",
    ]


def test_a_module_level_cycle_is_caught_and_a_deferred_import_is_not_one(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "import pkg.c\n",
            "pkg/c.py": "from pkg.a import thing\n",
            "other/__init__.py": "",
            "other/a.py": "from other import b\n",
            "other/b.py": "def f():\n    from other import a\n",
        },
    )
    assert import_cycle("pkg", tmp_path) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    assert import_cycle("other", tmp_path) == []
