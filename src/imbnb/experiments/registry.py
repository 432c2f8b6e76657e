"""Every method of the book behind one call: ``run_config(cfg) -> metrics row`` (chapter 8).

Method families and the functions they call (the chapters call the same ones, with the same
cache keys, so a sweep reuses a chapter's trained networks when settings coincide):

* feature space (chapter 3): :func:`imbnb.methods.train_extractor` (the CNN trained with the
  thesis's weighted cross-entropy) then :func:`imbnb.methods.feature_space.run_method`;
* loss-based (chapter 9): :func:`imbnb.methods.losses_baselines.train_with_loss`;
* DOS (chapter 4): :func:`imbnb.methods.dos.run_dos`;
* generative (chapters 6-7): :func:`imbnb.methods.deepsmote.run_generative`;
* GAMO (chapter 5): :func:`imbnb.methods.gamo.train_gamo` on the run's split (``GAMO-noD`` is
  the paper's GAMO\\D, ``GAMO-CN`` / ``GAMO-SMOTE+CN`` its baseline networks);
* a reader's estimator (:func:`imbnb.experiments.register_estimator`): ``fit`` on the run's
  training images, ``predict`` its test images.

Every method has one name, registered once in :mod:`imbnb.methods.catalog` (the one registry)
by its family's module; this module adds each family's adapter (:data:`ADAPTERS`) and reads the
names from there (:data:`METHODS`, :data:`FAMILIES` are live views, so a method registered later
runs too). The loss family's plain CNNs are ``CNN-CE`` and ``CNN-CW``, the generative family's
pixel classifier without oversampling ``MLP-pixels``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

import imbnb
from imbnb.cache import canonical_config, config_hash
from imbnb.data import load_dataset
from imbnb.experiments.config import RunConfig
from imbnb.experiments.splits import run_split
from imbnb.experiments.validation import validation_dataset
from imbnb.methods import catalog
from imbnb.methods.deepsmote import GenerativeRun, method_ae_config, run_generative
from imbnb.methods.dos import INIT_METHODS, DOSConfig, init_rows, run_dos
from imbnb.methods.extractor import ExtractorSettings, train_extractor
from imbnb.methods.feature_space import HeadSettings, run_method
from imbnb.methods.gamo import method_config, method_data, train_gamo
from imbnb.methods.losses_baselines import LossRun, LossRunSettings, method_row, train_with_loss
from imbnb.metrics import evaluate
from imbnb.train import get_device, gpu_name, torch_threads

__all__ = [
    "ADAPTERS",
    "FAMILIES",
    "METHODS",
    "SETTINGS",
    "dos_config",
    "extractor_settings",
    "family_of",
    "loss_network",
    "loss_settings",
    "needs_gpu",
    "run_config",
    "settings_of",
    "shared_key",
    "split_images",
]

#: Each family's settings (the keys a config's ``params`` may hold) and the value a run uses
#: when its config leaves one out: the one place these defaults live. ``_OWN``: the method's
#: own default (GAMO's settings depend on the variant; see imbnb.methods.gamo.method_config).
_OWN = object()


def _defaults(cls: type, *names: str) -> dict[str, Any]:
    """The defaults of some fields of a method's settings class: read, not restated, so a
    default lives where the method is written."""
    by_name = {f.name: f.default for f in fields(cls)}
    return {name: by_name[name] for name in names}


SETTINGS: dict[str, dict[str, Any]] = {
    "feature_space": {  # chapter 3: the thesis's extractor (weighted CE) and MLP head
        **_defaults(ExtractorSettings, "epochs", "batch_size", "lr"),
        "extractor_weight": "balanced",  # the family's own: the thesis weights its extractor
        "rho_d": 1.0, "head": None,  # ADOS Alg. 5's full balance; the head's own defaults
    },
    "losses": {**_defaults(LossRunSettings, "epochs", "batch_size", "lr"),
               "tau": 1.0, "loss_params": None},  # logit adjustment's tau (Menon et al.)
    # DOS paper, §4; k_majority and r: its balanced runs (Table 8: k for every class, r = 1)
    "dos": _defaults(DOSConfig, "k", "rounds", "init_epochs", "batch_size", "k_majority", "r"),
    "generative": {"ae": None, "classifier": None, "sampler_params": None},
    "gamo": {k: _OWN for k in ("loss", "variant", "steps", "batch_size", "lr")},
    "estimator": {},  # a reader's estimator holds its own settings
}  # fmt: skip
#: DOS's initial CNN alone (the DOS-init methods) runs no round: only these settings apply.
_INIT_SETTINGS = ("init_epochs", "batch_size")
_UNUSED = {m: ("k", "rounds", "k_majority", "r") for m in INIT_METHODS}


def settings_of(cfg: RunConfig) -> dict[str, Any]:
    """The config's params over its family's defaults; an unknown setting is refused, naming
    the allowed ones (a grid is checked this way before anything runs)."""
    allowed = SETTINGS[family_of(cfg.method)]
    unknown = sorted(set(cfg.params) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown setting(s) {unknown} for method {cfg.method!r}; allowed: {', '.join(allowed)}"
        )
    unused = sorted(set(cfg.params) & set(_UNUSED.get(cfg.method, ())))
    if unused:
        raise ValueError(
            f"setting(s) {unused} do not apply to method {cfg.method!r} (it trains no DOS, "
            f"so one run would go by two hashes); allowed: {', '.join(_INIT_SETTINGS)}"
        )
    merged = {**allowed, **cfg.params}
    return {k: v for k, v in merged.items() if v is not _OWN}


_NAN = float("nan")


def _cost(network: float, method: float) -> dict[str, float]:
    """A row's measured cost in two parts (chapter 8's cost plot).

    ``network_seconds``: training the network the method builds on (extractor, DOS CNN, loss
    CNN, autoencoder, GAMO), as measured when it was trained, even if this run read it from the
    cache; ``method_seconds``: the method's own steps on top (resampling, head, scoring).
    """
    return {"network_seconds": float(network), "method_seconds": float(method)}


def extractor_settings(cfg: RunConfig) -> ExtractorSettings:
    """The extractor a feature-space config trains (weighted CE by default, thesis §4.2.1)."""
    p = settings_of(cfg)
    return ExtractorSettings(
        protocol="minority",
        ratio=cfg.ratio,
        n_minority=cfg.n_minority,
        minority_classes=cfg.minority_classes,
        seed=cfg.seed,
        epochs=p["epochs"],
        batch_size=p["batch_size"],
        lr=p["lr"],
        class_weight=p["extractor_weight"],
        n_train=cfg.n_train,
        n_test=cfg.n_test,
    )


def _feature_space(cfg: RunConfig) -> dict[str, Any]:
    """Extractor + resampling in its feature space + MLP head."""
    p = settings_of(cfg)
    head = HeadSettings(cfg.seed, cfg.ratio, p["rho_d"], p["head"] or None)
    ex = train_extractor(cfg.dataset, extractor_settings(cfg))
    row = run_method(cfg.method, ex, head)
    return {**row, **_cost(ex.history.get("seconds", _NAN), row["seconds"])}


def loss_settings(cfg: RunConfig) -> LossRunSettings:
    """The network a loss-family config trains: its split, loss, knobs and training settings."""
    spec = catalog.get(cfg.method, "losses").spec
    p = settings_of(cfg)
    own = p["loss_params"]  # the loss's own knobs (gamma, beta, max_m, tau, ...)
    settings = LossRunSettings(
        loss_params={spec.loss: own} if own else None,
        protocol=cfg.protocol,  # the thesis's minority protocol or the loss papers' long tail
        ratio=cfg.ratio,
        seed=cfg.seed,
        n_minority=cfg.n_minority,
        minority_classes=cfg.minority_classes,
        lt_preset=cfg.lt_preset,
        lt_rho_prime=cfg.lt_rho_prime,
        epochs=p["epochs"],
        batch_size=p["batch_size"],
        lr=p["lr"],
        n_train=cfg.n_train,
        n_test=cfg.n_test,
    )
    return spec.settings(settings)


def loss_network(cfg: RunConfig) -> LossRun:
    """The trained network (test logits, split) behind a loss-family row, from the cache or
    trained as a sweep trains it (one thread), for a figure a row's numbers cannot draw."""
    with torch_threads(1):
        return train_with_loss(loss_settings(cfg), cfg.dataset)


