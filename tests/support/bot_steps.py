"""Drive one execution of a bot in a process of its own, for the crash tests (`BASIS_CRASH_AT`).

Run with a bot's environment (`BotProcess.steps`), it builds the bot's services (recovering
nothing: the execution it is told to drive is the one under test), drives that execution with
the real engine, and prints `{"execution", "state", "outcome"}` as JSON:

    python -m tests.support.bot_steps reduce POSITION FRACTION
    python -m tests.support.bot_steps rebalance POSITION SHORT_CHANGE
    python -m tests.support.bot_steps unwind EXECUTION

`unwind` takes an open whose hedge filled (a crash at `open.hedge.filled` leaves one) and marks it
unwinding, as the engine does when the hedge's deadline passes after a partial fill, so the
unwind's own points can be walked with a whole hedge to buy back. (The crash tests' restarts after
the hedge's deadline get a real partial fill from the devnet's `ioc_fill_fraction` fault.)
"""

from __future__ import annotations

import asyncio
import json
import sys
from decimal import Decimal

from tenant_bot.config import BotSettings
from tenant_bot.execution.states import State
from tenant_bot.services import Services


async def _drive(command: str, target: str, amount: str | None) -> dict[str, str | None]:
    services = Services.build(BotSettings())
    engine = services.engine
    try:
        if command == "reduce":
            ex_id = engine.begin_reduce(target, Decimal(str(amount)), reason="crash test")
        elif command == "rebalance":
            ex_id = engine.begin_rebalance(target, Decimal(str(amount)), reason="crash test")
        elif command == "unwind":
            ex_id = target
            services.journal.set_state(ex_id, State.UNWINDING, error="hedge incomplete: crash test")
        else:
            raise SystemExit(f"unknown command {command!r}; use reduce, rebalance or unwind")
        ex = await engine.run(ex_id)
        return {"execution": ex.id, "state": ex.state, "outcome": ex.outcome}
    finally:
        await services.aclose()


def main() -> None:
    command, target, *rest = sys.argv[1:]
    print(json.dumps(asyncio.run(_drive(command, target, rest[0] if rest else None))))


if __name__ == "__main__":
    main()
