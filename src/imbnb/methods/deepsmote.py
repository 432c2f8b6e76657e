"""DeepSMOTE and its regularised variants in the book's protocol: splits, caching, rows (ch. 6-7).

Mandal (2024, ISI M.Tech thesis) builds on DeepSMOTE (Dablain, Krawczyk & Chawla 2022). The
algorithm -- the autoencoder, its variants, Algorithm 2's training and the latent
oversampling -- is :class:`imbnb.estimators.autoencoder.DeepSMOTE`. This module runs it the
way the thesis does:

1. train (or load from the cache) a method's autoencoder on the imbalanced images --
   :func:`train_autoencoder`, with epoch checkpoints so a killed training resumes exactly;
2. encode, oversample in the latent space -- SMOTE (DeepSMOTE), ADASYN (DeepADASYN, §4.4),
   :class:`~imbnb.oversample.WeightedCalibration` (§4.5) -- and decode;
   :func:`oversample_latent`;
3. train an image classifier on the balanced set (§5.3: an MLP with two hidden layers for
   the MNIST-like data) and score the full test set -- :func:`run_generative`.

Choices the thesis leaves open are listed in :data:`CHOICES` and stated in chapter 6.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from imbnb.autoencoders import ConvAutoencoder
from imbnb.cache import Cache, cached_json
from imbnb.data import ImageDataset
from imbnb.estimators.autoencoder import (
    CHECKPOINT_KIND,
    PENALTIES,
    SAMPLERS,
    VARIANTS,
    AEConfig,
    CheckpointTarget,
    DeepSMOTE,
    LatentOversampling,
    as_unit_images,
    make_latent_sampler,
    neighbour_agreement,
)
from imbnb.methods import catalog
from imbnb.methods.count_protocol import count_protocol, count_split
from imbnb.metrics import evaluate
from imbnb.models import MLPHead
from imbnb.train import fit, get_device, predict, seed_everything

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
    "ClassifierConfig",
    "GenerativeGrid",
    "GenerativeMethod",
    "GenerativeRun",
    "LatentOversampling",
    "TrainedAE",
    "count_protocol",
    "count_split",
    "interpolate",
    "make_latent_sampler",
    "method_ae_config",
    "method_oversampling",
    "neighbour_agreement",
    "oversample_latent",
    "run_generative",
    "run_grid",
    "train_autoencoder",
    "train_image_classifier",
]

AE_CACHE_KIND = "autoencoder"
ROW_CACHE_KIND = "generative_row"

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

_S = TypeVar("_S")


def _with_settings(cls: type[_S], base: _S | None, settings: Mapping[str, Any]) -> _S:
    """``base`` (default: ``cls()``) with keyword ``settings`` replaced, unknown names refused."""
    allowed = sorted(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for {cls.__name__}; allowed: {allowed}")
    return replace(base if base is not None else cls(), **settings)  # type: ignore[type-var]


@dataclass
class TrainedAE:
    """A trained (or cached) :class:`DeepSMOTE` and how it was obtained; its ``encode``,
    ``decode`` and ``reconstruction_mse`` work on numpy images in [0, 1]."""

    estimator: DeepSMOTE
    from_cache: bool = False
    seconds: float = 0.0  # this call: training, or loading from the cache
    device: str = "cpu"
    train_seconds: float = float("nan")  # the training itself (NaN: cached before it was kept)
    resumed_from: int = 0  # the epoch an interrupted training was resumed at (0: a fresh start)

    model = property(lambda self: self.estimator.model_, doc="The trained network.")
    config = property(lambda self: self.estimator.config_, doc="The knobs, seed included.")
    history = property(lambda self: self.estimator.history_, doc="Per-epoch mean loss terms.")
    encode = property(lambda self: self.estimator.encode, doc="DeepSMOTE.encode.")
    decode = property(lambda self: self.estimator.decode, doc="DeepSMOTE.decode.")
    reconstruction_mse = property(lambda self: self.estimator.reconstruction_mse)


def _fingerprint(images: np.ndarray, labels: np.ndarray) -> str:
    """Identity of the training data inside the cache key (sha256 of shape, pixels, labels)."""
    h = hashlib.sha256()
    x = np.ascontiguousarray(images)
    h.update(f"{x.shape}{x.dtype}".encode())
    h.update(x.tobytes())
    h.update(np.asarray(labels).astype("<i8").tobytes())
    return h.hexdigest()[:16]


def impl_key(config: AEConfig, shape: Sequence[int]) -> dict[str, str]:
    """``{"ae_impl": "matmul"}`` when the network of ``config`` for images of ``shape`` trains
    in the GEMM form (:mod:`imbnb.autoencoders`; 28x28 images), else ``{}``.

    The forms compute the same function with other float sums, so trained weights differ and
    training amplifies that: a network (or row) is never served to the other form. Keys of the
    convolutional form are the keys written before the GEMM form existed.
    """
    c, h, _ = (int(s) for s in shape)
    with torch.device("meta"):  # sizes only: no memory, no draw from torch's generator
        net = ConvAutoencoder(c, h, width=1, latent_dim=1, variational=config.variant == "vae")
    return {"ae_impl": "matmul"} if net.uses_matmul else {}


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

    The cache key is the whole config plus the fingerprint of the images and labels (and the
    layers' form, :func:`impl_key`), so a changed knob or a different split never serves a
    stale network. With the cache on, the
    training leaves a checkpoint after each epoch that ends ``checkpoint_seconds`` or more
    after the last one (0: every epoch; None: never; a minute costs well under 1% even on a
    GPU), and a killed training resumes from the latest one with the weights it would have
    reached uninterrupted; ``train_seconds`` then sums every session's training time.
    """
    config = config or AEConfig()
    x = as_unit_images(images)
    y = np.asarray(labels).astype(np.int64).ravel()
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"need >= 2 images with one label each, got {len(x)} and {len(y)}")
    if checkpoint_seconds is not None and not float(checkpoint_seconds) >= 0:
        raise ValueError(
            f"checkpoint_seconds must be >= 0 or None (no checkpoints), got {checkpoint_seconds}"
        )
    key = {
        **config.to_dict(),
        "data": _fingerprint(images, y),
        "shape": list(x.shape[1:]),
        **impl_key(config, x.shape[1:]),
    }
    store = cache if cache is not None else Cache()
    hit = use_cache and all(store.has(AE_CACHE_KIND, key, a) for a in ("state_dict", "json"))
    start = time.perf_counter()
    if hit:
        history = store.load_json(AE_CACHE_KIND, key)
        train_seconds = float(history.pop("seconds", math.nan))
        weights = store.load_state_dict(AE_CACHE_KIND, key)
        est = DeepSMOTE.from_weights(config, x.shape[1:], weights, history, device=device)
    else:
        target = CheckpointTarget(store, key, checkpoint_seconds) if use_cache else None
        est = DeepSMOTE(config, device=device, progress=progress).fit(x, y, checkpoint=target)
        train_seconds = est.train_seconds_
        if use_cache:  # weights first, history last: a hit needs both files
            weights = {k: v.cpu() for k, v in est.model_.state_dict().items()}
            store.save_state_dict(AE_CACHE_KIND, key, weights)
            store.save_json(AE_CACHE_KIND, key, {**est.history_, "seconds": train_seconds})
    if use_cache:  # the finished network is in the cache: its checkpoint can go
        store.remove(CHECKPOINT_KIND, key)
    seconds = time.perf_counter() - start
    dev = str(get_device(device))
    return TrainedAE(est, hit, seconds, dev, train_seconds, est.resumed_from_)


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
    est = ae.estimator.with_sampler(sampler, sampler_params, seed)
    x_res, y_res = est.resample(images, labels)
    return LatentOversampling(x_res, y_res, est.is_synthetic_, est.latents_, est.sampler_)


