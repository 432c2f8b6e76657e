"""GAMO's protocol (chapter 5 and the experiment registry): named methods, caching, SMOTE+CN.

The algorithm is :class:`imbnb.estimators.gamo.GAMO` (with GAMO\\D and the baselines as
settings) and :class:`imbnb.estimators.gamo2pix.GAMO2pix`; this module runs them the way the
book does: :class:`GAMOConfig` is the settings plus the seed and, with the data's fingerprint,
the cache key; :func:`train_gamo` and :func:`train_gamo2pix` train once and load afterwards;
:data:`METHODS` names the four systems of the paper's Table 1 (GAMO-CN, GAMO-SMOTE+CN, GAMO-noD,
GAMO: the paper's CN, SMOTE+CN, GAMO\\D, GAMO), GAMO-SMOTE+CN being CN on a training set
balanced by :func:`smote_balance` (:func:`method_data`). The chapter's figure code is in
:mod:`imbnb.book.gamo_chapter`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import torch

from imbnb.cache import Cache, cached_state_dict
from imbnb.estimators._gamo_modules import (
    Classifier,
    ConvexGenerator,
    ConvExtractor,
    Discriminator,
    GAMONet,
    d_loss,
    fake_label_probs,
    g_loss_d,
    g_loss_m,
    label_rows,
    m_loss,
    sample_fake_labels,
)
from imbnb.estimators.gamo import GAMO, GAMOSettings
from imbnb.estimators.gamo2pix import GAMO2pix, PixVAE
from imbnb.methods import catalog
from imbnb.oversample import SMOTE

__all__ = [
    "GAMO",
    "GAMO2pix",
    "GAMOConfig",
    "GAMONet",
    "GAMOSettings",
    "METHODS",
    "GAMOMethod",
    "Classifier",
    "ConvExtractor",
    "ConvexGenerator",
    "Discriminator",
    "PixVAE",
    "config_with",
    "d_loss",
    "data_fingerprint",
    "fake_label_probs",
    "g_loss_d",
    "g_loss_m",
    "label_rows",
    "m_loss",
    "method_config",
    "method_data",
    "nearest_other_distance",
    "sample_fake_labels",
    "smote_balance",
    "train_gamo",
    "train_gamo2pix",
]

CACHE_KIND = "gamo"
PIX_CACHE_KIND = "gamo2pix"


@dataclass(frozen=True)
class GAMOConfig(GAMOSettings):
    """Every knob of one GAMO (or ablation) run; its dict is the cache key with the data's hash."""

    seed: int = 0  # seeds initialisation, batches, z and fake labels

    def settings(self) -> GAMOSettings:
        """The algorithm's settings, without the seed (the estimator's ``random_state``)."""
        return GAMOSettings(**{f.name: getattr(self, f.name) for f in fields(GAMOSettings)})


@dataclass(frozen=True)
class GAMOMethod:
    """One system of the paper's Table 1: its changes to :class:`GAMOConfig`, and whether CN
    trains on a SMOTE-balanced set (the paper's SMOTE+CN)."""

    changes: Mapping[str, Any]
    smote_first: bool = False


for _name, _paper, _what, _method in [
    ("GAMO-CN", "CN", "the classifier network alone (GAMO's baseline)",
     GAMOMethod({"generator": None, "discriminator": False})),
    ("GAMO-SMOTE+CN", "SMOTE+CN", "CN on a SMOTE-balanced training set",
     GAMOMethod({"generator": None, "discriminator": False}, smote_first=True)),
    ("GAMO-noD", "GAMO\\D", "GAMO without its discriminator (the paper's GAMO\\D ablation)",
     GAMOMethod({"generator": "convex", "discriminator": False})),
    ("GAMO", "GAMO", "generative adversarial minority oversampling (Mullick et al. 2019, Alg. 1)",
     GAMOMethod({"generator": "convex", "discriminator": True})),
]:  # fmt: skip
    catalog.register(catalog.Method(_name, "gamo", _what, _method, paper_name=_paper))
#: GAMO's tuning budget in chapter 8 (issue 25): its loss, cross-entropy (eqs. 2-3) or least
#: squares (eqs. 4-6, both in the paper's Table 1), x Adam's learning rate (the paper's 2e-4,
#: which it defers to its supplement, or 1e-3).
catalog.declare_family(
    "gamo", [{"loss": lo, "lr": lr} for lo in ("ls", "ce") for lr in (2e-4, 1e-3)]
)
#: Name -> :class:`GAMOMethod`: the GAMO part of :data:`imbnb.methods.catalog.REGISTRY`, in the
#: order of the chapter's Table 1 (``paper_name`` there is what the paper's table calls each).
METHODS: Mapping[str, GAMOMethod] = catalog.specs("gamo")


def method_config(method: str, **kw: Any) -> GAMOConfig:
    """The :class:`GAMOConfig` of a named method of :data:`METHODS` with extra settings."""
    return GAMOConfig(**{**catalog.get(method, "gamo").spec.changes, **kw})


