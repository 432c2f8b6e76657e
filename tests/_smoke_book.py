"""Execute every chapter under the smoke profile and build the book once per test session.

Shared by test_notebooks.py and test_browser.py (a plain memoised function rather than a
conftest fixture). Everything lands in test-artifacts/smoke-book/ (git-ignored), so a failed
run can be inspected; the repository's own book/chapters/ and _build/ are left alone.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from imbnb import paths
from imbnb.book import BookBuildError, ChapterResult, build_book, copy_book_sources, run_chapters

ARTIFACTS = paths.repo_root() / "test-artifacts"


@dataclass
class SmokeBook:
    """Where the smoke book lives and how its execution and build went."""

    root: Path
    results: list[ChapterResult]
    index: Path | None
    build_error: str | None

    @property
    def html(self) -> Path:
        """The built site."""
        return paths.build_dir(self.root)


@functools.cache
def smoke_book() -> SmokeBook:
    """Run all chapters with ``--profile smoke`` into a staged copy of the book, then build it."""
    root = ARTIFACTS / "smoke-book"
    shutil.rmtree(root, ignore_errors=True)
    copy_book_sources(root)
    cache = tempfile.mkdtemp(prefix="imbnb-smoke-cache-")  # cold cache: really trains
    old = os.environ.get("IMBNB_CACHE")
    os.environ["IMBNB_CACHE"] = cache
    try:
        results = run_chapters(
            profile="smoke", out_dir=paths.chapters_dir(root), progress=False, log=lambda m: None
        )
    finally:
        if old is None:
            os.environ.pop("IMBNB_CACHE", None)
        else:
            os.environ["IMBNB_CACHE"] = old
        shutil.rmtree(cache, ignore_errors=True)
    try:
        index, error = build_book(root, log=lambda m: None), None
    except BookBuildError as err:
        index, error = None, str(err)
    return SmokeBook(root, results, index, error)