def interpolate(ae: TrainedAE, a: np.ndarray, b: np.ndarray, steps: int = 8) -> np.ndarray:
    """Decoded images along the straight line between the codes of images ``a`` and ``b``."""
    return ae.estimator.interpolate(a, b, steps)


@dataclass(frozen=True)
class ClassifierConfig:
    """The thesis's image classifier (§5.3): an MLP with two hidden layers, Adam."""

    hidden: Sequence[int] = (256, 128)
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3


def train_image_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int,
    config: ClassifierConfig | None = None,
    seed: int = 0,
    progress: bool = False,
) -> torch.nn.Module:
    """The thesis's image classifier (§5.3): an MLP with two hidden layers on the pixels."""
    cfg = config or ClassifierConfig()
    x = as_unit_images(images).reshape(len(images), -1)
    seed_everything(seed)
    model = MLPHead(x.shape[1], n_classes, hidden=tuple(cfg.hidden))
    fit(
        model,
        x,
        labels,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        seed=seed,
        progress=progress,
    )
    return model


@dataclass(frozen=True)
class GenerativeMethod:
    """One row of chapter 6/7's comparison: which autoencoder and which latent sampler."""

    name: str
    variant: str | None  # None: no oversampling (the plain classifier)
    sampler: str | None = None
    ae: dict[str, Any] = field(default_factory=dict)  # AEConfig overrides (e.g. beta)


