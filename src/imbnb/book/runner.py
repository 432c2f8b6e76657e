"""Execute the book's chapters with papermill under a named profile (book: "How to re-run").

A chapter is a notebook ``notebooks/NN_topic.ipynb`` whose ``parameters`` cell lists every
knob. :func:`run_chapters` merges the profile's values (``profiles.yaml``) with overrides,
refuses unknown names, executes each chapter into ``book/chapters/``, hides papermill's
injected cell in the rendered book, collapses bookkeeping cells (:func:`is_bookkeeping`) and
reports a failing chapter by name and cell while keeping the other chapters' outputs.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypedDict, Unpack

import nbformat
import papermill
import yaml
from papermill.exceptions import PapermillExecutionError
from tqdm import tqdm

from imbnb import paths
from imbnb.book.chapter_banner import environment, write_provenance_page
from imbnb.book.figure_audit import AUDIT_ENV, CHAPTER_ENV
from imbnb.book.parameters import check_parameters

__all__ = [
    "Chapter",
    "ChapterResult",
    "ProfileError",
    "UnknownChapterError",
    "UnknownParameterError",
    "chapter_defaults",
    "chapter_values",
    "discover_chapters",
    "is_bookkeeping",
    "load_profiles",
    "notebook_parameters",
    "resolve_parameters",
    "run_chapters",
    "select_chapters",
]

DEFAULT_PROFILE = "quick"
INJECTED_TAG = "injected-parameters"
HIDE_TAG = "remove-cell"
#: Collapsed behind a "show code" toggle in the book; the code stays one click away.
HIDE_INPUT_TAG = "hide-input"
# myst-nb's glue, and the calls that only put something already computed on the page
_GLUE_CALLS = frozenset({"glue", "glue_all"})
_DISPLAY_CALLS = frozenset({"display", "show"})  # IPython's display(...), plt.show()
# a glued value's output (myst_nb.glue(..., display=False)): data the reader never sees
_GLUE_MIME = "application/papermill.record/"
FAILED_DIRNAME = "failed"
_CHAPTER_RE = re.compile(r"^(\d{2})_[A-Za-z0-9_]+$")


class ProfileError(ValueError):
    """A profile is unknown or names a parameter its chapter does not have."""


class UnknownParameterError(ValueError):
    """An override names no parameter of the selected chapters."""


class UnknownChapterError(ValueError):
    """A chapter selector matches no notebook."""


@dataclass(frozen=True)
class Chapter:
    """A source chapter: its number, file stem (``01_motivation``) and notebook path."""

    number: int
    stem: str
    source: Path


@dataclass
class ChapterResult:
    """What happened to one chapter: output notebook, seconds, parameters, error if any."""

    chapter: Chapter
    output: Path
    seconds: float
    parameters: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the chapter executed without an error."""
        return self.error is None


def discover_chapters(notebooks: str | Path | None = None) -> list[Chapter]:
    """All ``NN_topic.ipynb`` notebooks in ``notebooks`` (default: the repo's), by number."""
    folder = Path(notebooks) if notebooks is not None else paths.notebooks_dir()
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        match = _CHAPTER_RE.match(path.stem)
        if match:
            found.append(Chapter(int(match.group(1)), path.stem, path))
    return found


def select_chapters(
    selectors: Iterable[str | int] | None = None, notebooks: str | Path | None = None
) -> list[Chapter]:
    """Chapters matching numbers (``1``, ``"01"``) or stems; all of them when none given."""
    chapters = discover_chapters(notebooks)
    if not selectors:
        return chapters
    chosen: list[Chapter] = []
    for sel in selectors:
        text = str(sel).removesuffix(".ipynb")
        hits = [c for c in chapters if c.stem == text or (text.isdigit() and int(text) == c.number)]
        if not hits:
            known = ", ".join(f"{c.number} ({c.stem})" for c in chapters) or "none"
            raise UnknownChapterError(f"no chapter {sel!r}; chapters are: {known}")
        chosen += [c for c in hits if c not in chosen]
    return sorted(chosen, key=lambda c: c.number)


@cache
def _parameters_cached(path: str, mtime: float) -> dict[str, dict[str, Any]]:
    """papermill's view of a notebook's ``parameters`` cell (cached per file version)."""
    return papermill.inspect_notebook(path)


