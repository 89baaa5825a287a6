"""The bot's structure stays as described: imports point one way, no cycles, no class grows too wide.

Read from the source (nothing is imported): every `import` and `from ... import` of a module, at
any depth (a function-level or TYPE_CHECKING import is a dependency too), is checked against the
layers below; module-level imports alone must also form no cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# tenant_bot's parts, top to bottom: a part may import its own layer and the layers below it.
LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(names.split())
    for names in (
        "main spare",  # the process: CLI and the pre-imported spare
        "api",  # HTTP: routes, jobs, live feed, metrics
        "bot",  # the parts wired, and the loop
        "notifications",  # webhooks, reading the status view
        "trader status",  # acting; the read-only view
        "decision",  # deciding, without I/O
        "observer",  # venue data → observations → risk inputs
        "services",  # everything built once
        "fees",  # the fee model, with the account's rates read from the venue
        "cadence",  # when to tick
        "execution",  # the journaled state machine
        "preferences",  # the user's settings
        "risk",  # breakers, trading state, transaction policy
        "strategy",  # pure numbers
        "venues",
        "chain",
        "signing",
        "storage",
        "config errors tls",
    )
)
RANK = {part: rank for rank, layer in enumerate(LAYERS) for part in layer}
MAX_PUBLIC_METHODS = 25


def _modules(package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _imports(tree: ast.AST, *, top_level_only: bool = False) -> set[str]:
    nodes: list[ast.AST] = []
    if top_level_only:
        for node in tree.body:  # type: ignore[attr-defined]
            is_type_checking = isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            if not is_type_checking:
                nodes.append(node)
    else:
        nodes = list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "tenant_bot" and len(parts) > 1 else None


def test_every_part_of_the_bot_has_a_layer() -> None:
    parts = {_part(m) for m, _ in _modules("tenant_bot")} - {None}
    assert parts <= set(RANK), f"add {sorted(parts - set(RANK))} to LAYERS"


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for module, path in _modules("tenant_bot"):
        mine = _part(module)
        if mine is None:
            continue
        for imported in _imports(ast.parse(path.read_text())):
            theirs = _part(imported)
            if imported.split(".")[0] in ("orchestrator", "devnet"):
                wrong.append(f"{module} imports {imported}")
            elif theirs is not None and RANK[theirs] < RANK[mine]:
                wrong.append(f"{module} ({mine}) imports {imported} ({theirs}), a layer above")
    assert wrong == []


def test_shared_imports_nothing_of_the_processes_that_use_it() -> None:
    wrong = [
        f"{module} imports {imported}"
        for module, path in _modules("shared")
        for imported in _imports(ast.parse(path.read_text()))
        if imported.split(".")[0] in ("tenant_bot", "orchestrator", "devnet")
    ]
    assert wrong == []


def test_no_module_level_import_cycle() -> None:
    graph = {
        module: {i for i in _imports(ast.parse(path.read_text()), top_level_only=True) if _part(i)}
        for module, path in _modules("tenant_bot")
    }
    # An import of a module names it or one of its packages: follow edges to modules we know.
    edges = {m: {i for i in targets if i in graph and i != m} for m, targets in graph.items()}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, trail: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle.extend([*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt])
                return True
            if nxt not in state and visit(nxt, [*trail, nxt]):
                return True
        state[node] = 2
        return False

    for start in sorted(edges):
        if start not in state and visit(start, [start]):
            break
    assert cycle == []


def test_no_class_has_more_than_25_public_methods() -> None:
    wide = []
    for package in ("tenant_bot", "shared"):
        for module, path in _modules(package):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef):
                    public = [
                        f.name
                        for f in node.body
                        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                        and not f.name.startswith("_")
                    ]
                    if len(public) > MAX_PUBLIC_METHODS:
                        wide.append(f"{module}.{node.name}: {len(public)}")
    assert wide == []
