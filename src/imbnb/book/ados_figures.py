"""Chapter 3 (ADOS): the data behind its first two figures, a toy step and the adaptive k.

* :func:`toy_steps` makes the 2-D toy problem and one ADOS and one SMOTE step on it, for
  :func:`imbnb.plotting.plot_ados_smote_steps` (:meth:`ToySteps.marks`);
* :func:`adaptive_k_profile` applies Algorithm 4 to the embeddings of one class, for
  :func:`imbnb.plotting.plot_adaptive_k` (it lives in :mod:`imbnb.methods.ados_figure`, where
  a sweep's figure data is made).

Both are re-exported by :mod:`imbnb.book.ados_chapter`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import NearestNeighbors

from imbnb.methods.ados_figure import KProfile, adaptive_k_profile
from imbnb.oversample import ADOS, SMOTE
from imbnb.plotting import AdosSmoteMarks

__all__ = ["KProfile", "ToySteps", "adaptive_k_profile", "toy_steps"]


@dataclass(frozen=True)
class ToySteps:
    """One ADOS and one SMOTE step from the same seed on a 2-D toy problem, and full runs."""

    X: np.ndarray  # toy features, majority (y = 0) rows first
    y: np.ndarray
    seed_point: np.ndarray  # the seed x_i
    neighbors: np.ndarray  # ADOS: the k_i neighbours (points)
    weights: np.ndarray  # ADOS: their weights w_ij (eq. 4.5)
    centre: np.ndarray  # ADOS: the synthetic neighbour x-hat (eq. 4.6)
    new_point: np.ndarray  # ADOS: the new point (eq. 4.7)
    delta: float
    smote_neighbors: np.ndarray  # SMOTE: the seed's 5 nearest minority neighbours (points)
    smote_pick: np.ndarray  # SMOTE: the one drawn
    smote_new: np.ndarray  # SMOTE: the new point
    gap: float
    resampled: dict[str, np.ndarray]  # "ADOS" / "SMOTE" -> the toy set grown to balance

    def marks(self) -> AdosSmoteMarks:
        """The two steps' marks, as :func:`imbnb.plotting.plot_ados_smote_steps` takes them."""
        return AdosSmoteMarks(
            seed_point=self.seed_point,
            ados_neighbors=self.neighbors,
            ados_weights=self.weights,
            ados_centre=self.centre,
            ados_new=self.new_point,
            delta=self.delta,
            smote_neighbors=self.smote_neighbors,
            smote_pick=self.smote_pick,
            smote_new=self.smote_new,
            gap=self.gap,
        )


def toy_steps(rng: np.random.Generator, seed: int) -> ToySteps:
    """Draw the toy problem from ``rng`` and take one ADOS and one SMOTE step (ch. 3's figure).

    ADOS is asked for a single extra minority row and its recorded provenance
    (``source_index_``, ``neighbor_indices_``, ``neighbor_weights_``, ``delta_``) rebuilds
    eqs. 4.6-4.7; the SMOTE step is drawn by hand from the same seed with ``rng``.
    """
    toy_major = rng.normal([0.0, 0.0], [1.6, 1.0], size=(300, 2))
    toy_minor = np.vstack(
        [
            rng.normal([3.2, 1.4], [0.45, 0.35], size=(28, 2)),
            rng.normal([4.6, 2.8], [0.5, 0.4], size=(12, 2)),
        ]
    )
    X_toy = np.vstack([toy_major, toy_minor])
    y_toy = np.repeat([0, 1], [len(toy_major), len(toy_minor)])
    n_min_toy = len(toy_minor)

    # one ADOS step: ask for a single extra minority row and read its provenance
    one = ADOS(sampling_strategy={1: n_min_toy + 1}, random_state=seed)
    X_one, _ = one.fit_resample(X_toy, y_toy)
    new = len(X_one) - 1
    seed_row = one.source_index_[new]
    nbrs, w = one.neighbor_indices_[new], one.neighbor_weights_[new]
    delta = one.delta_[new]
    x_hat = w @ X_one[nbrs]  # eq. 4.6, rebuilt from the recorded weights
    if not np.allclose(X_one[new], delta * X_one[seed_row] + (1 - delta) * x_hat):  # eq. 4.7
        raise AssertionError("ADOS's recorded provenance does not rebuild its new row")

    # one SMOTE step from the same seed: a random one of its 5 nearest neighbours
    minor_rows = np.flatnonzero(y_toy == 1)
    nn = NearestNeighbors(n_neighbors=6).fit(X_toy[minor_rows])
    smote_nbrs = minor_rows[nn.kneighbors(X_toy[[seed_row]], return_distance=False)[0][1:]]
    pick = rng.choice(smote_nbrs)
    gap = rng.uniform()
    x_smote = X_toy[seed_row] + gap * (X_toy[pick] - X_toy[seed_row])

    # the full runs to balance
    X_ados, _ = ADOS(random_state=seed).fit_resample(X_toy, y_toy)
    X_sm, _ = SMOTE(k_neighbors=5, random_state=seed).fit_resample(X_toy, y_toy)
    return ToySteps(
        X=X_toy,
        y=y_toy,
        seed_point=X_one[seed_row],
        neighbors=X_one[nbrs],
        weights=w,
        centre=x_hat,
        new_point=X_one[new],
        delta=delta,
        smote_neighbors=X_toy[smote_nbrs],
        smote_pick=X_toy[pick],
        smote_new=x_smote,
        gap=gap,
        resampled={"ADOS": X_ados, "SMOTE": X_sm},
    )
