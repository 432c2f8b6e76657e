"""Loss-based baselines trained end to end on an imbalanced split (chapter "Changing the loss").

Instead of oversampling in feature space, these baselines change the CNN's training objective
(:mod:`imbnb.losses`) or its mini-batches (:class:`imbnb.batches.BalancedBatchSampler`), or
correct its logits after training (Menon et al. 2021's post-hoc logit adjustment). Every method
trains the same network under the same protocol as the feature-space methods of chapter 3:

* ``protocol="minority"``: the ADOS thesis protocol (4 minority classes cut to
  ``ceil(n_max / rho)``, :func:`imbnb.imbalance.make_imbalanced`);
* ``protocol="longtail"``: the exponential long-tail profile of the loss papers (Cao et al.
  2019), with ``lt_preset="fashion_mnist_lt"`` (6000 per class at the head) or, with
  ``lt_preset=None``, the head class as large as the capped training pool allows; minority
  classes by the ADOS thesis's Definition 1.3 with ``lt_rho_prime``.

* :data:`LOSS_METHODS` names the methods (``BL``, ``BL+CW``, ``Focal``, ``CB``, ``LDAM-DRW``,
  ``LogitAdj``, ``LogitAdj-posthoc``, ``BalancedSoftmax``, ``BL+balanced-sampler``);
* :func:`train_with_loss` trains (or loads from the cache) one network and returns its test
  logits; :func:`method_row` scores one method as a flat metric row;
* :func:`run_loss_grid` runs methods x ratios x seeds, one row per run.

The cache stores each trained network's test logits and history under a key made of every
training parameter and the data's fingerprints; post-hoc adjustment reuses the ``BL`` network.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from imbnb.cache import Cache
from imbnb.data import ImageDataset, load_dataset
from imbnb.imbalance import ImbalancedSplit, make_imbalanced, select_test
from imbnb.losses import posthoc_logit_adjust
from imbnb.methods.extractor import cap_per_class
from imbnb.metrics import evaluate

__all__ = [
    "CACHE_KIND",
    "DEFAULT_LOSS_PARAMS",
    "LOSS_METHODS",
    "LossMethod",
    "LossRun",
    "make_split",
    "method_row",
    "run_loss_grid",
    "train_with_loss",
]

CACHE_KIND = "loss_baseline"
PROTOCOLS = ("minority", "longtail")


@dataclass(frozen=True)
class LossMethod:
    """One loss-based method: which loss trains the CNN, with which head and batches."""

    name: str
    description: str
    loss: str  # a key of imbnb.losses.LOSSES
    head: str = "linear"  # "cosine" for LDAM (Cao et al. train it with a normalised head)
    balanced_batches: bool = False  # class-balanced mini-batches instead of shuffling
    posthoc: bool = False  # argmax(logits - tau log pi) of the network trained with `loss`


#: The compared methods, by display name (the first two are chapter 3's BL and BL+CW CNNs).
LOSS_METHODS: dict[str, LossMethod] = {
    m.name: m
    for m in (
        LossMethod("BL", "cross-entropy", "ce"),
        LossMethod("BL+CW", "cross-entropy, Algorithm 2 class weights", "weighted_ce"),
        LossMethod("Focal", "focal loss (Lin et al. 2017)", "focal"),
        LossMethod("CB", "class-balanced CE, effective numbers (Cui et al. 2019)", "cb"),
        LossMethod(
            "LDAM-DRW", "LDAM + deferred re-weighting (Cao et al. 2019)", "ldam_drw", head="cosine"
        ),
        LossMethod("LogitAdj", "logit-adjusted loss (Menon et al. 2021)", "logit_adjusted"),
        LossMethod(
            "LogitAdj-posthoc",
            "BL + post-hoc logit adjustment (Menon et al. 2021)",
            "ce",
            posthoc=True,
        ),
        LossMethod("BalancedSoftmax", "balanced softmax (Ren et al. 2020)", "balanced_softmax"),
        LossMethod(
            "BL+balanced-sampler",
            "cross-entropy on class-balanced batches",
            "ce",
            balanced_batches=True,
        ),
    )
}

#: Hyper-parameters per loss name, as in the papers (LDAM's DRW epoch defaults to 0.8 epochs).
DEFAULT_LOSS_PARAMS: dict[str, dict[str, Any]] = {
    "focal": {"gamma": 2.0},
    "cb": {"beta": 0.9999},
    "ldam_drw": {"max_m": 0.5, "s": 30.0, "beta": 0.9999},
    "logit_adjusted": {"tau": 1.0},
}


@dataclass
class LossRun:
    """A trained network's test logits, with the split it was trained on and its history."""

    config: dict[str, Any]
    split: ImbalancedSplit
    train_counts: np.ndarray  # training images per class (length C)
    y_test: np.ndarray
    logits_test: np.ndarray  # float32 (n_test, C)
    history: dict[str, Any] = field(default_factory=dict)
    from_cache: bool = False