#: The methods of the thesis's Tables 5.1-5.5 (ADASYN and weighted calibration run in the
#: denoising autoencoder's latent space, §4.4 and Table 5.2). MLP-pixels is the thesis's
#: "Baseline": the same image classifier without oversampling.
#: MLP-pixels, a baseline of chapter 8, gets the tuning budget every method gets (issue 25):
#: its classifier's epochs x learning rate (the thesis, §5.3, fixes neither).
_PIXEL_SEARCH = tuple(
    {"classifier": {"epochs": e, "lr": lr}} for e in (20, 40) for lr in (1e-3, 3e-4)
)
for _method, _what in [
    (GenerativeMethod("MLP-pixels", None), "the image classifier on the imbalanced set"),
    (GenerativeMethod("DeepSMOTE", "deepsmote", "smote"), "SMOTE in DeepSMOTE's latent space"),
    (
        GenerativeMethod("DeepDenoisingSMOTE", "denoising", "smote"),
        "SMOTE in a denoising autoencoder's latent space",
    ),
    (
        GenerativeMethod("DeepSparseSMOTE", "sparse", "smote"),
        "SMOTE in a sparse autoencoder's latent space",
    ),
    (GenerativeMethod("beta-VAE-1", "vae", "smote", {"beta": 1.0}), "SMOTE in a VAE's (beta 1)"),
    (GenerativeMethod("beta-VAE-2", "vae", "smote", {"beta": 2.0}), "SMOTE in a beta-VAE's (2)"),
    (
        GenerativeMethod("DeepADASYN", "denoising", "adasyn"),
        "ADASYN in a denoising autoencoder's latent space",
    ),
    (
        GenerativeMethod("DeepDenoising+WC", "denoising", "weighted_calibration"),
        "weighted calibration in a denoising autoencoder's latent space (§4.5)",
    ),
]:
    search = _PIXEL_SEARCH if _method.variant is None else None
    catalog.register(catalog.Method(_method.name, "generative", _what, _method, search=search))
#: Name -> :class:`GenerativeMethod`: the generative part of :data:`imbnb.methods.catalog.REGISTRY`.
METHODS: Mapping[str, GenerativeMethod] = catalog.specs("generative")


