"""The ``imbnb`` command, kept here for old imports: it lives in :mod:`imbnb.cli`.

``imbnb.cli`` imports the book toolchain only for the ``book`` subcommands, so the experiment
commands (``sweep``, ``merge``, ``splits``, ``store``, ``cache``) run without papermill,
nbformat or Jupyter Book; importing this module still imports :mod:`imbnb.book` and thus them.
"""

from imbnb.cli import main

__all__ = ["main"]
