"""`make bench`: run every benchmark group, print a table, write bench-results/latest.json.

`python -m tests.bench gateway` runs the named groups only (`make bench-gateway`): the gateway group
runs 150 bots for many minutes, so the default run leaves it out."""

from __future__ import annotations

import sys

from tests.bench import (
    api_bench,
    backtest_bench,
    bot_bench,
    devnet_bench,
    docker_bench,
    gateway_bench,
    proxy_bench,
    signin_bench,
)
from tests.bench.results import Figure, report

DEFAULT = [devnet_bench, bot_bench, backtest_bench, api_bench, proxy_bench, signin_bench, docker_bench]
NAMED = {g.__name__.rsplit(".", 1)[-1].removesuffix("_bench"): g for g in [*DEFAULT, gateway_bench]}


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in NAMED]
    if unknown:
        print(f"unknown bench group {', '.join(unknown)}; the groups are {', '.join(NAMED)}", file=sys.stderr)
        return 2
    figures: list[Figure] = []
    failed = []
    groups = [NAMED[n] for n in names] if names else DEFAULT
    for bench in [b for group in groups for b in group.BENCHES]:
        name = f"{bench.__module__.rsplit('.', 1)[-1]}.{bench.__name__}"
        print(f"running {name} ...", flush=True)
        try:
            figures.extend(bench())
        except Exception as exc:  # report the others, fail at the end
            failed.append(f"{name}: {exc}")
    report(figures)
    for line in failed:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
