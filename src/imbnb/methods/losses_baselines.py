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

* :data:`LOSS_METHODS` names the methods (``CNN-CE``, ``CNN-CW``, ``Focal``, ``CB``, ``LDAM-DRW``,
  ``LogitAdj``, ``LogitAdj-posthoc``, ``BalancedSoftmax``, ``BL+balanced-sampler``);
* :class:`LossRunSettings` holds every setting of one network (its cache key with the data);
  :func:`train_with_loss` trains (or loads from the cache) one network and returns its test
  logits; :func:`method_row` scores one method as a flat metric row;
* :func:`run_loss_grid` runs methods x ratios x seeds (a :class:`LossGrid`), one row per run.

The cache stores each trained network's test logits and history under a key made of every
training parameter and the data's fingerprints; post-hoc adjustment reuses the ``CNN-CE`` network.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.std import tqdm

from imbnb.data import ImageDataset
from imbnb.imbalance import ImbalancedSplit, make_imbalanced, select_test
from imbnb.losses import posthoc_logit_adjust
from imbnb.methods import catalog
from imbnb.methods.extractor import cap_per_class
from imbnb.methods.options import RunOptions, route_changes, route_nested
from imbnb.metrics import evaluate
from imbnb.models import make_model
from imbnb.train import fit, get_device, seed_everything

