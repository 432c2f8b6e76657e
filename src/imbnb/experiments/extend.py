"""Bring your own method: register a sampler, a loss or an estimator so it runs through every
grid (book "Add your own method").

Each registration adds one entry to the one registry (:mod:`imbnb.methods.catalog`); the method
then runs on the same splits and seeds as the book's own, appears by its name in every table,
rank and test of chapter 8 (``results_grid(methods=[..., "MINE"])``, grid files, ``imbnb
sweep``), and gets its family's tuning budget (``imbnb tune``). The run config names the method,
so its rows carry their own config hashes.

* :func:`register_sampler`: any imbalanced-learn-compatible sampler, as a feature-space method:
  it resamples the same extractor's features as the book's samplers, and the same head is
  trained on the result;
* :func:`register_loss`: a loss, as a loss-based method: the book's CNN trained end to end with
  it (chapter 9's protocol);
* :func:`register_estimator`: a whole estimator on images (``fit(images, labels)``,
  ``predict(images)``), trained on the run's training images and scored on its test images.

The name is the method's identity, also in the cache: after changing what a name builds, pick
a new name (or clear the cache, ``imbnb cache clear``). Process pools and Ray start fresh
interpreters: a sweep hands them the registrations, so what they receive must be picklable (a
class, or a function defined at a module's top level, possibly wrapped in
``functools.partial``); a lambda serves one-process sweeps only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from imbnb import losses
from imbnb.methods import catalog
from imbnb.methods.feature_methods import MethodSpec
from imbnb.methods.losses_baselines import LossMethod

__all__ = [
    "register_estimator",
    "register_loss",
    "register_sampler",
    "registered",
    "restore",
    "unregister",
]

_REGISTERED: dict[str, dict[str, Any]] = {}
_WEIGHTINGS = ("none", "class", "sample")
_HEADS = ("linear", "cosine")


def _check_new(name: str, replace: bool, builder: Any, param: str, call: str) -> None:
    """Refuse a bad name, a name already taken (unless ``replace`` one of ours) or no builder."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not callable(builder):
        raise ValueError(f"{param} must be callable as {call}, got {builder!r}")
    if name in catalog.REGISTRY and not (replace and name in _REGISTERED):
        raise ValueError(f"method {name!r} exists already; choose another name")


def register_sampler(
    name: str,
    build: Callable[[int], Any],
    description: str = "",
    *,
    weighting: str = "none",
    replace: bool = False,
) -> str:
    """Register ``build(seed) -> sampler`` as the feature-space method ``name``; return it.

    ``weighting``: how the head weighs the resampled rows, ``"none"``, ``"class"`` (the
    thesis's Algorithm 2 class weights) or ``"sample"`` (the sampler's ``sample_weight_``).
    A name already taken is refused unless ``replace=True`` for a name registered here. The
    method joins the one registry (:mod:`imbnb.methods.catalog`) with the feature-space
    family's search space, so chapter 8's tuning gives it the same budget as the book's own.
    """
    _check_new(name, replace, build, "build", "build(seed) -> sampler")
    if weighting not in _WEIGHTINGS:
        raise ValueError(f"weighting must be one of {list(_WEIGHTINGS)}, got {weighting!r}")
    spec = MethodSpec(name, description or f"{name} (registered)", _Build(build), weighting)
    catalog.register(catalog.Method(name, "feature_space", spec.description, spec), replace=True)
    _REGISTERED[name] = {
        "kind": "sampler", "build": build, "description": description, "weighting": weighting
    }  # fmt: skip
    return name


