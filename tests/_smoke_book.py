"""Execute every chapter under the smoke profile and build the book once per test session.

Shared by test_notebooks.py, test_browser.py and test_figure_text.py (a plain memoised
function rather than a conftest fixture). Everything lands in test-artifacts/ (git-ignored):
the staged book in smoke-book/, and the figure audit (one JSON line per figure a chapter
rendered, :mod:`imbnb.book.figure_audit`) in figure-audit.jsonl, so a failed run can be
inspected; the repository's own book/chapters/ and _build/ are left alone.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from imbnb import paths
from imbnb.book import (
    BookBuildError,
    ChapterResult,
    build_book,
    copy_book_sources,
    discover_chapters,
    run_chapters,
)
from imbnb.book.figure_audit import AUDIT_ENV, CHAPTER_ENV

ARTIFACTS = paths.repo_root() / "test-artifacts"
FIGURE_AUDIT = ARTIFACTS / "figure-audit.jsonl"


@dataclass
class SmokeBook:
    """Where the smoke book lives and how its execution and build went."""

    root: Path
    results: list[ChapterResult]
    index: Path | None
    build_error: str | None
    audit: Path = FIGURE_AUDIT

    @property
    def html(self) -> Path:
        """The built site."""
        return paths.build_dir(self.root)


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Set environment variables (inherited by the chapters' kernels) for one block."""
    old = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_all(out: Path, cache: str) -> list[ChapterResult]:
    """Each chapter in turn (its own kernel), its figures recorded under its name."""
    results: list[ChapterResult] = []
    for chapter in discover_chapters():
        env = {"IMBNB_CACHE": cache, AUDIT_ENV: str(FIGURE_AUDIT), CHAPTER_ENV: chapter.stem}
        with _environ(**env):
            results += run_chapters(
                [chapter.stem], profile="smoke", out_dir=out, progress=False, log=lambda m: None
            )
    return results


@functools.cache
def smoke_book() -> SmokeBook:
    """Run all chapters with ``--profile smoke`` into a staged copy of the book, then build it."""
    root = ARTIFACTS / "smoke-book"
    shutil.rmtree(root, ignore_errors=True)
    FIGURE_AUDIT.unlink(missing_ok=True)
    copy_book_sources(root)
    cache = tempfile.mkdtemp(prefix="imbnb-smoke-cache-")  # cold cache: really trains
    try:
        results = _run_all(paths.chapters_dir(root), cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    try:
        index, error = build_book(root, log=lambda m: None), None
    except BookBuildError as err:
        index, error = None, str(err)
    return SmokeBook(root, results, index, error)
