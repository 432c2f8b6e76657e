"""Deep Over-sampling (DOS, Ando & Huang 2017): micro-cluster loss, iterative targets.

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

:class:`DOS` is the estimator (``fit``/``predict``/``predict_proba``/``embed``), sklearn-style
and knowing nothing of datasets, caches or result rows; its rounds run through the one training
loop, :func:`imbnb.loop.train_epochs`. :meth:`DOS.get_state` and :meth:`DOS.from_state` store
and rebuild a fitted DOS. The algorithm's steps are pure functions in
:mod:`imbnb.estimators._dos_steps`, re-exported here.
"""

from __future__ import annotations

import copy
import math
import numbers
import time
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from imbnb.estimators._dos_steps import (
    OverloadedSet,
    build_overloaded_set,
    class_overloading,
    in_class_neighbors,
    in_class_variance,
    micro_cluster_losses,
    oversampling_rates,
    sample_simplex,
)
from imbnb.loop import LoopSpec, train_epochs
from imbnb.models import make_model
from imbnb.train import adam, embed_dataset, fit, get_device, predict_proba, seed_everything

__all__ = [
    "DOS",
    "DOSState",
    "OverloadedSet",
    "build_overloaded_set",
    "class_overloading",
    "in_class_neighbors",
    "in_class_variance",
    "micro_cluster_losses",
    "oversampling_rates",
    "sample_simplex",
]


# -- the rounds (Alg. 1 l.6-22) on the one training loop ---------------------------------------


class _Rounds:
    """DOS's special step for :func:`imbnb.loop.train_epochs`: one epoch = one round.

    Before a round it builds the overloaded set from the current embedding (l.7-21), the step
    trains on its quadruplets (l.22, eqs. 8-10), after it the embedding is recomputed and the
    round's sizes, mean losses and in-class variance go to ``history``.
    """

    def __init__(self, dos: DOS, model: nn.Module, X: np.ndarray, y: np.ndarray) -> None:
        self.dos, self.model, self.X, self.y = dos, model, X, y
        self.dev = get_device(dos.device)
        model.to(self.dev)
        self.gen = seed_everything(dos.random_state)
        self.rng = np.random.default_rng(dos.random_state)
        self.opt = adam(model.parameters(), dos.lr)
        self.Xt = torch.from_numpy(np.ascontiguousarray(X))
        self.yt = torch.from_numpy(y)
        self.history: list[dict[str, Any]] = []
        self.z = embed_dataset(model, X, device=self.dev)

    def run(self) -> list[dict[str, Any]]:
        """All T rounds through the one loop; the model ends in eval mode on its device."""
        spec = LoopSpec(
            self.dos.rounds,
            modules=[self.model],
            desc="DOS rounds",
            progress=self.dos.progress,
        )
        train_epochs(
            self.step,
            self.batches,
            spec,
            on_epoch_start=self.start_round,
            on_epoch_end=self.end_round,
        )
        return self.history

    def start_round(self, epoch: int) -> None:
        """Alg. 1 l.7-21: overload the current embedding; its targets stay fixed this round."""
        dos = self.dos
        self.before = in_class_variance(self.z, self.y)
        self.zset = build_overloaded_set(self.z, self.y, dos.ks_, dos.rates_, self.rng)
        self.targets = torch.from_numpy(self.zset.targets).to(self.dev)  # constants this round
        self.nbrs = torch.from_numpy(self.zset.neighbors)
        self.wts = torch.from_numpy(self.zset.weights)
        self.src = torch.from_numpy(self.zset.source)
        self.sum_f = torch.zeros((), dtype=torch.float64, device=self.dev)  # summed on the
        self.sum_g = torch.zeros((), dtype=torch.float64, device=self.dev)  # device: no sync

    def batches(self, epoch: int) -> list[torch.Tensor]:
        """One shuffled pass over the quadruplets; a last batch of one joins its predecessor."""
        perm = torch.randperm(len(self.zset), generator=self.gen)
        chunks = list(torch.split(perm, self.dos.batch_size))
        if len(chunks) > 1 and len(chunks[-1]) == 1:  # BatchNorm cannot train on one sample
            chunks[-2] = torch.cat([chunks[-2], chunks.pop()])
        self.t0 = time.perf_counter()
        return chunks

    def step(self, idx: torch.Tensor) -> torch.Tensor:
        """Alg. 1 l.22: one MTL step with the micro-cluster losses (eqs. 8-10)."""
        dev, model = self.dev, self.model
        xb = self.Xt[self.src[idx]].to(dev)
        xb = xb.float().div_(255.0) if xb.dtype == torch.uint8 else xb.float()
        nb = self.nbrs[idx].to(dev)
        mask = nb >= 0
        vb = self.targets[nb.clamp(min=0)]
        fx = model.embed(xb)
        yb = self.yt[self.src[idx]].to(dev)
        lf, lg = micro_cluster_losses(fx, vb, self.wts[idx].to(dev), mask, yb, model.classify)
        loss = (self.dos.lambda_f * lf + lg).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sum_f += lf.detach().sum().double()
        self.sum_g += lg.detach().sum().double()
        return loss

    def end_round(self, epoch: int, means: Mapping[str, float]) -> None:
        """Re-embed (l.7-9 of the next round) and record the round."""
        seconds = time.perf_counter() - self.t0
        self.model.eval()
        n = max(len(self.zset), 1)
        self.z = embed_dataset(self.model, self.X, device=self.dev)
        after = in_class_variance(self.z, self.y)
        self.history.append(
            {
                "round": epoch + 1,
                "n_quadruplets": len(self.zset),
                "loss_f": float(self.sum_f) / n,
                "loss_g": float(self.sum_g) / n,
                "seconds": seconds,
                "var_before": self.before["within"],
                "var_after": after["within"],
                "var_ratio_before": self.before["ratio"],
                "var_ratio_after": after["ratio"],
            }
        )


