"""Two-dimensional toy panels: Gaussian contours and chapter 5's classifier regions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

__all__ = ["covariance_ellipse", "plot_decision_panels"]


def covariance_ellipse(
    ax: plt.Axes, mean: np.ndarray, cov: np.ndarray, n_std: float = 2.0, **kw
) -> None:
    """Draw the ``n_std`` contour of a 2-D Gaussian with ``mean`` and ``cov`` on ``ax``."""

    w, v = np.linalg.eigh(np.asarray(cov, dtype=float))
    angle = float(np.degrees(np.arctan2(v[1, -1], v[0, -1])))
    width, height = 2 * n_std * np.sqrt(np.clip(w[::-1], 0, None))
    ax.add_patch(Ellipse(tuple(mean), width, height, angle=angle, fill=False, **kw))


def plot_decision_panels(
    axes: Sequence[plt.Axes],
    X: np.ndarray,
    y: np.ndarray,
    models: Mapping[str, object],
    fakes: Mapping[str, np.ndarray],
    lim: float = 3.2,
) -> None:
    """One panel per 2-D classifier: its minority region, the data, generated points (ch. 5)."""
    xx, yy = np.meshgrid(np.linspace(-lim, lim, 160), np.linspace(-lim, lim, 160))
    grid = np.c_[xx.ravel(), yy.ravel()].astype(np.float32)
    for ax, (name, model) in zip(axes, models.items(), strict=True):
        inside = model.predict_proba(grid)[:, 1].reshape(xx.shape) > 0.5
        ax.contourf(xx, yy, inside, levels=[-0.5, 0.5, 1.5], colors=["#dce6f5", "#f5dcdc"])
        ax.scatter(*X[y == 0].T, s=5, color="tab:blue", label="majority")
        ax.scatter(*X[y == 1].T, s=14, color="tab:red", label="minority")
        if name in fakes:
            ax.scatter(*fakes[name].T, marker="+", s=22, color="tab:green", label="generated")
        ax.set(title=name, xlim=(-lim, lim), ylim=(-lim, lim), xticks=[], yticks=[])
    axes[0].legend(loc="lower left")
