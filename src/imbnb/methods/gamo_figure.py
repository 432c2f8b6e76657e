"""What chapter 5's boundary and GAMO2pix figures draw of one trained GAMO, small enough to
store beside its run's row.

:func:`boundary_analysis` measures how far real, GAMO-generated and SMOTE points of a minority
class sit from the other classes in F's feature space; :func:`gamo2pix_tiles` trains a GAMO2pix
decoder per class (cached), decodes generated vectors and measures the tiles.
:class:`GAMOFigure` holds both for one network (about a hundred kilobytes, where the run holds
four players and a decoder per class): the chapter computes it from a trained GAMO
(:meth:`GAMOFigure.from_model`) or reads it from a sweep's figure file
(:meth:`GAMOFigure.from_arrays`), and draws the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from imbnb.methods.gamo import GAMO, nearest_other_distance, train_gamo2pix
from imbnb.oversample import SMOTE

__all__ = [
    "POINTS",
    "Boundary",
    "GAMOFigure",
    "GAMOFigureSettings",
    "Gamo2pixTiles",
    "boundary_analysis",
    "gamo2pix_tiles",
]

#: The kinds of points of the boundary analysis, in the order a figure file codes them.
POINTS = ("real", "GAMO", "SMOTE")


@dataclass
class Boundary:
    """Distances to the nearest point of another class, per kind of point, for one class."""

    cls: int
    n_real: int
    distances: pd.DataFrame
    medians: pd.Series


def boundary_analysis(
    gamo: GAMO, X: np.ndarray, y: np.ndarray, cls: int, n_generate: int, seed: int
) -> Boundary:
    """Real, GAMO-generated and SMOTE points of class ``cls`` (the last minority class if it is
    not one) in F's feature space, each with its distance to the nearest other-class point."""
    cls = cls if cls in gamo.minority_ else gamo.minority_[-1]
    feats = gamo.features(X)
    real, others = feats[y == cls], feats[y != cls]
    fake = gamo.generate(np.full(n_generate, cls), seed=seed)
    # SMOTE in the same feature space, against the other classes pooled as one
    k = min(5, len(real) - 1)
    smote = SMOTE(k_neighbors=k, random_state=seed, sampling_strategy={1: len(real) + n_generate})
    pooled = np.concatenate([real, others[: max(len(real) + n_generate, 1)]])
    labels = np.r_[np.ones(len(real)), np.zeros(len(pooled) - len(real))].astype(np.int64)
    Xs, _ = smote.fit_resample(pooled, labels)
    smote_points = np.asarray(Xs)[len(pooled) :]
    distances = pd.concat(
        [
            pd.DataFrame({"points": name, "distance": nearest_other_distance(pts, others)})
            for name, pts in zip(POINTS, (real, fake, smote_points), strict=True)
        ]
    )
    return Boundary(cls, len(real), distances, _medians(distances))


def _medians(distances: pd.DataFrame) -> pd.Series:
    """The median distance per kind of point."""
    return distances.groupby("points")["distance"].median()


@dataclass
class Gamo2pixTiles:
    """GAMO2pix per class: real and decoded tiles (intensities in [0, 1]) and what they show."""

    classes: list[int]
    real: dict[int, np.ndarray]  # the first n_show real images of each class
    made: dict[int, np.ndarray]  # n_show images decoded from GAMO's generated vectors
    measures: pd.DataFrame  # per class: intensity and spread of real and decoded, M's verdict


def _tile_measures(gamo: GAMO, X: np.ndarray, y: np.ndarray, c: int, made: np.ndarray) -> dict:
    """Mean intensity (0: empty), spread between tiles (pixel-wise std, averaged) and the share
    of decoded tiles GAMO's classifier puts in class ``c``, beside the real images'."""
    real = X[y == c][:, 0] / 255.0
    pred = gamo.predict(made[:, None].astype(np.float32))
    return {
        "class": c,
        "real intensity": float(real.mean()),
        "decoded intensity": float(made.mean()),
        "real spread": float(real[: len(made)].std(axis=0).mean()),
        "decoded spread": float(made.std(axis=0).mean()),
        "decoded as the class": float(np.mean(pred == c)),
        "most common prediction": int(np.bincount(pred).argmax()),
    }


def gamo2pix_tiles(
    gamo: GAMO,
    X: np.ndarray,
    y: np.ndarray,
    classes: Sequence[int],
    *,
    steps: int,
    batch_size: int,
    seed: int,
    n_show: int = 8,
) -> Gamo2pixTiles:
    """Per class, train its GAMO2pix (cached), decode ``n_show`` generated vectors, and measure
    the tiles against the class's real images (:func:`_tile_measures`)."""
    real, made = {}, {}
    for c in classes:
        imgs = X[y == c]
        pix = train_gamo2pix(gamo, imgs, steps=steps, batch_size=batch_size, seed=seed)
        made[c] = pix.decode_features(gamo.generate(np.full(n_show, c), seed=seed + 1))[:, 0]
        real[c] = imgs[:n_show, 0] / 255.0
    rows = [_tile_measures(gamo, X, y, c, made[c]) for c in classes]
    return Gamo2pixTiles(list(classes), real, made, pd.DataFrame(rows).set_index("class"))


