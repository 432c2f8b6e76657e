"""GAMO and GAMO\\D: a convex generator, a classifier and a discriminator in a three-player game.

Mullick, Datta and Das, "Generative Adversarial Minority Oversampling", ICCV 2019, written from
the paper (§3, eqs. 1-6, Algorithm 1, §5); the authors' public code was read for settings only.
The players and losses live in :mod:`imbnb.estimators._gamo_modules`; :class:`GAMO` here holds
their optimisers and random streams and plays Algorithm 1 through :func:`imbnb.loop.train_epochs`.

Choices where the paper leaves room (also stated in chapter 5):

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
M alternating as in Alg. 1 lines 1-9, no fake points), ``discriminator=False`` is GAMO\\D, and
``generator="free"`` replaces the convex IGUs by an unconstrained dense output (cG, and with
``g_vs_m=False`` the conditional GAN of the paper's figure 1b).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import nn

from imbnb.estimators._gamo_modules import (
    GAMONet,
    as_float,
    as_tensor,
    d_loss,
    g_loss_d,
    g_loss_m,
    label_rows,
    m_loss,
    sample_fake_labels,
)
from imbnb.loop import LoopSpec, train_epochs
from imbnb.train import adam, get_device, seed_everything, torch_threads

__all__ = ["GAMO", "GAMOSettings"]


@dataclass(frozen=True)
class GAMOSettings:
    """Every knob of GAMO's algorithm (or of an ablation); checked by :meth:`validate`."""

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (tuples become lists)."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def validate(self) -> None:
        """Raise a ValueError naming the first setting out of its range."""
        _choice("loss", self.loss, ("ce", "ls"))
        _choice("variant", self.variant, ("conv", "flat"))
        _choice("generator", self.generator, ("convex", "free", None))
        for name in ("discriminator", "g_vs_m"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("steps", "batch_size", "latent_dim", "feature_dim", "conv_channels"):
            _positive_int(name, getattr(self, name))
        if self.phase_steps is not None:
            _positive_int("phase_steps", self.phase_steps)
        if not (isinstance(self.lr, int | float) and self.lr > 0):
            raise ValueError(f"lr must be a number > 0, got {self.lr!r}")
        if not (isinstance(self.beta1, int | float) and 0 <= self.beta1 < 1):
            raise ValueError(f"beta1 must be in [0, 1), got {self.beta1!r}")
        for name in ("hidden", "tmu"):
            sizes = getattr(self, name)
            if len(sizes) != 2:
                raise ValueError(f"{name} must be two layer sizes, got {sizes!r}")
            for s in sizes:
                _positive_int(name, s)


def _choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def _adam(module: nn.Module, s: GAMOSettings) -> torch.optim.Optimizer:
    """Adam(lr, beta1) as in the paper's settings; multi-tensor (foreach) for speed on CPU."""
    return adam(module.parameters(), s.lr, betas=(s.beta1, 0.999), foreach=True)


def _frozen(nets: Sequence[nn.Module], frozen: bool) -> None:
    """Stop (or restart) gradients to ``nets``' parameters; frozen ones go to eval mode."""
    for net in nets:
        if frozen:
            net.eval()
        for p in net.parameters():
            p.requires_grad_(not frozen)


class _Players:
    """The optimisers and random streams of one Algorithm 1 run, and its three kinds of step."""

    def __init__(self, net: GAMONet, s: GAMOSettings, X: torch.Tensor, y: torch.Tensor, seed: int):
        self.net, self.s, self.X, self.y = net, s, X, y
        self.rng = np.random.default_rng(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.train_f = s.variant == "conv"
        self.opt_f = _adam(net.F, s) if self.train_f else None
        self.opt_m = _adam(net.M, s)
        self.opt_d = _adam(net.D, s) if net.D is not None else None
        self.opt_g = _adam(net.G, s) if net.G is not None else None
        self.dev = net.device

    def step(self, kind: str) -> Mapping[str, torch.Tensor]:
        """One item of a round (see :func:`_round`): an F step, a refresh of G's points, or an
        M/D/G step; returns the losses to log."""
        if kind == "f":
            return {"f": self.f_step()}
        if kind == "points":  # F changed: recompute the IGUs' points
            self.net.refresh_points(self.X, self.y)
            return {}
        return self.mdg_step()

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A real mini-batch B_d, Y_d drawn uniformly from X (Alg. 1 lines 3 and 7)."""
        idx = torch.from_numpy(self.rng.integers(0, len(self.y), self.s.batch_size))
        return as_float(self.X[idx]), self.y[idx]

    def _z(self) -> torch.Tensor:
        """A latent batch from N(0, I_l) (Alg. 1 lines 8 and 11)."""
        z = torch.randn(self.s.batch_size, self.s.latent_dim, generator=self.gen)
        return z.to(self.dev)

    def _descend(self, opt: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
        """One optimiser step on ``loss``; the loss comes back detached (no host sync)."""
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    def f_step(self) -> torch.Tensor:
        """Alg. 1 line 4: update F on (M(F(B_d)), Y_d) with M fixed; returns the loss tensor."""
        m = self.net
        xb, yb = self._batch()
        m.F.train()
        m.M.eval()
        for p in m.M.parameters():
            p.requires_grad_(False)
        loss = self._descend(self.opt_f, m_loss(m.M(m.F(xb)), yb, self.s.loss))
        for p in m.M.parameters():
            p.requires_grad_(True)
        return loss

    def mdg_step(self) -> dict[str, torch.Tensor]:
        """Alg. 1 lines 7-15: update M and D on real then generated points, then G.

        Returns the losses as detached tensors: read on the host only when logged, so a step
        never waits for the device.
        """
        out = self._md_step()
        if self.net.G is not None:
            out.update(self._g_step())
        return out

    def _md_step(self) -> dict[str, torch.Tensor]:
        """Alg. 1 lines 7-10: M on real points (F fixed), then D and M on generated ones."""
        m, s, out = self.net, self.s, {}
        xb, yb = self._batch()
        m.F.eval()
        with torch.no_grad():  # line 9: F fixed
            hb = m.F(xb)
        m.M.train()
        # J/L_i1 + J/L_i2 on real points
        out["m_real"] = self._descend(self.opt_m, m_loss(m.M(hb), yb, s.loss))
        if m.G is None:
            return out
        # line 10: fake labels ∝ (P_c - P_i); M and D updated with G fixed
        yn_host = sample_fake_labels(m.counts, s.batch_size, self.rng)
        yn = torch.from_numpy(yn_host).to(self.dev)
        m.G.train()
        with torch.no_grad():  # rows found on the host: no device sync per class
            gn = m.G(self._z(), yn, label_rows(yn_host, m.minority, self.dev))
        if s.discriminator:
            m.D.train()
            dl = d_loss(m.D(hb, yb), m.D(gn, yn), s.loss)  # eq. 3 Q_i1 + Q_i2 / eq. 5
            out["d"] = self._descend(self.opt_d, dl)
        # J/L_i3 + J/L_i4 on generated points
        out["m_fake"] = self._descend(self.opt_m, m_loss(m.M(gn), yn, s.loss))
        return out

    def _g_step(self) -> dict[str, torch.Tensor]:
        """Alg. 1 lines 11-15: G against M, then against D, both fixed."""
        m, s, out = self.net, self.s, {}
        # lines 11-13: uniform minority labels, complement targets
        yg_host = sample_fake_labels(m.counts, s.batch_size, self.rng, uniform=True)
        yg = torch.from_numpy(yg_host).to(self.dev)
        rows_g = label_rows(yg_host, m.minority, self.dev)
        zg = self._z()
        frozen = [m.M] + ([m.D] if m.D is not None else [])
        _frozen(frozen, True)
        try:
            if s.g_vs_m:  # line 14: G vs M, M fixed
                gl = g_loss_m(m.M(m.G(zg, yg, rows_g)), yg, s.loss)
                out["g_m"] = self._descend(self.opt_g, gl)
            if s.discriminator:  # line 15: G vs D, D fixed
                gl = g_loss_d(m.D(m.G(zg, yg, rows_g), yg), s.loss)
                out["g_d"] = self._descend(self.opt_g, gl)
        finally:
            _frozen(frozen, False)
        return out


def _phase(s: GAMOSettings, n: int) -> int:
    """u = v of Alg. 1 (choice 4 of the module docstring)."""
    if s.phase_steps is not None:
        return max(1, int(s.phase_steps))
    return max(1, min(math.ceil(n / s.batch_size), s.steps // 4))


def _round_sizes(s: GAMOSettings, n: int) -> list[int]:
    """Inner steps of each round of Alg. 1 line 1 until ``steps`` are done (the last shorter)."""
    phase, sizes, done = _phase(s, n), [], 0
    while done < s.steps:
        sizes.append(min(phase, s.steps - done))
        done += sizes[-1]
    return sizes


def _round(size: int, train_f: bool) -> list[str]:
    """One round (an epoch of the loop): ``size`` F steps (lines 2-5), a refresh of G's
    points, ``size`` M/D/G steps (lines 6-16)."""
    return ["f"] * (size if train_f else 0) + ["points"] + ["mdg"] * size


def _play(players: _Players, n: int, progress: bool) -> dict[str, list[float]]:
    """Algorithm 1 through the one loop: each epoch is one round of F, then M/D/G steps."""
    sizes = _round_sizes(players.s, n)
    spec = LoopSpec(epochs=len(sizes), modules=(players.net,), desc="GAMO", progress=progress)
    return train_epochs(players.step, lambda e: _round(sizes[e], players.train_f), spec)


class GAMO(ClassifierMixin, BaseEstimator):
    """GAMO (or an ablation: GAMO\\D, CN, cG) on images (N, C, H, W) or vectors, sklearn-style.

    ``settings`` holds the algorithm's knobs (:class:`GAMOSettings`); ``random_state`` (an int)
    seeds initialisation, batches, z and fake labels, and with it the same data gives the same
    network bit for bit on the CPU. ``threads`` caps torch's CPU threads while training and
    whenever G's points are recomputed (restored afterwards): float sums follow the count.
    uint8 images are scaled by 1/255. Learned: ``net_`` (:class:`GAMONet`), ``classes_``,
    ``counts_``, ``minority_``, ``history_`` (per-round loss means), ``seconds_``.
    """

    def __init__(
        self,
        settings: GAMOSettings | None = None,
        *,
        random_state: int | None = None,
        device: str | torch.device | None = None,
        threads: int | None = 1,
        progress: bool = False,
    ):
        self.settings = settings
        self.random_state = random_state
        self.device = device
        self.threads = threads
        self.progress = progress

    def fit(self, X: Any, y: Any) -> GAMO:
        """Play Algorithm 1 on ``X`` with labels ``y`` (0..C-1, every class present)."""
        Xt, yt = self._setup(X, y)
        players = _Players(self.net_, self.settings_, Xt, yt, self.seed_)
        start = time.perf_counter()
        with torch_threads(self.threads):
            self.history_ = _play(players, len(yt), self.progress)
            self.net_.refresh_points(Xt, yt)
        self.seconds_ = time.perf_counter() - start
        self.net_.eval()
        return self

    def set_state(self, X: Any, y: Any, state: Mapping[str, torch.Tensor]) -> GAMO:
        """Install trained weights (``net_.state_dict()`` of a fit on the same ``X, y``, e.g.
        stored) instead of training; G's points are recomputed from ``X``."""
        Xt, yt = self._setup(X, y)
        self.net_.load_state_dict(state)
        with torch_threads(self.threads):  # as in training: the points' float sums follow threads
            self.net_.refresh_points(Xt, yt)
        self.net_.eval()
        self.history_, self.seconds_ = {}, 0.0
        return self

    def _setup(self, X: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate everything, seed, build ``net_``; the data as device tensors."""
        s = self.settings if self.settings is not None else GAMOSettings()
        if not isinstance(s, GAMOSettings):
            raise ValueError(f"settings must be a GAMOSettings, got {type(s).__name__}")
        s.validate()
        if self.random_state is not None and not isinstance(self.random_state, int | np.integer):
            raise ValueError(f"random_state must be an int or None, got {self.random_state!r}")
        if self.threads is not None and not isinstance(self.threads, int | np.integer):
            raise ValueError(f"threads must be an int or None, got {self.threads!r}")
        X, y, counts = _check_data(X, y, s)
        self.settings_ = GAMOSettings(**{f.name: getattr(s, f.name) for f in fields(GAMOSettings)})
        seed = self.random_state
        self.seed_ = int(np.random.default_rng().integers(2**31) if seed is None else seed)
        dev = get_device(self.device)
        seed_everything(self.seed_)
        self.net_ = GAMONet(self.settings_, np.shape(X)[1:], counts).to(dev)
        self.counts_ = np.asarray(counts)
        self.classes_ = np.arange(len(counts))
        self.minority_ = list(self.net_.minority)
        return as_tensor(X).to(dev), torch.from_numpy(y).to(dev)

    def features(self, X: Any, batch: int = 1024) -> np.ndarray:
        """F(X) as float32 numpy (uint8 images are scaled to [0, 1])."""
        return self.net_.features_t(as_tensor(X).to(self.net_.device), batch).cpu().numpy()

    def predict_proba(self, X: Any, batch: int = 1024) -> np.ndarray:
        """M(F(X)), class probabilities."""
        self.net_.M.eval()
        h = torch.from_numpy(self.features(X, batch)).to(self.net_.device)
        with torch.no_grad():
            return self.net_.M(h).cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Predicted classes (argmax of M's outputs)."""
        return self.predict_proba(X).argmax(1).astype(np.int64)

    def generate(self, labels: Sequence[int] | np.ndarray, seed: int = 0) -> np.ndarray:
        """Generated points G(z|y) in feature space, one per label, z from a seeded N(0, I)."""
        if self.net_.G is None:
            raise RuntimeError("this model has no generator (settings.generator is None)")
        y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        z = torch.randn(len(y), self.settings_.latent_dim, generator=_gen(seed))
        dev = self.net_.device
        self.net_.G.eval()
        with torch.no_grad():
            return self.net_.G(z.to(dev), y.to(dev)).cpu().numpy()

    def generate_weights(self, label: int, n: int, seed: int = 0) -> np.ndarray:
        """The convex weights (n, n_i) G uses for ``n`` samples of class ``label``."""
        if self.net_.G is None or self.net_.G.free:
            raise RuntimeError("this model has no convex generator")
        z = torch.randn(n, self.settings_.latent_dim, generator=_gen(seed))
        y = torch.full((n,), int(label), dtype=torch.int64)
        dev = self.net_.device
        self.net_.G.eval()
        with torch.no_grad():
            return self.net_.G.weights(z.to(dev), y.to(dev))[int(label)].cpu().numpy()


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _check_data(X: Any, y: Any, s: GAMOSettings) -> tuple[Any, np.ndarray, np.ndarray]:
    """``X`` as an array or tensor, ``y`` as int64 labels 0..C-1 and the class counts."""
    X = X if isinstance(X, torch.Tensor) else np.asarray(X)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"y must be 1-D with one label per row of X: {y.shape} vs {len(X)} rows")
    if not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise ValueError("y must hold integer labels 0..C-1")
    y = y.astype(np.int64)
    counts = np.bincount(y)
    if len(counts) < 2 or (counts == 0).any():
        raise ValueError(f"every class 0..{len(counts) - 1} needs training points: {counts}")
    if s.variant == "conv" and (X.ndim != 4 or X.shape[2] != X.shape[3] or X.shape[2] < 16):
        raise ValueError(f"variant 'conv' needs square images (N, C, H, H), H >= 16: {X.shape}")
    if s.generator is not None and counts.min() == counts.max():
        raise ValueError("generator: every class has the same size, there is no minority class")
    return X, y, counts
