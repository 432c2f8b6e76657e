"""End-to-end methods a chapter calls with a dataset name and a seed (book chapters 1-2 on).

:func:`train_extractor` (chapters 1-2) trains and caches the embedding CNN that every
feature-space method starts from.
"""

from imbnb.methods.extractor import TrainedExtractor, cap_per_class, train_extractor

__all__ = ["TrainedExtractor", "cap_per_class", "train_extractor"]
