"""Bring your own method: register a sampler so it runs through every grid (book "Add your own
method").

:func:`register_sampler` adds any imbalanced-learn-compatible sampler as a feature-space method:
it then resamples the same extractor's features as the book's samplers, on the same splits and
seeds, is trained and scored by the same head, and appears by its name in every table, rank
and test of chapter 8 (``results_grid(methods=[..., "MY-SAMPLER"])``, grid files, ``imbnb
sweep``). The run config names the method, so its rows carry their own config hashes.

Process pools and Ray start fresh interpreters: a sweep hands them the registrations, so a
``build`` they receive must be picklable (a class, or a function defined at a module's top
level, possibly wrapped in ``functools.partial``); a lambda serves one-process sweeps only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from imbnb.methods import catalog
from imbnb.methods.feature_methods import MethodSpec

__all__ = ["register_sampler", "registered", "restore"]

_REGISTERED: dict[str, dict[str, Any]] = {}
_WEIGHTINGS = ("none", "class", "sample")


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
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not callable(build):
        raise ValueError(f"build must be callable as build(seed) -> sampler, got {build!r}")
    if weighting not in _WEIGHTINGS:
        raise ValueError(f"weighting must be one of {list(_WEIGHTINGS)}, got {weighting!r}")
    if name in catalog.REGISTRY and not (replace and name in _REGISTERED):
        raise ValueError(f"method {name!r} exists already; choose another name")
    spec = MethodSpec(name, description or f"{name} (registered)", _Build(build), weighting)
    catalog.register(catalog.Method(name, "feature_space", spec.description, spec), replace=True)
    _REGISTERED[name] = {"build": build, "description": description, "weighting": weighting}
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


def registered() -> dict[str, dict[str, Any]]:
    """The registrations of this process (handed to a sweep's workers)."""
    return {name: dict(spec) for name, spec in _REGISTERED.items()}


def restore(registrations: Mapping[str, Mapping[str, Any]]) -> None:
    """Repeat registrations in a worker process (see :func:`registered`)."""
    for name, spec in registrations.items():
        register_sampler(
            name, spec["build"], spec["description"], weighting=spec["weighting"], replace=True
        )