def _losses(cfg: RunConfig) -> dict[str, Any]:
    """A CNN trained end to end with one of chapter 9's losses."""
    spec = catalog.get(cfg.method, "losses").spec
    run = train_with_loss(loss_settings(cfg), cfg.dataset)
    start = time.perf_counter()
    row = method_row(spec.name, run, tau=settings_of(cfg)["tau"])
    row["method"] = cfg.method
    return {**row, **_cost(run.history.get("seconds", _NAN), time.perf_counter() - start)}


def dos_config(cfg: RunConfig) -> DOSConfig:
    """The DOS settings of a run config (k, rounds, initialisation, batch, the majority's k and
    the minority's r from params)."""
    p = settings_of(cfg)
    return DOSConfig(
        cfg.dataset,
        protocol="minority",
        ratio=cfg.ratio,
        n_minority=cfg.n_minority,
        minority_classes=cfg.minority_classes,
        seed=cfg.seed,
        k=p["k"],
        rounds=p["rounds"],
        init_epochs=p["init_epochs"],
        batch_size=p["batch_size"],
        k_majority=p["k_majority"],
        r=p["r"],
        n_train=cfg.n_train,
        n_test=cfg.n_test,
    )


def _dos(cfg: RunConfig) -> dict[str, Any]:
    """Deep over-sampling and its own or LR / kNN predictions; the ``DOS-init`` methods score
    its initial CNN alone (the paper's CNN baselines)."""
    config = dos_config(cfg)
    if cfg.method in INIT_METHODS:
        ex, rows = init_rows(config)
        row = {r["method"]: r for r in rows}[INIT_METHODS[cfg.method]]
        network = ex.history.get("seconds", _NAN)
    else:
        run = run_dos(config)
        row = {r["method"]: r for r in run.rows()}[cfg.method]
        network = run.extractor.history.get("seconds", _NAN) + run.dos.seconds_  # CNN + DOS
    return {**row, "method": cfg.method, **_cost(network, row.get("seconds", _NAN))}


