"""A plain PyTorch training loop: seeds, devices, weighted losses (feature-extractor chapter).

Conventions, stated once:

* Inputs: numpy ``uint8`` images (or uint8 tensors) are scaled to float32 in [0, 1] by /255,
  batch by batch; float arrays and tensors are taken as they are (cast to float32). Objects with
  an ``.images`` attribute (``imbnb.data.ImageDataset``) are read through it.
* Loss weights: each sample gets ``w_i = class_weight[y_i] * sample_weight[i]`` and a batch's loss
  is ``sum_i w_i * loss_i / sum_i w_i``. With class weights only, this is exactly
  ``F.cross_entropy(weight=class_weight)``; a sample of weight 0 contributes no gradient.
  ``class_weight="balanced"`` is the ADOS thesis's Algorithm 2 (normalised inverse priors).
* Determinism: :func:`fit` calls :func:`seed_everything` and shuffles with a ``torch.Generator``
  seeded from ``seed``; build the model after ``seed_everything(seed)`` as well, and the same seed
  on CPU gives bit-identical weights and predictions. ``fit`` never changes torch's thread count.
* A last mini-batch of one sample is merged into the previous one (BatchNorm cannot train on 1).
* Losses: ``loss`` is a name of :data:`imbnb.losses.LOSSES` (built by
  :func:`imbnb.losses.make_loss` with the training set's class counts and ``loss_params``), an
  ``nn.Module`` from :mod:`imbnb.losses`, or any :data:`LossFn`. A loss with an
  ``on_epoch_start(epoch)`` method gets it called before every epoch (0-based; LDAM-DRW switches
  its weights there). ``"ldam_drw"`` without ``drw_epoch`` switches at ``int(0.8 * epochs)``
  (Cao et al.: 160 of 200). ``balanced_batches=True`` replaces shuffling by
  :class:`imbnb.batches.BalancedBatchSampler` (``len(y) // batch_size`` class-balanced batches
  per epoch, drawn from the same seeded generator).
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from imbnb.batches import BalancedBatchSampler
from imbnb.inference import _as_tensor, _to_float, embed_dataset, predict, predict_proba
from imbnb.loop import LoopSpec, train_epochs
from imbnb.losses import LOSSES, CosineClassifier, LDAMLoss, make_loss

# cuBLAS reads this once, at its first use: set before any CUDA work (see cuda_determinism)
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

__all__ = [
    "LOSSES",
    "OPTIMIZERS",
    "FitSettings",
    "History",
    "adam",
    "cuda_determinism",
    "gpu_name",
    "LossFn",
    "embed_dataset",
    "fit",
    "get_device",
    "predict",
    "predict_proba",
    "seed_everything",
    "torch_threads",
]

#: ``loss(logits, targets, weights) -> scalar``; ``weights`` is per sample or ``None``.
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch, ask for deterministic kernels; return a seeded generator.

    ``torch.use_deterministic_algorithms(True, warn_only=True)`` only warns where a CUDA kernel
    has no deterministic variant, so this is safe on both CPU and GPU.
    """
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    cuda_determinism()
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def cuda_determinism() -> None:
    """Deterministic CUDA where it is offered, and full fp32 (no TF32) unless ``IMBNB_TF32=1``.

    cuBLAS is deterministic only with a fixed workspace (``CUBLAS_WORKSPACE_CONFIG``, set when
    this module is imported, before any CUDA work); TF32 would change every matmul's numbers.
    Nothing here changes a computation on the CPU.
    """
    tf32 = os.environ.get("IMBNB_TF32", "0") == "1"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.deterministic = True