__all__ = [
    "CACHE_KIND",
    "DEFAULT_LOSS_PARAMS",
    "LOSS_METHODS",
    "LossGrid",
    "LossMethod",
    "LossRun",
    "LossRunSettings",
    "RunOptions",
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

    def settings(self, base: LossRunSettings | None = None) -> LossRunSettings:
        """``base`` with this method's loss, head and batches (the network it trains)."""
        return (base or LossRunSettings()).replace(
            loss=self.loss, head=self.head, balanced_batches=self.balanced_batches
        )


#: The learning rates a loss without a knob of its own is tuned over (chapter 8's protocol).
_LR = tuple({"lr": v} for v in (2e-3, 1e-3, 5e-4, 2.5e-4))
catalog.declare_family("losses", _LR)


def _knob(key: str, values: Sequence[float], nested: bool = True) -> tuple[dict[str, Any], ...]:
    """A loss's own search space: its knob's values, as ``loss_params`` or a run setting."""
    return tuple({"loss_params": {key: v}} if nested else {key: v} for v in values)


#: The compared methods with their search spaces (the knobs the papers tune): CNN-CE and CNN-CW
#: are the plain and class-weighted CNNs (chapter 3's two references, end to end).
_ENTRIES: tuple[tuple[LossMethod, tuple[dict[str, Any], ...] | None], ...] = (
    (LossMethod("CNN-CE", "cross-entropy", "ce"), None),
    (LossMethod("CNN-CW", "cross-entropy, Algorithm 2 class weights", "weighted_ce"), None),
    (
        LossMethod("Focal", "focal loss (Lin et al. 2017)", "focal"),
        _knob("gamma", (0.5, 1.0, 2.0, 3.0)),
    ),
    (
        LossMethod("CB", "class-balanced CE, effective numbers (Cui et al. 2019)", "cb"),
        _knob("beta", (0.9, 0.99, 0.999, 0.9999)),
    ),
    (
        LossMethod(
            "LDAM-DRW", "LDAM + deferred re-weighting (Cao et al. 2019)", "ldam_drw", head="cosine"
        ),
        _knob("max_m", (0.125, 0.25, 0.5, 1.0)),
    ),
    (
        LossMethod("LogitAdj", "logit-adjusted loss (Menon et al. 2021)", "logit_adjusted"),
        _knob("tau", (0.5, 1.0, 1.5, 2.0)),
    ),
    (
        LossMethod(
            "LogitAdj-posthoc",
            "CNN-CE + post-hoc logit adjustment (Menon et al. 2021)",
            "ce",
            posthoc=True,
        ),
        _knob("tau", (0.5, 1.0, 1.5, 2.0), nested=False),
    ),
    (LossMethod("BalancedSoftmax", "balanced softmax (Ren et al. 2020)", "balanced_softmax"), None),
    (
        LossMethod(
            "BL+balanced-sampler",
            "cross-entropy on class-balanced batches",
            "ce",
            balanced_batches=True,
        ),
        None,
    ),
)
#: What the loss papers' tables call a method of ours (Cao et al. 2019, Menon et al. 2021: ERM).
_PAPER_NAMES = {"CNN-CE": "ERM"}
for _spec, _search in _ENTRIES:
    catalog.register(
        catalog.Method(
            _spec.name, "losses", _spec.description, _spec, _search, _PAPER_NAMES.get(_spec.name)
        ),
    )
#: Name -> :class:`LossMethod`: the loss-based part of :data:`imbnb.methods.catalog.REGISTRY`.
LOSS_METHODS: Mapping[str, LossMethod] = catalog.specs("losses")

#: Hyper-parameters per loss name, as in the papers (LDAM's DRW epoch defaults to 0.8 epochs).
DEFAULT_LOSS_PARAMS: dict[str, dict[str, Any]] = {
    "focal": {"gamma": 2.0},
    "cb": {"beta": 0.9999},
    "ldam_drw": {"max_m": 0.5, "s": 30.0, "beta": 0.9999},
    "logit_adjusted": {"tau": 1.0},
}


@dataclass(frozen=True)
class LossRunSettings:
    """Every setting of one loss-trained network: its cache key, with the data's fingerprints.

    The split: ``protocol`` ("minority": ``n_minority`` or ``minority_classes`` cut to
    ``n_max / ratio``; "longtail": ``lt_preset``, minority by ``lt_rho_prime``) drawn by
    ``seed`` from ``n_train`` images, ``n_test`` test images per class; the training: ``arch``
    with a ``head`` ("cosine" for LDAM), ``loss`` with ``loss_params`` (per loss name, over
    :data:`DEFAULT_LOSS_PARAMS`), ``epochs`` of Adam (``lr``, ``batch_size``), optionally on
    class-balanced batches.
    """

    loss: str = "ce"
    protocol: str = "minority"
    ratio: float = 10
    seed: int = 0
    head: str = "linear"
    balanced_batches: bool = False
    loss_params: Mapping[str, Mapping[str, Any]] | None = None
    n_minority: int = 4
    minority_classes: Sequence[int] | None = None
    lt_preset: str | None = None
    lt_rho_prime: float = 10.0
    arch: str = "C6-C16-F400-F120"
    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    n_train: int | None = None
    n_test: int | None = None

    def replace(self, **changes: Any) -> LossRunSettings:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def params(self) -> dict[str, Any]:
        """The loss's hyper-parameters: the paper defaults updated by ``loss_params[loss]``."""
        return _params_for(self.loss, self.loss_params)

    def config(self, train: ImageDataset, test: ImageDataset, split: ImbalancedSplit) -> dict:
        """The cache key's config: every setting, the split and both data fingerprints."""
        return {
            "dataset": train.name,
            "train_fingerprint": train.fingerprint(),
            "test_fingerprint": test.fingerprint(),
            "protocol": self.protocol,
            "ratio": float(self.ratio),
            "split": split.to_dict(),  # kept counts and minority classes: the split's identity
            "lt_preset": self.lt_preset,
            "seed": int(self.seed),
            "loss": self.loss,
            "loss_params": self.params(),
            "head": self.head,
            "balanced_batches": bool(self.balanced_batches),
            "arch": self.arch,
            "epochs": int(self.epochs),
            "batch_size": int(self.batch_size),
            "lr": float(self.lr),
            "n_train": None if self.n_train is None else int(self.n_train),
            "n_test": None if self.n_test is None else int(self.n_test),
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
    """The registered loss-based method ``name``, or a ValueError listing the names."""
    return catalog.get(name, "losses").spec


def _params_for(loss: str, loss_params: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """Paper defaults for ``loss`` updated by the caller's ``loss_params[loss]``."""
    params = dict(DEFAULT_LOSS_PARAMS.get(loss, {}))
    params.update((loss_params or {}).get(loss, {}))
    return params


def make_split(
    train: ImageDataset, settings: LossRunSettings | None = None, **changes: Any
) -> tuple[ImbalancedSplit, np.ndarray]:
    """The imbalanced split and its indices into ``train`` (capped at ``n_train`` first).

    ``changes``: fields of :class:`LossRunSettings` applied on top of ``settings``.
    """
    s = (settings or LossRunSettings()).replace(**changes)
    if s.protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {s.protocol!r}")
    pool = cap_per_class(train.labels, s.n_train, s.seed)
    if s.protocol == "minority":
        split = make_imbalanced(
            train.labels[pool],
            "minority",
            ratio=s.ratio,
            n_minority=s.n_minority,
            minority_classes=s.minority_classes,
            seed=s.seed,
        )
    else:
        split = make_imbalanced(
            train.labels[pool],
            "longtail",
            ratio=s.ratio,
            preset=s.lt_preset,
            rho_prime=s.lt_rho_prime,
            seed=s.seed,
        )
    return split, pool[split.indices]


def _logits(model: Any, images: np.ndarray, device: Any, batch_size: int = 1024) -> np.ndarray:
    """The model's raw logits on uint8 images, float32 (post-hoc adjustment needs logits)."""

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[i : i + batch_size]))
            out.append(model(x.to(device).float().div_(255.0)).float().cpu())
    return torch.cat(out).numpy()


def train_with_loss(
    settings: LossRunSettings | str = "ce",
    dataset: str = "fashion_mnist",
    options: RunOptions | None = None,
    **changes: Any,
) -> LossRun:
    """Train a network as ``settings`` say on an imbalanced split of ``dataset`` (or load it).

    ``settings``: a :class:`LossRunSettings`, or a loss name (the other settings default);
    ``changes``: fields of :class:`LossRunSettings` or :class:`RunOptions` applied on top. Steps:
    cap the training set at ``n_train`` images (equal per class), apply ``protocol``
    (:func:`make_split`), draw ``n_test`` test images per class (None = all), seed everything,
    build the model (``head="cosine"`` for LDAM) and train it with
    ``imbnb.train.fit(loss=loss, loss_params=..., balanced_batches=...)``; return the test
    logits. Cached under every setting and both data fingerprints.
    """
    base = LossRunSettings(loss=settings) if isinstance(settings, str) else settings
    s, opts = route_changes(changes, base, options or RunOptions())
    train, test = opts.datasets(dataset)
    split, train_idx = make_split(train, s)
    test_idx = select_test(test.labels, per_class=s.n_test, seed=s.seed)
    config = s.config(train, test, split)
    y_train, y_test = train.labels[train_idx], test.labels[test_idx]
    counts = np.bincount(y_train, minlength=train.n_classes)
    store = opts.store()
    hit = (
        opts.use_cache
        and store.has(CACHE_KIND, config, "arrays")
        and store.has(CACHE_KIND, config, "json")
    )
    if hit:
        logits = store.load_arrays(CACHE_KIND, config)["logits_test"]
        history = store.load_json(CACHE_KIND, config)
    else:
        logits, history = _train(s, opts, train, train_idx, test.images[test_idx])
        if opts.use_cache:  # history first, arrays last: a hit needs both
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


def _train(
    s: LossRunSettings,
    opts: RunOptions,
    train: ImageDataset,
    train_idx: np.ndarray,
    x_test: np.ndarray,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Build and train the network on the kept images; its test logits and history."""

    seed_everything(s.seed)  # before building: the initial weights follow the seed
    c, h, _ = train.shape
    model = make_model(s.arch, in_channels=c, n_classes=train.n_classes, input_size=h, head=s.head)
    hist = fit(
        model,
        train.images[train_idx],
        train.labels[train_idx],
        epochs=s.epochs,
        batch_size=s.batch_size,
        lr=s.lr,
        loss=s.loss,
        loss_params=s.params(),
        balanced_batches=s.balanced_batches,
        seed=s.seed,
        device=opts.device,
        progress=opts.progress,
    )
    return _logits(model, x_test, get_device(opts.device)), hist.to_dict()


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

    return tqdm(total=total, desc=desc, disable=not progress, leave=False)


@dataclass(frozen=True)
class LossGrid:
    """Methods x ratios x seeds, each network trained as ``run`` says (its protocol, epochs...).

    ``run``'s loss, head and batches come from each method, its ratio and seed from the grid;
    ``tau`` is the post-hoc adjustment's (the logit-adjusted loss takes ``loss_params``).
    """

    methods: Sequence[str] = tuple(LOSS_METHODS)
    ratios: Sequence[float] = (10, 20, 40, 100)
    seeds: Sequence[int] = (0,)
    run: LossRunSettings = field(default_factory=LossRunSettings)
    tau: float = 1.0


def run_loss_grid(
    dataset: str = "fashion_mnist",
    methods: Sequence[str] | None = None,
    ratios: Sequence[float] | None = None,
    seeds: Sequence[int] | None = None,
    *,
    grid: LossGrid | None = None,
    options: RunOptions | None = None,
    progress: bool = True,
    **changes: Any,
) -> pd.DataFrame:
    """Methods x ratios x seeds under one ``protocol``: one metric row per run, tqdm over runs.

    ``methods``, ``ratios``, ``seeds`` and ``changes`` (fields of :class:`LossGrid`, of its
    :class:`LossRunSettings` such as ``protocol``, ``n_train``, ``loss_params``, or of
    :class:`RunOptions` such as ``cache``, ``train``) apply on top of ``grid`` and ``options``.
    Every method of a ``(ratio, seed)`` sees the same split and test images;
    ``LogitAdj-posthoc`` reuses the ``CNN-CE`` network (one training for both). A column
    ``wall_seconds`` records the time each row took here (0 for a cache hit or a re-used
    network).
    """
    given = {"methods": methods, "ratios": ratios, "seeds": seeds}
    changes = {**{k: v for k, v in given.items() if v is not None}, **changes}
    g, opts = route_nested(changes, grid or LossGrid(), "run", options or RunOptions())
    names = [_method(m).name for m in g.methods]
    if not names:
        raise ValueError("methods is empty")
    train, test = opts.datasets(dataset)
    opts = opts.replace(train=train, test=test)
    rows: list[dict[str, Any]] = []
    total = len(names) * len(g.ratios) * len(g.seeds)
    with _progress(total, f"losses ({g.run.protocol})", progress) as bar:
        for seed in g.seeds:
            for ratio in g.ratios:
                base = g.run.replace(ratio=ratio, seed=seed)
                runs: dict[tuple[str, str, bool], LossRun] = {}
                for name in names:
                    rows.append(_grid_row(name, base, (dataset, opts), runs, g.tau))
                    bar.set_postfix(method=name, ratio=ratio, seed=seed)
                    bar.update()
    return pd.DataFrame(rows)


def _grid_row(
    name: str,
    base: LossRunSettings,
    where: tuple[str, RunOptions],
    runs: dict[tuple[str, str, bool], LossRun],
    tau: float,
) -> dict[str, Any]:
    """Method ``name``'s row, training its network unless ``runs`` holds it (post-hoc: CNN-CE's)."""
    spec = LOSS_METHODS[name]
    key = (spec.loss, spec.head, spec.balanced_batches)
    start = time.perf_counter()
    if key not in runs:
        runs[key] = train_with_loss(spec.settings(base), *where)
    row = method_row(name, runs[key], tau=tau)
    row["wall_seconds"] = time.perf_counter() - start
    return row
