"""The book machinery: papermill runner, profiles, strict Jupyter Book build, provenance.

Explained in the book's "How to re-run" page; the ``imbnb`` console command lives in
:mod:`imbnb.cli`. Chapters use :func:`banner`, :func:`chapter_defaults` and
:func:`set_book_style`.
"""

from imbnb.book.build import BookBuildError, build_book, copy_book_sources
from imbnb.book.chapter_banner import banner, banner_text, environment, write_provenance_page
from imbnb.book.parameters import InjectedParameterError, chapter_parameters
from imbnb.book.prose import (
    direction_word,
    glue_all,
    lookup,
    phrase_list,
    ranked_text,
    threshold_phrase,
)
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
from imbnb.book.style import MAX_TABLE_ROWS, set_book_style

__all__ = [
    "BookBuildError",
    "InjectedParameterError",
    "chapter_parameters",
    "MAX_TABLE_ROWS",
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
    "direction_word",
    "discover_chapters",
    "environment",
    "glue_all",
    "load_profiles",
    "lookup",
    "notebook_parameters",
    "phrase_list",
    "ranked_text",
    "resolve_parameters",
    "run_chapters",
    "select_chapters",
    "set_book_style",
    "threshold_phrase",
    "write_provenance_page",
]
