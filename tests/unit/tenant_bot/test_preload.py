"""What a bot imports before it drops to its own user covers every standard-library module its code
imports anywhere (read from the source: module-level and function-level imports alike), so none is
first imported after the drop, where an interpreter only root may read (pyenv under a 0700 /root)
would fail it. What the standard library and the bot's libraries import lazily on their own is checked
by running a bot: tests/integration/tenant_bot/test_preload.py."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
# The bot's code: its package and the shared one below it.
BOT_SOURCE = ("tenant_bot", "shared")


def stdlib_imports(folders: tuple[str, ...] = BOT_SOURCE) -> set[str]:
    """Every standard-library module named by an import anywhere in `folders`: `import a.b` names `a.b`,
    `from a import b` names `a` and, when it is a module, `a.b`."""
    names: set[str] = set()
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module)
                    names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] in sys.stdlib_module_names and _is_module(name)}


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # `from a import function`: a.function is no module
        return False


def preloaded() -> set[str]:
    """The modules a bot has imported at the point it drops to its user (a fresh interpreter, as the
    spare and a cold start are: `preload(None)`, then what a broker-signing bot adds)."""
    code = (
        "import json, sys\n"
        "from tenant_bot.main import preload\n"
        "preload(None)\n"
        "preload({'BASIS_SIGNER': 'broker'})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-P", "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout))


def test_every_standard_library_module_the_bots_code_imports_is_imported_before_the_drop() -> None:
    wanted = stdlib_imports()
    # The reading is real: the bot's code names these (at module level and inside functions).
    assert {"asyncio", "decimal", "json", "ipaddress", "ssl"} <= wanted, sorted(wanted)
    missing = sorted(wanted - preloaded())
    assert not missing, (
        f"the bot's code imports {missing} from the standard library, which a bot would import only "
        "after it becomes its own user: add them to SERVE_IMPORTS (tenant_bot/main.py)"
    )
