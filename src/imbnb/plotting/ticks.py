"""Plain-number ticks on log axes (chapters 8 and 9)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np

__all__ = ["log_ticks"]


def log_ticks(ax: plt.Axes, axis: str = "x", max_ticks: int = 9) -> None:
    """Label a log axis with plain numbers (5, 10, 20, ... 10,000), at most ``max_ticks``.

    matplotlib labels only powers of ten (a one-decade axis shows a single "10^1"); this puts
    ticks at 1-2-5, 1-3 or 1 per decade, the densest that fits, and no minor labels.
    """

    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    if lo <= 0:
        raise ValueError(f"a log axis needs positive limits, got {lo:g} to {hi:g}")
    decades = np.log10(hi / lo)
    subs = next(
        (s for s in [(1.0, 2.0, 5.0), (1.0, 3.0), (1.0,)] if len(s) * (decades + 1) <= max_ticks),
        (1.0,),
    )
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(mticker.LogLocator(subs=subs))
    target.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:,.10g}"))
    target.set_minor_formatter(mticker.NullFormatter())
