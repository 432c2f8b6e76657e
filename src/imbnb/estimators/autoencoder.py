"""DeepSMOTE and its regularised variants as one estimator: oversampling in a latent space.

Dablain, Krawczyk & Chawla (2022), DeepSMOTE, with Mandal's (2024, ISI M.Tech thesis)
variants: train a conv encoder/decoder (:class:`imbnb.autoencoders.ConvAutoencoder`) on the
imbalanced images with reconstruction MSE plus DeepSMOTE's permutation penalty (Algorithm 2
l.7-20), optionally regularised -- ``"denoising"`` (§3.4, Gaussian input noise), ``"sparse"``
(§3.5, L1 on hidden activations), ``"vae"`` (§3.6-3.7, beta-VAE; oversampling on the mean
vectors, §4.3) -- then encode, oversample the codes with any imbalanced-learn sampler (SMOTE
for DeepSMOTE, ADASYN for DeepADASYN §4.4, weighted calibration §4.5) and decode the new codes
to images (Algorithm 2, "Generate Samples").

:class:`DeepSMOTE` knows nothing of datasets, caches or result rows: ``fit(X, y)`` trains
through :func:`imbnb.loop.train_epochs`, and an optional :class:`CheckpointTarget` (any
:class:`imbnb.loop.CheckpointStore`, e.g. an :class:`imbnb.cache.Cache`) makes a killed fit
resume to the weights it would have reached uninterrupted. :class:`LatentOversampling` bundles a
resample's output, and :func:`neighbour_agreement` checks where its synthetic codes landed.
"""

from __future__ import annotations

import copy
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.validation import check_is_fitted

from imbnb.autoencoders import (
    ConvAutoencoder,
    kl_divergence,
    permutation_penalty,
    reconstruction_loss,
    sparsity_penalty,
    to_signed,
    to_unit,
)
from imbnb.loop import Checkpoint, CheckpointStore, LoopSpec, train_epochs
from imbnb.oversample import ADASYN, SMOTE, FaissNearestNeighbors, WeightedCalibration
from imbnb.train import adam, get_device, seed_everything

__all__ = [
    "CHECKPOINT_KIND",
    "PENALTIES",
    "SAMPLERS",
    "VARIANTS",
    "AEConfig",
    "CheckpointTarget",
    "DeepSMOTE",
    "LatentOversampling",
    "as_unit_images",
    "make_latent_sampler",
    "neighbour_agreement",
]

#: Epoch checkpoints of a fit in progress, in :class:`imbnb.loop.Checkpoint`'s format (the kind
#: is new with that format, so a checkpoint of the former private loop is never misread).
CHECKPOINT_KIND = "autoencoder_loop_checkpoint"
VARIANTS: tuple[str, ...] = ("deepsmote", "denoising", "sparse", "vae")
PENALTIES: tuple[str, ...] = ("official", "paired", "none")
SAMPLERS: tuple[str, ...] = ("smote", "adasyn", "weighted_calibration")


@dataclass(frozen=True)
class AEConfig:
    """Every knob of one autoencoder's training (its cache key, with the data's identity)."""

    variant: str = "deepsmote"
    beta: float = 1.0  # VAE / beta-VAE weight of the KL term (eq. 3.12)
    noise_sigma: float = 0.3  # denoising: std of the input noise on the [-1, 1] scale
    sparsity_lambda: float = 1e-3  # sparse: weight of the L1 activation penalty (§3.5)
    penalty: str = "official"  # DeepSMOTE's permutation penalty: official, paired or none
    latent_dim: int = 300  # DeepSMOTE's latent size
    width: int = 64  # channels of the first conv block (the paper: 64)
    epochs: int = 10  # the thesis trains 50-350 epochs (§5.3)
    batch_size: int = 100  # the authors' batch size
    lr: float = 3e-4  # Adam learning rate (§5.3)
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate names and ranges up front, naming the parameter and the allowed values."""
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {list(VARIANTS)}, got {self.variant!r}")
        if self.penalty not in PENALTIES:
            raise ValueError(f"penalty must be one of {list(PENALTIES)}, got {self.penalty!r}")
        for name in ("latent_dim", "width", "epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("beta", "noise_sigma", "sparsity_lambda", "lr"):
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (JSON-able)."""
        return asdict(self)