def _generative(cfg: RunConfig) -> dict[str, Any]:
    """An autoencoder, oversampling in its latent space, an MLP on the balanced images."""
    train, test = load_dataset(cfg.dataset, "train"), load_dataset(cfg.dataset, "test")
    s = run_split(cfg, train, test)
    p = settings_of(cfg)
    ae, clf, sp = p["ae"], p["classifier"], p["sampler_params"]
    # the counts protocol keeps chapter 6's rule (10 n_c < n_max), and its cache entries
    minority = s["minority_classes"] if cfg.protocol == "minority" else None
    row = run_generative(
        cfg.method,
        train.subset(s["train_indices"]),
        test.subset(s["test_indices"]),
        GenerativeRun(seed=cfg.seed, ae=ae, classifier=clf, sampler_params=sp, minority=minority),
    )
    row["method"] = cfg.method
    shared = row.get("seconds_ae_train", _NAN) if "seconds_ae" in row else 0.0  # 0: no AE
    return {**row, **_cost(shared, row["seconds"] - row.get("seconds_ae", 0.0))}


@dataclass(frozen=True)
class _SplitImages:
    """A run's training and test images and labels, as its split selects them."""

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    minority: list[int]
    n_classes: int


def split_images(cfg: RunConfig) -> _SplitImages:
    """The run's split of its dataset's images (uint8, (n, C, H, W)) and labels."""
    train, test = load_dataset(cfg.dataset, "train"), load_dataset(cfg.dataset, "test")
    s = run_split(cfg, train, test)
    tr, te = s["train_indices"], s["test_indices"]
    return _SplitImages(
        train.images[tr], train.labels[tr], test.images[te], test.labels[te],
        s["minority_classes"], train.n_classes,
    )  # fmt: skip


