"""`file_below`: a request's path names a file below the served folder, or nothing."""

from __future__ import annotations

from pathlib import Path

from shared.web_files import file_below


def test_only_files_below_the_root_are_named(tmp_path: Path) -> None:
    root = tmp_path / "static"
    (root / "css").mkdir(parents=True)
    (root / "css" / "page.css").write_text("body {}")
    (tmp_path / "secret.txt").write_text("no")
    (root / "out").symlink_to(tmp_path / "secret.txt")
    root = root.resolve()
    assert file_below(root, "css/page.css") == root / "css" / "page.css"
    outside = ("../secret.txt", "css/../../secret.txt", "out", str(tmp_path / "secret.txt"))
    for path in (*outside, "css", "nope.js"):
        assert file_below(root, path) is None, path
    assert file_below(root, "bad\0name") is None