@dataclass(frozen=True)
class CheckpointTarget:
    """Where :meth:`DeepSMOTE.fit` leaves epoch checkpoints: a store, the fit's key, how often.

    A checkpoint is written after an epoch that ends ``every_seconds`` or more after the last
    one (0: every epoch; None: never).
    """

    store: CheckpointStore
    key: Mapping[str, Any]
    every_seconds: float | None = 60.0

    def __post_init__(self) -> None:
        """Refuse a negative interval."""
        if self.every_seconds is not None and not float(self.every_seconds) >= 0:
            raise ValueError(f"every_seconds must be >= 0 or None, got {self.every_seconds}")


def as_unit_images(images: Any) -> np.ndarray:
    """Images as float32 in [0, 1], shape (N, C, H, W) (uint8 is divided by 255)."""
    x = np.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError("float images must lie in [0, 1] (uint8 images are scaled by 1/255)")
    return x


def make_latent_sampler(sampler: Any = "smote", *, seed: int = 0, **params: Any) -> Any:
    """An imbnb.oversample sampler by name (``smote``, ``adasyn``, ``weighted_calibration``),
    or ``sampler`` itself when it is already a sampler object."""
    if not isinstance(sampler, str):
        if params:
            raise ValueError("sampler params only apply when the sampler is given by name")
        return sampler
    if sampler == "smote":  # DeepSMOTE's latent SMOTE uses k = 5
        return SMOTE(k_neighbors=params.pop("k_neighbors", 5), random_state=seed, **params)
    if sampler == "adasyn":
        return ADASYN(n_neighbors=params.pop("n_neighbors", 5), random_state=seed, **params)
    if sampler == "weighted_calibration":
        return WeightedCalibration(random_state=seed, **params)
    raise ValueError(
        f"sampler must be one of {list(SAMPLERS)} or a sampler object, got {sampler!r}"
    )


def _build(config: AEConfig, shape: Sequence[int]) -> ConvAutoencoder:
    """A freshly initialised network for images of ``shape`` (C, H, W), seeded by the config."""
    seed_everything(config.seed)
    c, h, w = (int(s) for s in shape)
    if h != w:
        raise ValueError(f"images must be square, got {h}x{w}")
    return ConvAutoencoder(
        c, h, width=config.width, latent_dim=config.latent_dim, variational=config.variant == "vae"
    )