def _scored(cfg: RunConfig, d: _SplitImages, predict: Callable, fit_seconds: float) -> dict:
    """The row of a model trained on ``d``: its test predictions scored, its two costs."""
    start = time.perf_counter()
    report = evaluate(
        d.y_test,
        predict(d.X_test),
        labels=list(range(d.n_classes)),
        minority=d.minority or None,
    )
    return {
        "method": cfg.method,
        "seconds": fit_seconds,
        **report.to_row(),
        **_cost(fit_seconds, time.perf_counter() - start),
    }


def _gamo(cfg: RunConfig) -> dict[str, Any]:
    """GAMO (chapter 5) or its ablations on the run's split: train on it, score the test set."""
    d = split_images(cfg)
    settings = settings_of(cfg)  # only what the config sets: method_config has the rest
    model_cfg = method_config(cfg.method, seed=cfg.seed, **settings)
    Xm, ym = method_data(cfg.method, d.X, d.y, cfg.seed)
    model = train_gamo(Xm, ym, model_cfg)
    return _scored(cfg, d, model.predict, model.seconds_)


def _estimator(cfg: RunConfig) -> dict[str, Any]:
    """A reader's estimator (:func:`imbnb.experiments.register_estimator`) on the run's split."""
    d = split_images(cfg)
    estimator = catalog.get(cfg.method, "estimator").spec(cfg.seed)
    start = time.perf_counter()
    fitted = estimator.fit(d.X, d.y)
    model = estimator if fitted is None else fitted  # sklearn's fit returns self
    return _scored(cfg, d, model.predict, time.perf_counter() - start)


#: Family name -> the adapter that runs one of its configs.
ADAPTERS: dict[str, Callable[[RunConfig], dict[str, Any]]] = {
    "feature_space": _feature_space,
    "losses": _losses,
    "dos": _dos,
    "generative": _generative,
    "gamo": _gamo,
    "estimator": _estimator,
}


class _Families(Mapping[str, tuple[tuple[str, ...], Callable[[RunConfig], dict[str, Any]]]]):
    """Family -> (its methods' names, its adapter), read live from the one registry."""

    def __getitem__(self, family: str) -> tuple[tuple[str, ...], Callable[..., dict[str, Any]]]:
        return catalog.names(family), ADAPTERS[family]

    def __iter__(self) -> Iterator[str]:
        return iter(ADAPTERS)

    def __len__(self) -> int:
        return len(ADAPTERS)


class _Methods(Mapping[str, str]):
    """Method name -> its family, read live from the one registry (:mod:`imbnb.methods.catalog`)."""

    def __getitem__(self, name: str) -> str:
        method = catalog.REGISTRY.get(name) if isinstance(name, str) else None
        if method is None:
            raise KeyError(name)
        return method.family

    def __iter__(self) -> Iterator[str]:
        return iter(catalog.names())

    def __len__(self) -> int:
        return len(catalog.REGISTRY)


FAMILIES: Mapping[str, tuple[tuple[str, ...], Callable[[RunConfig], dict[str, Any]]]] = _Families()
METHODS: Mapping[str, str] = _Methods()
#: The protocols each family runs on (the rest: minority and counts).
_PROTOCOLS_OF = {
    "feature_space": ("minority",),
    "dos": ("minority",),
    "losses": ("minority", "longtail"),
}


