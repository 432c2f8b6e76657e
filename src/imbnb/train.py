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
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

__all__ = [
    "LOSSES",
    "OPTIMIZERS",
    "History",
    "LossFn",
    "embed_dataset",
    "fit",
    "get_device",
    "predict",
    "predict_proba",
    "seed_everything",
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
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The requested device, or CUDA when available and CPU otherwise."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _weighted_mean(per_sample: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """sum(w * l) / sum(w) (plain mean without weights); an all-zero batch gives 0, not NaN."""
    if weights is None:
        return per_sample.mean()
    total = weights.sum()
    if total <= 0:
        return (per_sample * weights).sum()  # exactly zero, keeps the graph
    return (per_sample * weights).sum() / total


def _cross_entropy(**_: Any) -> LossFn:
    """Factory for (weighted) cross-entropy; class weights arrive folded into the sample weights."""

    def loss(logits: torch.Tensor, target: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        return _weighted_mean(F.cross_entropy(logits, target, reduction="none"), w)

    return loss


#: Loss factories by name. ``fit`` calls ``LOSSES[name](class_counts=..., **loss_kwargs)`` and gets
#: a :data:`LossFn`; later losses (focal, LDAM, logit adjustment) register here.
#: ``"weighted_ce"`` is ``"ce"`` with ``class_weight`` defaulting to ``"balanced"`` (Algorithm 2).
LOSSES: dict[str, Callable[..., LossFn]] = {"ce": _cross_entropy, "weighted_ce": _cross_entropy}

#: Optimisers by name: ``name -> (params, lr, weight_decay) -> Optimizer``.
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": lambda p, lr, wd: torch.optim.Adam(p, lr=lr, weight_decay=wd),
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


def _as_tensor(X: Any) -> torch.Tensor:
    """Wrap an array, tensor or dataset as a CPU tensor, keeping uint8 as uint8 (scaled later)."""
    if hasattr(X, "images"):
        X = X.images
    t = (
        X.detach().cpu()
        if isinstance(X, torch.Tensor)
        else torch.from_numpy(np.ascontiguousarray(X))
    )
    if t.dtype != torch.uint8 and t.dtype != torch.float32:
        t = t.float()
    return t


def _to_float(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move a batch to ``device`` as float32, scaling uint8 images by 1/255."""
    batch = batch.to(device, non_blocking=True)
    if batch.dtype == torch.uint8:
        return batch.float().div_(255.0)
    return batch


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


def fit(
    model: nn.Module,
    X: Any,
    y: Any = None,
    *,
    epochs: int,
    batch_size: int,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    class_weight: str | np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
    loss: str | LossFn = "ce",
    loss_kwargs: Mapping[str, Any] | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    X_val: Any = None,
    y_val: Any = None,
) -> History:
    """Train ``model`` in place with mini-batch gradient descent; return its :class:`History`.

    ``X`` may be a dataset with ``.images``/``.labels`` (then ``y`` may be omitted).
    ``loss`` is a name in :data:`LOSSES` or a :data:`LossFn`. The model ends on ``device`` in
    eval mode. Validation accuracy/ACSA is computed after each epoch when ``X_val`` is given.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; allowed: {sorted(OPTIMIZERS)}")
    if isinstance(loss, str) and loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; allowed: {sorted(LOSSES)}")
    if y is None:
        if not hasattr(X, "labels"):
            raise ValueError("y is required unless X is a dataset with .labels")
        y = X.labels
    Xt = _as_tensor(X)
    y_np = np.asarray(y.labels if hasattr(y, "labels") else y).astype(np.int64).ravel()
    n = len(y_np)
    if n == 0:
        raise ValueError("cannot fit on an empty training set")
    if len(Xt) != n:
        raise ValueError(f"X has {len(Xt)} samples but y has {n}")
    n_classes = _n_classes(model, y_np)
    if y_np.min() < 0 or y_np.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}), got [{y_np.min()}, {y_np.max()}]")
    if loss == "weighted_ce" and class_weight is None:
        class_weight = "balanced"
    cw = _resolve_class_weight(class_weight, y_np, n_classes)
    w = np.ones(n) if cw is None else cw[y_np]
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float64).ravel()
        if sw.shape != (n,) or (sw < 0).any() or not np.isfinite(sw).all():
            raise ValueError(f"sample_weight must be {n} finite non-negative numbers")
        w = w * sw
    weights = None if cw is None and sample_weight is None else torch.from_numpy(w).float()
    counts = np.bincount(y_np, minlength=n_classes)
    loss_fn = loss if callable(loss) else LOSSES[loss](class_counts=counts, **(loss_kwargs or {}))

    if X_val is not None and y_val is None:
        if not hasattr(X_val, "labels"):
            raise ValueError("y_val is required unless X_val is a dataset with .labels")
        y_val = X_val.labels
    yv = None if X_val is None else np.asarray(getattr(y_val, "labels", y_val)).ravel()

    gen = seed_everything(seed)
    dev = get_device(device)
    model.to(dev)
    opt = OPTIMIZERS[optimizer](model.parameters(), lr, weight_decay)
    yt = torch.from_numpy(y_np)
    hist = History(
        device=str(dev),
        n_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        epochs=epochs,
    )
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc="fit", unit="epoch", disable=not progress, leave=False)
    for _ in bar:
        model.train()
        total, seen = 0.0, 0
        for idx in _batches(torch.randperm(n, generator=gen), batch_size):
            xb = _to_float(Xt[idx], dev)
            yb = yt[idx].to(dev)
            wb = None if weights is None else weights[idx].to(dev)
            opt.zero_grad(set_to_none=True)
            batch_loss = loss_fn(model(xb), yb, wb)
            batch_loss.backward()
            opt.step()
            total += float(batch_loss.detach()) * len(idx)
            seen += len(idx)
        hist.losses.append(total / seen)
        postfix = {"loss": f"{hist.losses[-1]:.4f}"}
        if yv is not None:
            hist.val_metrics.append(_val_metrics(yv, predict(model, X_val, device=dev), n_classes))
            postfix["val_acc"] = f"{hist.val_metrics[-1]['accuracy']:.3f}"
        bar.set_postfix(postfix)
    bar.close()
    model.eval()
    hist.seconds = time.perf_counter() - start
    return hist


def _model_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """The explicit device, else where the model's parameters live (CPU for a parameterless one)."""
    if device is not None:
        return torch.device(device)
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def _apply(
    fn: Callable[[torch.Tensor], torch.Tensor],
    model: nn.Module,
    X: Any,
    batch_size: int,
    device: str | torch.device | None,
) -> np.ndarray:
    """Run ``fn`` over ``X`` in eval mode, batch by batch without gradients, as float32 numpy."""
    dev = _model_device(model, device)
    model.to(dev)
    was_training = model.training
    model.eval()
    Xt = _as_tensor(X)
    try:
        outs = [
            fn(_to_float(Xt[i : i + batch_size], dev)).cpu() for i in range(0, len(Xt), batch_size)
        ]
    finally:
        model.train(was_training)
    if not outs:
        raise ValueError("X is empty")
    out = torch.cat(outs)
    return (out.float() if out.is_floating_point() else out).numpy()


def predict_proba(
    model: nn.Module, X: Any, batch_size: int = 512, device: str | torch.device | None = None
) -> np.ndarray:
    """Softmax class probabilities (N, n_classes), float32; device defaults to the model's."""
    return _apply(lambda x: torch.softmax(model(x), dim=1), model, X, batch_size, device)


def predict(
    model: nn.Module, X: Any, batch_size: int = 512, device: str | torch.device | None = None
) -> np.ndarray:
    """Predicted class indices (N,), int64: argmax of the logits."""
    return _apply(lambda x: model(x).argmax(dim=1), model, X, batch_size, device).astype(np.int64)


def embed_dataset(
    model: nn.Module, X: Any, batch_size: int = 512, device: str | torch.device | None = None
) -> np.ndarray:
    """Deep features ``model.embed(x)`` for every sample (N, embedding_dim), float32."""
    return _apply(model.embed, model, X, batch_size, device)
