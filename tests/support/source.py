"""The project's modules read as source (nothing is imported), for the structure tests: each module's
imports, the module-level import graph and its cycles, and the classes with their public methods.

Every `import` and `from ... import` of a module, at any depth (a function-level or TYPE_CHECKING
import is a dependency too), counts as an import; only the module-level ones (outside TYPE_CHECKING)
make the graph a cycle is looked for in, since those are the ones that run at import time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def modules(package: str, root: Path = ROOT) -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of every module of `package` (a folder under `root`), sorted by path."""
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


@cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def imports(path: Path, *, top_level_only: bool = False, root: Path = ROOT) -> set[str]:
    """The absolute modules the file at `path` imports: `from x import y` counts as `x.y` when that is
    one of our modules, else as `x`."""
    nodes: list[ast.AST] = []
    if top_level_only:
        for node in tree(path).body:
            is_type_checking = isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            if not is_type_checking:
                nodes.append(node)
    else:
        nodes = list(ast.walk(tree(path)))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` imports that module; `from module import name`, the module.
            submodules = {f"{node.module}.{alias.name}" for alias in node.names}
            ours = {name for name in submodules if _is_module(name, root)}
            found.update(ours)
            if ours != submodules:
                found.add(node.module)
    return found


def _is_module(name: str, root: Path) -> bool:
    path = root.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def import_cycle(package: str, root: Path = ROOT) -> list[str]:
    """One module-level import cycle among `package`'s modules (the modules in order, the first one
    again at the end), or [] when there is none."""
    graph = {module: imports(path, top_level_only=True, root=root) for module, path in modules(package, root)}
    # An import names a module or one of its packages: follow the edges to modules of this package.
    edges = {m: {i for i in targets if i in graph and i != m} for m, targets in graph.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
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
    return cycle


def wide_classes(package: str, limit: int) -> list[str]:
    """`module.Class: count` for each class of `package` with more than `limit` public methods."""
    wide = []
    for module, path in modules(package):
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.ClassDef):
                public = [
                    f.name
                    for f in node.body
                    if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) and not f.name.startswith("_")
                ]
                if len(public) > limit:
                    wide.append(f"{module}.{node.name}: {len(public)}")
    return wide
