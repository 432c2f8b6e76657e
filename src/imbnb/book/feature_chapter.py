"""Chapter 2 (feature learning): the embeddings in two dimensions, and classifiers on them.

The chapter narrates and calls; the projection, the two-panel embedding figure and the loop
scoring each classifier on each extractor's features live here so that its cells stay short.
Extractors come from :func:`imbnb.methods.train_extractor` (cached), scores from
:func:`imbnb.metrics.evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from imbnb.book.style import column_figsize
from imbnb.classifiers import FeatureClassifier
from imbnb.methods.extractor_figure import PROJECTIONS, project_embeddings
from imbnb.metrics import evaluate

__all__ = ["PROJECTIONS", "classifier_rows", "plot_embeddings", "project_embeddings"]


def plot_embeddings(
    panels: Mapping[str, np.ndarray],
    y: np.ndarray,
    minority: Sequence[int],
    class_names: Sequence[str],
    title: str,
) -> Any:
    """One panel per training (its 2-d points), majority classes grey, each minority coloured.

    ``panels``: a title (the training's label and ratio) -> the 2-d points of the images ``y``
    labels. The legend, below the panels, names the minority classes; the figure is the
    text column wide, so its text reads at its set size.
    """
    palette = dict(zip(minority, sns.color_palette("bright", len(minority)), strict=True))
    aspect = 0.9 / len(panels)  # square-ish panels side by side
    fig, axes = plt.subplots(1, len(panels), figsize=column_figsize(aspect=aspect), squeeze=False)
    axes = axes[0]
    for ax, (name, xy) in zip(axes, panels.items(), strict=True):
        major = ~np.isin(y, minority)
        ax.scatter(xy[major, 0], xy[major, 1], s=6, c="0.75", label="majority classes")
        for c in minority:
            sel = y == c
            ax.scatter(
                xy[sel, 0], xy[sel, 1], s=10, color=palette[c], label=f"{c} {class_names[c]}"
            )
        ax.set(title=name, xticks=[], yticks=[])
    fig.suptitle(title)
    fig.tight_layout()
    handles, labels = axes[-1].get_legend_handles_labels()
    ncol = min(3, len(labels))
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol,
               markerscale=2, frameon=False)  # fmt: skip
    return fig


def classifier_rows(
    extractors: Mapping[tuple[str, int], Any], k: int, n_classes: int
) -> pd.DataFrame:
    """Each extractor's test scores under its CNN's own classifier ``h``, kNN and LR on ``f(x)``.

    ``extractors``: (training label, seed) -> a trained extractor. One row per extractor and
    classifier, with the report's summary scores (minority: the extractor's split's classes).
    """
    rows = []
    for (label, seed), ex in extractors.items():
        predictions = {"CNN classifier h": ex.y_pred_test}
        for kind, name in [("knn", f"kNN (k={k})"), ("logreg", "logistic regression")]:
            clf = FeatureClassifier(kind=kind, n_neighbors=k, random_state=seed)
            predictions[name] = clf.fit(ex.z_train, ex.y_train).predict(ex.z_test)
        for name, y_pred in predictions.items():
            report = evaluate(
                ex.y_test, y_pred, minority=ex.minority_classes, labels=list(range(n_classes))
            )
            rows.append({"training": label, "classifier": name, "seed": seed, **report.summary})
    return pd.DataFrame(rows)
