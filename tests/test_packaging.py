"""Packaging by role: the library needs no notebook or book toolchain; the book is an extra."""

from __future__ import annotations

import tomllib
from pathlib import Path

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


def test_pages_workflow_runs_only_the_readmes_book_command() -> None:
    import yaml

    root = Path(__file__).resolve().parents[1]
    flow = yaml.safe_load((root / ".github" / "workflows" / "pages.yml").read_text())
    steps = [s for job in flow["jobs"].values() for s in job["steps"]]
    assert [s["run"] for s in steps if "run" in s] == ["make book"]
    assert "make book" in (root / "README.md").read_text()
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-pages")]
    assert uploads and uploads[0]["with"]["path"] == "_build/html"
