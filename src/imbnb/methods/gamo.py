"""GAMO: a convex generator, a classifier and a discriminator in a three-player game (chapter 5).

Mullick, Datta and Das, "Generative Adversarial Minority Oversampling", ICCV 2019, written from
the paper (§3, eqs. 1-6, Algorithm 1, §5); the authors' public code was read for settings only.

Players (figure 3 of the paper):

* ``F`` -- feature extractor: two 5x5 conv(32) blocks with 2x2 average pooling and a dense
  512-unit tanh layer ("convolutional variant"), or the flattened image / raw vector
  ("flattened variant", Alg. 1 note: F(X) is X and is never trained).
* ``G`` -- convex generator: a conditional transient mapping unit (cTMU: latent z of size 100
  with the class one-hot -> dense 256 -> BN -> ReLU -> dense 64 -> BN -> ReLU) shared by all
  classes, and one instance generation unit IGU_i per minority class i, a dense layer with a
  softmax over that class's ``n_i`` points; the sample is ``sum_j w_j x_j`` (eq. 1). The points
  are ``F(x_j)`` and are recomputed ("refreshed") every time F has changed.
* ``M`` -- classifier on features: 256-128-C with LeakyReLU(0.1), softmax outputs.
* ``D`` -- conditional discriminator on features and one-hot: 256-128-1, sigmoid output.

Losses: cross-entropy (eqs. 2-3) or least squares (eqs. 4-6), see :func:`m_loss`,
:func:`d_loss`, :func:`g_loss_m`, :func:`g_loss_d`. Schedule: Algorithm 1 (see :func:`_train`).

Choices where the paper leaves room (also stated in the chapter):

1. Eq. 2 scores every output ``M_i`` with a binary log-loss (``log M_i`` for the true class,
   ``log(1 - M_i)`` for the others); we use exactly that on softmax outputs, and its squared
   counterpart (eq. 4) for LS. F is trained with the same loss (Alg. 1 line 4).
2. G's update against M follows Alg. 1 line 14: descend the loss of ``M(G(z|i))`` against the
   ones' complement of the one-hot label, over *all* C outputs (eq. 2's ``J_c4`` includes the
   majority output; eq. 6 sums over ``C \\ {c}`` only). For CE this is the usual non-saturating
   form (``-log`` of the target) rather than the literal minimax of eq. 2.
3. Real and generated batches are separate updates of equal size b (Alg. 1 lines 9 and 10), so
   the priors ``P_i`` and ``P_c - P_i`` of eqs. 2-6 enter through *sampling* (real batches drawn
   uniformly from X, fake labels drawn ∝ ``P_c - P_i``), not as loss weights.
4. ``u = v``: Alg. 1 sets both to "⌈n/k⌉"; we read it as one epoch, ⌈n/b⌉ batches, capped at a
   quarter of ``steps`` so that short runs still alternate F and M/D/G a few times.
   ``steps`` counts the inner (v) iterations; F gets as many batches in total.
5. Minority classes are those with fewer training points than the largest class; with ties at
   the top there are several majority classes and no IGU for any of them.

Baselines and ablations share the code: ``generator=None`` is the classifier network CN (F and
M alternating as in Alg. 1 lines 1-9, no fake points), SMOTE+CN is CN on a SMOTE-balanced
training set (:func:`smote_balance`), ``discriminator=False`` is GAMO\\D, and
``generator="free"`` replaces the convex IGUs by an unconstrained dense output (cG, and with
``g_vs_m=False`` the conditional GAN of the paper's figure 1b).

GAMO2pix (§5): :class:`GAMO2pix` is a VAE whose encoder is the frozen F plus trainable mean
and log-variance heads, trained per class on real images; :func:`train_gamo2pix` trains it and
:meth:`GAMO2pix.decode_features` turns GAMO's generated feature vectors into images.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as Fn
from torch import nn

from imbnb.cache import Cache, cached_state_dict
from imbnb.train import adam, get_device, seed_everything, torch_threads

__all__ = [
    "GAMO",
    "GAMO2pix",
    "FIGURE1_PANELS",
    "GAMOConfig",
    "METHODS",
    "Classifier",
    "ConvExtractor",
    "ConvexGenerator",
    "Discriminator",
    "config_with",
    "d_loss",
    "data_fingerprint",
    "fake_label_probs",
    "figure1_toy",
    "g_loss_d",
    "g_loss_m",
    "m_loss",
    "method_config",
    "nearest_other_distance",
    "sample_fake_labels",
    "smote_balance",
    "train_gamo",
    "train_gamo2pix",
]

CACHE_KIND = "gamo"
PIX_CACHE_KIND = "gamo2pix"
_EPS = 1e-7


# --------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class GAMOConfig:
    """Every knob of one GAMO (or ablation) run; its dict is the cache key with the data's hash."""

    loss: Literal["ce", "ls"] = "ls"  # eqs. 2-3 (cross-entropy) or eqs. 4-6 (least squares)
    variant: Literal["conv", "flat"] = "conv"  # features from F, or flattened inputs
    generator: Literal["convex", "free"] | None = "convex"  # None: no generator (CN)
    discriminator: bool = True  # False: GAMO\D
    g_vs_m: bool = True  # G plays against M (False: a plain cGAN feeding M)
    steps: int = 1000  # inner iterations of Alg. 1 (M/D/G updates); F gets as many
    phase_steps: int | None = None  # u = v of Alg. 1; None: ceil(n / b), at most steps // 4
    batch_size: int = 32  # b
    lr: float = 2e-4  # Adam learning rate for every player
    beta1: float = 0.5  # Adam beta_1
    latent_dim: int = 100  # l, size of z
    feature_dim: int = 512  # units of F's dense layer (conv variant)
    conv_channels: int = 32  # channels of F's two 5x5 conv layers
    hidden: tuple[int, int] = (256, 128)  # hidden units of M and D
    tmu: tuple[int, int] = (256, 64)  # hidden units of the cTMU
    seed: int = 0  # seeds initialisation, batches, z and fake labels

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (tuples become lists)."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


