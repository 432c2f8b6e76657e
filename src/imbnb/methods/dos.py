"""Deep Over-sampling (DOS, Ando & Huang 2017): micro-cluster loss, iterative targets (chapter 4).

DOS trains the CNN ``g ∘ f`` in two stages (Alg. 1). After a single-task initialisation with
plain cross-entropy (l.5), every round t = 1..T embeds all training images (l.7-9), pairs each
image of class c_j with its k_j in-class nearest neighbours in the embedding space (eq. 1,
"deep feature overloading"), draws r_j weight vectors from the simplex per image (l.17) and
trains the network on the resulting quadruplets (eqs. 6-7) with the weighted micro-cluster
losses (eq. 8 for f, eqs. 9-10 for g). The targets are constants within a round.

Choices where the paper leaves room (also stated in the book chapter):

* **Neighbour set and weights.** Eq. 1 gives ``N(x_i)`` k+1 elements (f(x_i) and its k in-class
  neighbours) while §3.4 speaks of k-dimensional weights; we weight all k+1 elements, so that
  ``k_mjr = 0`` is well defined (``N = {f(x_i)}``, w = (1)).
* **Weight distribution.** Alg. 1 l.17 only says "normalized positive vectors"; we draw them
  from the flat Dirichlet distribution (uniform on the simplex).
* **The self term of eq. 9.** §3.3 says the weight exp(0) = 1 goes to "the original loss from
  f(x)": the self element of ``N(x)`` enters the classifier loss as the *live* embedding f(x)
  (so g's cross-entropy also trains f, as in eq. 2), the k neighbours as the round's fixed
  targets v_i. ρ' (eq. 10) is computed from the live f(x) but treated as a constant weight
  (no gradient through it). In eq. 8 the self target is the round's fixed f(x_i).
* **Loss scale.** The multi-task loss per quadruplet is ``lambda_f · ℓ'_f + ℓ'_g`` with
  ``lambda_f = 1`` (the paper gives no weighting); a batch averages over its quadruplets.
* **Over-sampling rate.** ``r="auto"`` gives every minority class ``r = ceil(1/R)`` with R the
  minority/majority size ratio of eq. 11 (the lower end of the range [1/R, k/R] of §3.5, i.e.
  rebalancing), and every majority class r = 1.
* **Rounds.** One round = one pass (epoch) over the overloaded set, as §3.5 suggests
  ("re-compute the targets after every training round"); the initialisation has its own number
  of epochs (``init_epochs``).

:class:`DOS` is the estimator (``fit``/``predict``/``predict_proba``/``embed``); DOS-LR and
DOS-kNN are :class:`imbnb.classifiers.FeatureClassifier` on its embedding. :func:`run_dos` is
the chapter's entry point: split, CNN initialisation (cached by
:func:`imbnb.methods.train_extractor`), DOS rounds (cached here), metric rows.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imbnb.cache import Cache, cached_json
from imbnb.oversample.neighbors import FaissNearestNeighbors

__all__ = [
    "CACHE_KIND",
    "DOS",
    "DOSRun",
    "OverloadedSet",
    "build_overloaded_set",
    "class_overloading",
    "in_class_neighbors",
    "in_class_variance",
    "micro_cluster_losses",
    "oversampling_rates",
    "ratio_from_fraction",
    "run_dos",
    "sample_simplex",
]

CACHE_KIND = "dos"
ROW_KIND = "dos_rows"


# -- deep feature overloading (§3.2, §3.4) ----------------------------------------------------


def class_overloading(
    classes: Sequence[int], minority: Sequence[int], k: int, k_majority: int = 0
) -> dict[int, int]:
    """Class-wise overloading k_j: ``k`` for minority classes, ``k_majority`` (§3.5: 0) else."""
    if k < 0 or k_majority < 0:
        raise ValueError(f"k and k_majority must be >= 0, got {k}, {k_majority}")
    mnr = {int(c) for c in minority}
    return {int(c): (int(k) if int(c) in mnr else int(k_majority)) for c in classes}


def oversampling_rates(
    counts: Mapping[int, int], minority: Sequence[int], r: Any = "auto"
) -> dict[int, int]:
    """Class-wise over-sampling sizes r_j (Alg. 1 input); majority classes get 1.

    ``"auto"``: ``ceil(1/R)`` for the minority, R the mean minority size over the mean majority
    size (eq. 11), the lower end of §3.5's range [1/R, k/R]; an int: that r for the minority; a
    mapping: given per class (missing classes 1).
    """
    mnr = [int(c) for c in minority if int(c) in counts]
    rates = {int(c): 1 for c in counts}
    if isinstance(r, Mapping):
        rates.update({int(c): int(v) for c, v in r.items()})
    elif r == "auto":
        mjr = [int(c) for c in counts if int(c) not in mnr]
        if mnr and mjr:
            big = np.mean([counts[c] for c in mjr])
            small = np.mean([counts[c] for c in mnr])
            ratio = small / big  # eq. 11
            for c in mnr:
                rates[c] = max(1, math.ceil(1.0 / ratio - 1e-9))
    elif isinstance(r, (int, np.integer)) and not isinstance(r, bool):
        for c in mnr:
            rates[c] = int(r)
    else:
        raise ValueError(f"r must be 'auto', a positive int or a class->int mapping, got {r!r}")
    if min(rates.values()) < 1:
        raise ValueError(f"over-sampling sizes must be >= 1, got {rates}")
    return rates


def in_class_neighbors(z: np.ndarray, y: np.ndarray, ks: Mapping[int, int]) -> np.ndarray:
    """Eq. 1: per sample, itself then its k_{y_i} nearest in-class neighbours (global indices).

    Returns an int64 array (N, K+1), K = max k_j, padded with -1 where a class has a smaller k
    (or fewer than k+1 members). Column 0 is always the sample itself (``f(x_i) ∈ N(x_i)``);
    the search is exact Euclidean kNN (:class:`FaissNearestNeighbors`), one class at a time.
    """
    z = np.asarray(z, dtype=np.float32)
    y = np.asarray(y)
    width = max([int(v) for v in ks.values()] + [0]) + 1
    out = np.full((len(y), width), -1, dtype=np.int64)
    out[:, 0] = np.arange(len(y))
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        k = min(int(ks.get(int(c), 0)), len(rows) - 1)
        if k <= 0:
            continue
        nn_ = FaissNearestNeighbors(n_neighbors=k).fit(z[rows])
        # X=None: each point's k nearest *other* in-class points (Alg. 1 l.12, 16)
        ind = nn_.kneighbors(None, n_neighbors=k, return_distance=False)
        out[rows, 1 : k + 1] = rows[ind]
    return out


def sample_simplex(
    rng: np.random.Generator, n: int, dims: np.ndarray | int, width: int | None = None
) -> np.ndarray:
    """n weight vectors uniform on the simplex (flat Dirichlet), Alg. 1 l.17.

    ``dims`` (an int or one per row) is the number of active entries; the rest are 0, so rows
    of shape (n, width) (default: max dims) always sum to one.
    """
    dims = np.broadcast_to(np.asarray(dims, dtype=np.int64), (n,))
    width = int(width) if width is not None else (int(dims.max()) if n else 1)
    e = rng.exponential(size=(n, width))  # normalised exponentials = Dirichlet(1, ..., 1)
    e[np.arange(width)[None, :] >= dims[:, None]] = 0.0
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass
class OverloadedSet:
    """The weighted training set Z' of eq. 7: one row per quadruplet (x_i, y_i, N(x_i), w).

    ``source[m]`` indexes the training image, ``neighbors[m]`` its N(x_i) (column 0 itself,
    -1 padding) and ``weights[m]`` the vector w on the simplex (0 on padding). ``targets`` holds
    the round's embeddings v = f(x) of all training images, constant within the round.
    """

    source: np.ndarray  # (M,) int64
    labels: np.ndarray  # (M,) int64
    neighbors: np.ndarray  # (M, K+1) int64
    weights: np.ndarray  # (M, K+1) float32
    targets: np.ndarray  # (N, d) float32

    def __len__(self) -> int:
        """Number of quadruplets, sum_j n_j r_j."""
        return len(self.source)


def build_overloaded_set(
    z: np.ndarray,
    y: np.ndarray,
    ks: Mapping[int, int],
    rates: Mapping[int, int],
    rng: np.random.Generator,
) -> OverloadedSet:
    """Alg. 1 l.10-21: neighbours per class (eq. 1), r_j weight vectors per sample (eqs. 6-7)."""
    y = np.asarray(y, dtype=np.int64)
    nbrs = in_class_neighbors(z, y, ks)
    reps = np.array([int(rates.get(int(c), 1)) for c in y], dtype=np.int64)
    source = np.repeat(np.arange(len(y)), reps)
    neighbors = nbrs[source]
    weights = sample_simplex(
        rng, len(source), (neighbors >= 0).sum(axis=1), width=neighbors.shape[1]
    )
    return OverloadedSet(
        source=source,
        labels=y[source],
        neighbors=neighbors,
        weights=weights,
        targets=np.asarray(z, dtype=np.float32),
    )


# -- micro-cluster losses (§3.3-3.4) ----------------------------------------------------------


def micro_cluster_losses(
    fx: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    mask: torch.Tensor,
    y: torch.Tensor,
    classify: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-quadruplet losses (ℓ'_f, ℓ'_g) of eqs. 8 and 9-10.

    ``fx`` (B, d) is the live embedding f(x); ``targets`` (B, K+1, d) the fixed N(x) (column 0:
    f(x_i) at the start of the round); ``weights`` (B, K+1) on the simplex; ``mask`` marks real
    (non-padding) neighbours; ``classify`` is g (embedding -> logits).
    """
    sq = ((fx.unsqueeze(1) - targets) ** 2).sum(dim=-1)  # ||f(x) - v_i||^2, (B, K+1)
    w = weights * mask
    loss_f = (w * sq).sum(dim=1)  # eq. 8: sum_i w_i ||f(x) - v_i||^2
    # eq. 10: rho' = exp(-w_i ||f(x) - v_i||^2) / Z; the self element has distance 0 (weight 1
    # before normalisation, §3.3); used as a constant weight (no gradient through rho')
    logit_rho = -(w * sq).detach()
    logit_rho[:, 0] = 0.0
    logit_rho = logit_rho.masked_fill(~mask, float("-inf"))
    rho = torch.softmax(logit_rho, dim=1)
    # eq. 9: sum_i rho'_i H(g(v_i), y); the self term is the original loss on the live f(x)
    inputs = torch.cat([fx.unsqueeze(1), targets[:, 1:]], dim=1)
    b, m, d = inputs.shape
    logits = classify(inputs.reshape(b * m, d))
    ce = F.cross_entropy(logits, y.repeat_interleave(m), reduction="none").view(b, m)
    loss_g = (rho * ce.masked_fill(~mask, 0.0)).sum(dim=1)
    return loss_f, loss_g


