"""GAMO's players as nn.Modules and their losses (Mullick et al., ICCV 2019, §3, eqs. 1-6).

* ``F`` -- :class:`ConvExtractor` (two 5x5 conv(32) blocks with 2x2 average pooling and a dense
  512-unit tanh layer, the "convolutional variant") or :class:`Flatten` (the "flattened
  variant", Alg. 1 note: F(X) is X and is never trained).
* ``G`` -- :class:`ConvexGenerator`: a conditional transient mapping unit (cTMU: latent z of
  size 100 with the class one-hot -> dense 256 -> BN -> ReLU -> dense 64 -> BN -> ReLU) shared
  by all classes, and one instance generation unit IGU_i per minority class i, a dense layer
  with a softmax over that class's ``n_i`` points; the sample is ``sum_j w_j x_j`` (eq. 1).
* ``M`` -- :class:`Classifier` on features: 256-128-C with LeakyReLU(0.1), softmax outputs.
* ``D`` -- :class:`Discriminator`, conditional, on features and one-hot: 256-128-1, sigmoid.

:class:`GAMONet` holds the four together with the minority points the IGUs combine. The losses
(:func:`m_loss`, :func:`d_loss`, :func:`g_loss_m`, :func:`g_loss_d`) take probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as Fn
from torch import nn

__all__ = [
    "Classifier",
    "ConvExtractor",
    "ConvexGenerator",
    "Discriminator",
    "Flatten",
    "GAMONet",
    "d_loss",
    "fake_label_probs",
    "g_loss_d",
    "g_loss_m",
    "label_rows",
    "m_loss",
    "sample_fake_labels",
]

_EPS = 1e-7


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


def as_tensor(X: Any) -> torch.Tensor:
    """A CPU tensor of an array or tensor, uint8 kept (scaled later by :func:`as_float`)."""
    if isinstance(X, torch.Tensor):
        return X.detach().cpu()
    X = np.ascontiguousarray(X)
    t = torch.from_numpy(X)
    return t if t.dtype == torch.uint8 else t.float()


def as_float(x: torch.Tensor) -> torch.Tensor:
    """float32, uint8 scaled by 1/255."""
    return x.float().div(255.0) if x.dtype == torch.uint8 else x.float()


class GAMONet(nn.Module):
    """F, M, D and G together, with the training data's minority points for the IGUs.

    ``generator`` is ``"convex"``, ``"free"`` (cG) or ``None`` (no G: the network CN); the
    minority classes are those smaller than the largest (ties at the top: several majorities).
    """

    def __init__(
        self,
        settings: Any,
        input_shape: Sequence[int],
        counts: Sequence[int],
    ):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.counts = [int(c) for c in counts]
        n_classes = len(self.counts)
        if settings.variant == "conv":
            if len(self.input_shape) != 3:
                raise ValueError("the conv variant needs (C, H, W) inputs")
            c, h, _ = self.input_shape
            self.F: nn.Module = ConvExtractor(c, h, settings.feature_dim, settings.conv_channels)
        elif settings.variant == "flat":
            self.F = Flatten(int(np.prod(self.input_shape)))
        else:
            raise ValueError(f"variant must be 'conv' or 'flat', got {settings.variant!r}")
        dim = self.F.out_dim
        self.M = Classifier(dim, n_classes, settings.hidden)
        self.D = Discriminator(dim, n_classes, settings.hidden) if settings.discriminator else None
        n_max = max(self.counts)
        self.minority = [i for i, n in enumerate(self.counts) if 0 < n < n_max]
        self.G: ConvexGenerator | None = None
        if settings.generator is not None:
            if not self.minority:
                raise ValueError("no minority class: every class has the same size")
            sizes = {i: self.counts[i] for i in self.minority}
            free = settings.generator == "free"
            self.G = ConvexGenerator(
                n_classes, sizes, dim, settings.latent_dim, settings.tmu, free=free
            )

    @property
    def n_classes(self) -> int:
        """Number of classes C."""
        return len(self.counts)

    @property
    def device(self) -> torch.device:
        """Where the networks live."""
        return next(self.M.parameters()).device

    def features_t(self, X: torch.Tensor, batch: int = 1024) -> torch.Tensor:
        """F(X) without gradients, batch by batch (F in eval mode)."""
        self.F.eval()
        with torch.no_grad():
            return torch.cat([self.F(as_float(X[i : i + batch])) for i in range(0, len(X), batch)])

    def refresh_points(self, X: torch.Tensor, y: torch.Tensor) -> None:
        """Recompute the IGUs' point sets ``F(X_i)`` (needed every time F changed, §3.2)."""
        if self.G is not None and not self.G.free:
            self.G.set_points({i: self.features_t(X[y == i]) for i in self.minority})
