"""`make mutate`: mutation testing of the critical modules with mutmut, each against the tests that
cover it; prints the score per module and every surviving mutant, writes bench-results/mutation.json.

    python -m tests.mutation                     every module below
    python -m tests.mutation risk broker         only these
    python -m tests.mutation risk --only 'tenant_bot/risk/engine.py'   one file of a module

How it works: mutmut copies the module's package into `mutants/` of a scratch folder
(var/mutation/<module>/, which holds links to this tree and a pyproject.toml written for that module),
rewrites each function of the listed files into its mutants, runs the module's tests once to record
which test reaches which function, then for each mutant runs only the tests that reach it. A mutant is
killed when one of them fails (or times out). Mutants live in the test's own process, so a test that
only drives a subprocess (a `basis-bot` or `basis serve` of its own) does not reach them: the tests
listed here are the in-process ones, and a function that only those subprocess tests exercise shows
as "no tests", counted as not killed.

Not in CI and not in `make test`: a module takes minutes to an hour. The figures go in the README,
beside the benches.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRATCH = ROOT / "var" / "mutation"
OUTPUT = ROOT / "bench-results" / "mutation.json"
# What the scratch folder links to, so that mutmut finds the packages and the tests where it looks.
LINKED = ("tenant_bot", "shared", "orchestrator", "devnet", "migrations", "tests", "data")
# mutmut's statuses, as `mutmut results --all true` prints them; a timeout is a kill (the mutant
# made the code loop or hang, which a test noticed).
KILLED = {"killed", "timeout", "caught by type check"}
# One mutant at a time: the machine is shared, and the tests of one mutant already use a core.
MAX_CHILDREN = int(os.environ.get("MUTATE_MAX_CHILDREN", "1"))


@dataclass(frozen=True)
class Module:
    """A critical module: the files mutated, and the tests that cover them (in-process ones)."""

    name: str
    files: tuple[str, ...]
    tests: tuple[str, ...]

    @property
    def package(self) -> str:
        return self.files[0].split("/", 1)[0]


MODULES = (
    Module(
        "execution",
        ("tenant_bot/execution/*.py",),
        ("tests/unit/tenant_bot/execution", "tests/unit/tenant_bot/api/test_valuation.py"),
    ),
    Module("risk", ("tenant_bot/risk/*.py",), ("tests/unit/tenant_bot/risk",)),
    Module(
        "strategy",
        ("tenant_bot/strategy/*.py",),
        ("tests/unit/tenant_bot/strategy", "tests/unit/tenant_bot/test_decision.py"),
    ),
    # The proxy's header policy and forwarding (its resolver is the control plane's session lookup,
    # AppContext.upstream, reached in process by the portal's API tests).
    Module(
        "proxy",
        ("orchestrator/proxy.py", "orchestrator/context.py"),
        (
            "tests/unit/orchestrator/test_proxy_headers.py",
            "tests/integration/orchestrator/test_proxy_forwarding.py",
            "tests/integration/orchestrator/test_portal_api.py",
        ),
    ),
    Module(
        "broker",
        ("orchestrator/broker.py",),
        ("tests/unit/orchestrator/test_broker.py", "tests/integration/orchestrator/test_broker.py"),
    ),
    Module(
        "transaction_policy",
        ("shared/transaction_policy.py",),
        (
            "tests/unit/shared/test_transaction_policy.py",
            "tests/unit/shared/test_transaction_destinations.py",
            "tests/unit/shared/test_transaction_rules_solana.py",
            "tests/unit/shared/test_transaction_rules_evm_hyperliquid.py",
            "tests/unit/orchestrator/test_broker.py",
        ),
    ),
)


def pyproject(module: Module, only: tuple[str, ...]) -> str:
    """The scratch folder's pyproject.toml: mutmut's settings for this module, and pytest's own."""
    own = (ROOT / "pyproject.toml").read_text()
    pytest_section = own[own.index("[tool.pytest.ini_options]") :]
    pytest_section = pytest_section[: pytest_section.index("\n[tool.", 1)]

    def toml_list(items: tuple[str, ...] | list[str]) -> str:
        return "[" + ", ".join(json.dumps(i) for i in items) + "]"

    return (
        "[tool.mutmut]\n"
        f"source_paths = {toml_list([module.package])}\n"
        f"only_mutate = {toml_list(only or module.files)}\n"
        f"pytest_add_cli_args_test_selection = {toml_list(module.tests)}\n"
        # The rest of the tree beside the mutated package: the bot finds its migrations beside it.
        f"also_copy = {toml_list([n for n in LINKED if n not in (module.package, 'tests')])}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider"]\n'
        f"{pytest_section}"
    )