def method_ae_config(method: str, base: Mapping[str, Any], seed: int) -> AEConfig | None:
    """The AEConfig a method trains: ``base`` knobs, the method's overrides, the seed."""
    spec = catalog.get(method, "generative").spec
    if spec.variant is None:
        return None
    allowed = set(AEConfig.__dataclass_fields__) - {"variant", "seed"}
    unknown = set(base) - allowed
    if unknown:
        raise ValueError(
            f"unknown autoencoder setting(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    return replace(AEConfig(**dict(base)), variant=spec.variant, seed=seed, **spec.ae)


@dataclass(frozen=True)
class GenerativeRun:
    """The settings of one :func:`run_generative` call beside the method and the data."""

    seed: int = 0
    ae: Mapping[str, Any] | None = None  # AEConfig knobs (the method sets variant and seed)
    classifier: Mapping[str, Any] | None = None  # ClassifierConfig overrides
    sampler_params: Mapping[str, Any] | None = None  # the latent sampler's parameters
    minority: Sequence[int] | None = None  # None: weighted calibration's rule (§4.5.1)


#: the image classifier's settings unless a run sets them (§5.3: two hidden layers)
_CLASSIFIER_DEFAULTS = {"hidden": [256, 128], "epochs": 10, "batch_size": 128, "lr": 1e-3}


def _row_impl(ae_config: AEConfig | None, train: ImageDataset) -> dict[str, str]:
    """The layer form of the row's autoencoder for its cache key (none without one)."""
    shape = as_unit_images(train.images[:1]).shape[1:]
    return {} if ae_config is None else impl_key(ae_config, shape)


def run_generative(
    method: str,
    train: ImageDataset,
    test: ImageDataset,
    run: GenerativeRun | None = None,
    *,
    cache: Cache | None = None,
    progress: bool = False,
    **settings: Any,
) -> dict[str, Any]:
    """One method end to end on ``train`` (imbalanced) and ``test``: a cached metric row.

    Trains (or loads) the method's autoencoder, balances the training set in its latent space,
    trains the image classifier on the balanced set and evaluates on ``test``. ``settings``
    (``seed=``, ``ae=``, ...) replace fields of ``run``.
    """
    run = _with_settings(GenerativeRun, run, settings)
    seed = run.seed
    ae_config = method_ae_config(method, dict(run.ae or {}), seed)
    clf = {**_CLASSIFIER_DEFAULTS, **(run.classifier or {})}
    clf_config = _with_settings(ClassifierConfig, None, clf)
    sp = dict(run.sampler_params or {})
    counts = np.bincount(train.labels, minlength=train.n_classes)
    minority = list(run.minority) if run.minority is not None else _minority_classes(counts)
    key = {
        "method": method,
        "seed": seed,
        "ae": None if ae_config is None else ae_config.to_dict(),
        "classifier": clf,
        "sampler_params": sp,
        "train": train.fingerprint(),
        "test": test.fingerprint(),
        "minority": minority,
        **_row_impl(ae_config, train),
    }

    def compute() -> dict[str, Any]:
        start = time.perf_counter()
        x, y = train.images, train.labels
        row: dict[str, Any] = {"method": method, "seed": seed, "n_synthetic": 0}
        if ae_config is not None:
            model = train_autoencoder(x, y, ae_config, cache=cache, progress=progress)
            res = oversample_latent(model, x, y, METHODS[method].sampler, seed=seed, **sp)
            x, y = res.images, res.labels
            row["n_synthetic"] = int(res.is_synthetic.sum())
            row["recon_mse_test"] = model.reconstruction_mse(test.images)
            row["seconds_ae"] = model.seconds
            row["seconds_ae_train"] = model.train_seconds
        net = train_image_classifier(x, y, n_classes=train.n_classes, config=clf_config, seed=seed)
        y_pred = predict(net, as_unit_images(test.images).reshape(len(test), -1))
        row.update(_row_metrics(test.labels, y_pred, minority))
        row["seconds"] = time.perf_counter() - start
        return row

    return cached_json(ROW_CACHE_KIND, key, compute, cache=cache)


def _row_metrics(y_true: np.ndarray, y_pred: np.ndarray, minority: Sequence[int]) -> dict:
    """The thesis's macro metrics plus ACSA and GM (imbnb.metrics)."""
    rep = evaluate(y_true, y_pred, minority=list(minority) or None)
    return {k: float(v) for k, v in rep.to_row().items()}


def _minority_classes(counts: np.ndarray) -> list[int]:
    """Weighted calibration's minority rule (§4.5.1): 10 * n_c < n_max."""
    return [int(c) for c in np.flatnonzero(10 * counts < counts.max())]


@dataclass(frozen=True)
class GenerativeGrid:
    """The settings :func:`run_grid` shares across its (dataset, seed, method) runs."""

    count_scale: float = 1.0  # multiplies the thesis's count list
    n_test: int | None = None  # test images per class (None: the full test set)
    ae: Mapping[str, Any] | None = None
    classifier: Mapping[str, Any] | None = None
    sampler_params: Mapping[str, Mapping[str, Any]] | None = None  # method name -> params


def run_grid(
    datasets: Sequence[str],
    seeds: Sequence[int],
    methods: Sequence[str],
    grid: GenerativeGrid | None = None,
    *,
    cache: Cache | None = None,
    progress: bool = True,
    **settings: Any,
) -> pd.DataFrame:
    """Every (dataset, seed, method) of chapter 6's comparison as one tidy table of rows.

    ``dataset`` in the rows is the data actually used (``mnist`` may become ``mnist5k``).
    ``settings`` (``count_scale=``, ``ae=``, ...) replace fields of ``grid``.
    """
    grid = _with_settings(GenerativeGrid, grid, settings)
    for m in methods:
        catalog.get(m, "generative")  # an unknown name is refused before anything runs
    rows = []
    jobs = [(d, s, m) for d in datasets for s in seeds for m in methods]
    data: dict[tuple[str, int], tuple] = {}
    for d, s, m in tqdm(jobs, desc="generative methods", disable=not progress):
        if (d, s) not in data:
            data[d, s] = count_protocol(d, count_scale=grid.count_scale, seed=s, n_test=grid.n_test)
        train, test, _, name = data[d, s]
        sp = dict((grid.sampler_params or {}).get(m, {}))
        run = GenerativeRun(s, grid.ae, grid.classifier, sp)
        rows.append({"dataset": name, **run_generative(m, train, test, run, cache=cache)})
    return pd.DataFrame(rows)


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
    sp, sampler = dict(sampler_params or {}), METHODS[method].sampler
    return oversample_latent(model, train.images, train.labels, sampler, seed=seed, **sp)
