"""What chapter 2's figures and class table draw of one trained extractor, small enough to store
beside its run's row.

:class:`ExtractorFigure` holds the split's class sizes, Algorithm 2's class weights and a 2-D
picture (t-SNE, PCA or both) of ``n_plot`` test embeddings: kilobytes, where the extractor
holds a network and 60,000 embeddings. Chapter 2 computes it from an extractor it trained
(:meth:`ExtractorFigure.from_extractor`) or reads it from a sweep's figure file
(:meth:`ExtractorFigure.from_arrays`), and draws the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from imbnb.imbalance import class_weights
from imbnb.methods.extractor import TrainedExtractor

__all__ = ["N_PLOT", "PROJECTIONS", "ExtractorFigure", "project_embeddings"]

#: Test images a stored figure keeps (the paper profile's ``n_plot`` of chapter 2).
N_PLOT = 3000
#: The 2-d pictures of the embeddings: "tsne" keeps neighbourhoods, "pca" the largest variance.
PROJECTIONS = {"tsne": "t-SNE", "pca": "PCA"}


def project_embeddings(z: np.ndarray, how: str, seed: int) -> np.ndarray:
    """``z`` in two dimensions: t-SNE (neighbourhoods) or PCA (largest variance), seeded."""
    if how == "tsne":
        return TSNE(
            n_components=2, init="pca", perplexity=min(30, len(z) // 4), random_state=seed
        ).fit_transform(z)
    if how == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(z)
    raise ValueError(f"embedding_plot must be 'tsne' or 'pca', not {how!r}")


@dataclass
class ExtractorFigure:
    """One extractor as chapter 2's class table and embedding figure use it."""

    counts: np.ndarray  # training images per class, classes 0..C-1
    weights: np.ndarray  # Algorithm 2's class weights of the training labels
    minority_classes: list[int]
    y_shown: np.ndarray  # labels of the drawn test images
    projections: dict[str, np.ndarray] = field(default_factory=dict)  # how -> (n, 2)
    network: str = "trained"  # "trained", "cache" or "figure file"

    @classmethod
    def from_extractor(
        cls,
        ex: TrainedExtractor,
        n_plot: int = N_PLOT,
        seed: int = 0,
        hows: Sequence[str] = tuple(PROJECTIONS),
    ) -> ExtractorFigure:
        """The figure data of a trained (or cached) extractor: ``n_plot`` test images drawn by
        ``seed``, each picture of ``hows`` seeded by it."""
        n_classes = len(ex.classes)
        held = {int(c): int(n) for c, n in ex.split.counts.items()}
        counts = np.array([held.get(c, 0) for c in range(n_classes)], dtype=np.int64)
        rng = np.random.default_rng(seed)
        shown = np.sort(rng.choice(len(ex.y_test), size=min(n_plot, len(ex.y_test)), replace=False))
        return cls(
            counts=counts,
            weights=np.asarray(class_weights(ex.y_train, classes=range(n_classes))),
            minority_classes=[int(c) for c in ex.minority_classes],
            y_shown=ex.y_test[shown].astype(np.int64),
            projections={how: project_embeddings(ex.z_test[shown], how, seed) for how in hows},
            network="cache" if ex.from_cache else "trained",
        )

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The arrays and the JSON header of a figure file."""
        arrays = {"counts": self.counts, "weights": self.weights, "y_shown": self.y_shown}
        arrays |= {f"xy_{how}": xy.astype(np.float32) for how, xy in self.projections.items()}
        return arrays, {"kind": "extractor", "minority_classes": self.minority_classes}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> ExtractorFigure:
        """A figure read from a figure file (:meth:`to_arrays`)."""
        if meta.get("kind") != "extractor":
            raise ValueError(f"not an extractor figure file (kind {meta.get('kind')!r})")
        projections = {k.removeprefix("xy_"): a for k, a in arrays.items() if k.startswith("xy_")}
        return cls(arrays["counts"], arrays["weights"], list(meta["minority_classes"]),
                   arrays["y_shown"], projections, network="figure file")  # fmt: skip

    def projection(self, how: str) -> np.ndarray:
        """The 2-D points of the drawn test images under ``how`` ("tsne" or "pca")."""
        if how not in self.projections:
            raise ValueError(
                f"embedding_plot must be one of {sorted(self.projections)}, not {how!r}"
            )
        return self.projections[how]
