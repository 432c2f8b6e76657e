"""Packaging by role: the library needs no notebook or book toolchain; the book is an extra."""

from __future__ import annotations

import tomllib

from imbnb import paths

BOOK_ONLY = {"jupyter-book", "papermill", "ipykernel", "nbformat", "django-static-mathjax"}


def _name(requirement: str) -> str:
    for sep in "<>=!~[; ":
        requirement = requirement.split(sep)[0]
    return requirement.strip().lower()


def test_the_core_dependencies_hold_no_book_toolchain() -> None:
    project = tomllib.loads((paths.repo_root() / "pyproject.toml").read_text("utf-8"))["project"]
    core = {_name(r) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    assert not core & BOOK_ONLY, core & BOOK_ONLY
    assert BOOK_ONLY <= {_name(r) for r in extras["book"]}
    assert {"statsmodels", "baycomp", "autorank"} <= core  # the verdicts' statistics
    makefile = (paths.repo_root() / "Makefile").read_text("utf-8")
    assert "-e '.[book,dev,ray]'" in makefile  # make installs what its targets need
