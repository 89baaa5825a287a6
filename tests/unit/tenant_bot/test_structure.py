"""The bot's layers stay as described: within tenant_bot, imports point down the layers below.

Read from the source (tests/support/source.py): every import of a module, at any depth, counts. The
project-wide rules (which package may import which, no module-level cycle, no class too wide) are
tests/unit/test_architecture.py's.
"""

from __future__ import annotations

from tests.support.source import imports, modules

# tenant_bot's parts, top to bottom: a part may import its own layer and the layers below it.
LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(names.split())
    for names in (
        "main spare",  # the process: CLI and the pre-imported spare
        "api",  # HTTP: routes, jobs, live feed, metrics
        "bot",  # the parts wired, and the loop
        "notifications",  # webhooks, reading the status view
        "trader status backtest",  # acting; the read-only view; the bot's decisions over history
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


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "tenant_bot" and len(parts) > 1 else None


def test_every_part_of_the_bot_has_a_layer() -> None:
    parts = {_part(m) for m, _ in modules("tenant_bot")} - {None}
    assert parts <= set(RANK), f"add {sorted(parts - set(RANK))} to LAYERS"


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for module, path in modules("tenant_bot"):
        mine = _part(module)
        if mine is None:
            continue
        for imported in imports(path):
            theirs = _part(imported)
            if imported.split(".")[0] in ("orchestrator", "devnet"):
                wrong.append(f"{module} imports {imported}")
            elif theirs is not None and RANK[theirs] < RANK[mine]:
                wrong.append(f"{module} ({mine}) imports {imported} ({theirs}), a layer above")
    assert wrong == []