def gpu_name(device: str | torch.device | None = None) -> str | None:
    """The GPU model a device is (``NVIDIA H200``), or None for the CPU."""
    dev = get_device(device)
    if dev.type != "cuda":
        return None
    return torch.cuda.get_device_name(dev)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with torch on ``n`` CPU threads (``None`` or 0: as it is), then restore.

    Float sums depend on the thread count on some CPUs, so every pass whose output is compared
    or cached (a training run and a reload of its result alike) runs under the same count.
    """
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The requested device, or CUDA when available and CPU otherwise."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def adam(params: Any, lr: float, weight_decay: float = 0.0, **kw: Any) -> torch.optim.Adam:
    """Adam, fused into one kernel per step on CUDA (the CPU keeps the reference loop)."""
    params = list(params)
    on_cuda = any(p.is_cuda for p in (q for g in _param_tensors(params) for q in g))
    if on_cuda:
        kw.pop("foreach", None)  # fused replaces the multi-tensor path
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=on_cuda or None, **kw)


def _param_tensors(params: list[Any]) -> list[list[torch.Tensor]]:
    """The tensors of a parameter list or of parameter groups (dicts with ``params``)."""
    return [list(p["params"]) if isinstance(p, dict) else [p] for p in params]


#: Optimisers by name: ``name -> (params, lr, weight_decay) -> Optimizer``.
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": lambda p, lr, wd: adam(p, lr, wd),
    "sgd": lambda p, lr, wd: torch.optim.SGD(p, lr=lr, momentum=0.9, weight_decay=wd),
}


@dataclass
class History:
    """What :func:`fit` did: training loss per epoch, validation metrics, time, device.

    ``losses[e]`` is the mean over epoch ``e`` of the batch losses, weighted by batch size;
    ``val_metrics[e]`` holds ``accuracy`` and ``acsa`` on ``X_val`` after epoch ``e``.
    """

    losses: list[float] = field(default_factory=list)
    val_metrics: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "cpu"
    n_params: int = 0
    epochs: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (for the cache and results tables)."""
        return asdict(self)


