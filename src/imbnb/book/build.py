"""Build the static book with Jupyter Book, strictly (book: "How to re-run").

``jupyter-book build . -W --keep-going``: every warning fails the build, and a chapter listed
in ``_toc.yml`` but not executed yet is reported before Sphinx even starts. Notebook execution
is off in Jupyter Book (papermill, via :mod:`imbnb.book.runner`, executes the chapters).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from imbnb import paths
from imbnb.book.chapter_banner import write_provenance_page
from imbnb.book.status import write_status

__all__ = ["BookBuildError", "build_book", "copy_book_sources", "install_mathjax", "toc_files"]

_SUFFIXES = (".ipynb", ".md")
# The hand-written book: configuration plus book/ without its build products.
_ROOT_FILES = ("_config.yml", "_toc.yml")
_IGNORED_IN_BOOK = ("chapters", "_build")


class BookBuildError(RuntimeError):
    """Jupyter Book failed, warned (strict mode), or a chapter has not been executed."""


def toc_files(root: str | Path | None = None) -> list[str]:
    """Every ``file:`` entry of ``_toc.yml`` (paths relative to the root, no suffix)."""
    root = Path(root) if root is not None else paths.repo_root()
    toc = yaml.safe_load((root / "_toc.yml").read_text("utf-8"))
    found = [toc["root"]]

    def walk(node: object) -> None:
        """Collect ``file`` values from nested parts/chapters/sections."""
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return found


def _missing(root: Path) -> list[str]:
    """TOC entries with neither a ``.md`` nor an ``.ipynb`` file."""
    return [
        f for f in toc_files(root) if not any((root / f).with_suffix(s).exists() for s in _SUFFIXES)
    ]


def copy_book_sources(dest: str | Path, root: str | Path | None = None) -> Path:
    """Copy the book's hand-written sources (config, TOC, ``book/`` pages) into ``dest``."""
    root = Path(root) if root is not None else paths.repo_root()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in _ROOT_FILES:
        shutil.copy2(root / name, dest / name)
    shutil.copytree(
        root / "book",
        dest / "book",
        ignore=lambda d, names: [
            n for n in names if Path(d) == root / "book" and n in _IGNORED_IN_BOOK
        ],
        dirs_exist_ok=True,
    )
    return dest


def install_mathjax(static: str | Path) -> Path:
    """Copy MathJax 3's browser bundle into a built book's ``_static/mathjax`` (offline math).

    ``_config.yml`` points Sphinx's ``mathjax_path`` at ``mathjax/tex-mml-chtml.js``, which is
    relative to ``_static``; the files come from the ``django-static-mathjax`` wheel.
    """
    from importlib import resources

    try:
        source = resources.files("mathjax") / "static" / "mathjax" / "es5"
    except ModuleNotFoundError as err:
        raise BookBuildError(
            "MathJax is not installed: pip install django-static-mathjax (a dependency of imbnb)"
        ) from err
    if not (source / "tex-mml-chtml.js").is_file():
        raise BookBuildError(f"no tex-mml-chtml.js in {source}: reinstall django-static-mathjax")
    dest = Path(static) / "mathjax"
    shutil.copytree(Path(str(source)), dest, dirs_exist_ok=True)
    return dest


def build_book(
    root: str | Path | None = None, *, strict: bool = True, log=print, timeout: float = 1800
) -> Path:
    """Run ``jupyter-book build`` on ``root`` (default the repo); return ``index.html``."""
    root = Path(root) if root is not None else paths.repo_root()
    write_provenance_page(paths.chapters_dir(root))
    write_status(root)  # book/_generated/status_tables.md, which book/status.md includes
    missing = _missing(root)
    if missing:
        raise BookBuildError(
            "these pages of _toc.yml do not exist yet: "
            + ", ".join(missing)
            + "\nexecute the chapters first: `imbnb book run` (or `make book`)"
        )
    cmd = [
        sys.executable,
        "-c",
        "from jupyter_book.cli.main import main; main()",
        "build",
        str(root),
    ]
    if strict:
        cmd += ["-W", "--keep-going"]
    proc = subprocess.run(
        cmd, cwd=root, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise BookBuildError(
            f"jupyter-book build failed (exit {proc.returncode}):\n{output[-6000:]}"
        )
    index = paths.build_dir(root) / "index.html"
    if not index.exists():
        raise BookBuildError(f"jupyter-book finished but {index} is missing:\n{output[-3000:]}")
    install_mathjax(index.parent / "_static")
    log(f"book built: {index}")
    return index
