"""Exact nearest-neighbour search backed by faiss, with scikit-learn's interface (chapter 3).

:class:`FaissNearestNeighbors` answers ``kneighbors`` / ``kneighbors_graph`` exactly like
``sklearn.neighbors.NearestNeighbors(algorithm="brute")`` with the Euclidean metric, so it can be
passed as ``k_neighbors=`` to imbalanced-learn's SMOTE, BorderlineSMOTE and ADASYN and is used by
imbnb's own samplers (ADOS). faiss's exact ``IndexFlatL2`` does the search (on a GPU when faiss
was built with GPU support and a CUDA device is visible); without faiss it falls back to sklearn.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted

try:  # faiss is optional at import time: the sklearn fallback keeps everything working
    import faiss
except ImportError:  # pragma: no cover - exercised only where faiss is absent
    faiss = None

__all__ = ["FaissNearestNeighbors", "faiss_available", "faiss_gpu_available"]

# Elements per block of the (queries, k, d) gather used to recompute distances (~64 MB float64).
_REFINE_ELEMENTS = 1 << 23


_RESOURCES: dict[int, Any] = {}


def _gpu_device() -> int:
    """The GPU this process computes on: torch's current CUDA device (0 without torch)."""
    try:
        import torch

        return int(torch.cuda.current_device()) if torch.cuda.is_available() else 0
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0


def _gpu_resources(device: int) -> Any:
    """One faiss GPU resource object per device and process, shared by every fit.

    A resource object reserves scratch memory and streams; DOS fits once per class per round,
    so making one per fit would allocate that again and again.
    """
    if device not in _RESOURCES:
        _RESOURCES[device] = faiss.StandardGpuResources()
    return _RESOURCES[device]


def faiss_available() -> bool:
    """Whether faiss can be imported (otherwise sklearn's brute-force search is used)."""
    return faiss is not None


def faiss_gpu_available() -> bool:
    """Whether faiss was built with GPU support and sees at least one CUDA device."""
    if faiss is None or not hasattr(faiss, "StandardGpuResources"):
        return False
    try:
        return int(faiss.get_num_gpus()) > 0
    except Exception:  # pragma: no cover - broken driver setups
        return False


