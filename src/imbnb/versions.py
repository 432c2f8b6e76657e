"""Installed versions of the libraries behind a result (book: "Provenance"; chapter 8's table).

Both provenance records use it: the book's page (:mod:`imbnb.book.provenance`) and a sweep's
entry beside its results table (:mod:`imbnb.experiments.provenance`).
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from importlib import metadata

from imbnb import __version__

__all__ = ["library_versions"]


def library_versions(names: Sequence[str]) -> dict[str, str]:
    """Python's and imbnb's versions, then each of ``names`` ("not installed" when absent)."""
    versions = {"python": platform.python_version(), "imbnb": __version__}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