def _batches(perm: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Split indices into mini-batches, merging a trailing batch of one into its predecessor."""
    chunks = list(torch.split(perm, batch_size))
    if len(chunks) > 1 and len(chunks[-1]) == 1:
        chunks[-2] = torch.cat([chunks[-2], chunks.pop()])
    return chunks


def _n_classes(model: nn.Module, y: np.ndarray) -> int:
    """Number of classes: the model's ``n_classes`` attribute, else max label + 1."""
    n = getattr(model, "n_classes", None)
    return int(n) if n is not None else int(y.max()) + 1


def _resolve_class_weight(
    class_weight: str | np.ndarray | None, y: np.ndarray, n_classes: int
) -> np.ndarray | None:
    """None, Algorithm 2 weights for "balanced", or a validated length-C array."""
    if class_weight is None:
        return None
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(
                f"class_weight must be None, 'balanced' or an array, got {class_weight!r}"
            )
        from imbnb.imbalance import class_weights  # ADOS thesis Algorithm 2

        # over the classes present in y; an absent class has no samples, so its weight is moot
        present = np.unique(y)
        cw = np.zeros(n_classes)
        cw[present] = class_weights(y, classes=present)
        return cw
    cw = np.asarray(class_weight, dtype=np.float64)
    if cw.shape != (n_classes,):
        raise ValueError(f"class_weight has shape {cw.shape}, expected ({n_classes},)")
    if (cw < 0).any() or not np.isfinite(cw).all():
        raise ValueError("class_weight must be finite and non-negative")
    return cw


def _val_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
    """Accuracy and ACSA (mean per-class recall over classes present in y_true)."""
    recalls = [
        float((y_pred[y_true == c] == c).mean()) for c in range(n_classes) if (y_true == c).any()
    ]
    return {"accuracy": float((y_true == y_pred).mean()), "acsa": float(np.mean(recalls))}


@dataclass(frozen=True)
class FitSettings:
    """How :func:`fit` trains: schedule, optimiser, loss and weighting, seed, device.

    ``loss`` is a name in :data:`LOSSES` (with ``loss_params``), a loss module or a
    :data:`LossFn`; ``class_weight`` is None, ``"balanced"`` (Algorithm 2) or one weight per
    class; ``balanced_batches`` draws class-balanced mini-batches (see the module docstring).
    """

    epochs: int
    batch_size: int
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    class_weight: str | np.ndarray | None = None
    loss: str | LossFn | nn.Module = "ce"
    loss_params: Mapping[str, Any] | None = None
    balanced_batches: bool = False
    seed: int = 0
    device: str | torch.device | None = None
    progress: bool = True

    def check(self) -> None:
        """Refuse a bad setting with one line naming it and what is allowed."""
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(
                f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; allowed: {sorted(OPTIMIZERS)}")
        loss = self.loss
        if isinstance(loss, str) and loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; allowed: {list(LOSSES)}")
        if not isinstance(loss, str) and not callable(loss):
            raise ValueError(f"loss must be a name in {list(LOSSES)} or a callable, got {loss!r}")
        if self.loss_params and not isinstance(loss, str):
            raise ValueError("loss_params only applies when loss is given by name")


@dataclass
class _Data:
    """A training set as :func:`fit` uses it: inputs, labels, per-sample weights, loss."""

    X: torch.Tensor
    y: np.ndarray
    n_classes: int
    weights: torch.Tensor | None
    loss_fn: LossFn


def _labels(X: Any, y: Any, name: str = "y") -> np.ndarray:
    """Integer labels from ``y``, or from ``X.labels`` when ``y`` is None."""
    if y is None:
        if not hasattr(X, "labels"):
            raise ValueError(f"{name} is required unless X is a dataset with .labels")
        y = X.labels
    return np.asarray(y.labels if hasattr(y, "labels") else y).astype(np.int64).ravel()


def _sample_weights(
    s: FitSettings, y: np.ndarray, n_classes: int, sample_weight: np.ndarray | None
) -> torch.Tensor | None:
    """``w_i = class_weight[y_i] * sample_weight[i]`` (None when neither is given)."""
    n = len(y)
    wanted = "balanced" if s.loss == "weighted_ce" and s.class_weight is None else s.class_weight
    cw = _resolve_class_weight(wanted, y, n_classes)
    w = np.ones(n) if cw is None else cw[y]
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float64).ravel()
        if sw.shape != (n,) or (sw < 0).any() or not np.isfinite(sw).all():
            raise ValueError(f"sample_weight must be {n} finite non-negative numbers")
        w = w * sw
    return None if cw is None and sample_weight is None else torch.from_numpy(w).float()


def _prepare(
    model: nn.Module, X: Any, y: Any, s: FitSettings, sample_weight: np.ndarray | None
) -> _Data:
    """Validate the training set and build its weights and loss."""
    y_np = _labels(X, y)
    Xt = _as_tensor(X)
    n = len(y_np)
    if n == 0:
        raise ValueError("cannot fit on an empty training set")
    if len(Xt) != n:
        raise ValueError(f"X has {len(Xt)} samples but y has {n}")
    n_classes = _n_classes(model, y_np)
    if y_np.min() < 0 or y_np.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}), got [{y_np.min()}, {y_np.max()}]")
    weights = _sample_weights(s, y_np, n_classes, sample_weight)
    counts = np.bincount(y_np, minlength=n_classes)
    loss_fn = _build_loss(s.loss, s.loss_params, counts, s.epochs)
    _warn_ldam_head(loss_fn, model)
    return _Data(Xt, y_np, n_classes, weights, loss_fn)


def _settings(settings: FitSettings | None, changes: Mapping[str, Any]) -> FitSettings:
    """``settings`` with keyword changes on top; an unknown keyword names the allowed ones."""
    allowed = {f.name for f in dataclasses.fields(FitSettings)}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise TypeError(f"fit() got unexpected keyword(s) {unknown}; allowed: {sorted(allowed)}")
    if settings is None:
        return FitSettings(**changes)
    return dataclasses.replace(settings, **changes)