# -- the estimator ----------------------------------------------------------------------------


@dataclass
class DOSState:
    """What a fitted :class:`DOS` learned, enough to rebuild it without training.

    ``weights`` is the network's state dict (CPU tensors); :meth:`meta` is the JSON-able rest
    (history, seconds, minority classes, r_j and k_j), :meth:`from_meta` reads it back.
    """

    weights: dict[str, torch.Tensor]
    n_classes: int
    input_shape: tuple[int, int, int]  # (C, H, W) of the training images
    minority: list[int]
    ks: dict[int, int]
    rates: dict[int, int]
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def meta(self) -> dict[str, Any]:
        """History, seconds, minority, rates and ks, JSON-able (class ids as strings)."""
        return {
            "history": self.history,
            "seconds": self.seconds,
            "minority": self.minority,
            "rates": {str(c): v for c, v in self.rates.items()},
            "ks": {str(c): v for c, v in self.ks.items()},
        }

    @classmethod
    def from_meta(
        cls,
        meta: Mapping[str, Any],
        weights: dict[str, torch.Tensor],
        n_classes: int,
        input_shape: Sequence[int],
    ) -> DOSState:
        """The state from :meth:`meta`'s dict, the weights and the network's shapes."""
        return cls(
            weights=weights,
            n_classes=int(n_classes),
            input_shape=tuple(int(s) for s in input_shape),  # type: ignore[arg-type]
            minority=list(meta["minority"]),
            ks={int(c): v for c, v in meta["ks"].items()},
            rates={int(c): v for c, v in meta["rates"].items()},
            history=list(meta["history"]),
            seconds=meta["seconds"],
        )


def _is_int(value: Any, low: int) -> bool:
    """An integer (not a bool) >= low."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low


def _is_real(value: Any, low: float, strict: bool) -> bool:
    """A real number (not a bool) above ``low`` (``strict``) or at least ``low``."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        return False
    return value > low if strict else value >= low


