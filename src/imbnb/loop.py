"""The one training loop every network in imbnb trains with: epochs of steps, a progress bar,
per-epoch means of the logged terms, and checkpoint/resume.

What differs between methods is passed in, never copied: ``batches(epoch)`` yields an epoch's
batches (index tensors, or anything the step understands), ``step(batch)`` does one optimisation
step and returns the terms to log (tensors; they are not synced to the host inside the epoch),
and the optional hooks run before and after each epoch. :func:`imbnb.train.fit` (classifiers),
DOS's rounds, GAMO's players and the autoencoders all train through :func:`train_epochs`.

Seeding stays with the caller (:func:`imbnb.train.seed_everything` returns the generator the
batches draw from); a :class:`Checkpoint` captures that generator with the weights, the
optimisers' state and torch's global RNG, so a resumed run gives the same weights as one never
stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
from torch import nn
from tqdm import tqdm

__all__ = [
    "Checkpoint",
    "CheckpointStore",
    "LoopSpec",
    "rng_state",
    "set_rng_state",
    "train_epochs",
]

#: One optimisation step: a batch in, the terms to log out (a tensor is logged as ``loss``).
Step = Callable[[Any], "Mapping[str, torch.Tensor] | torch.Tensor"]


@dataclass(frozen=True)
class LoopSpec:
    """How the loop runs: epochs, which modules train, how epoch means are taken, the bar.

    ``mean="sample"`` weighs each batch's terms by its length (the loss per sample over the
    epoch, in float64 on the device); ``mean="batch"`` averages the batches' values equally.
    """

    epochs: int
    modules: Sequence[nn.Module] = ()
    mean: Literal["sample", "batch"] = "batch"
    desc: str = "train"
    progress: bool = True
    start_epoch: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if self.mean not in ("sample", "batch"):
            raise ValueError(f"mean must be 'sample' or 'batch', got {self.mean!r}")


class CheckpointStore(Protocol):
    """Where checkpoints live: :class:`imbnb.cache.Cache` satisfies it."""

    def has(self, kind: str, config: Mapping[str, Any], what: str) -> bool: ...
    def load_state_dict(self, kind: str, config: Mapping[str, Any]) -> dict[str, Any]: ...
    def save_state_dict(self, kind: str, config: Mapping[str, Any], state: Any) -> Any: ...
    def remove(self, kind: str, config: Mapping[str, Any]) -> Any: ...


def rng_state(gen: torch.Generator) -> dict[str, Any]:
    """Every random stream a loop draws from: its generator and torch's global ones."""
    state: dict[str, Any] = {"gen": gen.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(gen: torch.Generator, state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    gen.set_state(state["gen"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class Checkpoint:
    """Epoch checkpoints of one training run in a store, so a killed run resumes exactly.

    A checkpoint holds the modules' weights, the optimisers' state, every RNG state, the
    history, the epoch and the seconds trained so far. One is written after an epoch when
    ``every_seconds`` have passed since the last (``None``: never); the store writes atomically,
    so a kill mid-write leaves the previous one.
    """

    store: CheckpointStore
    key: Mapping[str, Any]
    modules: Sequence[nn.Module]
    optimizers: Sequence[torch.optim.Optimizer]
    generator: torch.Generator
    kind: str = "checkpoint"
    every_seconds: float | None = 60.0
    prior_seconds: float = 0.0
    resumed_from: int = 0
    started: float = field(default_factory=time.perf_counter)
    last: float = field(default_factory=time.perf_counter)

    def restore(self) -> tuple[int, dict[str, list[float]]]:
        """Load the latest checkpoint into the modules, optimisers and RNGs, if there is one;
        return the epoch to start from and the history so far."""
        if not self.store.has(self.kind, self.key, "state_dict"):
            return 0, {}
        state = self.store.load_state_dict(self.kind, self.key)
        for module, sd in zip(self.modules, state["modules"], strict=True):
            module.load_state_dict(sd)
        for opt, sd in zip(self.optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(sd)
        set_rng_state(self.generator, state["rng"])
        self.resumed_from, self.prior_seconds = int(state["epoch"]), float(state["seconds"])
        return self.resumed_from, {k: list(v) for k, v in state["history"].items()}

    def offer(self, epoch: int, history: Mapping[str, list[float]]) -> None:
        """Write the state after ``epoch`` epochs if one is due."""
        now = time.perf_counter()
        if self.every_seconds is None or now - self.last < self.every_seconds:
            return
        self.last = now
        state = {
            "epoch": epoch,
            "seconds": self.elapsed(),
            "modules": [m.state_dict() for m in self.modules],
            "optimizers": [o.state_dict() for o in self.optimizers],
            "rng": rng_state(self.generator),
            "history": {k: list(v) for k, v in history.items()},
        }
        self.store.save_state_dict(self.kind, self.key, state)

    def elapsed(self) -> float:
        """Seconds of training so far, interrupted sessions included."""
        return self.prior_seconds + time.perf_counter() - self.started

    def discard(self) -> None:
        """Drop the checkpoint once the finished network is stored elsewhere."""
        self.store.remove(self.kind, self.key)


def _terms(out: Mapping[str, torch.Tensor] | torch.Tensor) -> Mapping[str, torch.Tensor]:
    return {"loss": out} if isinstance(out, torch.Tensor) else out


def _epoch_means(
    logged: Mapping[str, list[torch.Tensor]], sizes: list[int], mean: str
) -> dict[str, float]:
    """One float per term: batch-size-weighted (float64 on the device) or a plain mean."""
    if mean == "sample":
        seen = sum(sizes)
        out = {}
        for k, vals in logged.items():
            total = torch.zeros((), dtype=torch.float64, device=vals[0].device)
            for v, n in zip(vals, sizes, strict=True):
                total += v.detach().double() * n
            out[k] = float(total) / seen
        return out
    return {k: sum(torch.stack(vals).tolist()) / len(vals) for k, vals in logged.items()}


def _size(batch: Any) -> int:
    try:
        return len(batch)
    except TypeError:
        return 1


def train_epochs(
    step: Step,
    batches: Callable[[int], Iterable[Any]],
    spec: LoopSpec,
    *,
    on_epoch_start: Callable[[int], None] | None = None,
    on_epoch_end: Callable[[int, dict[str, float]], Mapping[str, str] | None] | None = None,
    checkpoint: Checkpoint | None = None,
    history: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """Run ``spec.epochs`` epochs of ``step`` over ``batches(epoch)``; return the history.

    The history maps each logged term to its per-epoch means; ``on_epoch_end(epoch, means)``
    runs after each epoch (validation, say) and what it returns is shown on the bar. With a
    ``checkpoint`` the loop resumes from the latest one and offers one after every epoch.
    Modules in ``spec.modules`` are put in train mode before each epoch and in eval mode at
    the end.
    """
    history = {k: list(v) for k, v in (history or {}).items()}
    start = spec.start_epoch
    if checkpoint is not None:
        resumed, saved = checkpoint.restore()
        if resumed:
            start, history = resumed, saved
    bar = tqdm(
        range(start, spec.epochs),
        desc=spec.desc,
        disable=not spec.progress,
        leave=False,
        initial=start,
        total=spec.epochs,
    )
    for epoch in bar:
        for m in spec.modules:
            m.train()
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        logged: dict[str, list[torch.Tensor]] = {}
        sizes: list[int] = []
        for batch in batches(epoch):
            for k, v in _terms(step(batch)).items():  # no device sync inside the epoch
                logged.setdefault(k, []).append(v.detach())
            sizes.append(_size(batch))
        means = _epoch_means(logged, sizes, spec.mean) if sizes else {}
        for k, v in means.items():
            history.setdefault(k, []).append(v)
        shown = {k: f"{v:.4f}" for k, v in means.items() if k == "loss"}
        if on_epoch_end is not None:
            shown.update(on_epoch_end(epoch, means) or {})
        bar.set_postfix(shown)
        if checkpoint is not None:
            checkpoint.offer(epoch + 1, history)
    bar.close()
    for m in spec.modules:
        m.eval()
    return history
