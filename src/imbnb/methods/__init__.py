"""End-to-end methods a chapter calls with a dataset name and a seed (book chapters 1-2 on).

:func:`train_extractor` (chapters 1-2) trains and caches the embedding CNN that every
feature-space method starts from, as an :class:`ExtractorSettings` says; :class:`RunOptions`
holds what no cache key uses (device, cache, data already loaded).
"""

from imbnb.methods.extractor import (
    ExtractorSettings,
    TrainedExtractor,
    cap_per_class,
    train_extractor,
)
from imbnb.methods.options import RunOptions

__all__ = [
    "ExtractorSettings",
    "RunOptions",
    "TrainedExtractor",
    "cap_per_class",
    "train_extractor",
]