def in_class_variance(z: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Mean in-class variance (mean squared distance to the class mean, averaged over classes).

    Also returns it relative to the total variance of ``z`` (``ratio``), which is blind to a
    global rescaling of the embedding, and the minority/majority split is left to the caller.
    """
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y)
    per_class = {
        int(c): float(((z[y == c] - z[y == c].mean(axis=0)) ** 2).sum(axis=1).mean())
        for c in np.unique(y)
    }
    within = float(np.mean(list(per_class.values())))
    total = float(((z - z.mean(axis=0)) ** 2).sum(axis=1).mean())
    return {
        "within": within,
        "total": total,
        "ratio": within / total if total > 0 else float("nan"),
        **{f"within_c{c}": v for c, v in per_class.items()},
    }


# -- the estimator ----------------------------------------------------------------------------


class DOS:
    """Deep Over-sampling (Alg. 1): CE initialisation, then T rounds of overloading + MTL.

    Parameters: ``arch`` (a :func:`imbnb.models.make_model` spec), ``k`` (k_mnr, §3.5: 3-10),
    ``k_majority`` (k_mjr, default 0), ``minority`` (class ids; None: classes smaller than half
    the largest), ``r`` (see :func:`oversampling_rates`), ``rounds`` (T), ``init_epochs`` (STL
    epochs of Alg. 1 l.5), ``batch_size``, ``lr`` (Adam), ``lambda_f`` (weight of eq. 8),
    ``seed``, ``device``. After :meth:`fit`: ``model_`` (the CNN, eval mode, on its device),
    ``history_`` (one dict per round: sizes, losses, in-class variance before and after).
    """

    def __init__(
        self,
        arch: str = "C6-C16-F400-F120",
        *,
        k: int = 5,
        k_majority: int = 0,
        minority: Sequence[int] | None = None,
        r: Any = "auto",
        rounds: int = 3,
        init_epochs: int = 3,
        batch_size: int = 60,
        lr: float = 1e-3,
        lambda_f: float = 1.0,
        seed: int = 0,
        device: str | None = None,
        progress: bool = False,
    ) -> None:
        self.arch = arch
        self.k = k
        self.k_majority = k_majority
        self.minority = minority
        self.r = r
        self.rounds = rounds
        self.init_epochs = init_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lambda_f = lambda_f
        self.seed = seed
        self.device = device
        self.progress = progress

    def get_config(self) -> dict[str, Any]:
        """Every setting, JSON-able (part of the cache key)."""
        r = self.r if not isinstance(self.r, Mapping) else {str(c): v for c, v in self.r.items()}
        return {
            "arch": self.arch,
            "k": int(self.k),
            "k_majority": int(self.k_majority),
            "minority": None if self.minority is None else sorted(int(c) for c in self.minority),
            "r": r,
            "rounds": int(self.rounds),
            "init_epochs": int(self.init_epochs),
            "batch_size": int(self.batch_size),
            "lr": float(self.lr),
            "lambda_f": float(self.lambda_f),
            "seed": int(self.seed),
        }

    def _minority(self, counts: Mapping[int, int]) -> list[int]:
        """The minority classes: given, or those smaller than half the largest class."""
        if self.minority is not None:
            return sorted(int(c) for c in self.minority)
        n_max = max(counts.values())
        return sorted(c for c, n in counts.items() if n < 0.5 * n_max)

    def _init_model(self, X: np.ndarray, y: np.ndarray, n_classes: int) -> nn.Module:
        """Alg. 1 l.5: single-task training with plain cross-entropy (eq. 2)."""
        from imbnb.models import make_model
        from imbnb.train import fit, seed_everything

        seed_everything(self.seed)
        c, h = X.shape[1], X.shape[2]
        model = make_model(self.arch, in_channels=c, n_classes=n_classes, input_size=h)
        fit(
            model,
            X,
            y,
            epochs=self.init_epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            seed=self.seed,
            device=self.device,
            progress=self.progress,
        )
        return model

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        init_model: nn.Module | None = None,
        n_classes: int | None = None,
    ) -> DOS:
        """Train on images ``X`` (N, C, H, W; uint8 or float) and labels ``y``.

        ``init_model`` (an :class:`~imbnb.models.EmbeddingCNN` already trained with plain CE,
        e.g. from :func:`imbnb.methods.train_extractor`) replaces the initialisation; it is
        copied, never modified.
        """
        from imbnb.train import adam, embed_dataset, get_device, seed_everything

        X = getattr(X, "images", X)
        y = np.asarray(y, dtype=np.int64).ravel()
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
        if self.rounds < 0 or self.batch_size < 1:
            raise ValueError("rounds must be >= 0 and batch_size >= 1")
        n_classes = int(n_classes if n_classes is not None else y.max() + 1)
        classes, n_c = np.unique(y, return_counts=True)
        counts = {int(c): int(n) for c, n in zip(classes, n_c, strict=True)}
        self.minority_ = self._minority(counts)
        self.ks_ = class_overloading(counts, self.minority_, self.k, self.k_majority)
        self.rates_ = oversampling_rates(counts, self.minority_, self.r)
        start = time.perf_counter()
        if init_model is None:
            model = self._init_model(X, y, n_classes)
        else:
            model = copy.deepcopy(init_model)
        dev = get_device(self.device)
        model.to(dev)
        seed_everything(self.seed)
        gen = torch.Generator().manual_seed(int(self.seed))
        rng = np.random.default_rng(self.seed)
        opt = adam(model.parameters(), self.lr)
        Xt = torch.from_numpy(np.ascontiguousarray(X))
        yt = torch.from_numpy(y)
        self.history_: list[dict[str, Any]] = []
        z = embed_dataset(model, X, device=dev)
        for t in range(1, self.rounds + 1):  # Alg. 1 l.6
            before = in_class_variance(z, y)
            zset = build_overloaded_set(z, y, self.ks_, self.rates_, rng)  # l.7-21
            stats = self._train_round(model, zset, Xt, yt, opt, gen, dev)  # l.22: MTL(Z)
            z = embed_dataset(model, X, device=dev)
            after = in_class_variance(z, y)
            self.history_.append(
                {
                    "round": t,
                    "n_quadruplets": len(zset),
                    **stats,
                    "var_before": before["within"],
                    "var_after": after["within"],
                    "var_ratio_before": before["ratio"],
                    "var_ratio_after": after["ratio"],
                }
            )
        model.eval()  # stays on its device: embedding and scoring run there too
        self.model_ = model
        self.n_classes_ = n_classes
        self.seconds_ = time.perf_counter() - start
        return self

    def _train_round(
        self,
        model: nn.Module,
        zset: OverloadedSet,
        Xt: torch.Tensor,
        yt: torch.Tensor,
        opt: torch.optim.Optimizer,
        gen: torch.Generator,
        dev: torch.device,
    ) -> dict[str, float]:
        """One pass over the overloaded set with the micro-cluster losses (eqs. 8-10)."""
        targets = torch.from_numpy(zset.targets).to(dev)  # constants within the round
        nbrs = torch.from_numpy(zset.neighbors)
        wts = torch.from_numpy(zset.weights)
        src = torch.from_numpy(zset.source)
        perm = torch.randperm(len(zset), generator=gen)
        chunks = list(torch.split(perm, self.batch_size))
        if len(chunks) > 1 and len(chunks[-1]) == 1:  # BatchNorm cannot train on one sample
            chunks[-2] = torch.cat([chunks[-2], chunks.pop()])
        model.train()
        sum_f = torch.zeros((), dtype=torch.float64, device=dev)  # summed on the device:
        sum_g = torch.zeros((), dtype=torch.float64, device=dev)  # no host sync per step
        t0 = time.perf_counter()
        for idx in chunks:
            xb = Xt[src[idx]].to(dev)
            xb = xb.float().div_(255.0) if xb.dtype == torch.uint8 else xb.float()
            nb = nbrs[idx].to(dev)
            mask = nb >= 0
            vb = targets[nb.clamp(min=0)]
            fx = model.embed(xb)
            lf, lg = micro_cluster_losses(
                fx, vb, wts[idx].to(dev), mask, yt[src[idx]].to(dev), model.classify
            )
            loss = (self.lambda_f * lf + lg).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sum_f += lf.detach().sum().double()
            sum_g += lg.detach().sum().double()
        model.eval()
        n = max(len(zset), 1)
        seconds = time.perf_counter() - t0
        return {"loss_f": float(sum_f) / n, "loss_g": float(sum_g) / n, "seconds": seconds}

    def _check(self) -> nn.Module:
        """The fitted model, or an error."""
        if not hasattr(self, "model_"):
            raise RuntimeError("DOS is not fitted yet; call fit() first")
        return self.model_

    def embed(self, X: Any) -> np.ndarray:
        """Deep features f(x) of the trained network (N, d), float32."""
        from imbnb.train import embed_dataset

        return embed_dataset(self._check(), getattr(X, "images", X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """DOS's own posterior g(f(x)) (softmax), (N, n_classes)."""
        from imbnb.train import predict_proba

        return predict_proba(self._check(), getattr(X, "images", X))

    def predict(self, X: Any) -> np.ndarray:
        """Class predictions argmax g(f(x))."""
        return self.predict_proba(X).argmax(axis=1).astype(np.int64)


# -- the chapter's entry point ----------------------------------------------------------------


def ratio_from_fraction(p: float) -> float:
    """Imbalance ratio 1/(1-p) for DOS's "remove a fraction p of 4 classes" (§4.2).

    On equal-sized classes (Fashion-MNIST, MNIST-5k, any ``n_train`` cap) cutting a class to
    ``ceil(n/ρ)`` with ρ = 1/(1-p) equals removing the fraction p, so the DOS protocol runs on
    the same machinery (and cache) as the ADOS thesis's ρ protocol.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"remove fraction p must be in [0, 1), got {p}")
    return round(1.0 / (1.0 - p), 6)


@dataclass
class DOSRun:
    """One DOS run on a split: the CNN initialisation, the trained DOS and its embeddings."""

    config: dict[str, Any]
    extractor: Any  # imbnb.methods.TrainedExtractor: the plain-CE CNN (Alg. 1 l.5)
    dos: DOS
    z_train: np.ndarray  # DOS embedding of the training images
    z_test: np.ndarray
    proba_test: np.ndarray  # g(f(x)) of DOS on the test images
    history: list[dict[str, Any]] = field(default_factory=list)
    from_cache: bool = False

    @property
    def minority_classes(self) -> list[int]:
        """Minority classes of the split."""
        return self.extractor.minority_classes

    def rows(self, *, knn_k: int = 5, cache: Cache | None = None) -> list[dict[str, Any]]:
        """Metric rows for CNN, CNN-LR, CNN-kNN, DOS, DOS-LR, DOS-kNN (cached per run)."""
        config = {**self.config, "knn_k": int(knn_k)}
        return cached_json(ROW_KIND, config, lambda: self._rows(knn_k), cache=cache)

    def _rows(self, knn_k: int) -> list[dict[str, Any]]:
        """Compute the rows: own classifiers plus LR / kNN on both embeddings (§4.3)."""
        from imbnb.classifiers import FeatureClassifier
        from imbnb.metrics import evaluate

        ex = self.extractor
        labels = list(range(len(ex.classes)))
        seed = int(self.config["dos"]["seed"])
        out = []
        for prefix, z_tr, z_te, proba in [
            ("CNN", ex.z_train, ex.z_test, ex.proba_test),
            ("DOS", self.z_train, self.z_test, self.proba_test),
        ]:
            preds, seconds = {prefix: proba}, {prefix: 0.0}  # the network's own head: no fit
            for kind, tag in [("logreg", "LR"), ("knn", "kNN")]:
                start = time.perf_counter()
                clf = FeatureClassifier(kind=kind, n_neighbors=knn_k, random_state=seed)
                clf.fit(z_tr, ex.y_train)
                preds[f"{prefix}-{tag}"] = _full_proba(clf, z_te, len(labels))
                seconds[f"{prefix}-{tag}"] = time.perf_counter() - start
            for name, pr in preds.items():
                rep = evaluate(
                    ex.y_test,
                    pr.argmax(axis=1),
                    pr,
                    minority=ex.minority_classes or None,
                    labels=labels,
                )
                out.append({"method": name, "seed": seed, "seconds": seconds[name], **rep.to_row()})
        return out


def _full_proba(clf: Any, z: np.ndarray, n_classes: int) -> np.ndarray:
    """``predict_proba`` with one column per class, also for classes absent from training."""
    pr = clf.predict_proba(z)
    full = np.zeros((len(z), n_classes), dtype=np.float64)
    full[:, np.asarray(clf.classes_, dtype=np.int64)] = pr
    return full


def run_dos(
    dataset: str = "fashion_mnist",
    *,
    protocol: str = "minority",
    p: float | None = None,
    ratio: float | None = None,
    minority_classes: Sequence[int] | None = None,
    n_minority: int = 4,
    seed: int = 0,
    arch: str = "C6-C16-F400-F120",
    init_epochs: int = 3,
    batch_size: int = 60,
    lr: float = 1e-3,
    k: int = 5,
    k_majority: int = 0,
    r: Any = "auto",
    rounds: int = 3,
    lambda_f: float = 1.0,
    n_train: int | None = None,
    n_test: int | None = None,
    device: str | None = None,
    cache: Cache | None = None,
    use_cache: bool = True,
    progress: bool = False,
    train: Any = None,
    test: Any = None,
) -> DOSRun:
    """Split ``dataset``, initialise by plain CE (cached extractor), run DOS (cached), embed.

    ``protocol="minority"`` cuts ``n_minority`` classes (or ``minority_classes``) by the fraction
    ``p`` (DOS §4.2; ρ = 1/(1-p)) or to ``n_max/ratio`` (ADOS thesis); ``protocol="none"``
    keeps the balanced data (DOS §4.2's third experiment: then use ``k_majority = k``, r = 1).
    The cache key is the extractor's (every split/training parameter plus both data
    fingerprints) plus every DOS setting.
    """
    from imbnb.methods.extractor import train_extractor
    from imbnb.models import make_model
    from imbnb.train import get_device

    if protocol == "minority":
        if (p is None) == (ratio is None):
            raise ValueError("give exactly one of p (remove fraction) and ratio")
        ratio = ratio_from_fraction(p) if p is not None else float(ratio)  # type: ignore[arg-type]
    ex = train_extractor(
        dataset,
        protocol=protocol,
        ratio=ratio,
        n_minority=n_minority,
        minority_classes=minority_classes,
        seed=seed,
        arch=arch,
        epochs=init_epochs,
        batch_size=batch_size,
        lr=lr,
        class_weight=None,
        n_train=n_train,
        n_test=n_test,
        device=device,
        cache=cache,
        use_cache=use_cache,
        progress=progress,
        train=train,
        test=test,
    )
    minority = ex.minority_classes if protocol == "minority" else []
    dos = DOS(
        arch,
        k=k,
        k_majority=k_majority,
        minority=minority,
        r=r,
        rounds=rounds,
        init_epochs=init_epochs,
        batch_size=batch_size,
        lr=lr,
        lambda_f=lambda_f,
        seed=seed,
        device=device,
        progress=progress,
    )
    config = {"extractor": ex.config, "dos": dos.get_config(), "p": p}
    store = cache if cache is not None else Cache()
    hit = use_cache and all(
        store.has(CACHE_KIND, config, a) for a in ("state_dict", "arrays", "json")
    )
    train_ds = train if train is not None else None
    if hit:
        c, h, _ = ex.model.input_shape
        model = make_model(arch, in_channels=c, n_classes=len(ex.classes), input_size=h)
        model.load_state_dict(store.load_state_dict(CACHE_KIND, config))
        model.to(get_device(device)).eval()
        dos.model_ = model
        dos.n_classes_ = len(ex.classes)
        meta = store.load_json(CACHE_KIND, config)
        dos.history_ = meta["history"]
        dos.seconds_ = meta["seconds"]
        dos.minority_, dos.rates_ = meta["minority"], {int(c): v for c, v in meta["rates"].items()}
        dos.ks_ = {int(c): v for c, v in meta["ks"].items()}
        arrays = store.load_arrays(CACHE_KIND, config)
    else:
        from imbnb.data import load_dataset

        train_ds = train_ds if train_ds is not None else load_dataset(dataset, "train")
        test_ds = test if test is not None else load_dataset(dataset, "test")
        x_train = train_ds.images[ex.train_indices]
        x_test = test_ds.images[ex.test_indices]
        dos.fit(x_train, ex.y_train, init_model=ex.model, n_classes=len(ex.classes))
        arrays = {
            "z_train": dos.embed(x_train),
            "z_test": dos.embed(x_test),
            "proba_test": dos.predict_proba(x_test),
        }
        if use_cache:
            state = {k: v.cpu() for k, v in dos.model_.state_dict().items()}
            store.save_state_dict(CACHE_KIND, config, state)
            store.save_json(
                CACHE_KIND,
                config,
                {
                    "history": dos.history_,
                    "seconds": dos.seconds_,
                    "minority": dos.minority_,
                    "rates": {str(c): v for c, v in dos.rates_.items()},
                    "ks": {str(c): v for c, v in dos.ks_.items()},
                },
            )
            store.save_arrays(CACHE_KIND, config, **arrays)
    return DOSRun(
        config=config,
        extractor=ex,
        dos=dos,
        z_train=arrays["z_train"],
        z_test=arrays["z_test"],
        proba_test=arrays["proba_test"],
        history=list(dos.history_),
        from_cache=hit,
    )
