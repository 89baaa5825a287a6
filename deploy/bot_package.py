"""The bot image's distribution, `basis-bot`: the project's own `pyproject.toml` narrowed to the bot.

    python deploy/bot_package.py SOURCE_DIR     # writes SOURCE_DIR/pyproject.toml (deploy/wheelhouse.sh)

The project is one development install (`pip install -e .`): every package, and the extras
`control-plane` and `devnet` for what only those processes use. The bot image must not carry the
control plane, the devnet or their libraries (the Docker SDK, PostgreSQL's driver ...), so its wheel is
a distribution of its own: the packages `[tool.basis.bot]` names, the core `dependencies` (no extra),
the `basis-bot` script. Everything else (version, Python, build system, package data) is the project's,
read from the same file, so nothing is written twice.
"""

from __future__ import annotations

import json
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _value(value: Any) -> str:
    # JSON strings and lists of strings are valid TOML (basic strings, arrays).
    return json.dumps(value, ensure_ascii=False)


def bot_pyproject(project: dict[str, Any]) -> str:
    """The `pyproject.toml` of `basis-bot`, from the project's parsed one."""
    meta, tool = project["project"], project["tool"]
    bot = tool["basis"]["bot"]
    scripts = {name: meta["scripts"][name] for name in bot["scripts"]}
    data = {
        package: files
        for package, files in tool["setuptools"]["package-data"].items()
        if package == "*" or any(fnmatch(package, pattern) for pattern in bot["packages"])
    }
    lines = [
        "[build-system]",
        f"requires = {_value(project['build-system']['requires'])}",
        f"build-backend = {_value(project['build-system']['build-backend'])}",
        "",
        "[project]",
        f"name = {_value(bot['name'])}",
        f"version = {_value(meta['version'])}",
        f"description = {_value(bot['description'])}",
        f"requires-python = {_value(meta['requires-python'])}",
        f"dependencies = {_value(meta['dependencies'])}",
        "",
        "[project.scripts]",
        *(f"{_value(name)} = {_value(target)}" for name, target in scripts.items()),
        "",
        "[tool.setuptools.packages.find]",
        f"include = {_value(bot['packages'])}",
        "",
        "[tool.setuptools.package-data]",
        *(f"{_value(package)} = {_value(files)}" for package, files in data.items()),
    ]
    return "\n".join(lines) + "\n"


def main(source: str) -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (Path(source) / "pyproject.toml").write_text(bot_pyproject(project))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
