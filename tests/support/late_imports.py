"""`basis-bot serve` as the process runtime runs a bot that becomes its own user, noting every module it
imports after that point: the bot's imports (`preload`, as `tenant_bot.main._take_identity` makes them
before it drops), then the snapshot, then `serve`. At exit the modules imported since are written, as a
JSON list, to the file named by BASIS_TEST_LATE_IMPORTS.

    BASIS_TEST_LATE_IMPORTS=late.json python -m tests.support.late_imports
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path


def main() -> None:
    from tenant_bot.main import main as bot_main
    from tenant_bot.main import preload

    out = Path(os.environ.pop("BASIS_TEST_LATE_IMPORTS"))
    preload(None)
    preload(os.environ)
    before = set(sys.modules)
    atexit.register(lambda: out.write_text(json.dumps(sorted(set(sys.modules) - before))))
    sys.argv = ["basis-bot", "serve"]
    bot_main()


if __name__ == "__main__":
    main()