def _r_ok(r: Any) -> bool:
    """``"auto"``, an int >= 1, or a mapping class -> int >= 1."""
    if isinstance(r, Mapping):
        return all(_is_int(v, 1) for v in r.values())
    return r == "auto" if isinstance(r, str) else _is_int(r, 1)


#: parameter -> (check, allowed values), for :meth:`DOS._validate_params`
_CONSTRAINTS: dict[str, tuple[Any, str]] = {
    "arch": (lambda v: isinstance(v, str) and bool(v), "a make_model spec (non-empty text)"),
    "k": (lambda v: _is_int(v, 0), "an int >= 0"),
    "k_majority": (lambda v: _is_int(v, 0), "an int >= 0"),
    "minority": (
        lambda v: v is None or (not isinstance(v, str) and all(_is_int(c, 0) for c in v)),
        "None or a sequence of class ids (ints >= 0)",
    ),
    "r": (_r_ok, "'auto', an int >= 1 or a mapping class -> int >= 1"),
    "rounds": (lambda v: _is_int(v, 0), "an int >= 0"),
    "init_epochs": (lambda v: _is_int(v, 1), "an int >= 1"),
    "batch_size": (lambda v: _is_int(v, 1), "an int >= 1"),
    "lr": (lambda v: _is_real(v, 0.0, True), "a finite number > 0"),
    "lambda_f": (lambda v: _is_real(v, 0.0, False), "a finite number >= 0"),
    "random_state": (lambda v: _is_int(v, 0), "an int >= 0"),
    "device": (
        lambda v: v is None or isinstance(v, (str, torch.device)),
        "None, a device name or a torch.device",
    ),
    "progress": (lambda v: isinstance(v, bool), "True or False"),
}