def notebook_parameters(path: str | Path) -> dict[str, dict[str, Any]]:
    """Name -> {default (source text), inferred_type_name, help} of the ``parameters`` cell."""
    path = Path(path)
    return _parameters_cached(str(path), path.stat().st_mtime)


def chapter_notebook(chapter: str | Path) -> Path:
    """A chapter's source notebook: a path, or a stem such as ``01_motivation``."""
    path = Path(chapter)
    return path if path.suffix == ".ipynb" else paths.notebooks_dir() / f"{chapter}.ipynb"


def chapter_defaults(chapter: str | Path) -> dict[str, Any]:
    """A chapter's parameter defaults as Python values (for the banner's comparison)."""
    path = chapter_notebook(chapter)
    return {
        name: ast.literal_eval(info["default"]) for name, info in notebook_parameters(path).items()
    }


def load_profiles(path: str | Path | None = None) -> dict[str, Any]:
    """The profiles file (package data ``profiles.yaml`` unless ``path`` is given)."""
    if path is None:
        text = resources.files("imbnb.book").joinpath("profiles.yaml").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    profiles = yaml.safe_load(text) or {}
    if not isinstance(profiles, dict):
        raise ProfileError("profiles.yaml must map profile names to settings")
    return profiles


def _describe_parameters(params: Mapping[str, Mapping[str, Any]]) -> str:
    """Human list of parameters with their defaults and comments, for error messages."""
    lines = []
    for name, info in params.items():
        comment = f"  # {info['help']}" if info.get("help") else ""
        lines.append(f"  {name} = {info['default']}{comment}")
    return "\n".join(lines)


def resolve_parameters(
    chapter: Chapter,
    profile: str = DEFAULT_PROFILE,
    overrides: Mapping[str, Any] | None = None,
    *,
    profiles: Mapping[str, Any] | None = None,
    strict_overrides: bool = True,
) -> dict[str, Any]:
    """Profile values + overrides for ``chapter``, checked against its ``parameters`` cell."""
    profiles = profiles if profiles is not None else load_profiles()
    if profile not in profiles:
        raise ProfileError(f"unknown profile {profile!r}; profiles are: {', '.join(profiles)}")
    known = notebook_parameters(chapter.source)
    chapter_values = dict((profiles[profile].get("chapters") or {}).get(chapter.stem) or {})
    bad = sorted(set(chapter_values) - set(known))
    if bad:
        raise ProfileError(
            f"profile {profile!r} sets {bad} for chapter {chapter.stem}, which has no such "
            f"parameter. Its parameters are:\n{_describe_parameters(known)}"
        )
    values: dict[str, Any] = {}
    if "profile" in known:
        values["profile"] = profile
    values.update(chapter_values)
    for name, value in (overrides or {}).items():
        if name in known:
            values[name] = value
        elif strict_overrides:
            raise UnknownParameterError(
                f"chapter {chapter.stem} has no parameter {name!r}. Its parameters are:\n"
                f"{_describe_parameters(known)}"
            )
    return values


def chapter_values(
    chapter: str, profile: str = DEFAULT_PROFILE, **overrides: Any
) -> dict[str, Any]:
    """Every parameter value a chapter runs with under ``profile`` (its defaults, the profile's
    values, then ``overrides``), checked as ``imbnb book run`` checks them."""
    (found,) = select_chapters([chapter])
    return {**chapter_defaults(found.source), **resolve_parameters(found, profile, overrides)}


def _check_overrides(chapters: Sequence[Chapter], overrides: Mapping[str, Any]) -> None:
    """Every override must be a parameter of at least one selected chapter."""
    known = {c.stem: notebook_parameters(c.source) for c in chapters}
    for name in overrides:
        if not any(name in params for params in known.values()):
            listing = "\n".join(f"{stem}:\n{_describe_parameters(p)}" for stem, p in known.items())
            raise UnknownParameterError(
                f"unknown parameter {name!r}: no selected chapter declares it. "
                f"The chapters' parameters are:\n{listing}"
            )


def _first_line(source: str) -> str:
    """The first non-empty line of a cell's source, shortened."""
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:80]
    return "<empty cell>"


def _describe_failure(chapter: Chapter, err: PapermillExecutionError, saved: Path) -> str:
    """Which chapter and cell failed, with the error, and where the failed notebook is."""
    # papermill counts cells of the executed notebook, which has the injected cell added
    return (
        f"chapter {chapter.stem} failed in cell {err.cell_index} of the executed notebook "
        f"(execution count {err.exec_count}): `{_first_line(err.source)}`\n"
        f"  {err.ename}: {err.evalue}\n"
        f"  executed notebook with the traceback: {saved}"
    )