class FaissNearestNeighbors(BaseEstimator):
    """Exact Euclidean k-nearest neighbours with sklearn's ``fit`` / ``kneighbors`` API.

    Parameters
    ----------
    n_neighbors : int, default=5
        Neighbours returned by ``kneighbors`` when its ``n_neighbors`` is not given. As with
        sklearn, imblearn's SMOTE needs ``k + 1`` here because a query on the training points
        returns each point as its own first neighbour.
    use_gpu : {"auto", True, False}, default="auto"
        ``"auto"`` uses a faiss GPU index when faiss has GPU support and a CUDA device exists;
        ``True`` requires one (``RuntimeError`` otherwise); ``False`` stays on the CPU.

    Notes
    -----
    faiss searches in float32 with the expansion ``|x|^2 + |y|^2 - 2 x.y``; the returned
    distances are recomputed exactly (in the input's precision) for the candidates it returns and
    the candidates re-sorted by them (stably), so distances match sklearn's to rounding and a
    point's distance to itself is exactly 0. Neighbour sets agree with sklearn except at ties or
    near-ties below float32 resolution. Following sklearn, ``kneighbors(X=None)`` queries the
    training points and excludes each point from its own neighbours.

    Attributes
    ----------
    n_samples_fit_ : int
        Number of training points.
    n_features_in_ : int
        Dimension of the training points.
    backend_ : str
        ``"faiss-cpu"``, ``"faiss-gpu"`` or ``"sklearn"``.
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "use_gpu": [StrOptions({"auto"}), "boolean"],
    }

    def __init__(self, n_neighbors: int = 5, *, use_gpu: str | bool = "auto") -> None:
        self.n_neighbors = n_neighbors
        self.use_gpu = use_gpu

    def fit(self, X: Any, y: Any = None) -> FaissNearestNeighbors:
        """Index the training points ``X`` (n_samples, n_features); ``y`` is ignored."""
        self._validate_params()
        if sparse.issparse(X):
            X = X.toarray()
        X = check_array(X, dtype=[np.float64, np.float32])
        self._fit_X = X
        self.n_samples_fit_ = int(X.shape[0])
        self.n_features_in_ = int(X.shape[1])
        gpu = faiss_gpu_available()
        if self.use_gpu is True and not gpu:
            raise RuntimeError(
                "use_gpu=True but faiss has no GPU support or no CUDA device is visible; "
                "install faiss-gpu or pass use_gpu='auto'."
            )
        if faiss is None:
            self._index = NearestNeighbors(algorithm="brute").fit(X)
            self.backend_ = "sklearn"
            return self
        index = faiss.IndexFlatL2(self.n_features_in_)
        if gpu and self.use_gpu is not False:
            device = _gpu_device()
            self._gpu_resources = _gpu_resources(device)
            index = faiss.index_cpu_to_gpu(self._gpu_resources, device, index)
            self.backend_ = "faiss-gpu"
        else:
            self.backend_ = "faiss-cpu"
        index.add(np.ascontiguousarray(X, dtype=np.float32))
        self._index = index
        return self

    def _search(self, Q: np.ndarray, k: int) -> np.ndarray:
        """Indices of the ``k`` nearest training points of each row of ``Q`` (sorted)."""
        if self.backend_ == "sklearn":
            return self._index.kneighbors(Q, n_neighbors=k, return_distance=False)
        # faiss-gpu caps k at 2048; beyond that (rare) use the exact CPU scan of sklearn.
        if self.backend_ == "faiss-gpu" and k > 2048:
            nn = NearestNeighbors(algorithm="brute").fit(self._fit_X)
            return nn.kneighbors(Q, n_neighbors=k, return_distance=False)
        _, ind = self._index.search(np.ascontiguousarray(Q, dtype=np.float32), k)
        return ind.astype(np.intp, copy=False)

    def _refine(self, Q: np.ndarray, ind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact distances from each query to its candidates, candidates re-sorted by them."""
        dist = np.empty(ind.shape, dtype=np.result_type(Q.dtype, self._fit_X.dtype))
        block = max(1, _REFINE_ELEMENTS // max(1, ind.shape[1] * Q.shape[1]))
        for start in range(0, len(Q), block):
            sl = slice(start, start + block)
            diff = self._fit_X[ind[sl]] - Q[sl, None, :]
            dist[sl] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
        order = np.argsort(dist, axis=1, kind="stable")
        return np.take_along_axis(dist, order, 1), np.take_along_axis(ind, order, 1)

    def kneighbors(
        self, X: Any = None, n_neighbors: int | None = None, return_distance: bool = True
    ) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
        """Distances and indices of the ``n_neighbors`` nearest training points (sklearn's API).

        ``X=None`` queries the training points themselves, each excluded from its own list.
        """
        check_is_fitted(self, "n_samples_fit_")
        if n_neighbors is None:
            n_neighbors = self.n_neighbors
        if not isinstance(n_neighbors, numbers.Integral) or n_neighbors <= 0:
            raise ValueError(f"Expected n_neighbors > 0. Got {n_neighbors}")
        n_neighbors = int(n_neighbors)
        query_is_train = X is None
        if query_is_train:
            Q = self._fit_X
            n_search = n_neighbors + 1
        else:
            if sparse.issparse(X):
                X = X.toarray()
            Q = check_array(X, dtype=[np.float64, np.float32])
            if Q.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {Q.shape[1]} features, but FaissNearestNeighbors is expecting "
                    f"{self.n_features_in_} features as input"
                )
            n_search = n_neighbors
        if n_search > self.n_samples_fit_:
            raise ValueError(
                f"Expected n_neighbors <= n_samples_fit, but n_neighbors = {n_search}, "
                f"n_samples_fit = {self.n_samples_fit_}, n_samples = {Q.shape[0]}"
            )
        dist, ind = self._refine(Q, self._search(Q, n_search))
        if query_is_train:
            # sklearn's rule: drop the query point itself; if duplicates pushed it out of the
            # candidate list, drop the last candidate instead.
            rows = np.arange(len(Q))
            is_self = ind == rows[:, None]
            drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), n_search - 1)
            keep = np.ones(ind.shape, dtype=bool)
            keep[rows, drop] = False
            ind = ind[keep].reshape(len(Q), n_neighbors)
            dist = dist[keep].reshape(len(Q), n_neighbors)
        return (dist, ind) if return_distance else ind

    def kneighbors_graph(
        self, X: Any = None, n_neighbors: int | None = None, mode: str = "connectivity"
    ) -> sparse.csr_matrix:
        """Sparse (n_queries, n_samples_fit) graph of the k nearest neighbours (sklearn's API)."""
        if mode not in ("connectivity", "distance"):
            raise ValueError(
                f'Unsupported mode, must be one of "connectivity", or "distance" but got "{mode}"'
            )
        dist, ind = self.kneighbors(X, n_neighbors, return_distance=True)
        n_queries, k = ind.shape
        data = np.ones(n_queries * k) if mode == "connectivity" else dist.ravel()
        indptr = np.arange(0, n_queries * k + 1, k)
        return sparse.csr_matrix(
            (data, ind.ravel(), indptr), shape=(n_queries, self.n_samples_fit_)
        )