@dataclass(eq=False)
class DOS:
    """Deep Over-sampling (Alg. 1): CE initialisation, then T rounds of overloading + MTL.

    Parameters: ``arch`` (a :func:`imbnb.models.make_model` spec), ``k`` (k_mnr, §3.5: 3-10),
    ``k_majority`` (k_mjr, default 0), ``minority`` (class ids; None: classes smaller than half
    the largest), ``r`` (see :func:`oversampling_rates`), ``rounds`` (T), ``init_epochs`` (STL
    epochs of Alg. 1 l.5), ``batch_size``, ``lr`` (Adam), ``lambda_f`` (weight of eq. 8),
    ``random_state`` (seeds initialisation, weights and shuffling), ``device``, ``progress``.
    After :meth:`fit`: ``model_`` (the CNN, eval mode, on its device), ``history_`` (one dict
    per round: sizes, losses, in-class variance before and after), ``minority_``, ``ks_``,
    ``rates_``, ``n_classes_``, ``input_shape_``, ``seconds_``.
    """

    arch: str = "C6-C16-F400-F120"
    _: KW_ONLY
    k: int = 5
    k_majority: int = 0
    minority: Sequence[int] | None = None
    r: Any = "auto"
    rounds: int = 3
    init_epochs: int = 3
    batch_size: int = 60
    lr: float = 1e-3
    lambda_f: float = 1.0
    random_state: int = 0
    device: str | torch.device | None = None
    progress: bool = False

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters (scikit-learn's ``clone`` and grid searches use it)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def set_params(self, **params: Any) -> DOS:
        """Change parameters by name; an unknown name is an error listing the allowed ones."""
        allowed = self.get_params()
        for name, value in params.items():
            if name not in allowed:
                raise ValueError(f"DOS has no parameter {name!r}; allowed: {sorted(allowed)}")
            setattr(self, name, value)
        return self

    def _validate_params(self) -> None:
        """Every parameter checked before any work, with the allowed values in the error."""
        for name, (ok, allowed) in _CONSTRAINTS.items():
            value = getattr(self, name)
            if not ok(value):
                raise ValueError(f"DOS parameter {name!r} must be {allowed}, got {value!r}")

    def get_config(self) -> dict[str, Any]:
        """Every setting that changes the result, JSON-able (part of the cache key)."""
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
            "seed": int(self.random_state),
        }

    def _minority(self, counts: Mapping[int, int]) -> list[int]:
        """The minority classes: given, or those smaller than half the largest class."""
        if self.minority is not None:
            return sorted(int(c) for c in self.minority)
        n_max = max(counts.values())
        return sorted(c for c, n in counts.items() if n < 0.5 * n_max)

    def _init_model(self, X: np.ndarray, y: np.ndarray, n_classes: int) -> nn.Module:
        """Alg. 1 l.5: single-task training with plain cross-entropy (eq. 2)."""
        seed_everything(self.random_state)
        c, h = X.shape[1], X.shape[2]
        model = make_model(self.arch, in_channels=c, n_classes=n_classes, input_size=h)
        fit(
            model,
            X,
            y,
            epochs=self.init_epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            seed=self.random_state,
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
        """Train on images ``X`` (N, C, H, W; uint8 or float) and labels ``y``; return self.

        ``init_model`` (an :class:`~imbnb.models.EmbeddingCNN` already trained with plain CE,
        e.g. from :func:`imbnb.methods.train_extractor`) replaces the initialisation; it is
        copied, never modified.
        """
        self._validate_params()
        X = getattr(X, "images", X)
        y = np.asarray(y, dtype=np.int64).ravel()
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
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
        self.history_ = _Rounds(self, model, X, y).run()  # Alg. 1 l.6-22
        model.eval()  # stays on its device: embedding and scoring run there too
        self.model_ = model
        self.n_classes_ = n_classes
        self.input_shape_ = tuple(int(s) for s in X.shape[1:])
        self.seconds_ = time.perf_counter() - start
        return self

    def get_state(self) -> DOSState:
        """The fitted state (weights on the CPU, history, classes' k_j and r_j)."""
        model = self._check()
        return DOSState(
            weights={k: v.cpu() for k, v in model.state_dict().items()},
            n_classes=int(self.n_classes_),
            input_shape=self.input_shape_,  # type: ignore[arg-type]
            minority=list(self.minority_),
            ks=dict(self.ks_),
            rates=dict(self.rates_),
            history=list(self.history_),
            seconds=float(self.seconds_),
        )

    def set_fitted_state(self, state: DOSState) -> DOS:
        """Make this DOS the fitted one ``state`` describes (as after :meth:`fit`); return it."""
        self._validate_params()
        c, h, _ = state.input_shape
        model = make_model(self.arch, in_channels=c, n_classes=state.n_classes, input_size=h)
        model.load_state_dict(state.weights)
        model.to(get_device(self.device)).eval()
        self.model_ = model
        self.n_classes_ = int(state.n_classes)
        self.input_shape_ = tuple(state.input_shape)
        self.history_ = list(state.history)
        self.seconds_ = state.seconds
        self.minority_, self.rates_, self.ks_ = list(state.minority), state.rates, state.ks
        return self

    @classmethod
    def from_state(cls, state: DOSState, **params: Any) -> DOS:
        """A fitted DOS with the given parameters, rebuilt from :meth:`get_state`'s output."""
        return cls(**params).set_fitted_state(state)

    def _check(self) -> nn.Module:
        """The fitted model, or an error."""
        if not hasattr(self, "model_"):
            raise RuntimeError("DOS is not fitted yet; call fit() first")
        return self.model_

    def embed(self, X: Any) -> np.ndarray:
        """Deep features f(x) of the trained network (N, d), float32."""
        return embed_dataset(self._check(), getattr(X, "images", X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """DOS's own posterior g(f(x)) (softmax), (N, n_classes)."""
        return predict_proba(self._check(), getattr(X, "images", X))

    def predict(self, X: Any) -> np.ndarray:
        """Class predictions argmax g(f(x))."""
        return self.predict_proba(X).argmax(axis=1).astype(np.int64)