def _call_name(node: ast.AST) -> str | None:
    """``f`` of a statement ``f(...)`` or ``obj.f(...)``; None for any other statement."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute):
            return func.attr
    return None


def _computes(call: ast.Call) -> bool:
    """A call's arguments call a function (``display(run(x))``), not only methods of values
    (``display(table.round(3))``): computing, not just showing."""
    return any(
        isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name)
        for arg in [*call.args, *(k.value for k in call.keywords)]
        for sub in ast.walk(arg)
    )


def _only_shows(statements: list[ast.stmt]) -> bool:
    """Every statement glues, displays (``display``, ``plt.show``, a bare name) or loops so."""
    for node in statements:
        name = _call_name(node)
        if isinstance(node, ast.For):
            if node.orelse or not _only_shows(node.body):
                return False
        elif name in _DISPLAY_CALLS:
            if _computes(node.value):  # type: ignore[attr-defined]  # an Expr of a Call
                return False
        elif name not in _GLUE_CALLS and not (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Name)
        ):
            return False
    return bool(statements)


def _has_glue(node: ast.AST) -> bool:
    """The statement calls ``glue`` or ``glue_all`` somewhere inside it."""
    return any(
        isinstance(sub, ast.Call)
        and (getattr(sub.func, "id", None) or getattr(sub.func, "attr", None)) in _GLUE_CALLS
        for sub in ast.walk(node)
    )


def _mostly_glue(tree: ast.Module) -> bool:
    """At least half of the cell's code lines are statements that glue (calls or loops)."""
    lines = {True: 0, False: 0}
    for node in tree.body:
        lines[_has_glue(node)] += (node.end_lineno or node.lineno) - node.lineno + 1
    return lines[True] > 0 and lines[True] >= lines[False]


def _shows_nothing(cell: Mapping[str, Any]) -> bool:
    """No output a reader sees: only glued values (no figure, table, text or stream)."""
    return all(
        out.get("output_type") in ("display_data", "execute_result")
        and all(key.startswith(_GLUE_MIME) for key in out.get("data", {}))
        for out in cell.get("outputs", [])
    )


def is_bookkeeping(cell: Mapping[str, Any]) -> bool:
    """Whether an executed code cell is bookkeeping, collapsed (``hide-input``) in the book.

    The rule: (a) every statement only glues or displays what is already computed
    (``glue``/``glue_all``, ``display`` of values or their methods but not of a function's
    result, ``plt.show()``, a bare name, a ``for`` loop of those),
    or (b) the cell shows the reader nothing but glued values and at least half of its code
    lines glue (the "numbers quoted in the text" cells). A cell that draws a figure or a
    table while computing, that mostly runs or imports, defines or registers something, or
    that is already tagged stays as it is: that is code a reader would lift.
    """
    tags = set(cell.get("metadata", {}).get("tags", []))
    if (
        cell.get("cell_type") != "code"
        or tags & {"parameters", INJECTED_TAG}
        or any(t.startswith(("hide-", "remove-")) for t in tags)
    ):
        return False
    try:
        tree = ast.parse(cell.get("source", ""))
    except SyntaxError:  # IPython magics: not plain Python, leave the cell shown
        return False
    return _only_shows(tree.body) or (_mostly_glue(tree) and _shows_nothing(cell))


def _finish_notebook(path: Path, profile: str, env: Mapping[str, Any]) -> None:
    """Hide the injected-parameters cell, collapse bookkeeping cells, record the run.

    Only the executed copy in ``book/chapters/`` changes; the source notebook stays as it is.
    """
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        bookkeeping = is_bookkeeping(cell)  # before the injected cell gets its remove tag
        tags = cell.metadata.setdefault("tags", [])
        if INJECTED_TAG in tags and HIDE_TAG not in tags:
            tags.append(HIDE_TAG)
        if bookkeeping:
            tags.append(HIDE_INPUT_TAG)
    nb.metadata["imbnb"] = {
        "profile": profile,
        "device": env["device"],
        "versions": env["versions"],
    }
    tmp = path.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, path)


