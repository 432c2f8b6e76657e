"""How a method's networks are trained or loaded, apart from what they are (no cache key uses it).

:class:`RunOptions` holds the device, the cache, whether to use it, the training bar and
already-loaded data; the settings dataclasses of :mod:`imbnb.methods` hold what decides a
network and its cache key. :func:`route_changes` lets the functions taking them keep their
keyword form: ``train_extractor("fashion_mnist", ratio=20, cache=c)`` routes ``ratio`` to the
settings and ``cache`` to the options.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from imbnb.cache import Cache
from imbnb.data import ImageDataset, load_dataset

__all__ = ["RunOptions", "route_changes", "route_nested"]

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class RunOptions:
    """Where and how networks train, and data already in memory: never part of a cache key."""

    device: str | None = None
    cache: Cache | None = None
    use_cache: bool = True
    progress: bool = False  # the training bar of each network
    train: ImageDataset | None = None
    test: ImageDataset | None = None

    def datasets(self, dataset: str) -> tuple[ImageDataset, ImageDataset]:
        """The training and test splits: the ones held here, else ``dataset``'s from disk."""
        train = self.train if self.train is not None else load_dataset(dataset, "train")
        test = self.test if self.test is not None else load_dataset(dataset, "test")
        return train, test

    def store(self) -> Cache:
        """The cache to read and write (the default one unless one was given)."""
        return self.cache if self.cache is not None else Cache()

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


def _names(obj: Any) -> set[str]:
    """The field names of a dataclass instance."""
    return {f.name for f in dataclasses.fields(obj)}


def route_changes(changes: Mapping[str, Any], *targets: Any) -> list[Any]:
    """Each keyword of ``changes`` replaces the field of the first target (a dataclass) having it.

    An unknown keyword is a TypeError naming every allowed one, as a mistyped argument is.
    """
    pending: list[dict[str, Any]] = [{} for _ in targets]
    for key, value in changes.items():
        owner = next((i for i, t in enumerate(targets) if key in _names(t)), None)
        if owner is None:
            allowed = sorted(set().union(*(_names(t) for t in targets)))
            raise TypeError(f"unexpected keyword argument {key!r}; allowed: {allowed}")
        pending[owner][key] = value
    return [dataclasses.replace(t, **p) if p else t for t, p in zip(targets, pending, strict=True)]


def route_nested(
    changes: Mapping[str, Any], grid: T, nested: str, options: RunOptions
) -> tuple[T, RunOptions]:
    """Route ``changes`` to the fields of ``grid``, then of ``grid.<nested>``, then ``options``.

    A grid's settings hold the settings of the network each run trains (``nested``); the grid
    functions accept all three kinds of field as keywords.
    """
    own = {k: v for k, v in changes.items() if k in _names(grid)}
    grid = dataclasses.replace(grid, **own) if own else grid  # type: ignore[type-var]
    rest = {k: v for k, v in changes.items() if k not in own}
    try:
        inner, options = route_changes(rest, getattr(grid, nested), options)
    except TypeError as err:  # name the grid's own fields too
        raise TypeError(f"{err}; or of {type(grid).__name__}: {sorted(_names(grid))}") from None
    return dataclasses.replace(grid, **{nested: inner}), options  # type: ignore[type-var]