#: The four methods of the chapter's Table 1 comparison, as changes to :class:`GAMOConfig`.
METHODS: dict[str, dict[str, Any]] = {
    "CN": {"generator": None, "discriminator": False},
    "SMOTE+CN": {"generator": None, "discriminator": False},  # with smote_balance(X, y)
    "GAMO\\D": {"generator": "convex", "discriminator": False},
    "GAMO": {"generator": "convex", "discriminator": True},
}


def method_config(method: str, **kw: Any) -> GAMOConfig:
    """The :class:`GAMOConfig` of a named method of :data:`METHODS` with extra settings."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; allowed: {list(METHODS)}")
    return GAMOConfig(**{**METHODS[method], **kw})


def data_fingerprint(*arrays: np.ndarray) -> str:
    """Short sha256 of arrays' shapes, dtypes and bytes (the data part of a cache key)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# fake-label sampling (Alg. 1 lines 10 and 12)


def fake_label_probs(counts: Sequence[int]) -> np.ndarray:
    """Probabilities ∝ ``P_c - P_i`` = ``n_max - n_i`` per class (Alg. 1 line 10), 0 at the top."""
    n = np.asarray(counts, dtype=np.float64)
    gap = n.max() - n
    if gap.sum() <= 0:
        raise ValueError("all classes have the same size: there is no minority class to oversample")
    return gap / gap.sum()


def label_rows(
    y: torch.Tensor | np.ndarray, classes: Sequence[int], device: Any = None
) -> dict[int, torch.Tensor]:
    """Row indices of each of ``classes`` present in ``y`` (ascending, as a boolean mask's).

    From labels on the host (numpy) this costs the device nothing; from device labels it
    waits for them once per class.
    """
    if isinstance(y, np.ndarray):
        if not np.isin(y, list(classes)).all():
            raise ValueError(f"labels outside {list(classes)}: G generates minority classes only")
        found = {int(c): np.flatnonzero(y == c) for c in classes}
        return {c: torch.from_numpy(i).to(device) for c, i in found.items() if len(i)}
    return {int(c): idx for c in classes if len(idx := torch.nonzero(y == c).flatten())}


def sample_fake_labels(
    counts: Sequence[int], size: int, rng: np.random.Generator, *, uniform: bool = False
) -> np.ndarray:
    """Fake labels ∝ ``P_c - P_i`` (Alg. 1 line 10) or uniform over the minority (line 12)."""
    p = fake_label_probs(counts)
    if uniform:
        p = (p > 0).astype(np.float64)
        p /= p.sum()
    return rng.choice(len(p), size=size, p=p).astype(np.int64)


# --------------------------------------------------------------------------------------------
# losses (eqs. 2-6); M's and D's outputs are probabilities