def register_loss(
    name: str,
    make: Callable[..., Any],
    description: str = "",
    *,
    search: Sequence[Mapping[str, Any]] | None = None,
    head: str = "linear",
    balanced_batches: bool = False,
    replace: bool = False,
) -> str:
    """Register a loss as the loss-based method ``name`` (chapter 9's CNN, trained with it).

    ``make(class_counts=..., **params)`` returns the loss: a callable ``(logits, target,
    sample_weight) -> scalar``, best an :class:`imbnb.losses.ImbalanceLoss` (implement
    ``per_sample``). ``params`` come from a run's ``loss_params``; ``search``: the candidate
    ``loss_params`` chapter 8's tuning tries (at most 4; None: the learning rates every
    loss-based method without a knob tries). ``head``: "linear" or "cosine" (LDAM's);
    ``balanced_batches``: class-balanced mini-batches instead of shuffling.
    """
    _check_new(name, replace, make, "make", "make(class_counts=..., **params) -> loss")
    if isinstance(make, torch.nn.Module):
        raise ValueError(
            f"make must build the loss (a class or function of class_counts and the loss's "
            f"parameters), got a loss instance {make!r}"
        )
    if head not in _HEADS:
        raise ValueError(f"head must be one of {list(_HEADS)}, got {head!r}")
    candidates = None if search is None else tuple({"loss_params": dict(c)} for c in search)
    if candidates is not None and not candidates:
        raise ValueError("search must hold at least one candidate (or be None)")
    key = f"registered:{name}"  # the loss's name in imbnb.losses.LOSSES and in cache keys
    losses.LOSSES[key] = make
    spec = LossMethod(name, description or f"{name} (registered)", key, head, balanced_batches)
    catalog.register(
        catalog.Method(name, "losses", spec.description, spec, candidates), replace=True
    )
    _REGISTERED[name] = {
        "kind": "loss", "make": make, "description": description, "search": search,
        "head": head, "balanced_batches": balanced_batches,
    }  # fmt: skip
    return name


def register_estimator(
    name: str, build: Callable[[int], Any], description: str = "", *, replace: bool = False
) -> str:
    """Register ``build(seed) -> estimator`` as the method ``name`` of the family "estimator".

    The estimator is fitted on the run's training images (uint8, shape (n, C, H, W)) and labels
    with ``fit(images, labels)`` and scored on ``predict(test_images)``; it runs on both
    protocols (thesis ratios and count list). Its settings are its own: nothing is tuned.
    """
    _check_new(name, replace, build, "build", "build(seed) -> estimator")
    method = catalog.Method(name, "estimator", description or f"{name} (registered)", build)
    catalog.register(method, replace=True)
    _REGISTERED[name] = {"kind": "estimator", "build": build, "description": description}
    return name


class _Build:
    """``MethodSpec.build`` from a user's ``build(seed)`` (the book's take seed, n_min, rho_d)."""

    def __init__(self, build: Callable[[int], Any]) -> None:
        self.build = build

    def __call__(self, seed: int, n_min_class: int, rho_d: float) -> Any:
        sampler = self.build(seed)
        if not hasattr(sampler, "fit_resample"):
            raise ValueError(
                f"build(seed) must return a sampler with fit_resample, got {sampler!r}"
            )
        return sampler


def unregister(name: str) -> None:
    """Remove a method registered here (its registry entry, and a loss's factory); the book's
    own methods cannot be removed."""
    if name not in _REGISTERED:
        raise ValueError(f"{name!r} was not registered by register_sampler/_loss/_estimator")
    spec = _REGISTERED.pop(name)
    catalog.unregister(name)
    if spec["kind"] == "loss":
        losses.LOSSES.pop(f"registered:{name}", None)


def registered() -> dict[str, dict[str, Any]]:
    """The registrations of this process (handed to a sweep's workers)."""
    return {name: dict(spec) for name, spec in _REGISTERED.items()}


def restore(registrations: Mapping[str, Mapping[str, Any]]) -> None:
    """Repeat registrations in a worker process (see :func:`registered`)."""
    for name, spec in registrations.items():
        kind = spec.get("kind", "sampler")
        if kind == "sampler":
            register_sampler(
                name, spec["build"], spec["description"], weighting=spec["weighting"], replace=True
            )
        elif kind == "loss":
            register_loss(
                name, spec["make"], spec["description"], search=spec["search"],
                head=spec["head"], balanced_batches=spec["balanced_batches"], replace=True,
            )  # fmt: skip
        else:
            register_estimator(name, spec["build"], spec["description"], replace=True)
