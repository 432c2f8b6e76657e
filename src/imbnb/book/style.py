"""How every chapter looks: seaborn's theme for figures sized to the page, tables shown whole.

pandas elides a table past 60 rows or 20 columns (a "..." row or column), and a cell's text
past 50 characters; on a static book page nothing can expand them, so a results table would
lose most of its methods and a table of method descriptions the end of each sentence.

A row or column label such as an imbalance ratio stored as a float reads "20.0" in a table;
the book shows whole-number labels as integers ("20"), without changing the table itself
(:func:`integral_labels`).

A figure wider than the book's text column is shrunk by the browser, and its text with it: a
figure drawn :data:`COLUMN_INCHES` wide at :data:`FIGURE_DPI` shows at its own size, so its
text reads at the size it was set in. :func:`smallest_text_px` says how small a figure's text
will read on the page (the book aims at :data:`MIN_TEXT_PX` or more); :func:`facet_height` sizes
a seaborn grid's facets to fill the column. With ``IMBNB_FIGURE_AUDIT`` set,
:func:`set_book_style` records every figure a chapter renders
(:mod:`imbnb.book.figure_audit`), which the smoke book's test checks against that minimum.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from imbnb.book.figure_audit import install_figure_audit

__all__ = [
    "COLUMN_INCHES",
    "COLUMN_PX",
    "FIGURE_DPI",
    "MAX_TABLE_ROWS",
    "MIN_TEXT_PX",
    "column_figsize",
    "facet_height",
    "integral_labels",
    "set_book_style",
    "smallest_text",
    "smallest_text_px",
]

#: Tables up to this many rows are shown whole; a longer one does not belong on a page.
MAX_TABLE_ROWS = 500
#: Width of the text column of a chapter page in CSS pixels (sphinx-book-theme at 1280 px).
COLUMN_PX = 688
#: Pixels per inch of the figures' PNGs (one image pixel per CSS pixel on the page).
FIGURE_DPI = 100
#: A figure this wide (inches) fills the text column without being shrunk.
COLUMN_INCHES = COLUMN_PX / FIGURE_DPI
#: No figure text should read smaller than this on the page (CSS pixels).
MIN_TEXT_PX = 9.0

# Font sizes (points) at FIGURE_DPI: 12 pt is about 17 px on a figure a column wide, and still
# 9 px when a figure 12.7 inches wide (1.85 columns: a row of three facets) is shrunk to fit.
# seaborn's "notebook" context sets ticks and legends at 11 pt, 9 px only up to 11.7 inches.
_FIGURE_RC = {
    "figure.dpi": FIGURE_DPI,
    "savefig.dpi": FIGURE_DPI,
    "figure.figsize": (COLUMN_INCHES, COLUMN_INCHES * 0.6),
    "font.size": 12,
    "axes.titlesize": 12,
    "axes.labelsize": 12,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "legend.title_fontsize": 12,
    "figure.titlesize": 13,
}


def column_figsize(rows: float = 1.0, aspect: float = 0.6) -> tuple[float, float]:
    """``(width, height)`` in inches of a figure as wide as the text column.

    ``aspect`` is one row's height over the column's width; ``rows`` rows are stacked.
    """
    return COLUMN_INCHES, COLUMN_INCHES * aspect * rows


def facet_height(n_cols: int, aspect: float, beside: float = 0.0) -> float:
    """The ``height`` (inches) of a seaborn facet so that ``n_cols`` facets of ``aspect``,
    plus ``beside`` inches of labels or legend next to them, fill the text column."""
    return (COLUMN_INCHES - beside) / n_cols / aspect


def _renderer(fig: Any) -> Any:
    """A renderer for ``fig``: its canvas's, or an Agg one for a figure made without pyplot."""
    if hasattr(fig.canvas, "get_renderer"):
        return fig.canvas.get_renderer()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.set_canvas(canvas)  # FigureCanvasAgg(fig) took the figure over; give it back
    return renderer


