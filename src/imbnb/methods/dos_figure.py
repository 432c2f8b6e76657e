"""What chapter 4's figures draw of one DOS run, small enough to store beside its row.

:class:`DOSFigure` holds the run's rounds (the in-class variance before and after each), its
costs and sizes, each class's in-class variance under the CNN and under DOS, and a 2-D PCA of
``n_plot`` test embeddings of both: a few kilobytes, where the run itself holds two networks and
60,000 embeddings. The chapter computes it from a trained run (:meth:`DOSFigure.from_run`) or
reads it from a sweep's figure file (:meth:`DOSFigure.from_arrays`), and draws the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.decomposition import PCA

from imbnb.methods.dos import DOSRun, in_class_variance

__all__ = ["N_PLOT", "DOSFigure"]

#: Test images a stored figure keeps for the embedding plot (the paper profile's ``n_plot``).
N_PLOT = 3000
_HISTORY = ("round", "var_ratio_before", "var_ratio_after", "n_quadruplets")
_META = ("history", "dos_seconds", "cnn_seconds", "rounds", "init_epochs", "n_train",
         "minority_classes", "r_minority")  # fmt: skip
_ARRAYS = ("classes", "var_cnn", "var_dos", "y_shown", "xy_cnn", "xy_dos")


@dataclass
class DOSFigure:
    """One DOS run as chapter 4's figures and cost sentences use it."""

    history: list[dict[str, Any]]  # per round: the variance ratio before / after, quadruplets
    dos_seconds: float
    cnn_seconds: float
    rounds: int
    init_epochs: int
    n_train: int  # training images of the split
    minority_classes: list[int]
    r_minority: int  # the over-sampling size of the minority classes
    network: str  # "trained", "cache" or "figure file": where the numbers come from
    classes: np.ndarray  # the classes of the training set, in order
    var_cnn: np.ndarray  # per class: within / total variance of the CNN's training embedding
    var_dos: np.ndarray  # the same under DOS
    y_shown: np.ndarray  # labels of the test images of the embedding plot
    xy_cnn: np.ndarray  # their 2-D PCA under the CNN
    xy_dos: np.ndarray  # and under DOS

    @classmethod
    def from_run(cls, run: DOSRun, n_plot: int = N_PLOT, seed: int = 0) -> DOSFigure:
        """The figure data of a trained (or cached) run; ``n_plot`` test images drawn by
        ``seed`` for the embedding plot, each embedding's PCA with that seed."""
        ex = run.extractor
        classes = np.unique(ex.y_train)
        shares = [in_class_variance(z, ex.y_train) for z in (ex.z_train, run.z_train)]
        cnn, dos = ([v[f"within_c{c}"] / v["total"] for c in classes] for v in shares)
        rng = np.random.default_rng(seed)
        n = min(n_plot, len(ex.y_test))
        shown = np.sort(rng.choice(len(ex.y_test), size=n, replace=False))
        xy = [PCA(n_components=2, random_state=seed).fit_transform(z[shown])
              for z in (ex.z_test, run.z_test)]  # fmt: skip
        return cls(
            history=[{k: h[k] for k in _HISTORY} for h in run.history],
            dos_seconds=float(run.dos.seconds_),
            cnn_seconds=float(ex.history.get("seconds", float("nan"))),
            rounds=int(run.config["dos"]["rounds"]),
            init_epochs=int(run.config["dos"]["init_epochs"]),
            n_train=len(ex.y_train),
            minority_classes=[int(c) for c in ex.minority_classes],
            r_minority=int(max(run.dos.rates_.values())),
            network="cache" if run.from_cache else "trained",
            classes=classes.astype(np.int64),
            var_cnn=np.asarray(cnn, dtype=np.float64),
            var_dos=np.asarray(dos, dtype=np.float64),
            y_shown=ex.y_test[shown].astype(np.int64),
            xy_cnn=xy[0].astype(np.float32),
            xy_dos=xy[1].astype(np.float32),
        )

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The arrays and the JSON header of a figure file."""
        meta = {k: getattr(self, k) for k in _META}
        return {k: getattr(self, k) for k in _ARRAYS}, {"kind": "dos", **meta}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> DOSFigure:
        """A figure read from a figure file (:meth:`to_arrays`)."""
        if meta.get("kind") != "dos":
            raise ValueError(f"not a DOS figure file (kind {meta.get('kind')!r})")
        fields = {k: meta[k] for k in _META}  # the header also says how the file was made
        return cls(network="figure file", **fields, **{k: arrays[k] for k in _ARRAYS})

    @property
    def quadruplets(self) -> int:
        """Quadruplets per round (0 before any round)."""
        return int(self.history[0]["n_quadruplets"]) if self.history else 0