def _method(name: str) -> LossMethod:
    """The registered method ``name``, or a ValueError listing the names."""
    if name not in LOSS_METHODS:
        raise ValueError(f"unknown method {name!r}; allowed: {list(LOSS_METHODS)}")
    return LOSS_METHODS[name]


def _params_for(loss: str, loss_params: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """Paper defaults for ``loss`` updated by the caller's ``loss_params[loss]``."""
    params = dict(DEFAULT_LOSS_PARAMS.get(loss, {}))
    params.update((loss_params or {}).get(loss, {}))
    return params


def make_split(
    train: ImageDataset,
    *,
    protocol: str,
    ratio: float,
    seed: int,
    n_train: int | None,
    n_minority: int = 4,
    minority_classes: Sequence[int] | None = None,
    lt_preset: str | None = None,
    lt_rho_prime: float = 10.0,
) -> tuple[ImbalancedSplit, np.ndarray]:
    """The imbalanced split and its indices into ``train`` (capped at ``n_train`` first)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
    pool = cap_per_class(train.labels, n_train, seed)
    if protocol == "minority":
        split = make_imbalanced(
            train.labels[pool],
            "minority",
            ratio=ratio,
            n_minority=n_minority,
            minority_classes=minority_classes,
            seed=seed,
        )
    else:
        split = make_imbalanced(
            train.labels[pool],
            "longtail",
            ratio=ratio,
            preset=lt_preset,
            rho_prime=lt_rho_prime,
            seed=seed,
        )
    return split, pool[split.indices]


def _logits(model: Any, images: np.ndarray, device: Any, batch_size: int = 1024) -> np.ndarray:
    """The model's raw logits on uint8 images, float32 (post-hoc adjustment needs logits)."""
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[i : i + batch_size]))
            out.append(model(x.to(device).float().div_(255.0)).float().cpu())
    return torch.cat(out).numpy()


def train_with_loss(
    loss: str = "ce",
    dataset: str = "fashion_mnist",
    *,
    protocol: str = "minority",
    ratio: float = 10,
    seed: int = 0,
    head: str = "linear",
    balanced_batches: bool = False,
    loss_params: Mapping[str, Mapping[str, Any]] | None = None,
    n_minority: int = 4,
    minority_classes: Sequence[int] | None = None,
    lt_preset: str | None = None,
    lt_rho_prime: float = 10.0,
    arch: str = "C6-C16-F400-F120",
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 1e-3,
    n_train: int | None = None,
    n_test: int | None = None,
    device: str | None = None,
    cache: Cache | None = None,
    use_cache: bool = True,
    train: ImageDataset | None = None,
    test: ImageDataset | None = None,
) -> LossRun:
    """Train ``arch`` with ``loss`` on an imbalanced split of ``dataset`` (or load it).

    Steps: cap the training set at ``n_train`` images (equal per class), apply ``protocol``
    (:func:`make_split`), draw ``n_test`` test images per class (None = all), seed everything,
    build the model (``head="cosine"`` for LDAM) and train it with
    ``imbnb.train.fit(loss=loss, loss_params=..., balanced_batches=...)``; return the test
    logits. Cached under every parameter and both data fingerprints.
    """
    from imbnb.models import make_model
    from imbnb.train import fit, get_device, seed_everything

    train = train if train is not None else load_dataset(dataset, "train")
    test = test if test is not None else load_dataset(dataset, "test")
    split, train_idx = make_split(
        train,
        protocol=protocol,
        ratio=ratio,
        seed=seed,
        n_train=n_train,
        n_minority=n_minority,
        minority_classes=minority_classes,
        lt_preset=lt_preset,
        lt_rho_prime=lt_rho_prime,
    )
    test_idx = select_test(test.labels, per_class=n_test, seed=seed)
    params = _params_for(loss, loss_params)
    config = {
        "dataset": train.name,
        "train_fingerprint": train.fingerprint(),
        "test_fingerprint": test.fingerprint(),
        "protocol": protocol,
        "ratio": float(ratio),
        "split": split.to_dict(),  # kept counts and minority classes: the split's identity
        "lt_preset": lt_preset,
        "seed": int(seed),
        "loss": loss,
        "loss_params": params,
        "head": head,
        "balanced_batches": bool(balanced_batches),
        "arch": arch,
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "lr": float(lr),
        "n_train": None if n_train is None else int(n_train),
        "n_test": None if n_test is None else int(n_test),
    }
    y_train, y_test = train.labels[train_idx], test.labels[test_idx]
    counts = np.bincount(y_train, minlength=train.n_classes)
    store = cache if cache is not None else Cache()
    hit = (
        use_cache
        and store.has(CACHE_KIND, config, "arrays")
        and store.has(CACHE_KIND, config, "json")
    )
    if hit:
        logits = store.load_arrays(CACHE_KIND, config)["logits_test"]
        history = store.load_json(CACHE_KIND, config)
    else:
        seed_everything(seed)  # before building: the initial weights follow the seed
        c, h, _ = train.shape
        model = make_model(arch, in_channels=c, n_classes=train.n_classes, input_size=h, head=head)
        hist = fit(
            model,
            train.images[train_idx],
            y_train,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            loss=loss,
            loss_params=params,
            balanced_batches=balanced_batches,
            seed=seed,
            device=device,
            progress=False,
        )
        logits = _logits(model, test.images[test_idx], get_device(device))
        history = hist.to_dict()
        if use_cache:  # history first, arrays last: a hit needs both
            store.save_json(CACHE_KIND, config, history)
            store.save_arrays(CACHE_KIND, config, logits_test=logits)
    return LossRun(
        config=config,
        split=split,
        train_counts=counts,
        y_test=y_test,
        logits_test=np.asarray(logits, dtype=np.float32),
        history=history,
        from_cache=hit,
    )