def smallest_text(fig: Any, column_px: float = COLUMN_PX) -> tuple[float, str]:
    """The on-page size in CSS pixels of a drawn ``fig``'s smallest visible text, and the text.

    The page shows a PNG at one pixel per CSS pixel, shrunk to ``column_px`` when wider; the
    PNG is cropped to the drawn content (``bbox_inches="tight"``, as the notebook does).
    ``(inf, "")`` for a figure without text.
    """
    renderer = _renderer(fig)
    fig.draw(renderer)
    dpi = fig.dpi
    width_px = fig.get_tightbbox(renderer).width * dpi
    scale = min(1.0, column_px / width_px) if width_px > 0 else 1.0
    texts = [
        (text.get_fontsize(), text.get_text().strip())
        for text in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_fontsize"))
        if text.get_visible() and text.get_text().strip()
    ]
    size, label = min(texts, key=lambda t: t[0], default=(float("inf"), ""))
    return size * dpi / 72 * scale, label


def smallest_text_px(fig: Any, column_px: float = COLUMN_PX) -> float:
    """The smallest visible text of a drawn ``fig`` in CSS pixels, once shown on the page
    (:func:`smallest_text` without the text)."""
    return smallest_text(fig, column_px)[0]


def _whole(labels: pd.Index) -> pd.Index:
    """A float index whose labels are all whole numbers (no NaN) as integers; else as is."""
    if labels.dtype.kind != "f" or len(labels) == 0:
        return labels
    values = labels.to_numpy()
    if not np.isfinite(values).all() or (values != np.round(values)).any():
        return labels
    return pd.Index(values.astype(np.int64), name=labels.name)


def _whole_axis(axis: pd.Index) -> pd.Index:
    """:func:`_whole` on a flat index or on every level of a MultiIndex."""
    if isinstance(axis, pd.MultiIndex):
        return axis.set_levels([_whole(level) for level in axis.levels])
    return _whole(axis)


def integral_labels(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` whose float row/column labels that are whole numbers are ints.

    Only the labels (``ratio`` 20.0 -> 20) change, never the values: a column of scores keeps
    its decimals. The book's display of every DataFrame goes through this.
    """
    out = table.copy(deep=False)
    out.index = _whole_axis(table.index)
    out.columns = _whole_axis(table.columns)
    return out


def _show_whole_labels() -> None:
    """In a notebook, show every DataFrame (HTML and text) through :func:`integral_labels`."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing displays tables
        return
    shell = get_ipython()
    if shell is None:
        return
    formatters = shell.display_formatter.formatters
    formatters["text/html"].for_type(pd.DataFrame, lambda t: integral_labels(t)._repr_html_())
    formatters["text/plain"].for_type(
        pd.DataFrame, lambda t, printer, cycle: printer.text(repr(integral_labels(t)))
    )


def set_book_style() -> None:
    """Seaborn's whitegrid theme with figures a column wide and fonts that read at that size,
    and pandas showing every row (up to ``MAX_TABLE_ROWS``), column and cell's whole text,
    with whole-number float labels as integers; with ``IMBNB_FIGURE_AUDIT`` set, every rendered
    figure's smallest text is recorded (:mod:`imbnb.book.figure_audit`)."""
    import seaborn as sns  # here, not at import: the `imbnb` command needs no plotting

    sns.set_theme(style="whitegrid", context="notebook", rc=_FIGURE_RC)
    pd.set_option("display.max_rows", MAX_TABLE_ROWS)
    pd.set_option("display.min_rows", MAX_TABLE_ROWS)
    pd.set_option("display.max_columns", None)
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.width", None)
    _show_whole_labels()
    install_figure_audit()  # only when IMBNB_FIGURE_AUDIT names a file (the smoke book's check)


@contextlib.contextmanager
def book_style() -> Iterator[None]:
    """:func:`set_book_style` for one block only: matplotlib's and pandas' settings come back
    after it (a test, or a figure drawn the book's way inside another project)."""
    import matplotlib

    names = ["max_rows", "min_rows", "max_columns", "max_colwidth", "width"]
    saved = [x for n in names for x in (f"display.{n}", pd.get_option(f"display.{n}"))]
    with matplotlib.rc_context(), pd.option_context(*saved):
        set_book_style()
        yield
