"""The one registry of the book's methods: each method's name, family, recipe and search space.

Every method is registered here exactly once, under the one name every chapter, grid file and
results table uses, by the module of its family when that module is imported:

* ``feature_space`` (:mod:`imbnb.methods.feature_methods`, chapter 3): a sampler in the deep
  feature space and a head; the recipe is a :class:`~imbnb.methods.feature_methods.MethodSpec`;
* ``losses`` (:mod:`imbnb.methods.losses_baselines`, chapter 9): a CNN trained with a loss;
  recipe :class:`~imbnb.methods.losses_baselines.LossMethod`;
* ``dos`` (:mod:`imbnb.methods.dos`, chapter 4): DOS's embedding and a prediction rule;
* ``generative`` (:mod:`imbnb.methods.deepsmote`, chapters 6-7): an autoencoder and a latent
  sampler; recipe :class:`~imbnb.methods.deepsmote.GenerativeMethod`;
* ``gamo`` (:mod:`imbnb.methods.gamo`, chapter 5): the changes to GAMO's config;
* ``estimator``: a reader's own estimator on images; the recipe is ``build(seed)``.

Each entry also carries its *search space*: the candidate settings that chapter 8's tuning
protocol tries on validation splits (:mod:`imbnb.experiments.tuning`), the same budget for every
method. A family may declare one space for all its methods (:func:`declare_family`); an entry's
own ``search`` replaces it. The experiment layer (:mod:`imbnb.experiments.registry`) adds one
adapter per family and reads names from here, and
:func:`imbnb.experiments.register_sampler` adds a reader's own sampler the same way.

The family modules' ``METHODS`` / ``LOSS_METHODS`` are read-only views of their part of this
registry (:func:`specs`), kept so chapters can look a recipe up by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FAMILY_NAMES",
    "REGISTRY",
    "Method",
    "declare_family",
    "family_search",
    "get",
    "names",
    "paper_names",
    "register",
    "search_space",
    "specs",
    "unregister",
]

#: The method families, in the book's order (chapters 3, 9, 4, 6-7, 5), then a reader's own
#: estimators (:func:`imbnb.experiments.register_estimator`).
FAMILY_NAMES = ("feature_space", "losses", "dos", "generative", "gamo", "estimator")

Candidates = tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class Method:
    """One method: its name (the only one it goes by), family, what it is and how it is built.

    ``spec``: the family's recipe object; ``search``: the candidates chapter 8's tuning tries
    (None: the family's space); ``paper_name``: what a published table calls the method, where
    that differs (the chapters compare with published rows through it).
    """

    name: str
    family: str
    description: str
    spec: Any = None
    search: Candidates | None = None
    paper_name: str | None = None


REGISTRY: dict[str, Method] = {}
_FAMILY_SEARCH: dict[str, Candidates] = {}
#: The modules that register each family's methods (imported on the first lookup).
_FAMILY_MODULES = ("feature_methods", "losses_baselines", "dos", "deepsmote", "gamo")
_loaded = False


def _load() -> None:
    """Import every family's module once, so a lookup sees the book's every method."""
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _FAMILY_MODULES:
            importlib.import_module(f"imbnb.methods.{module}")


def _check_family(family: str) -> None:
    if family not in FAMILY_NAMES:
        raise ValueError(f"family must be one of {list(FAMILY_NAMES)}, got {family!r}")


def register(method: Method, *, replace: bool = False) -> Method:
    """Add ``method``; a name already taken is refused unless ``replace`` (same family only)."""
    _check_family(method.family)
    if not isinstance(method.name, str) or not method.name.strip():
        raise ValueError(f"name must be a non-empty string, got {method.name!r}")
    old = REGISTRY.get(method.name)
    if old is not None and not (replace and old.family == method.family):
        raise ValueError(f"method {method.name!r} exists already; choose another name")
    REGISTRY[method.name] = method
    return method


def unregister(name: str) -> None:
    """Remove a method (a reader's registration; the book's own are never removed by it)."""
    REGISTRY.pop(name, None)


def get(name: str, family: str | None = None) -> Method:
    """The method called ``name`` (of ``family`` if given); a ValueError lists the allowed."""
    _load()
    method = REGISTRY.get(name) if isinstance(name, str) else None
    if method is None or (family is not None and method.family != family):
        where = f" in family {family!r}" if family else ""
        raise ValueError(f"unknown method {name!r}{where}; allowed: {', '.join(names(family))}")
    return method


def names(family: str | None = None) -> tuple[str, ...]:
    """Every method's name (of one family): by family in the book's order, then as registered."""
    _load()
    if family is None:
        return tuple(n for f in FAMILY_NAMES for n in names(f))
    _check_family(family)
    return tuple(n for n, m in REGISTRY.items() if m.family == family)


def paper_names(family: str | None = None) -> dict[str, str]:
    """A published table's label -> the book's name, for the methods a paper names otherwise."""
    return {m.paper_name: n for n in names(family) if (m := REGISTRY[n]).paper_name is not None}


def declare_family(family: str, search: Sequence[Mapping[str, Any]]) -> None:
    """The search space the methods of ``family`` share unless they declare their own."""
    _check_family(family)
    _FAMILY_SEARCH[family] = tuple(search)


def family_search(family: str) -> Candidates:
    """The family's shared search space (one empty candidate: nothing is tuned)."""
    _check_family(family)
    return _FAMILY_SEARCH.get(family, ({},))


def search_space(name: str) -> list[dict[str, Any]]:
    """The candidate settings of method ``name``: its own, else its family's."""
    method = get(name)
    space = method.search if method.search is not None else family_search(method.family)
    return [dict(c) for c in space]


class _FamilyView(Mapping[str, Any]):
    """Name -> recipe of one family's methods, live and read-only."""

    def __init__(self, family: str) -> None:
        _check_family(family)
        self.family = family

    def __getitem__(self, name: str) -> Any:
        method = REGISTRY.get(name)
        if method is None or method.family != self.family:
            raise KeyError(name)
        return method.spec

    def __iter__(self) -> Iterator[str]:
        return iter(names(self.family))

    def __len__(self) -> int:
        return len(names(self.family))

    def __repr__(self) -> str:
        return f"<{self.family} methods: {', '.join(self)}>"


def specs(family: str) -> Mapping[str, Any]:
    """A live, read-only name -> recipe view of ``family``'s methods."""
    return _FamilyView(family)
