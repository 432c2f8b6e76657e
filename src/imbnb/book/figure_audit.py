"""Record how small every rendered figure's text reads on the page (the book's figure audit).

When the environment variable :data:`AUDIT_ENV` names a file, :func:`install_figure_audit`
(called by ``set_book_style()``) wraps :meth:`FigureCanvasBase.print_figure`, the one method
every PNG of a figure passes through: IPython's inline display (``display(fig)``, a cell's
last figure, ``plt.show()``) calls ``fig.canvas.print_figure`` on its way to the notebook, and
so does ``savefig``. Each call appends one JSON line: the chapter (:data:`CHAPTER_ENV`), the
cell's execution count, the figure's title, its size in inches, the on-page size of its
smallest text (:func:`imbnb.book.style.smallest_text`) and that text. Wrapping the canvas
method rather than an IPython display formatter or a ``post_execute`` hook keeps working when
the inline backend re-registers its formatters or flushes figures before our hook would run.
Without the variable nothing is installed, so readers' notebooks render exactly as before.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "AUDIT_ENV",
    "CHAPTER_ENV",
    "describe",
    "figure_record",
    "install_figure_audit",
    "read_audit",
    "too_small",
]

#: Path of the JSON-lines file the audit appends to; unset means no audit.
AUDIT_ENV = "IMBNB_FIGURE_AUDIT"
#: The chapter's name for the records (set by whoever starts the kernel); optional.
CHAPTER_ENV = "IMBNB_FIGURE_AUDIT_CHAPTER"
_MARK = "_imbnb_figure_audit"


def _title(fig: Any) -> str:
    """The figure's suptitle, else its first non-empty axes title, else ``figure <n>``."""
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text().strip():
        return suptitle.get_text().strip()
    for ax in fig.axes:
        for loc in ("center", "left", "right"):
            text = ax.get_title(loc=loc).strip()
            if text:
                return text
    return f"figure {getattr(fig, 'number', '?')}"


def _execution_count() -> int | None:
    """The running cell's execution count in IPython (its ``In [n]``); None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else shell.execution_count


def figure_record(fig: Any) -> dict[str, Any]:
    """One audit record of ``fig``: chapter, cell, title, size, smallest text (px and label)."""
    from imbnb.book.style import smallest_text

    width, height = (float(x) for x in fig.get_size_inches())
    px, label = smallest_text(fig)
    return {
        "chapter": os.environ.get(CHAPTER_ENV, ""),
        "pid": os.getpid(),
        "cell": _execution_count(),
        "figure": getattr(fig, "number", None),
        "title": _title(fig),
        "width_in": round(width, 3),
        "height_in": round(height, 3),
        "smallest_text_px": round(px, 3) if px != float("inf") else None,
        "label": label,
    }


def _append(path: Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line (a single write, so kernels never interleave)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


def _audited(print_figure: Callable[..., Any]) -> Callable[..., Any]:
    """``print_figure`` that, after rendering, appends the figure's record to the audit file."""

    @functools.wraps(print_figure)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = print_figure(self, *args, **kwargs)
        target = os.environ.get(AUDIT_ENV)
        if target:
            fig = self.figure
            try:
                record = figure_record(fig)
            except Exception as err:  # never break a chapter's figure; record the failure
                record = {"chapter": os.environ.get(CHAPTER_ENV, ""), "title": _title(fig)}
                record["error"] = f"{type(err).__name__}: {err}"
            _append(Path(target), record)
        return result

    setattr(wrapper, _MARK, True)
    return wrapper


def install_figure_audit() -> bool:
    """Wrap ``FigureCanvasBase.print_figure`` once when :data:`AUDIT_ENV` is set.

    Returns whether the audit is installed (it stays installed for the process).
    """
    if not os.environ.get(AUDIT_ENV):
        return False
    from matplotlib.backend_bases import FigureCanvasBase

    if not getattr(FigureCanvasBase.print_figure, _MARK, False):
        FigureCanvasBase.print_figure = _audited(FigureCanvasBase.print_figure)  # type: ignore[method-assign]
    return True


def read_audit(path: str | Path) -> list[dict[str, Any]]:
    """The records of an audit file, in the order the figures were rendered."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def describe(record: dict[str, Any]) -> str:
    """One line naming a record's figure: chapter, cell, title, size and smallest text."""
    where = f"{record.get('chapter') or 'pid ' + str(record.get('pid'))} cell {record.get('cell')}"
    if "error" in record:
        return f"{where}: {record.get('title')!r}: audit failed: {record['error']}"
    size = f"{record['width_in']:g}x{record['height_in']:g} in"
    return (
        f"{where}: {record['title']!r} ({size}): smallest text "
        f"{record['smallest_text_px']:.1f} px, {record['label']!r}"
    )


def too_small(records: list[dict[str, Any]], minimum: float) -> list[str]:
    """:func:`describe` of every record whose smallest text reads under ``minimum`` px (or
    whose audit failed); empty when every figure's text is large enough."""
    return [
        describe(r)
        for r in records
        if "error" in r or (r["smallest_text_px"] is not None and r["smallest_text_px"] < minimum)
    ]