class ExecuteOptions(TypedDict, total=False):
    """Rarely used keywords of :func:`run_chapters`, passed on to papermill."""

    kernel_name: str | None  # the Jupyter kernel (default: the notebook's own)


def run_chapters(
    chapters: Iterable[str | int] | None = None,
    *,
    profile: str = DEFAULT_PROFILE,
    overrides: Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
    notebooks: str | Path | None = None,
    progress: bool = True,
    fail_fast: bool = False,
    log: Callable[[str], Any] = print,
    **options: Unpack[ExecuteOptions],
) -> list[ChapterResult]:
    """Execute the selected chapters (all by default) and return one result per chapter.

    Failures do not raise: each failed chapter's result carries a message naming the chapter
    and cell, its executed notebook moves to ``<out_dir>/failed/`` and its stale output is
    removed (so a strict build cannot publish it); the other chapters keep their outputs.
    ``kernel_name`` (:class:`ExecuteOptions`) picks the Jupyter kernel.
    """
    unknown = sorted(set(options) - set(ExecuteOptions.__annotations__))
    if unknown:
        raise TypeError(f"run_chapters() got an unexpected keyword argument {unknown[0]!r}")
    plan = _plan(select_chapters(chapters, notebooks), profile, dict(overrides or {}))
    out = Path(out_dir) if out_dir is not None else paths.chapters_dir()
    out.mkdir(parents=True, exist_ok=True)
    run = _Run(out, profile, environment(), options.get("kernel_name"))
    results: list[ChapterResult] = []
    bar = tqdm(plan, desc=f"chapters ({profile})", unit="chapter", disable=not progress)
    for chapter, params in bar:
        bar.set_postfix_str(chapter.stem)
        result = _execute(chapter, params, run)
        results.append(result)
        if result.error is not None:
            log(result.error)
            if fail_fast:
                break
    write_provenance_page(out)
    return results


def _plan(
    selected: list[Chapter], profile: str, overrides: dict[str, Any]
) -> list[tuple[Chapter, dict[str, Any]]]:
    """Each selected chapter with its checked parameters, before anything runs."""
    if not selected:
        raise UnknownChapterError("no chapter notebooks found")
    profiles = load_profiles()
    _check_overrides(selected, overrides)
    plan = [
        (c, resolve_parameters(c, profile, overrides, profiles=profiles, strict_overrides=False))
        for c in selected
    ]
    for chapter, params in plan:  # every value of its parameters cell's type, before any runs
        check_parameters(params, notebook_parameters(chapter.source), chapter.stem)
    return plan


@dataclass(frozen=True)
class _Run:
    """What every chapter of one :func:`run_chapters` call shares."""

    out: Path
    profile: str
    env: Mapping[str, Any]
    kernel_name: str | None


def _execute(chapter: Chapter, params: dict[str, Any], run: _Run) -> ChapterResult:
    """Execute one chapter with papermill; a failure becomes the result's error message."""
    target = run.out / f"{chapter.stem}.ipynb"
    failed = run.out / FAILED_DIRNAME / target.name
    start = time.perf_counter()
    if os.environ.get(AUDIT_ENV):  # the kernel inherits it: figure records name their chapter
        os.environ[CHAPTER_ENV] = chapter.stem
    try:
        papermill.execute_notebook(
            str(chapter.source),
            str(target),
            parameters=params,
            cwd=str(chapter.source.parent),
            kernel_name=run.kernel_name,
            progress_bar=False,
        )
    except PapermillExecutionError as err:
        failed.parent.mkdir(parents=True, exist_ok=True)
        _move_to_failed(target, failed)
        message = _describe_failure(chapter, err, failed)
        return ChapterResult(chapter, failed, time.perf_counter() - start, params, message)
    except Exception as err:  # kernel death, bad notebook, ...: still name the chapter
        message = f"chapter {chapter.stem} failed before finishing: {type(err).__name__}: {err}"
        _move_to_failed(target, failed)
        return ChapterResult(chapter, target, time.perf_counter() - start, params, message)
    _finish_notebook(target, run.profile, run.env)
    if failed.exists():
        failed.unlink()
    return ChapterResult(chapter, target, time.perf_counter() - start, params)


def _move_to_failed(target: Path, failed: Path) -> None:
    """Move a failed chapter's executed notebook (if any) to ``failed/``, out of the book."""
    if target.exists():
        failed.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(target), failed)