def fit(
    model: nn.Module,
    X: Any,
    y: Any = None,
    settings: FitSettings | None = None,
    *,
    sample_weight: np.ndarray | None = None,
    X_val: Any = None,
    y_val: Any = None,
    **changes: Any,
) -> History:
    """Train ``model`` in place with mini-batch gradient descent; return its :class:`History`.

    Settings come as a :class:`FitSettings`, as keywords (``epochs=5, batch_size=40``), or
    both (keywords win). ``X`` may be a dataset with ``.images``/``.labels`` (then ``y`` may be
    omitted). The model ends on the device in eval mode. Validation accuracy/ACSA is computed
    after each epoch when ``X_val`` is given.
    """
    s = _settings(settings, changes)
    s.check()
    data = _prepare(model, X, y, s, sample_weight)
    yv = None if X_val is None else _labels(X_val, y_val, "y_val")
    gen = seed_everything(s.seed)
    dev = get_device(s.device)
    model.to(dev)
    if isinstance(data.loss_fn, nn.Module):
        data.loss_fn.to(dev)
    hist = History(
        device=str(dev),
        n_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        epochs=s.epochs,
    )
    start = time.perf_counter()
    step, batches = _fit_step(model, data, s, gen, dev)

    def validate(epoch: int, means: dict[str, float]) -> dict[str, str] | None:
        if yv is None:
            return None
        hist.val_metrics.append(_val_metrics(yv, predict(model, X_val, device=dev), data.n_classes))
        return {"val_acc": f"{hist.val_metrics[-1]['accuracy']:.3f}"}

    logged = train_epochs(
        step,
        batches,
        LoopSpec(s.epochs, modules=[model], mean="sample", desc="fit", progress=s.progress),
        on_epoch_start=getattr(data.loss_fn, "on_epoch_start", None),
        on_epoch_end=validate,
    )
    hist.losses = logged["loss"]
    hist.seconds = time.perf_counter() - start
    return hist


def _fit_step(
    model: nn.Module, data: _Data, s: FitSettings, gen: torch.Generator, dev: torch.device
) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[int], list[torch.Tensor]]]:
    """The optimisation step and the epoch's batches :func:`fit` hands to the loop."""
    n = len(data.y)
    sampler = (
        BalancedBatchSampler(data.y, s.batch_size, generator=gen) if s.balanced_batches else None
    )
    opt = OPTIMIZERS[s.optimizer](model.parameters(), s.lr, s.weight_decay)
    yt = torch.from_numpy(data.y)

    def batches(epoch: int) -> list[torch.Tensor]:
        if sampler is None:
            return _batches(torch.randperm(n, generator=gen), s.batch_size)
        return [torch.tensor(b, dtype=torch.int64) for b in sampler]

    def step(idx: torch.Tensor) -> torch.Tensor:
        wb = None if data.weights is None else data.weights[idx].to(dev)
        opt.zero_grad(set_to_none=True)
        batch_loss = data.loss_fn(model(_to_float(data.X[idx], dev)), yt[idx].to(dev), wb)
        batch_loss.backward()
        opt.step()
        return batch_loss

    return step, batches


def _build_loss(
    loss: str | LossFn | nn.Module,
    params: Mapping[str, Any] | None,
    counts: np.ndarray,
    epochs: int,
) -> LossFn:
    """The loss to train with: a callable as given, or ``make_loss(name, class_counts=counts)``.

    ``"weighted_ce"`` is built as ``"ce"``: its Algorithm 2 weights arrive through
    ``class_weight`` (folded into the per-sample weights), as before the loss registry existed.
    """
    if not isinstance(loss, str):
        return loss
    params = dict(params or {})
    if loss == "weighted_ce":
        make_loss("weighted_ce", class_counts=counts, **params)  # validates params
        return make_loss("ce", class_counts=counts)
    if loss == "ldam_drw" and params.get("drw_epoch") is None:
        params["drw_epoch"] = int(0.8 * epochs)  # Cao et al.: epoch 160 of 200
    return make_loss(loss, class_counts=counts, **params)


def _warn_ldam_head(loss_fn: LossFn, model: nn.Module) -> None:
    """Warn when LDAM (made for cosine logits in [-1, 1], scaled by s) meets a linear head."""
    head = getattr(model, "classifier", None)
    if (
        isinstance(loss_fn, LDAMLoss)
        and head is not None
        and not isinstance(head, CosineClassifier)
    ):
        warnings.warn(
            "LDAM expects a cosine classifier head (make_model(..., head='cosine')); "
            f"this model's classifier is {type(head).__name__}",
            stacklevel=3,
        )
