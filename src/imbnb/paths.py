"""Where the repository's folders are, found from the package itself (book: "How to re-run").

Chapters and the runner call these instead of using the working directory, so a notebook works
the same when papermill runs it from the repository root and when Jupyter opens it from
``notebooks/``. ``$IMBNB_ROOT`` overrides the location (e.g. for a non-editable install).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "RootNotFoundError",
    "book_dir",
    "build_dir",
    "chapters_dir",
    "notebooks_dir",
    "repo_root",
]

_MARKERS = ("_toc.yml", "notebooks")


class RootNotFoundError(RuntimeError):
    """The repository root could not be located from the package or ``$IMBNB_ROOT``."""


def _looks_like_root(path: Path) -> bool:
    """True when ``path`` holds the book's table of contents or its notebooks folder."""
    return any((path / marker).exists() for marker in _MARKERS)


def repo_root() -> Path:
    """The repository root: ``$IMBNB_ROOT`` if set, else two levels above ``src/imbnb``."""
    env = os.environ.get("IMBNB_ROOT")
    if env:
        root = Path(env).expanduser().resolve()
        if not root.is_dir():
            raise RootNotFoundError(f"$IMBNB_ROOT={env!r} is not a directory")
        return root
    # src/imbnb/paths.py -> parents[0]=src/imbnb, [1]=src, [2]=repository root
    candidate = Path(__file__).resolve().parents[2]
    if _looks_like_root(candidate):
        return candidate
    raise RootNotFoundError(
        f"imbnb is not installed from a checkout (looked in {candidate}); install it with "
        "`pip install -e .` from the repository, or set IMBNB_ROOT to the repository root"
    )


def notebooks_dir() -> Path:
    """The source chapters (committed without outputs)."""
    return repo_root() / "notebooks"


def book_dir() -> Path:
    """The hand-written book pages and the executed chapters."""
    return repo_root() / "book"


def chapters_dir(root: str | Path | None = None) -> Path:
    """Where the runner writes executed chapters (git-ignored); ``root`` defaults to the repo."""
    base = Path(root) if root is not None else repo_root()
    return base / "book" / "chapters"


def build_dir(root: str | Path | None = None) -> Path:
    """The static HTML site that ``imbnb book build`` produces."""
    base = Path(root) if root is not None else repo_root()
    return base / "_build" / "html"