def prepare(module: Module, only: tuple[str, ...]) -> Path:
    """A fresh scratch folder for `module`: links to this tree, and its pyproject.toml."""
    folder = SCRATCH / module.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name in LINKED:
        (folder / name).symlink_to(ROOT / name, target_is_directory=True)
    (folder / "pyproject.toml").write_text(pyproject(module, only))
    return folder


def mutmut(folder: Path, *args: str, capture: bool = True) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", *args],
        cwd=folder,
        capture_output=capture,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        said = f":\n{done.stdout}{done.stderr}" if capture else " (its output is above)"
        raise RuntimeError(f"mutmut {' '.join(args)} in {folder} exited with {done.returncode}{said}")
    return done.stdout if capture else ""


def statuses(folder: Path) -> dict[str, str]:
    """Every mutant's status: {'tenant_bot.risk.engine.xǁRiskEngineǁevaluate__mutmut_3': 'killed'}."""
    found = {}
    for line in mutmut(folder, "results", "--all", "true").splitlines():
        if m := re.fullmatch(r"\s+(\S+): (.+)", line):
            found[m.group(1)] = m.group(2).strip()
    return found


def file_of(mutant: str) -> str:
    """The source file a mutant key belongs to (the key's dotted module, before the function)."""
    dotted = mutant.split(".x")[0] if ".xǁ" in mutant else mutant.rsplit(".", 1)[0]
    return dotted.replace(".", "/") + ".py"


def measure(module: Module, only: tuple[str, ...]) -> dict[str, object]:
    folder = prepare(module, only)
    started = time.monotonic()
    mutmut(folder, "run", "--max-children", str(MAX_CHILDREN), capture=False)
    found = statuses(folder)
    killed = sorted(k for k, s in found.items() if s in KILLED)
    alive = sorted(k for k, s in found.items() if s not in KILLED)
    per_file: dict[str, dict[str, int]] = {}
    for key, status in found.items():
        counts = per_file.setdefault(file_of(key), {"mutants": 0, "killed": 0})
        counts["mutants"] += 1
        counts["killed"] += status in KILLED
    return {
        "module": module.name,
        "files": list(only or module.files),
        "tests": list(module.tests),
        "mutants": len(found),
        "killed": len(killed),
        "score": round(len(killed) / len(found), 4) if found else None,
        "seconds": round(time.monotonic() - started, 1),
        "per_file": per_file,
        "surviving": [
            {"mutant": k, "status": found[k], "diff": mutmut(folder, "show", k).strip()} for k in alive
        ],
    }


def report(results: list[dict[str, object]]) -> None:
    print()
    print(f"{'module':<20} {'mutants':>8} {'killed':>8} {'score':>8} {'time':>9}")
    for r in results:
        score = f"{r['score']:.1%}" if r["score"] is not None else "-"
        print(f"{r['module']:<20} {r['mutants']:>8} {r['killed']:>8} {score:>8} {r['seconds']:>8}s")
    for r in results:
        surviving = r["surviving"]
        assert isinstance(surviving, list)
        if surviving:
            print(f"\n{r['module']}: {len(surviving)} not killed")
            for s in surviving:
                print(f"\n--- {s['mutant']} ({s['status']})\n{s['diff']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make mutate", description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=", ".join(m.name for m in MODULES) + " (default: all)")
    parser.add_argument("--only", action="append", default=[], help="a glob of files within the module")
    args = parser.parse_args(argv)
    by_name = {m.name: m for m in MODULES}
    unknown = [n for n in args.modules if n not in by_name]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; choose from {', '.join(by_name)}")
    chosen = [by_name[n] for n in args.modules] or list(MODULES)
    results = [measure(m, tuple(args.only)) for m in chosen]
    report(results)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(OUTPUT.read_text()) if OUTPUT.exists() else {}
    modules = {**previous.get("modules", {}), **{str(r["module"]): r for r in results}}
    OUTPUT.write_text(
        json.dumps({"measured_at": datetime.now(UTC).isoformat(), "modules": modules}, indent=2) + "\n"
    )
    print(f"\nwrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