def _softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def method_row(method: str, run: LossRun, *, tau: float = 1.0) -> dict[str, Any]:
    """Score ``run``'s test logits as ``method`` (post-hoc: ``logits - tau log pi``) in one row."""
    spec = _method(method)
    logits = run.logits_test
    if spec.posthoc:
        logits = posthoc_logit_adjust(logits, run.train_counts, tau=tau)  # Menon et al. eq. (9)
    n_classes = logits.shape[1]
    report = evaluate(
        run.y_test,
        logits.argmax(axis=1),
        _softmax(logits),
        minority=run.split.minority_classes,
        labels=list(range(n_classes)),
    )
    cfg = run.config
    return {
        "method": spec.name,
        "loss": spec.loss,
        "protocol": cfg["protocol"],
        "ratio": cfg["ratio"],
        "seed": cfg["seed"],
        "n_train": int(run.train_counts.sum()),
        "minority": ",".join(map(str, run.split.minority_classes)),
        "seconds": float(run.history.get("seconds", 0.0)),
        "from_cache": bool(run.from_cache),
        **report.to_row(),
    }


def _progress(total: int, desc: str, progress: bool) -> Any:
    """A plain-text tqdm bar (silent when ``progress`` is False)."""
    from tqdm.std import tqdm

    return tqdm(total=total, desc=desc, disable=not progress, leave=False)


def run_loss_grid(
    dataset: str = "fashion_mnist",
    methods: Iterable[str] = tuple(LOSS_METHODS),
    ratios: Sequence[float] = (10, 20, 40, 100),
    seeds: Sequence[int] = (0,),
    *,
    protocol: str = "minority",
    loss_params: Mapping[str, Mapping[str, Any]] | None = None,
    tau: float = 1.0,
    progress: bool = True,
    train: ImageDataset | None = None,
    test: ImageDataset | None = None,
    **train_kw: Any,
) -> pd.DataFrame:
    """Methods x ratios x seeds under one ``protocol``: one metric row per run, tqdm over runs.

    ``train_kw`` go to :func:`train_with_loss` (``n_train``, ``epochs``, ``minority_classes``,
    ``lt_preset``, ``cache``...). Every method of a ``(ratio, seed)`` sees the same split and test
    images; ``LogitAdj-posthoc`` reuses the ``BL`` network (one training for both). ``tau`` is the
    post-hoc adjustment's; the logit-adjusted loss takes ``loss_params={"logit_adjusted":
    {"tau": ...}}``. A column ``wall_seconds`` records the time each row took here (0 for a
    cache hit or a re-used network).
    """
    names = [_method(m).name for m in methods]
    if not names:
        raise ValueError("methods is empty")
    train = train if train is not None else load_dataset(dataset, "train")
    test = test if test is not None else load_dataset(dataset, "test")
    rows: list[dict[str, Any]] = []
    with _progress(len(names) * len(ratios) * len(seeds), f"losses ({protocol})", progress) as bar:
        for seed in seeds:
            for ratio in ratios:
                runs: dict[tuple[str, str, bool], LossRun] = {}
                for name in names:
                    spec = LOSS_METHODS[name]
                    key = (spec.loss, spec.head, spec.balanced_batches)
                    start = time.perf_counter()
                    if key not in runs:
                        runs[key] = train_with_loss(
                            spec.loss,
                            dataset,
                            protocol=protocol,
                            ratio=ratio,
                            seed=seed,
                            head=spec.head,
                            balanced_batches=spec.balanced_batches,
                            loss_params=loss_params,
                            train=train,
                            test=test,
                            **train_kw,
                        )
                    row = method_row(name, runs[key], tau=tau)
                    row["wall_seconds"] = time.perf_counter() - start
                    rows.append(row)
                    bar.set_postfix(method=name, ratio=ratio, seed=seed)
                    bar.update()
    return pd.DataFrame(rows)
