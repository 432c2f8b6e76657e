"""The book machinery: papermill runner, profiles, strict Jupyter Book build, provenance.

Explained in the book's "How to re-run" page; the ``imbnb`` console command lives in
:mod:`imbnb.book.cli`. Chapters use :func:`banner` and :func:`chapter_defaults`.
"""

from imbnb.book.build import BookBuildError, build_book, copy_book_sources
from imbnb.book.provenance import banner, banner_text, environment, write_provenance_page
from imbnb.book.runner import (
    Chapter,
    ChapterResult,
    ProfileError,
    UnknownChapterError,
    UnknownParameterError,
    chapter_defaults,
    discover_chapters,
    load_profiles,
    notebook_parameters,
    resolve_parameters,
    run_chapters,
    select_chapters,
)

__all__ = [
    "BookBuildError",
    "Chapter",
    "ChapterResult",
    "ProfileError",
    "UnknownChapterError",
    "UnknownParameterError",
    "banner",
    "banner_text",
    "build_book",
    "chapter_defaults",
    "copy_book_sources",
    "discover_chapters",
    "environment",
    "load_profiles",
    "notebook_parameters",
    "resolve_parameters",
    "run_chapters",
    "select_chapters",
    "write_provenance_page",
]
