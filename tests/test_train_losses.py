"""imbnb.train.fit with the loss-based baselines of imbnb.losses and balanced batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imbnb.data import make_synthetic
from imbnb.losses import LOSSES, CosineClassifier, LDAMLoss
from imbnb.models import make_model
from imbnb.train import fit, predict, seed_everything

torch.set_num_threads(2)

ARCH = "C6-C16-F400-F120"
COUNTS = [40, 12, 6]


@pytest.fixture(scope="module")
def imbalanced() -> tuple[np.ndarray, np.ndarray]:
    ds = make_synthetic(n_per_class=COUNTS, n_classes=3, size=28, channels=1, seed=0)
    return ds.images, ds.labels


def cnn(seed: int = 0, head: str = "linear") -> torch.nn.Module:
    seed_everything(seed)
    return make_model(ARCH, in_channels=1, n_classes=3, input_size=28, head=head)


def params_for(name: str) -> dict:
    return {"drw_epoch": 1} if name == "ldam_drw" else {}


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_trains(imbalanced, name) -> None:
    X, y = imbalanced
    head = "cosine" if name.startswith("ldam") else "linear"
    model = cnn(head=head)
    before = [p.detach().clone() for p in model.parameters()]
    hist = fit(
        model,
        X,
        y,
        epochs=2,
        batch_size=16,
        loss=name,
        loss_params=params_for(name),
        device="cpu",
        progress=False,
    )
    assert len(hist.losses) == 2 and np.isfinite(hist.losses).all()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert predict(model, X[:5]).shape == (5,)


def test_cosine_head_option() -> None:
    model = cnn(head="cosine")
    assert isinstance(model.classifier, CosineClassifier)
    logits = model(torch.rand(4, 1, 28, 28))
    assert logits.shape == (4, 3) and logits.abs().max() <= 1 + 1e-5
    assert isinstance(cnn(head="linear").classifier, torch.nn.Linear)
    with pytest.raises(ValueError, match="head"):
        make_model(ARCH, in_channels=1, n_classes=3, input_size=28, head="arcface")


@pytest.mark.parametrize("balanced", [False, True])
def test_seeded_runs_are_deterministic(imbalanced, balanced) -> None:
    X, y = imbalanced
    runs = []
    for _ in range(2):
        model = cnn(seed=3, head="cosine")
        hist = fit(
            model,
            X,
            y,
            epochs=2,
            batch_size=16,
            loss="ldam_drw",
            loss_params={"drw_epoch": 1},
            balanced_batches=balanced,
            seed=3,
            device="cpu",
            progress=False,
        )
        runs.append((hist.losses, [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1], strict=True):
        assert torch.equal(a, b)


class SpyLDAM(LDAMLoss):
    """LDAM-DRW that records (epoch, weighted?) at every batch."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[int, bool]] = []

    def forward(self, logits, target, sample_weight=None):
        self.seen.append((self.epoch, self.class_weight is not None))
        return super().forward(logits, target, sample_weight)


def test_drw_switches_inside_fit(imbalanced) -> None:
    X, y = imbalanced
    spy = SpyLDAM(np.bincount(y), drw_epoch=2, beta=0.999)
    fit(cnn(head="cosine"), X, y, epochs=4, batch_size=20, loss=spy, device="cpu", progress=False)
    per_epoch = {e: {w for ep, w in spy.seen if ep == e} for e in range(4)}
    assert per_epoch == {0: {False}, 1: {False}, 2: {True}, 3: {True}}
    assert spy.class_weight is not None


def test_ldam_drw_by_name_equals_instance_and_default_switch(imbalanced) -> None:
    X, y = imbalanced
    kw = dict(epochs=5, batch_size=16, device="cpu", progress=False)
    h_name = fit(cnn(head="cosine"), X, y, loss="ldam_drw", **kw)  # default drw_epoch 0.8 * 5
    h_inst = fit(cnn(head="cosine"), X, y, loss=LDAMLoss(np.bincount(y), drw_epoch=4), **kw)
    h_never = fit(cnn(head="cosine"), X, y, loss=LDAMLoss(np.bincount(y)), **kw)
    assert h_name.losses == h_inst.losses
    assert h_name.losses[:4] == h_never.losses[:4] and h_name.losses[4] != h_never.losses[4]


def test_balanced_batches_change_training_and_bad_arguments(imbalanced) -> None:
    X, y = imbalanced
    kw = dict(epochs=1, batch_size=16, device="cpu", progress=False)
    h0 = fit(cnn(), X, y, **kw)
    h1 = fit(cnn(), X, y, balanced_batches=True, **kw)
    assert h0.losses != h1.losses
    with pytest.raises(ValueError, match=r"unknown loss 'nope'.*'ldam_drw'"):
        fit(cnn(), X, y, loss="nope", **kw)
    with pytest.raises(ValueError, match="unknown parameter"):
        fit(cnn(), X, y, loss="focal", loss_params={"gama": 1}, **kw)


def test_ldam_with_linear_head_warns(imbalanced) -> None:
    X, y = imbalanced
    with pytest.warns(UserWarning, match="cosine"):
        fit(cnn(), X, y, epochs=1, batch_size=16, loss="ldam", device="cpu", progress=False)