@dataclass(frozen=True)
class GAMOFigureSettings:
    """How the figures are made from a GAMO (the paper profile's values of chapter 5 by
    default, which a sweep's figure file uses)."""

    boundary_class: int = 7  # the minority class measured against the boundary
    n_generate: int = 1000  # generated points of the boundary analysis
    pix_classes: tuple[int, ...] = (7, 8, 9)  # minority classes that get a GAMO2pix decoder
    pix_steps: int = 1500  # training batches of each decoder
    batch_size: int = 32  # the decoders' mini-batch size (Table 1's b)
    seed: int = 0  # the generated points' and the decoders' seed
    n_show: int = 8  # tiles per class

    def __post_init__(self) -> None:
        object.__setattr__(self, "pix_classes", tuple(int(c) for c in self.pix_classes))


_MEASURES = ("real intensity", "decoded intensity", "real spread", "decoded spread",
             "decoded as the class", "most common prediction")  # fmt: skip


@dataclass
class GAMOFigure:
    """The boundary analysis and the GAMO2pix tiles of one GAMO, as chapter 5 draws them."""

    settings: GAMOFigureSettings
    boundary: Boundary
    tiles: Gamo2pixTiles | None  # None: the flat variant, or no minority class to decode
    network: str  # "trained" or "figure file": where the numbers come from
    meta: dict[str, Any] = field(default_factory=dict)  # a figure file's header (how made)

    @classmethod
    def from_model(
        cls, gamo: GAMO, X: np.ndarray, y: np.ndarray, settings: GAMOFigureSettings
    ) -> GAMOFigure:
        """The figure data of a trained (or cached) GAMO on its training images ``X``, ``y``;
        GAMO2pix only on the convolutional variant (it decodes F's features)."""
        s = settings
        boundary = boundary_analysis(gamo, X, y, s.boundary_class, s.n_generate, seed=s.seed)
        shown = [c for c in s.pix_classes if c in gamo.minority_]
        tiles = None
        if shown and gamo.settings_.variant == "conv":
            tiles = gamo2pix_tiles(
                gamo, X, y, shown, steps=s.pix_steps, batch_size=s.batch_size, seed=s.seed,
                n_show=s.n_show,
            )  # fmt: skip
        return cls(s, boundary, tiles, "trained")

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The arrays and the JSON header of a figure file."""
        d = self.boundary.distances
        arrays = {
            "points": d["points"].map(POINTS.index).to_numpy(np.int8),
            "distance": d["distance"].to_numpy(),  # as measured (float32 features)
        }
        b = self.boundary
        meta: dict[str, Any] = {"kind": "gamo", "settings": asdict(self.settings),
                                "boundary_class": b.cls, "n_real": b.n_real}  # fmt: skip
        if self.tiles is not None:
            for c in self.tiles.classes:
                arrays[f"real_{c}"] = self.tiles.real[c].astype(np.float32)
                arrays[f"made_{c}"] = self.tiles.made[c].astype(np.float32)
            m = self.tiles.measures
            meta["tiles"] = {"classes": self.tiles.classes,
                             "measures": {k: m[k].tolist() for k in _MEASURES}}  # fmt: skip
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> GAMOFigure:
        """A figure read from a figure file (:meth:`to_arrays`)."""
        if meta.get("kind") != "gamo":
            raise ValueError(f"not a GAMO figure file (kind {meta.get('kind')!r})")
        names = np.asarray(POINTS, dtype=object)[arrays["points"]]
        distances = pd.DataFrame({"points": names, "distance": arrays["distance"]})
        boundary = Boundary(int(meta["boundary_class"]), int(meta["n_real"]), distances,
                            _medians(distances))  # fmt: skip
        tiles = None
        if "tiles" in meta:
            classes = [int(c) for c in meta["tiles"]["classes"]]
            index = pd.Index(classes, name="class")
            measures = pd.DataFrame(meta["tiles"]["measures"], index=index)[list(_MEASURES)]
            tiles = Gamo2pixTiles(classes, {c: arrays[f"real_{c}"] for c in classes},
                                  {c: arrays[f"made_{c}"] for c in classes}, measures)  # fmt: skip
        settings = GAMOFigureSettings(**meta["settings"])
        return cls(settings, boundary, tiles, "figure file", dict(meta))