def _batches(n: int, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Shuffled index batches; a trailing batch of one joins the previous (BatchNorm needs 2)."""
    perm = torch.randperm(n, generator=gen)
    out = list(perm.split(batch_size))
    if len(out) > 1 and len(out[-1]) == 1:
        out[-2] = torch.cat([out[-2], out.pop()])
    return out


def _step_loss(
    model: ConvAutoencoder,
    xb: torch.Tensor,
    x_class: torch.Tensor | None,
    config: AEConfig,
    gen: torch.Generator,
) -> dict[str, torch.Tensor]:
    """The loss terms of one batch (Algorithm 2 l.10-17 plus the variant's regulariser)."""
    inp = xb
    if config.variant == "denoising":  # §3.4: reconstruct the clean image from a noisy one
        noise = torch.randn(xb.shape, generator=gen).to(xb.device)
        inp = xb + config.noise_sigma * noise
    x_hat, _, stats, acts = model(inp)
    terms = {"recon": reconstruction_loss(x_hat, xb)}  # R_L
    if config.variant == "sparse":
        terms["sparse"] = config.sparsity_lambda * sparsity_penalty(acts)
    if config.variant == "vae":
        pixels = xb[0].numel()
        terms["kl"] = config.beta * kl_divergence(stats[0], stats[1]) / pixels
    if x_class is not None and config.penalty != "none" and len(x_class) > 1:
        perm = torch.randperm(len(x_class), generator=gen).to(xb.device)
        terms["penalty"] = permutation_penalty(model, x_class, perm, mode=config.penalty)  # P_L
    return terms


def _algorithm2_step(
    model: ConvAutoencoder,
    opt: torch.optim.Optimizer,
    xt: torch.Tensor,
    y: np.ndarray,
    config: AEConfig,
    gen: torch.Generator,
) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
    """One step of Algorithm 2: reconstruction of a batch plus the penalty on one sampled class."""
    by_class = {int(c): np.flatnonzero(y == c) for c in np.unique(y)}
    classes = sorted(by_class)

    def step(idx: torch.Tensor) -> dict[str, torch.Tensor]:
        # l.12: sample one class's data (up to a batch of it) for the penalty
        c = classes[int(torch.randint(len(classes), (1,), generator=gen))]
        pool = by_class[c]
        pick = torch.randperm(len(pool), generator=gen)[: config.batch_size].numpy()
        x_class = xt[pool[pick]] if config.penalty != "none" else None
        terms = _step_loss(model, xt[idx.to(xt.device)], x_class, config, gen)
        loss = sum(terms.values())  # l.17: T_L = R_L + P_L (+ the variant's term)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss, **terms}

    return step


class DeepSMOTE(BaseEstimator):
    """DeepSMOTE and its variants (plain, denoising, sparse, beta-VAE) on images (N, C, H, W).

    ``config`` (an :class:`AEConfig` or a dict of its fields) holds the network's and the
    training's knobs; ``random_state`` (None: ``config.seed``) seeds the initialisation, the
    batches and the latent sampler. ``sampler`` is a name in :data:`SAMPLERS` (with
    ``sampler_params``) or any imbalanced-learn sampler. After ``fit``: ``model_``,
    ``history_`` (per-epoch mean loss terms), ``config_``, ``classes_``, ``image_shape_``,
    ``train_seconds_``, ``resumed_from_``; after ``resample``: ``sampler_``, ``latents_``,
    ``is_synthetic_``.
    """

    _parameter_constraints: dict = {
        "config": [AEConfig, dict, None],
        "sampler": [StrOptions(set(SAMPLERS)), HasMethods(["fit_resample"])],
        "sampler_params": [dict, None],
        "random_state": [numbers.Integral, None],
        "device": [str, torch.device, None],
        "progress": ["boolean"],
    }

    def __init__(
        self,
        config: AEConfig | Mapping[str, Any] | None = None,
        *,
        sampler: Any = "smote",
        sampler_params: Mapping[str, Any] | None = None,
        random_state: int | None = None,
        device: str | torch.device | None = None,
        progress: bool = False,
    ) -> None:
        self.config = config
        self.sampler = sampler
        self.sampler_params = sampler_params
        self.random_state = random_state
        self.device = device
        self.progress = progress

    def _effective_config(self) -> AEConfig:
        """The validated :class:`AEConfig` with ``random_state`` as its seed."""
        self._validate_params()
        cfg = self.config if self.config is not None else AEConfig()
        if not isinstance(cfg, AEConfig):
            unknown = set(cfg) - set(AEConfig.__dataclass_fields__)
            if unknown:
                allowed = sorted(AEConfig.__dataclass_fields__)
                raise ValueError(
                    f"config has unknown field(s) {sorted(unknown)}; allowed: {allowed}"
                )
            cfg = AEConfig(**cfg)
        return cfg if self.random_state is None else replace(cfg, seed=int(self.random_state))

    def fit(self, X: Any, y: Any, *, checkpoint: CheckpointTarget | None = None) -> DeepSMOTE:
        """Train the autoencoder on images ``X`` (uint8, or float in [0, 1]) with labels ``y``.

        With ``checkpoint`` the fit starts from the latest checkpoint there, if any, and leaves
        one after each due epoch; it does not remove the last one (the caller does, once it has
        stored the result).
        """
        config = self._effective_config()
        x, y_np = _check_xy(X, y)
        self.model_ = model = _build(config, x.shape[1:])
        start, dev = time.perf_counter(), get_device(self.device)
        gen = seed_everything(config.seed)
        model.to(dev)
        xt = to_signed(torch.from_numpy(x)).to(dev)  # once, not one copy per batch
        opt = adam(model.parameters(), config.lr)
        ckpt = None
        if checkpoint is not None:
            ckpt = Checkpoint(
                checkpoint.store,
                checkpoint.key,
                [model],
                [opt],
                gen,
                kind=CHECKPOINT_KIND,
                every_seconds=checkpoint.every_seconds,
            )
        self.history_ = train_epochs(
            _algorithm2_step(model, opt, xt, y_np, config, gen),
            lambda epoch: _batches(len(xt), config.batch_size, gen),
            LoopSpec(
                config.epochs, modules=[model], desc=f"AE {config.variant}", progress=self.progress
            ),
            checkpoint=ckpt,
        )  # the model stays on the device: encoding, decoding and scoring run there
        self.train_seconds_ = ckpt.elapsed() if ckpt else time.perf_counter() - start
        self.resumed_from_ = ckpt.resumed_from if ckpt else 0
        self._fitted(config, x.shape[1:], y_np)
        return self

    @classmethod
    def from_weights(
        cls,
        config: AEConfig,
        image_shape: Sequence[int],
        weights: Mapping[str, torch.Tensor],
        history: Mapping[str, list[float]],
        **params: Any,
    ) -> DeepSMOTE:
        """A fitted estimator from stored weights and history (a cached fit), without training."""
        est = cls(config, **params)
        cfg = est._effective_config()
        est.model_ = _build(cfg, image_shape)
        est.model_.load_state_dict(dict(weights))
        est.model_.to(get_device(est.device))
        est.history_ = {k: list(v) for k, v in history.items()}
        est.train_seconds_, est.resumed_from_ = float("nan"), 0
        est._fitted(cfg, image_shape, None)
        return est

    def _fitted(self, config: AEConfig, shape: Sequence[int], y: np.ndarray | None) -> None:
        """Set the attributes every fitted estimator has; the network ends in eval mode."""
        self.config_ = config
        self.image_shape_ = tuple(int(s) for s in shape)
        self.classes_ = None if y is None else np.unique(y)
        self.device_ = str(next(self.model_.parameters()).device)
        self.model_.eval()

    def _apply(self, fn: Callable, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Run ``fn`` over ``x`` in eval mode, batch by batch, without gradients."""
        check_is_fitted(self, "model_")
        self.model_.eval()
        dev = next(self.model_.parameters()).device
        out = []
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                out.append(fn(torch.as_tensor(x[i : i + batch_size]).to(dev)).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0,), np.float32)

    def encode(self, X: Any) -> np.ndarray:
        """Latent codes (N, latent_dim) of images (uint8 or float in [0, 1]); VAE: the means."""
        x = as_unit_images(X)
        return self._apply(lambda t: self.model_.encode(to_signed(t)), x).astype(np.float32)

    def decode(self, Z: Any) -> np.ndarray:
        """Images (N, C, H, W) as float32 in [0, 1] from latent codes."""
        check_is_fitted(self, "model_")
        z = np.asarray(Z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.model_.latent_dim:
            raise ValueError(
                f"latents must have shape (N, {self.model_.latent_dim}), got {z.shape}"
            )
        return self._apply(lambda t: to_unit(self.model_.decode(t)), z).astype(np.float32)

    def reconstruction_mse(self, X: Any) -> float:
        """Per-pixel MSE, on the [0, 1] scale, of decode(encode(X))."""
        x = as_unit_images(X)
        return float(np.mean((self.decode(self.encode(x)) - x) ** 2))

    def interpolate(self, a: np.ndarray, b: np.ndarray, steps: int = 8) -> np.ndarray:
        """Decoded images along the straight line between the codes of images ``a`` and ``b``."""
        if steps < 2:
            raise ValueError(f"steps must be >= 2, got {steps}")
        za, zb = self.encode(np.stack([a, b]))
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
        return self.decode((1 - t) * za + t * zb)

    def resample(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Encode, resample the codes with the sampler, decode the synthetic codes (Alg. 2 l.1-7).

        Returns the originals first (as float in [0, 1], unchanged), then the decoded images.
        """
        self._validate_params()
        x = as_unit_images(X)
        y_np = np.asarray(y).astype(np.int64).ravel()
        z = self.encode(x)
        params = dict(self.sampler_params or {})
        if self.sampler in ("smote", "adasyn"):  # k = 5 (DeepSMOTE), capped by the smallest class
            key = "k_neighbors" if self.sampler == "smote" else "n_neighbors"
            smallest = int(np.bincount(y_np)[np.unique(y_np)].min())
            params.setdefault(key, max(1, min(5, smallest - 1)))
        seed = self.random_state if self.random_state is not None else self.config_.seed
        self.sampler_ = make_latent_sampler(self.sampler, seed=seed, **params)
        z_res, y_res = self.sampler_.fit_resample(z, y_np)
        n = len(y_np)
        synth = np.asarray(
            getattr(self.sampler_, "is_synthetic_", np.arange(len(y_res)) >= n), bool
        )
        if synth[:n].any() or not np.array_equal(y_res[:n], y_np):
            raise RuntimeError("the sampler must return the original rows first and unchanged")
        decoded = self.decode(z_res[synth]) if synth.any() else x[:0]
        self.latents_, self.is_synthetic_ = np.asarray(z_res, np.float32), synth
        return np.concatenate([x, decoded]), np.asarray(y_res)

    def fit_resample(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Fit the autoencoder on ``X, y``, then :meth:`resample` them."""
        return self.fit(X, y).resample(X, y)

    def with_sampler(
        self, sampler: Any, sampler_params: Mapping[str, Any] | None, random_state: int | None
    ) -> DeepSMOTE:
        """A shallow copy sharing the fitted network, with another latent sampler and seed."""
        other = copy.copy(self)
        return other.set_params(
            sampler=sampler, sampler_params=dict(sampler_params or {}), random_state=random_state
        )


def _check_xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Images as float in [0, 1] and integer labels, one per image, at least two of them."""
    x = as_unit_images(X)
    y_np = np.asarray(y).astype(np.int64).ravel()
    if len(x) != len(y_np) or len(x) < 2:
        raise ValueError(f"need >= 2 images with one label each, got {len(x)} and {len(y_np)}")
    return x, y_np


@dataclass
class LatentOversampling:
    """A balanced image set: the originals first (unchanged), then the decoded synthetic ones."""

    images: np.ndarray  # float32 in [0, 1], (N, C, H, W)
    labels: np.ndarray
    is_synthetic: np.ndarray
    latents: np.ndarray  # the codes of every returned row (originals' encodings included)
    sampler: Any = None

    def synthetic_by_class(
        self, n: int = 8, classes: Sequence[int] | None = None
    ) -> dict[int, np.ndarray]:
        """The first ``n`` decoded synthetic images of each class (default: every grown one)."""
        grown = np.unique(self.labels[self.is_synthetic])
        return {
            int(c): self.images[np.flatnonzero(self.is_synthetic & (self.labels == c))[:n]]
            for c in (classes if classes is not None else grown)
        }


def neighbour_agreement(res: LatentOversampling) -> pd.Series:
    """Per class, the share of synthetic codes whose nearest original code has the same label.

    A low share means the sampler put codes in another class's region of the latent space.
    """
    synth = res.is_synthetic
    if not synth.any():
        raise ValueError("the oversampling made no synthetic rows")
    nn = FaissNearestNeighbors(n_neighbors=1).fit(res.latents[~synth])
    nearest = res.labels[~synth][nn.kneighbors(res.latents[synth], return_distance=False)[:, 0]]
    same = pd.Series(nearest == res.labels[synth])
    return same.groupby(res.labels[synth]).mean().rename("same-class share")
