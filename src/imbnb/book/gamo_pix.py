"""Chapter 5 (GAMO): GAMO2pix images, real beside decoded, and what the decoded tiles show.

:func:`gamo2pix_tiles` (:mod:`imbnb.methods.gamo_figure`, where a sweep's figure data is made)
trains one GAMO2pix decoder per class (cached), decodes GAMO's generated vectors and measures
the tiles (intensity, spread between tiles, GAMO's classifier's verdict);
:func:`plot_gamo2pix_tiles` draws them and :func:`gamo2pix_numbers` puts the measures in words.
Re-exported by :mod:`imbnb.book.gamo_chapter`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from imbnb.book.prose import threshold_phrase
from imbnb.methods.gamo_figure import Gamo2pixTiles, gamo2pix_tiles

__all__ = [
    "Gamo2pixTiles",
    "gamo2pix_numbers",
    "gamo2pix_tiles",
    "plot_gamo2pix_tiles",
]


def plot_gamo2pix_tiles(tiles: Gamo2pixTiles) -> plt.Figure:
    """Real beside decoded tiles, one row per class, on one grey scale and one pixel size."""
    classes = tiles.classes
    fig, axes = plt.subplots(
        len(classes), 2, figsize=(10, 0.95 * len(classes) + 0.7), squeeze=False
    )
    width = 28 * max(len(t) for t in [*tiles.real.values(), *tiles.made.values()])
    for row, c in zip(axes, classes, strict=True):
        for ax, strip, label in [
            (row[0], tiles.real[c], "real"),
            (row[1], tiles.made[c], "GAMO2pix"),
        ]:
            ax.imshow(np.concatenate(list(strip), axis=1), cmap="gray_r", vmin=0, vmax=1)
            ax.set(xticks=[], yticks=[], xlim=(-0.5, width - 0.5))  # one pixel size for all
            ax.set_ylabel(f"class {c}", rotation=0, ha="right", va="center")
            ax.set_title(label if c == classes[0] else "")
    fig.suptitle("every tile on one grey scale: white = 0 (empty), black = 1", fontsize="small")
    fig.tight_layout()
    return fig


def _share_text(share: float) -> str:
    """ "all", "none" or a percentage, for a share of tiles."""
    return "all" if share == 1 else ("none" if share == 0 else f"{share:.0%}")


def gamo2pix_numbers(tiles: Gamo2pixTiles, class_names: Sequence[str]) -> dict[str, Any]:
    """Glue name -> value: per class what its decoded tiles show (intensity, what GAMO's
    classifier calls them), and how much the tiles of a class differ from one another."""
    parts = []
    for c, m in tiles.measures.iterrows():
        called = class_names[int(m["most common prediction"])]
        verdict = f"GAMO's classifier takes {_share_text(m['decoded as the class'])} of them for"
        verdict += " the class" if called == class_names[c] else f" the class (most for {called})"
        parts.append(
            f"for class {c} ({class_names[c]}) the decoded tiles have a mean intensity of "
            f"{m['decoded intensity']:.2f} against {m['real intensity']:.2f} for all its real "
            f"images, and {verdict}"
        )
    ratio = tiles.measures["decoded spread"] / tiles.measures["real spread"]
    return {"pix_text": "; ".join(parts), "pix_spread_text": _spread_text(ratio)}


#: How the decoded tiles of a class vary, by their spread over the real tiles' (upper bounds).
_SPREAD_BANDS = [(0.5, "are near copies of one another"), (0.8, "vary less than the real ones")]
_SPREAD_ELSE = "vary about as much as the real ones"


def _spread_text(ratio: pd.Series) -> str:
    """How much the decoded tiles of each class differ from one another, against the real
    tiles' pixel-wise spread: one sentence when every class reads the same, else class by
    class (a collapsed class is named, not averaged away)."""
    words = {c: threshold_phrase(float(r), _SPREAD_BANDS, _SPREAD_ELSE) for c, r in ratio.items()}
    if len(set(words.values())) == 1:
        lo, hi = f"{ratio.min():.0%}", f"{ratio.max():.0%}"
        spread = f"{lo} of the real tiles'" if lo == hi else f"{lo} to {hi} of the real tiles'"
        verdict = next(iter(words.values()))
        tail = (": the decoder draws one smooth, average item per class rather than different "
                "garments" if verdict == _SPREAD_BANDS[0][1] else "")  # fmt: skip
        spread_words = f"their pixel-wise spread is {spread}"
        return f"Within a class the decoded tiles {verdict} ({spread_words}){tail}"
    parts = [f"those of class {c} {w} ({ratio[c]:.0%})" for c, w in words.items()]
    return (
        "The classes differ in how much their decoded tiles vary, as a share of the real tiles' "
        "pixel-wise spread: " + "; ".join(parts)
    )