def method_data(method: str, X: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """The training set ``method`` learns from: SMOTE-balanced for GAMO-SMOTE+CN, else as is."""
    return (
        smote_balance(X, y, seed=seed) if catalog.get(method, "gamo").spec.smote_first else (X, y)
    )


def config_with(config: GAMOConfig, **changes: Any) -> GAMOConfig:
    """A copy of ``config`` with some fields changed (``dataclasses.replace``)."""
    return replace(config, **changes)


def data_fingerprint(*arrays: np.ndarray) -> str:
    """Short sha256 of arrays' shapes, dtypes and bytes (the data part of a cache key)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _cached(
    kind: str,
    key: Mapping[str, Any],
    compute: Callable[[], dict[str, Any]],
    cache: Cache | bool,
) -> tuple[dict[str, Any], bool]:
    """The stored state dict under ``(kind, key)`` or ``compute()``'s, and whether it was stored."""
    store = cache if isinstance(cache, Cache) else None
    hit = Cache(store.root if store else None).has(kind, key, "state_dict")
    return dict(cached_state_dict(kind, key, compute, cache=store)), hit


def train_gamo(
    X: np.ndarray,
    y: np.ndarray,
    config: GAMOConfig,
    *,
    cache: Cache | bool | None = True,
    device: str | torch.device | None = None,
    threads: int | None = 1,
) -> GAMO:
    """A fitted :class:`GAMO` (or baseline/ablation) for ``config`` on ``X``, ``y``.

    ``X``: uint8 images (N, C, H, W) (scaled by 1/255), or float arrays (the flattened variant
    accepts any shape). ``y``: labels 0..C-1, every class present. With ``cache`` the trained
    weights are stored under the config plus the data's fingerprint, so a second call with the
    same arguments loads instead of training (``from_cache_`` says which; ``seconds_`` is the
    training time either way). ``threads`` caps torch's CPU threads while training (restored
    afterwards): batches of 32 gain nothing from more, and on a busy machine extra threads are
    much slower.
    """
    est = GAMO(config.settings(), random_state=config.seed, device=device, threads=threads)
    est.from_cache_ = False
    if cache is False or cache is None:
        return est.fit(X, y)

    def compute() -> dict[str, Any]:
        est.fit(X, y)
        sd = {k: v.cpu() for k, v in est.net_.state_dict().items()}
        sd["_seconds"] = torch.tensor(est.seconds_, dtype=torch.float64)
        return sd

    y64 = np.asarray(y, dtype=np.int64)
    key = {**config.to_dict(), "data": data_fingerprint(np.asarray(X), y64)}
    sd, hit = _cached(CACHE_KIND, key, compute, cache)
    if hit:
        seconds = float(sd.pop("_seconds"))
        est.set_state(X, y, sd)
        est.seconds_, est.from_cache_ = seconds, True
    return est


def train_gamo2pix(
    model: GAMO,
    images: np.ndarray,
    *,
    steps: int = 500,
    batch_size: int = 32,
    latent: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    cache: Cache | bool | None = True,
) -> GAMO2pix:
    """One class's fitted :class:`GAMO2pix` on its real images (uint8, N x C x 28 x 28), the
    GAMO's F frozen (§5); with ``cache`` stored under the settings, F's weights and the images.
    """
    pix = GAMO2pix(
        model, latent=latent, steps=steps, batch_size=batch_size, lr=lr, random_state=seed
    )
    images = np.asarray(images)
    if cache is False or cache is None:
        return pix.fit(images)

    def compute() -> dict[str, Any]:
        pix.fit(images)
        return {k: v.cpu() for k, v in pix.vae_.state_dict().items() if not k.startswith("F.")}

    f_sd = {k: v.cpu() for k, v in model.net_.F.state_dict().items()}
    key = {
        "steps": steps,
        "batch_size": batch_size,
        "latent": latent,
        "lr": lr,
        "seed": seed,
        "F": data_fingerprint(*[t.numpy() for t in f_sd.values()]),
        "data": data_fingerprint(images),
    }
    sd, hit = _cached(PIX_CACHE_KIND, key, compute, cache)
    return pix.set_state(images, sd) if hit else pix


# --------------------------------------------------------------------------------------------
# SMOTE+CN and analysis helpers


def smote_balance(
    X: np.ndarray, y: np.ndarray, k: int = 5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Balance ``X`` (any shape) with SMOTE in the flattened space (SMOTE+CN); uint8 stays uint8."""
    y = np.asarray(y)
    k = max(1, min(k, int(np.bincount(y)[np.bincount(y) > 0].min()) - 1))
    flat = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
    Xr, yr = SMOTE(k_neighbors=k, random_state=seed).fit_resample(flat, y)
    Xr = np.asarray(Xr).reshape(-1, *np.shape(X)[1:])
    if np.asarray(X).dtype == np.uint8:
        Xr = np.clip(np.rint(Xr), 0, 255).astype(np.uint8)
    return Xr, np.asarray(yr, dtype=np.int64)


def nearest_other_distance(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distance from each row of ``points`` to its nearest row of ``reference``."""
    p = torch.from_numpy(np.asarray(points, dtype=np.float32))
    r = torch.from_numpy(np.asarray(reference, dtype=np.float32))
    return torch.cat(
        [torch.cdist(p[i : i + 512], r).min(1).values for i in range(0, len(p), 512)]
    ).numpy()
