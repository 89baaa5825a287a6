"""Drive the system Chromium (Debian's `chromium` package) with Playwright for Python.

Playwright's own browser download cannot work on these machines, so the browser is the system one,
passed as `executable_path`. Without it the browser tests skip with a reason, unless
`BASIS_REQUIRE_BROWSER=1` (set by CI), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.devnet import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REQUIRE_ENV = "BASIS_REQUIRE_BROWSER"
SCREENSHOTS = ROOT / "test-output" / "screenshots"
_CANDIDATES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    """The system Chromium, or None when it is not installed."""
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes"}


def require_chromium() -> str:
    """The Chromium path; otherwise skip the test (or fail it when the browser is required)."""
    path = chromium_path()
    if path is None:
        reason = (
            "no system Chromium (install Debian's `chromium` package: "
            "apt-get install -y chromium); browser tests need it"
        )
        if browser_required():
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if browser_required():
            pytest.fail(f"{REQUIRE_ENV}=1 but Playwright for Python is not installed", pytrace=False)
        pytest.skip("Playwright for Python is not installed")
    return path


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    """A headless system Chromium for the duration of the block."""
    from playwright.sync_api import sync_playwright

    path = require_chromium()
    args = ["--disable-dev-shm-usage", "--disable-gpu"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to sandbox as root (CI runs as root)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=args)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under test-output/screenshots/ (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
