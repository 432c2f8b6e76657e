"""Running a trained network over data: class probabilities, predictions, deep features.

Inputs follow :mod:`imbnb.train`'s conventions: ``uint8`` images are scaled to [0, 1] batch by
batch, float arrays are taken as they are, and datasets are read through ``.images``. Each
function runs in eval mode without gradients and restores the model's mode afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["embed_dataset", "predict", "predict_proba"]


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
