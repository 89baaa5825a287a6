"""Serving files from a folder to the web: which file a request's path names, never one outside it.

Both processes serve a page and its assets this way (the control plane's portal, the bot's dashboard).
"""

from __future__ import annotations

from pathlib import Path


def file_below(root: Path, path: str) -> Path | None:
    """The file `path` names below `root` (a resolved folder), or None when it names none there: a path
    that leaves `root` (`..`, a link out, an absolute path), a folder, a missing file, or a name the
    file system cannot take."""
    try:
        target = (root / path).resolve()
    except (OSError, ValueError):
        return None
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target
