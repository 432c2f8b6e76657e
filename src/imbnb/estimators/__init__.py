"""Estimators that hold only an algorithm (issue 24): DOS, GAMO, GAMO2pix and the DeepSMOTE
family of autoencoders, sklearn-style (``fit`` returns self, ``random_state``, learned
attributes end in ``_``), knowing nothing of datasets, caches, result rows or the book.

One estimator per module, re-exported here (the imbalanced-learn layout); each trains through
the one loop, :func:`imbnb.loop.train_epochs`. The experiment protocols that cache them and
turn them into result rows live in :mod:`imbnb.methods`.
"""

from imbnb.estimators.autoencoder import AEConfig, CheckpointTarget, DeepSMOTE, LatentOversampling
from imbnb.estimators.dos import DOS, DOSState
from imbnb.estimators.gamo import GAMO, GAMOSettings
from imbnb.estimators.gamo2pix import GAMO2pix

__all__ = [
    "AEConfig",
    "CheckpointTarget",
    "DOS",
    "DOSState",
    "DeepSMOTE",
    "GAMO",
    "GAMO2pix",
    "GAMOSettings",
    "LatentOversampling",
]
