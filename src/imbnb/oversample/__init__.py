"""Feature-space oversamplers with imbalanced-learn's ``fit_resample`` contract (chapter 3).

Every sampler here works on feature rows (embeddings or latents), flattens n-d input with a
:class:`FlattenedInputWarning`, and after ``fit_resample`` exposes ``is_synthetic_`` (and,
where the method has it, per-row provenance such as ``source_index_``). They drop into an
``imblearn.pipeline.Pipeline`` like any imblearn sampler.
"""

from imbnb.imbalance import class_weights, class_weights_from_counts
from imbnb.oversample._base import FeatureOverSampler, FlattenedInputWarning, flatten_features
from imbnb.oversample.ados import ADOS
from imbnb.oversample.calibration import WeightedCalibration
from imbnb.oversample.neighbors import FaissNearestNeighbors, faiss_available, faiss_gpu_available
from imbnb.oversample.perturbation import GaussianPerturbation
from imbnb.oversample.pseudo_features import PseudoFeatures
from imbnb.oversample.wrappers import (
    ADASYN,
    ROSRUS,
    SMOTE,
    BorderlineSMOTE,
    RandomOverSampler,
    RandomUnderSampler,
)

__all__ = [
    "ADASYN",
    "ADOS",
    "ROSRUS",
    "SMOTE",
    "BorderlineSMOTE",
    "FaissNearestNeighbors",
    "FeatureOverSampler",
    "FlattenedInputWarning",
    "GaussianPerturbation",
    "PseudoFeatures",
    "RandomOverSampler",
    "RandomUnderSampler",
    "WeightedCalibration",
    "class_weights",
    "class_weights_from_counts",
    "faiss_available",
    "faiss_gpu_available",
    "flatten_features",
]