def _onehot(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """One-hot float matrix of integer labels."""
    return Fn.one_hot(y, n_classes).float()


def _bce(p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary log-loss of probabilities ``p`` vs targets in [0, 1], summed over the last dim."""
    p = p.clamp(_EPS, 1 - _EPS)
    return -(target * p.log() + (1 - target) * (1 - p).log()).sum(-1)


def m_loss(probs: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """M's loss on a batch with labels ``y`` (real: J_i1 + J_i2 / L_i1 + L_i2; fake: J/L_i3 + _i4).

    CE (eq. 2, negated): ``-[log M_y + sum_{k != y} log(1 - M_k)]``; LS (eq. 4):
    ``(1 - M_y)^2 + sum_{k != y} M_k^2``; both averaged over the batch.
    """
    t = _onehot(y, probs.shape[1])
    if loss == "ce":
        return _bce(probs, t).mean()
    if loss == "ls":
        return ((t - probs) ** 2).sum(-1).mean()
    raise ValueError(f"loss must be 'ce' or 'ls', got {loss!r}")


def g_loss_m(probs: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """G's loss against M (Alg. 1 l. 13-14): M's outputs vs the ones' complement of one-hot ``y``.

    CE: ``-[log(1 - M_y) + sum_{k != y} log M_k]``; LS (eqs. 6, L_i7 + L_i8, over all C outputs):
    ``M_y^2 + sum_{k != y} (1 - M_k)^2``; averaged over the batch.
    """
    t = 1 - _onehot(y, probs.shape[1])
    if loss == "ce":
        return _bce(probs, t).mean()
    if loss == "ls":
        return ((t - probs) ** 2).sum(-1).mean()
    raise ValueError(f"loss must be 'ce' or 'ls', got {loss!r}")


def d_loss(p_real: torch.Tensor, p_fake: torch.Tensor, loss: str) -> torch.Tensor:
    """D's loss: real -> 1, generated -> 0 (eq. 3 Q_i1 + Q_i2; eq. 5 L_i5 + L_i6), means summed."""
    if loss == "ce":
        return (
            _bce(p_real[:, None], torch.ones_like(p_real)[:, None]).mean()
            + _bce(p_fake[:, None], torch.zeros_like(p_fake)[:, None]).mean()
        )
    if loss == "ls":
        return ((1 - p_real) ** 2).mean() + (p_fake**2).mean()
    raise ValueError(f"loss must be 'ce' or 'ls', got {loss!r}")


def g_loss_d(p_fake: torch.Tensor, loss: str) -> torch.Tensor:
    """G's loss vs D (Alg. 1 line 15): fake -> "real"; CE ``-log D``, LS (L_i9) ``(1-D)^2``."""
    if loss == "ce":
        return -p_fake.clamp(_EPS, 1 - _EPS).log().mean()
    if loss == "ls":
        return ((1 - p_fake) ** 2).mean()
    raise ValueError(f"loss must be 'ce' or 'ls', got {loss!r}")


# --------------------------------------------------------------------------------------------
# networks


class ConvExtractor(nn.Module):
    """F: two 5x5 conv(32) + LeakyReLU + 2x2 average-pool blocks, then a dense tanh layer."""

    def __init__(
        self, in_channels: int, input_size: int, feature_dim: int = 512, channels: int = 32
    ):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, channels, 5),
            nn.LeakyReLU(0.1),
            nn.AvgPool2d(2),
            nn.Conv2d(channels, channels, 5),
            nn.LeakyReLU(0.1),
            nn.AvgPool2d(2),
            nn.Flatten(),
        )
        side = ((input_size - 4) // 2 - 4) // 2
        self.dense = nn.Linear(channels * side * side, feature_dim)
        self.out_dim = feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features in (-1, 1)."""
        return torch.tanh(self.dense(self.body(x)))


class Flatten(nn.Module):
    """F of the flattened variant: the input as a vector (Alg. 1 note), nothing to train."""

    def __init__(self, dim: int):
        super().__init__()
        self.out_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` reshaped to (N, D)."""
        return x.reshape(len(x), -1)


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Dense layers with LeakyReLU(0.1) between them (none after the last)."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.LeakyReLU(0.1)]
    return nn.Sequential(*layers[:-1])


class Classifier(nn.Module):
    """M: features -> 256 -> 128 -> C class probabilities (softmax)."""

    def __init__(self, in_dim: int, n_classes: int, hidden: Sequence[int] = (256, 128)):
        super().__init__()
        self.net = _mlp([in_dim, *hidden, n_classes])

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Class probabilities."""
        return torch.softmax(self.net(h), dim=1)


class Discriminator(nn.Module):
    """D(h | i): features concatenated with the one-hot class -> 256 -> 128 -> P(real)."""

    def __init__(self, in_dim: int, n_classes: int, hidden: Sequence[int] = (256, 128)):
        super().__init__()
        self.n_classes = n_classes
        self.net = _mlp([in_dim + n_classes, *hidden, 1])

    def forward(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Probability that each ``h`` is a real point of class ``y``."""
        return torch.sigmoid(self.net(torch.cat([h, _onehot(y, self.n_classes)], 1))).squeeze(1)


class ConvexGenerator(nn.Module):
    """G: shared cTMU and one IGU per minority class; samples are convex combinations (eq. 1).

    With ``free=True`` the IGUs are replaced by one unconstrained dense layer to the feature
    space (the conditional generator "cG" of the paper's ablation and figure 1b).
    """

    def __init__(
        self,
        n_classes: int,
        class_sizes: dict[int, int],
        out_dim: int,
        latent_dim: int = 100,
        tmu: Sequence[int] = (256, 64),
        free: bool = False,
    ):
        super().__init__()
        self.n_classes, self.latent_dim, self.free = n_classes, latent_dim, free
        self.minority = sorted(class_sizes)
        a, b = tmu
        # cTMU t(z|i): (z, one-hot) -> 256 -> BN -> 64 -> BN, ReLU after each BN (§3.2)
        self.tmu = nn.Sequential(
            nn.Linear(latent_dim + n_classes, a),
            nn.BatchNorm1d(a),
            nn.ReLU(),
            nn.Linear(a, b),
            nn.BatchNorm1d(b),
            nn.ReLU(),
        )
        if free:
            self.head = nn.Linear(b, out_dim)
        else:  # IGU_i: 64 -> n_i softmax weights (§3.2)
            self.igu = nn.ModuleDict({str(i): nn.Linear(b, n) for i, n in class_sizes.items()})
        self.points: dict[int, torch.Tensor] = {}

    def set_points(self, points: dict[int, torch.Tensor]) -> None:
        """Install the (detached) point sets X_i the IGUs combine; called whenever F changed."""
        for i in self.minority:
            if not self.free and points[i].shape[0] != self.igu[str(i)].out_features:
                raise ValueError(f"class {i}: {points[i].shape[0]} points, IGU expects another n_i")
        self.points = {i: points[i].detach() for i in self.minority}

    def weights(
        self, z: torch.Tensor, y: torch.Tensor, rows: Mapping[int, torch.Tensor] | None = None
    ) -> dict[int, torch.Tensor]:
        """Convex weights ``g_i(t(z|i))`` per minority class present in ``y``: rows sum to 1.

        ``rows`` (class -> row indices of ``y``, from :func:`label_rows`) spares the device a
        host sync per class; without it they are found from ``y``.
        """
        t = self.tmu(torch.cat([z, _onehot(y, self.n_classes)], 1))
        rows = label_rows(y, self.minority) if rows is None else rows
        return {i: torch.softmax(self.igu[str(i)](t[idx]), dim=1) for i, idx in rows.items()}

    def forward(
        self, z: torch.Tensor, y: torch.Tensor, rows: Mapping[int, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Generated points ``G(z|y) = sum_j w_j x_j`` (eq. 1), one row per (z, y)."""
        if rows is None and bool(
            (~torch.isin(y, torch.tensor(self.minority, device=y.device))).any()
        ):
            raise ValueError("G generates minority classes only")
        if self.free:
            return self.head(self.tmu(torch.cat([z, _onehot(y, self.n_classes)], 1)))
        if not self.points:
            raise RuntimeError("call set_points() before generating")
        first = self.points[self.minority[0]]
        out = torch.empty(len(y), first.shape[1], device=first.device, dtype=first.dtype)
        rows = label_rows(y, self.minority) if rows is None else rows
        for i, w in self.weights(z, y, rows).items():
            out[rows[i]] = w @ self.points[i]
        return out


# --------------------------------------------------------------------------------------------
# the model


class GAMO(nn.Module):
    """F, M, D and G together, with the training data's minority points for the IGUs."""

    def __init__(self, config: GAMOConfig, input_shape: Sequence[int], counts: Sequence[int]):
        super().__init__()
        self.config = config
        self.input_shape = tuple(int(s) for s in input_shape)
        self.counts = [int(c) for c in counts]
        n_classes = len(self.counts)
        if config.variant == "conv":
            if len(self.input_shape) != 3:
                raise ValueError("the conv variant needs (C, H, W) inputs")
            c, h, _ = self.input_shape
            self.F: nn.Module = ConvExtractor(c, h, config.feature_dim, config.conv_channels)
        elif config.variant == "flat":
            self.F = Flatten(int(np.prod(self.input_shape)))
        else:
            raise ValueError(f"variant must be 'conv' or 'flat', got {config.variant!r}")
        dim = self.F.out_dim
        self.M = Classifier(dim, n_classes, config.hidden)
        self.D = Discriminator(dim, n_classes, config.hidden) if config.discriminator else None
        n_max = max(self.counts)
        self.minority = [i for i, n in enumerate(self.counts) if 0 < n < n_max]
        self.G = None
        if config.generator is not None:
            if not self.minority:
                raise ValueError("no minority class: every class has the same size")
            self.G = ConvexGenerator(
                n_classes,
                {i: self.counts[i] for i in self.minority},
                dim,
                config.latent_dim,
                config.tmu,
                free=config.generator == "free",
            )
        self.from_cache = False
        self.seconds = 0.0

    @property
    def n_classes(self) -> int:
        """Number of classes C."""
        return len(self.counts)

    def _features(self, X: torch.Tensor, batch: int = 1024) -> torch.Tensor:
        """F(X) without gradients, batch by batch (F in eval mode)."""
        self.F.eval()
        with torch.no_grad():
            return torch.cat([self.F(_float(X[i : i + batch])) for i in range(0, len(X), batch)])

    def refresh_points(self, X: torch.Tensor, y: torch.Tensor) -> None:
        """Recompute the IGUs' point sets ``F(X_i)`` (needed every time F changed, §3.2)."""
        if self.G is not None and not self.G.free:
            self.G.set_points({i: self._features(X[y == i]) for i in self.minority})

    def features(self, X: Any, batch: int = 1024) -> np.ndarray:
        """F(X) as float32 numpy (uint8 images are scaled to [0, 1])."""
        dev = next(self.M.parameters()).device
        return self._features(_as_tensor(X).to(dev), batch).cpu().numpy()

    def predict_proba(self, X: Any, batch: int = 1024) -> np.ndarray:
        """M(F(X)), class probabilities."""
        self.M.eval()
        h = torch.from_numpy(self.features(X, batch)).to(next(self.M.parameters()).device)
        with torch.no_grad():
            return self.M(h).cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Predicted classes (argmax of M's outputs)."""
        return self.predict_proba(X).argmax(1).astype(np.int64)

    def generate(self, labels: Sequence[int] | np.ndarray, seed: int = 0) -> np.ndarray:
        """Generated points G(z|y) in feature space, one per label, z from a seeded N(0, I)."""
        if self.G is None:
            raise RuntimeError("this model has no generator")
        y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        gen = torch.Generator().manual_seed(int(seed))
        z = torch.randn(len(y), self.config.latent_dim, generator=gen)
        dev = next(self.M.parameters()).device
        self.G.eval()
        with torch.no_grad():
            return self.G(z.to(dev), y.to(dev)).cpu().numpy()

    def generate_weights(self, label: int, n: int, seed: int = 0) -> np.ndarray:
        """The convex weights (n, n_i) G uses for ``n`` samples of class ``label``."""
        if self.G is None or self.G.free:
            raise RuntimeError("this model has no convex generator")
        gen = torch.Generator().manual_seed(int(seed))
        z = torch.randn(n, self.config.latent_dim, generator=gen)
        y = torch.full((n,), int(label), dtype=torch.int64)
        dev = next(self.M.parameters()).device
        self.G.eval()
        with torch.no_grad():
            return self.G.weights(z.to(dev), y.to(dev))[int(label)].cpu().numpy()


def _as_tensor(X: Any) -> torch.Tensor:
    """A CPU tensor of an array or tensor, uint8 kept (scaled later by :func:`_float`)."""
    if isinstance(X, torch.Tensor):
        return X.detach().cpu()
    X = np.ascontiguousarray(X)
    t = torch.from_numpy(X)
    return t if t.dtype == torch.uint8 else t.float()


def _float(x: torch.Tensor) -> torch.Tensor:
    """float32, uint8 scaled by 1/255."""
    return x.float().div(255.0) if x.dtype == torch.uint8 else x.float()


def _adam(module: nn.Module, cfg: GAMOConfig) -> torch.optim.Optimizer:
    """Adam(lr, beta1) as in the paper's settings; multi-tensor (foreach) for speed on CPU."""
    return adam(module.parameters(), cfg.lr, betas=(cfg.beta1, 0.999), foreach=True)


# --------------------------------------------------------------------------------------------
# training (Algorithm 1)


class _Trainer:
    """Holds the optimisers and random streams of one Algorithm 1 run (one step at a time)."""

    def __init__(self, model: GAMO, X: torch.Tensor, y: torch.Tensor):
        cfg = model.config
        self.model, self.cfg, self.X, self.y = model, cfg, X, y
        self.rng = np.random.default_rng(cfg.seed)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.train_f = cfg.variant == "conv"
        self.opt_f = _adam(model.F, cfg) if self.train_f else None
        self.opt_m = _adam(model.M, cfg)
        self.opt_d = _adam(model.D, cfg) if model.D is not None else None
        self.opt_g = _adam(model.G, cfg) if model.G is not None else None
        self.dev = next(model.M.parameters()).device

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A real mini-batch B_d, Y_d drawn uniformly from X (Alg. 1 lines 3 and 7)."""
        idx = torch.from_numpy(self.rng.integers(0, len(self.y), self.cfg.batch_size))
        return _float(self.X[idx]), self.y[idx]

    def _z(self) -> torch.Tensor:
        """A latent batch from N(0, I_l) (Alg. 1 lines 8 and 11)."""
        return torch.randn(self.cfg.batch_size, self.cfg.latent_dim, generator=self.gen).to(
            self.dev
        )

    def f_step(self) -> torch.Tensor:
        """Alg. 1 line 4: update F on (M(F(B_d)), Y_d) with M fixed; returns the loss tensor."""
        m = self.model
        xb, yb = self._batch()
        m.F.train()
        m.M.eval()
        for p in m.M.parameters():
            p.requires_grad_(False)
        loss = m_loss(m.M(m.F(xb)), yb, self.cfg.loss)
        self.opt_f.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_f.step()
        for p in m.M.parameters():
            p.requires_grad_(True)
        return loss.detach()

    def mdg_step(self) -> dict[str, torch.Tensor]:
        """Alg. 1 lines 7-15: update M and D on real then generated points, then G.

        Returns the losses as detached tensors: read on the host only when logged, so a step
        never waits for the device.
        """
        m, cfg, out = self.model, self.cfg, {}
        xb, yb = self._batch()
        m.F.eval()
        with torch.no_grad():  # line 9: F fixed
            hb = m.F(xb)
        m.M.train()
        loss = m_loss(m.M(hb), yb, cfg.loss)  # J/L_i1 + J/L_i2 on real points
        self.opt_m.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_m.step()
        out["m_real"] = loss.detach()
        if m.G is None:
            return out
        # line 10: fake labels ∝ (P_c - P_i); M and D updated with G fixed
        yn_host = sample_fake_labels(m.counts, cfg.batch_size, self.rng)
        yn = torch.from_numpy(yn_host).to(self.dev)
        m.G.train()
        with torch.no_grad():  # rows found on the host: no device sync per class
            gn = m.G(self._z(), yn, label_rows(yn_host, m.minority, self.dev))
        if cfg.discriminator:
            m.D.train()
            dl = d_loss(m.D(hb, yb), m.D(gn, yn), cfg.loss)  # eq. 3 Q_i1 + Q_i2 / eq. 5
            self.opt_d.zero_grad(set_to_none=True)
            dl.backward()
            self.opt_d.step()
            out["d"] = dl.detach()
        loss = m_loss(m.M(gn), yn, cfg.loss)  # J/L_i3 + J/L_i4 on generated points
        self.opt_m.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_m.step()
        out["m_fake"] = loss.detach()
        # lines 11-13: uniform minority labels, complement targets
        yg_host = sample_fake_labels(m.counts, cfg.batch_size, self.rng, uniform=True)
        yg = torch.from_numpy(yg_host).to(self.dev)
        rows_g = label_rows(yg_host, m.minority, self.dev)
        zg = self._z()
        frozen = [m.M] + ([m.D] if m.D is not None else [])
        for net in frozen:
            net.eval()
            for p in net.parameters():
                p.requires_grad_(False)
        try:
            if cfg.g_vs_m:  # line 14: G vs M, M fixed
                gl = g_loss_m(m.M(m.G(zg, yg, rows_g)), yg, cfg.loss)
                self.opt_g.zero_grad(set_to_none=True)
                gl.backward()
                self.opt_g.step()
                out["g_m"] = gl.detach()
            if cfg.discriminator:  # line 15: G vs D, D fixed
                gl = g_loss_d(m.D(m.G(zg, yg, rows_g), yg), cfg.loss)
                self.opt_g.zero_grad(set_to_none=True)
                gl.backward()
                self.opt_g.step()
                out["g_d"] = gl.detach()
        finally:
            for net in frozen:
                for p in net.parameters():
                    p.requires_grad_(True)
        return out


def _phase(cfg: GAMOConfig, n: int) -> int:
    """u = v of Alg. 1 (choice 4 of the module docstring)."""
    if cfg.phase_steps is not None:
        return max(1, int(cfg.phase_steps))
    return max(1, min(math.ceil(n / cfg.batch_size), cfg.steps // 4))


def _train(model: GAMO, X: torch.Tensor, y: torch.Tensor) -> list[dict[str, float]]:
    """Algorithm 1: alternate u F-steps and v M/D/G-steps until ``steps`` inner steps are done."""
    cfg = model.config
    tr = _Trainer(model, X, y)
    phase = _phase(cfg, len(y))
    log: list[dict[str, float]] = []
    done = 0
    while done < cfg.steps:  # line 1
        if tr.train_f:
            for _ in range(min(phase, cfg.steps - done)):  # lines 2-5
                tr.f_step()
        model.refresh_points(X, y)  # F changed: recompute the IGUs' points
        for _ in range(min(phase, cfg.steps - done)):  # lines 6-16
            rec = tr.mdg_step()
            done += 1
            if done % 50 == 0 or done == cfg.steps:
                log.append({"step": done, **{k: float(v) for k, v in rec.items()}})
    model.refresh_points(X, y)
    model.eval()
    return log


def train_gamo(
    X: np.ndarray,
    y: np.ndarray,
    config: GAMOConfig,
    *,
    cache: Cache | bool | None = True,
    device: str | torch.device | None = None,
    threads: int | None = 1,
) -> GAMO:
    """Train GAMO (or a baseline/ablation) on images or vectors ``X`` with labels ``y``.

    ``X``: uint8 images (N, C, H, W) (scaled by 1/255), or float arrays (the flattened variant
    accepts any shape). ``y``: labels 0..C-1, every class present. Seeded and deterministic on
    the CPU; with ``cache`` the trained weights are stored under the config plus the data's
    fingerprint, so a second call with the same arguments loads instead of training.
    ``threads`` caps torch's CPU threads while training (restored afterwards): batches of 32 gain
    nothing from more, and on a busy machine extra threads are much slower.
    """
    y = np.asarray(y, dtype=np.int64)
    counts = np.bincount(y)
    if (counts == 0).any():
        raise ValueError(f"every class 0..{len(counts) - 1} needs training points: {counts}")
    if config.steps < 1 or config.batch_size < 1:
        raise ValueError("steps and batch_size must be >= 1")
    dev = get_device(device)
    seed_everything(config.seed)
    model = GAMO(config, np.shape(X)[1:], counts).to(dev)
    Xt, yt = _as_tensor(X).to(dev), torch.from_numpy(y).to(dev)

    def compute() -> dict[str, Any]:
        start = time.perf_counter()
        with torch_threads(threads):
            _train(model, Xt, yt)
        model.seconds = time.perf_counter() - start
        sd = {k: v.cpu() for k, v in model.state_dict().items()}
        sd["_seconds"] = torch.tensor(model.seconds, dtype=torch.float64)
        return sd

    if cache is False or cache is None:
        compute()
        return model
    key = {**config.to_dict(), "data": data_fingerprint(np.asarray(X), y)}
    store = cache if isinstance(cache, Cache) else None
    hit = Cache(store.root if store else None).has(CACHE_KIND, key, "state_dict")
    sd = dict(cached_state_dict(CACHE_KIND, key, compute, cache=store))
    if hit:
        model.seconds = float(sd.pop("_seconds"))
        model.load_state_dict(sd)
        with torch_threads(threads):  # as in training: the points' float sums follow threads
            model.refresh_points(Xt, yt)
        model.from_cache = True
        model.eval()
    return model


# --------------------------------------------------------------------------------------------
# SMOTE+CN and analysis helpers


def smote_balance(
    X: np.ndarray, y: np.ndarray, k: int = 5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Balance ``X`` (any shape) with SMOTE in the flattened space (SMOTE+CN); uint8 stays uint8."""
    from imbnb.oversample import SMOTE

    y = np.asarray(y)
    k = max(1, min(k, int(np.bincount(y)[np.bincount(y) > 0].min()) - 1))
    flat = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
    Xr, yr = SMOTE(k_neighbors=k, random_state=seed).fit_resample(flat, y)
    Xr = np.asarray(Xr).reshape(-1, *np.shape(X)[1:])
    if np.asarray(X).dtype == np.uint8:
        Xr = np.clip(np.rint(Xr), 0, 255).astype(np.uint8)
    return Xr, np.asarray(yr, dtype=np.int64)


def nearest_other_distance(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distance from each row of ``points`` to its nearest row of ``reference``."""
    p = torch.from_numpy(np.asarray(points, dtype=np.float32))
    r = torch.from_numpy(np.asarray(reference, dtype=np.float32))
    return torch.cat(
        [torch.cdist(p[i : i + 512], r).min(1).values for i in range(0, len(p), 512)]
    ).numpy()


# --------------------------------------------------------------------------------------------
# GAMO2pix (§5)


class GAMO2pix(nn.Module):
    """VAE: GAMO's frozen F plus mean/log-variance heads as encoder; decodes 28x28 images."""

    def __init__(self, F: nn.Module, feature_dim: int, latent: int = 32, out_channels: int = 1):
        super().__init__()
        self.F = F
        for p in self.F.parameters():
            p.requires_grad_(False)
        self.mu = nn.Linear(feature_dim, latent)
        self.logvar = nn.Linear(feature_dim, latent)
        self.dec = nn.Sequential(
            nn.Linear(latent, 64 * 7 * 7),
            nn.ReLU(),
            nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1),  # 14x14
            nn.ReLU(),
            nn.ConvTranspose2d(32, out_channels, 4, stride=2, padding=1),  # 28x28
            nn.Sigmoid(),
        )

    def encode_features(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | h) for feature vectors h = F(x)."""
        return self.mu(h), self.logvar(h).clamp(-10, 10)

    def forward(
        self, x: torch.Tensor, gen: torch.Generator | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Reconstruction, mean and log-variance of images ``x`` (F frozen, in eval mode)."""
        self.F.eval()
        with torch.no_grad():
            h = self.F(x)
        mu, logvar = self.encode_features(h)
        eps = torch.randn(mu.shape, generator=gen).to(mu.device)
        return self.dec(mu + eps * (0.5 * logvar).exp()), mu, logvar

    @torch.no_grad()
    def decode_features(
        self, h: np.ndarray | torch.Tensor, sample: bool = False, seed: int = 0
    ) -> np.ndarray:
        """Images (N, C, 28, 28) in [0, 1] for feature vectors, e.g. GAMO-generated ones."""
        self.eval()
        h = torch.as_tensor(np.asarray(h), dtype=torch.float32).to(self.mu.weight.device)
        mu, logvar = self.encode_features(h)
        if sample:
            gen = torch.Generator().manual_seed(seed)
            mu = mu + torch.randn(mu.shape, generator=gen).to(mu.device) * (0.5 * logvar).exp()
        return self.dec(mu).cpu().numpy()


def train_gamo2pix(
    model: GAMO,
    images: np.ndarray,
    *,
    steps: int = 500,
    batch_size: int = 32,
    latent: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    cache: Cache | bool | None = True,
) -> GAMO2pix:
    """Train one class's GAMO2pix on its real images (uint8, N x C x 28 x 28) with F frozen (§5).

    Loss: binary cross-entropy of the reconstruction summed over pixels plus the KL divergence
    of q(z | F(x)) from N(0, I), averaged over the batch (a standard VAE).
    """
    if model.config.variant != "conv":
        raise ValueError("GAMO2pix inverts the conv variant's F; the flattened one is an image")
    images = np.asarray(images)
    torch.manual_seed(seed)
    pix = GAMO2pix(model.F, model.F.out_dim, latent, images.shape[1])
    # the decoder is built for 28x28 outputs
    if images.shape[2:] != (28, 28):
        raise ValueError("GAMO2pix's decoder produces 28x28 images")
    dev = next(model.M.parameters()).device
    pix.to(dev)

    def compute() -> dict[str, Any]:
        rng = np.random.default_rng(seed)
        gen = torch.Generator().manual_seed(seed)
        Xt = _as_tensor(images).to(dev)
        params = [p for n, p in pix.named_parameters() if not n.startswith("F.")]
        opt = adam(params, lr)
        for _ in range(steps):
            xb = _float(Xt[torch.from_numpy(rng.integers(0, len(Xt), batch_size))])
            rec, mu, logvar = pix(xb, gen)
            bce = Fn.binary_cross_entropy(rec, xb, reduction="sum") / len(xb)
            kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum() / len(xb)
            opt.zero_grad(set_to_none=True)
            (bce + kl).backward()
            opt.step()
        return {k: v.cpu() for k, v in pix.state_dict().items() if not k.startswith("F.")}

    if cache is False or cache is None:
        compute()
        return pix.eval()
    f_sd = {k: v.cpu() for k, v in model.F.state_dict().items()}
    key = {
        "steps": steps,
        "batch_size": batch_size,
        "latent": latent,
        "lr": lr,
        "seed": seed,
        "F": data_fingerprint(*[t.numpy() for t in f_sd.values()]),
        "data": data_fingerprint(images),
    }
    sd = cached_state_dict(
        PIX_CACHE_KIND, key, compute, cache=cache if isinstance(cache, Cache) else None
    )
    pix.load_state_dict({**{f"F.{k}": v for k, v in f_sd.items()}, **sd})
    return pix.eval()


def config_with(config: GAMOConfig, **changes: Any) -> GAMOConfig:
    """A copy of ``config`` with some fields changed (``dataclasses.replace``)."""
    return replace(config, **changes)


# --------------------------------------------------------------------------------------------
# The paper's Figure 1, in two dimensions (chapter 5)

#: The four systems of Figure 1, as changes to :class:`GAMOConfig`.
FIGURE1_PANELS: dict[str, dict[str, Any]] = {
    "(a) M alone": {"generator": None, "discriminator": False},
    "(b) cGAN + M": {"generator": "free", "discriminator": True, "g_vs_m": False},
    "(c) convex G vs M (GAMO\\D)": {"generator": "convex", "discriminator": False},
    "(d) G vs M and D (GAMO)": {"generator": "convex", "discriminator": True},
}


def figure1_toy(
    X: np.ndarray,
    y: np.ndarray,
    *,
    steps: int = 1000,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    n_generate: int = 500,
    loss: str = "ls",
) -> tuple[dict[str, GAMO], dict[str, np.ndarray], Any]:
    """Train Figure 1's four systems on 2-D data (flattened variant; class 1 the minority).

    Returns the trained models, each generator's ``n_generate`` minority points, and a table
    with majority and minority recall on the training points and the "bleeding" share: the
    generated points whose nearest real point is a majority point.
    """
    import pandas as pd

    models, fakes, rows = {}, {}, []
    major, minor = X[y == 0], X[y == 1]
    for name, kw in FIGURE1_PANELS.items():
        cfg = GAMOConfig(
            variant="flat", loss=loss, steps=steps, batch_size=batch_size, lr=lr, seed=seed, **kw
        )
        model = models[name] = train_gamo(X, y, cfg)
        row: dict[str, Any] = {"system": name}
        if model.G is not None:
            fake = fakes[name] = model.generate(np.ones(n_generate, dtype=np.int64), seed=seed)
            row["bleeding"] = float(
                np.mean(nearest_other_distance(fake, major) < nearest_other_distance(fake, minor))
            )
        pred = model.predict(X)
        row["majority recall"] = float(np.mean(pred[y == 0] == 0))
        row["minority recall"] = float(np.mean(pred[y == 1] == 1))
        rows.append(row)
    return models, fakes, pd.DataFrame(rows).set_index("system")