def family_of(method: str) -> str:
    """The family a method belongs to, or a ValueError listing every method."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; allowed: {sorted(METHODS)}")
    return METHODS[method]


def needs_gpu(method: str) -> bool:
    """Whether a run trains a network, so a Ray task asks for a GPU share when there is one.

    Every family does; how large a share is the sweep's ``gpus_per_run`` (a fraction lets
    several small trainings share one GPU, which a launch-bound network needs).
    """
    family_of(method)
    return True


def _shared_part(cfg: RunConfig) -> Any:
    """What of a config names the network it trains, beside the split (see :func:`shared_key`)."""
    family, p = family_of(cfg.method), dict(cfg.params)
    if family == "feature_space":  # one extractor serves every method of a split
        return {k: v for k, v in p.items() if k not in ("rho_d", "head")}
    if family == "dos":  # one DOS training serves DOS, DOS-LR and DOS-kNN
        return p
    if family == "losses":  # LogitAdj-posthoc re-uses CNN-CE's network
        spec = catalog.get(cfg.method, "losses").spec
        return {
            "loss": spec.loss,
            "head": spec.head,
            "balanced": spec.balanced_batches,
            **{k: v for k, v in p.items() if k != "tau"},
        }
    if family == "generative":  # DeepADASYN, DeepDenoising(SMOTE, +WC): one denoising AE
        ae = method_ae_config(cfg.method, p.get("ae") or {}, cfg.seed)
        return {"method": cfg.method} if ae is None else ae.to_dict()
    return {"method": cfg.method, **p}  # GAMO trains a network per method


def shared_key(cfg: RunConfig) -> str:
    """A key shared by the configs that train the same network (an extractor, an autoencoder).

    A sweep runs configs with one key one after another, so two workers never train the same
    cached network at once: the second finds it in the cache.
    """
    split = {k: v for k, v in cfg.to_dict().items() if k not in ("method", "params")}
    return config_hash(
        {"family": family_of(cfg.method), "split": split, "shared": _shared_part(cfg)}
    )


def run_config(cfg: RunConfig) -> dict[str, Any]:
    """Run one config and return its metrics row with identity, wall time, device and version.

    Runs are single-threaded on the CPU, so the inline, process-pool and Ray backends give
    identical rows (torch's float reductions depend on the thread count); a sweep gets its
    parallelism from running several configs side by side.
    """
    family = family_of(cfg.method)
    allowed = _PROTOCOLS_OF.get(family, ("minority", "counts"))
    if cfg.protocol not in allowed:
        raise ValueError(
            f"method {cfg.method!r} ({family}) runs on protocol {' or '.join(map(repr, allowed))}"
            f", not {cfg.protocol!r}"
        )
    start = time.perf_counter()
    inner, extra = validation_dataset(cfg) if cfg.validation else (cfg, {})
    with torch_threads(1):  # same numbers on every backend: float sums depend on threads
        row = ADAPTERS[family](inner)
    fields = cfg.row_fields()
    if "n_train" in row:  # the images the method trained on, not the config's n_train
        row["train_size"] = row.pop("n_train")
    out = {
        "config_hash": cfg.key(),
        **fields,
        "params": imbnb_json(cfg.params),
        "family": family,
        **{k: v for k, v in row.items() if k not in fields},  # the config's fields stay as set
        **extra,
        "evaluated_on": "validation" if cfg.validation else "test",  # what the metrics score
        "wall_seconds": time.perf_counter() - start,
        "device": str(get_device()),  # where its networks trained: the device is in cache keys
        "gpu": gpu_name(),  # the GPU model (None on the CPU)
        "imbnb_version": imbnb.__version__,
    }
    return out


def imbnb_json(obj: Any) -> str:
    """Compact canonical JSON of a settings dict (a string column in the results table)."""
    return json.dumps(canonical_config(obj), sort_keys=True, separators=(",", ":"))
