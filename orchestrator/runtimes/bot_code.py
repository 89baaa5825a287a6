"""Whether bots that run as users of their own can read the Python they run (process runtime, as root).

A bot starts as root, imports what it needs (`tenant_bot.main.preload`), then becomes its tenant's
user, who shares no group with anyone: from then on it reads code and data as "other". Whatever it
first imports or reads after that (a standard-library module a rare path loads lazily, such as an
error formatter or a codec; a CA bundle; its database migrations) fails with PermissionError if the
folder holding it is closed to other users, which is the case of an interpreter installed under a
0700 home (pyenv under /root). So a bot needs, for every folder it imports from:

- every folder above it crossable by others (o+x; nothing needs to be listable there), and
- the folder itself readable and crossable by others (o+rx: an import lists the folder).

The folders are the bot's module search path (the same interpreter and environment as the control
plane's: the standard library, its compiled modules, the virtualenv's site-packages, absolute
PYTHONPATH entries; not the working directory, which a bot run with `python -P` never searches) and
the folders of the project's own packages (an editable install maps them to the source tree, outside
site-packages). Only the "other" permission bits are read, as bots have no group in common with the
owner of any of them.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# The project's packages a bot imports from (and reads: `migrations/tenant`).
BOT_PACKAGES = ("tenant_bot", "shared", "migrations")


@dataclass(frozen=True)
class ClosedFolder:
    """A folder other users cannot use as a bot must: `folder`, and the bits it lacks ("x" or "rx")."""

    folder: Path
    needs: str
    holding: Path  # the folder of code that sits in or below it

    def sentence(self) -> str:
        """The folder and its fix first, then why (a log line or a doctor row may be cut short)."""
        if self.needs == "x":
            closed = (
                f"{self.folder} cannot be crossed by other users (fix: chmod o+x {self.folder}, which lets "
                "them cross it, not list it)"
            )
        else:
            closed = f"{self.folder} cannot be read by other users (fix: chmod -R o+rX {self.folder})"
        return (
            f"{closed}, yet bots, each a user of its own, import Python from {self.holding} after they "
            "become that user: a module first imported late (an error formatter, a codec) would fail in "
            "front of a user. Or install Python and the virtualenv where every user can read them "
            "(/opt, /usr/local)"
        )


def bot_code_folders(path: Sequence[str] | None = None, packages: Iterable[str] = BOT_PACKAGES) -> list[Path]:
    """The folders a bot imports from, in the order it searches them: the existing folders of `path`
    (default: this interpreter's `sys.path` without its first entry unless it runs with `-P`), then
    the folders of `packages`, found without importing them."""
    if path is None:
        path = sys.path if sys.flags.safe_path else sys.path[1:]
    found: list[Path] = []
    for entry in path:
        if entry and os.path.isabs(entry) and os.path.isdir(entry):
            found.append(Path(entry))
    for name in packages:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec is not None else []:
            found.append(Path(location))
    unique: dict[Path, None] = {}
    for folder in found:
        unique.setdefault(folder, None)
    return list(unique)


def closed_folder(folders: Iterable[Path]) -> ClosedFolder | None:
    """The first folder, walking each of `folders` from the root down (as written, then with its
    links resolved), that other users cannot cross, or (for the folder itself) read and cross."""
    for folder in folders:
        for spelled in _spellings(folder):
            for above in reversed(spelled.parents):
                if not _mode(above) & stat.S_IXOTH:
                    return ClosedFolder(above, "x", folder)
            if _mode(spelled) & (stat.S_IROTH | stat.S_IXOTH) != stat.S_IROTH | stat.S_IXOTH:
                return ClosedFolder(spelled, "rx", folder)
    return None


def closed_bot_code() -> ClosedFolder | None:
    """The first folder of this interpreter's bot code that bots running as other users cannot use."""
    return closed_folder(bot_code_folders())


def _spellings(folder: Path) -> list[Path]:
    absolute = Path(os.path.abspath(folder))
    real = Path(os.path.realpath(folder))
    return [absolute] if real == absolute else [absolute, real]


def _mode(folder: Path) -> int:
    try:
        return os.stat(folder).st_mode
    except OSError:
        return 0  # gone, or unreadable even to this process: closed to the bots too
