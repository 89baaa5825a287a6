"""`make bench`: run every benchmark group, print a table, write bench-results/latest.json."""

from __future__ import annotations

import sys

from tests.bench import (
    api_bench,
    backtest_bench,
    bot_bench,
    devnet_bench,
    docker_bench,
    proxy_bench,
    signin_bench,
)
from tests.bench.results import Figure, report


def main() -> int:
    figures: list[Figure] = []
    failed = []
    groups = [devnet_bench, bot_bench, backtest_bench, api_bench, proxy_bench, signin_bench, docker_bench]
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
    sys.exit(main())
