"""Image strips and labelled grids of generated samples (chapters 6 and 7)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from imbnb.book.style import COLUMN_INCHES

__all__ = ["image_grid", "tile"]


def tile(images: np.ndarray, n: int | None = None) -> np.ndarray:
    """Side-by-side strip (H, n*W) or (H, n*W, 3) of the first ``n`` images (N, C, H, W)."""
    x = np.asarray(images, dtype=np.float32)[:n]
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {x.shape}")
    if len(x) == 0:
        raise ValueError("images is empty: nothing to tile")
    x = np.moveaxis(x, 1, -1)  # N, H, W, C
    strip = np.concatenate(list(x), axis=1)
    return strip[..., 0] if strip.shape[-1] == 1 else strip


def image_grid(
    rows: Mapping[str, np.ndarray],
    *,
    n: int = 8,
    title: str | None = None,
    row_height: float = 0.9,
    axes: Sequence[plt.Axes] | None = None,
) -> plt.Figure:
    """One labelled strip of up to ``n`` images per row (e.g. real vs synthetic per class).

    The figure is at most the text column wide (the labels keep their size on the page);
    images of a long strip get smaller than ``row_height`` to fit.
    """
    if not rows:
        raise ValueError("rows is empty: give at least one label -> images entry")
    if axes is None:
        label_in = max(len(label) for label in rows) * 0.11 + 0.3  # 12 pt labels on the left
        side = min(row_height, (COLUMN_INCHES - label_in) / n)  # one image's side (inches)
        width = min(COLUMN_INCHES, label_in + side * n)
        fig, axes = plt.subplots(
            len(rows), 1, figsize=(width, side * len(rows) + 0.4), squeeze=False
        )
        axes = axes[:, 0]
    fig = axes[0].figure
    for ax, (label, imgs) in zip(axes, rows.items(), strict=True):
        strip = tile(imgs, n)
        ax.imshow(strip, cmap="gray_r" if strip.ndim == 2 else None, vmin=0, vmax=1)
        ax.set(xticks=[], yticks=[])
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    return fig
