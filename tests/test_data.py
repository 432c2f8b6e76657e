"""Tests for imbnb.data: shapes, dtypes, fixed splits, fingerprints and the not-found errors."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from sklearn.neighbors import NearestCentroid

import imbnb.data as d
from imbnb.data import DatasetNotFoundError, ImageDataset, load_dataset, make_synthetic

FMNIST_PRESENT = all(
    (d.DEBIAN_FASHION_MNIST / f).is_file()
    for f in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
)


def _write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    """Write a uint8 IDX file (magic 0,0,8,ndim; big-endian dims; data)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


def _fake_fashion(folder: Path, n: int = 12, compress: bool = True, seed: int = 0) -> np.ndarray:
    """Write a tiny fake Fashion-MNIST train split into ``folder``; return its images."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10
    suffix = ".gz" if compress else ""
    _write_idx(folder / f"train-images-idx3-ubyte{suffix}", images, compress)
    _write_idx(folder / f"train-labels-idx1-ubyte{suffix}", labels, compress)
    return images


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """Point every search place at empty temporary folders (no real data, no network)."""
    monkeypatch.setattr(d, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    monkeypatch.setattr(d, "data_dir", lambda: tmp_path / "cache")
    monkeypatch.setenv("IMBNB_DATA", str(tmp_path / "env"))
    return tmp_path


# --------------------------------------------------------------------------- synthetic


def test_synthetic_shapes_and_dtypes():
    ds = make_synthetic(n_per_class=[5, 7, 3], n_classes=3, size=16, channels=3, seed=1)
    assert isinstance(ds, ImageDataset)
    assert ds.images.shape == (15, 3, 16, 16) and ds.images.dtype == np.uint8
    assert ds.labels.dtype == np.int64
    assert np.bincount(ds.labels).tolist() == [5, 7, 3]
    assert ds.shape == (3, 16, 16) and ds.n_classes == 3 and len(ds) == 15
    assert ds.name == "synthetic" and ds.split == "train"
    x = ds.as_float()
    assert x.dtype == np.float32 and x.shape == ds.images.shape
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_synthetic_deterministic_and_seed_dependent():
    a = make_synthetic(20, n_classes=4, seed=3)
    b = make_synthetic(20, n_classes=4, seed=3)
    c = make_synthetic(20, n_classes=4, seed=4)
    test = make_synthetic(20, n_classes=4, seed=3, split="test")
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert a.fingerprint() == b.fingerprint()
    assert not np.array_equal(a.images, c.images)
    assert a.fingerprint() != c.fingerprint()
    assert a.fingerprint() != test.fingerprint()


def test_synthetic_is_learnable():
    train = make_synthetic(60, n_classes=4, seed=0)
    test = make_synthetic(60, n_classes=4, seed=0, split="test")
    clf = NearestCentroid().fit(train.as_float().reshape(len(train), -1), train.labels)
    acc = clf.score(test.as_float().reshape(len(test), -1), test.labels)
    assert acc > 0.6  # chance is 0.25


def test_synthetic_fingerprint_is_stable():
    # a change here means every cached artifact built on the synthetic set is invalidated
    assert make_synthetic(10, n_classes=3, size=12, seed=0).fingerprint() == "e2691b74afd5bc3e"


def test_synthetic_bad_input():
    with pytest.raises(ValueError, match="`n_per_class` must have one entry per class"):
        make_synthetic([1, 2], n_classes=3)
    with pytest.raises(ValueError, match="`n_classes` must be at least 2"):
        make_synthetic(n_classes=1)
    with pytest.raises(ValueError, match="`split` must be one of"):
        make_synthetic(split="val")


def test_load_dataset_synthetic():
    ds = load_dataset("synthetic", "test")
    assert ds.split == "test" and ds.shape == (1, 28, 28)


# --------------------------------------------------------------------------- ImageDataset


def test_subset_and_validation():
    ds = make_synthetic(10, n_classes=2, size=8, seed=0)
    sub = ds.subset([0, 3, 5])
    assert len(sub) == 3 and sub.classes == ds.classes and sub.name == ds.name
    assert np.array_equal(sub.images, ds.images[[0, 3, 5]])
    assert sub.fingerprint() != ds.fingerprint()
    with pytest.raises(ValueError, match="uint8"):
        ImageDataset(np.zeros((2, 1, 4, 4), np.float32), np.zeros(2), ["a"], "x", "train")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ImageDataset(np.zeros((2, 4, 4), np.uint8), np.zeros(2), ["a"], "x", "train")
    with pytest.raises(ValueError, match="one label per image"):
        ImageDataset(np.zeros((2, 1, 4, 4), np.uint8), np.zeros(3), ["a"], "x", "train")
    with pytest.raises(ValueError, match="must lie in"):
        ImageDataset(np.zeros((2, 1, 4, 4), np.uint8), np.array([0, 2]), ["a", "b"], "x", "t")


def test_fingerprint_sees_one_pixel():
    ds = make_synthetic(5, n_classes=2, size=8, seed=0)
    images = ds.images.copy()
    images[0, 0, 0, 0] ^= 1
    other = ImageDataset(images, ds.labels, ds.classes, ds.name, ds.split)
    assert other.fingerprint() != ds.fingerprint()
    assert len(ds.fingerprint()) == 16


# --------------------------------------------------------------------------- offline datasets


def test_mnist5k_fixed_split():
    train = load_dataset("mnist5k")
    test = load_dataset("mnist5k", "test")
    assert train.images.shape == (4000, 1, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (1000, 1, 28, 28)
    assert np.bincount(train.labels).tolist() == [400] * 10
    assert np.bincount(test.labels).tolist() == [100] * 10
    assert train.classes == [str(i) for i in range(10)]
    assert train.images.max() == 255
    assert load_dataset("mnist5k").fingerprint() == train.fingerprint()
    assert train.fingerprint() == "8410c9595114951e"
    assert test.fingerprint() == "d33b6d128ff541d3"


def test_digits_fixed_split():
    train = load_dataset("digits")
    test = load_dataset("digits", "test")
    assert train.shape == (1, 8, 8) and train.images.dtype == np.uint8
    assert len(train) + len(test) == 1797
    assert train.images.max() == 255 and test.images.min() == 0
    # stratified: 20 % of each class, rounded
    full = np.bincount(np.concatenate([train.labels, test.labels]))
    assert np.array_equal(np.bincount(test.labels), np.rint(0.2 * full).astype(int))
    assert load_dataset("digits", "test").fingerprint() == test.fingerprint()


@pytest.mark.skipif(
    not FMNIST_PRESENT,
    reason="Debian's dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)",
)
def test_fashion_mnist_from_debian(monkeypatch):
    monkeypatch.delenv("IMBNB_DATA", raising=False)
    train = load_dataset("fashion_mnist")
    test = load_dataset("fashion_mnist", "test")
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (10000, 1, 28, 28)
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert np.bincount(test.labels).tolist() == [1000] * 10
    assert train.classes[0] == "T-shirt/top" and train.classes[9] == "Ankle boot"
    assert test.fingerprint() == "3581bf52f5218031"


# --------------------------------------------------------------------------- search order


def test_fashion_mnist_from_env_folder_first(nowhere):
    images = _fake_fashion(nowhere / "env" / "fashion-mnist")
    _fake_fashion(nowhere / "debian", seed=1)  # found later in the order: must not be used
    ds = load_dataset("fashion_mnist")
    assert ds.images.shape == (12, 1, 28, 28)
    assert np.array_equal(ds.images[:, 0], images)
    assert ds.labels.tolist() == [i % 10 for i in range(12)]


def test_fashion_mnist_root_and_uncompressed(nowhere):
    images = _fake_fashion(nowhere / "mine" / "FashionMNIST" / "raw", n=5, compress=False)
    ds = load_dataset("fashion_mnist", root=nowhere / "mine")
    assert np.array_equal(ds.images[:, 0], images)


def test_fashion_mnist_from_debian_folder(nowhere):
    images = _fake_fashion(nowhere / "debian", n=4)
    assert np.array_equal(load_dataset("fashion_mnist").images[:, 0], images)


def test_bad_idx_file(nowhere):
    folder = nowhere / "env"
    _fake_fashion(folder)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x01\x02\x03\x04"))
    with pytest.raises(ValueError, match="not an IDX file"):
        load_dataset("fashion_mnist")


# --------------------------------------------------------------------------- errors


def test_fashion_mnist_not_found_names_every_place(nowhere, monkeypatch):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion_mnist", "test")
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for place in (
        nowhere / "env",
        nowhere / "env" / "fashion-mnist",
        nowhere / "debian",
        nowhere / "cache" / "FashionMNIST" / "raw",
    ):
        assert f"- {place}\n" in msg
    assert "sudo apt-get install dataset-fashion-mnist" in msg
    assert "load_dataset('fashion_mnist', 'test', download=True)" in msg
    assert "t10k-images-idx3-ubyte" in msg
    monkeypatch.delenv("IMBNB_DATA")
    with pytest.raises(DatasetNotFoundError, match=r"\$IMBNB_DATA \(not set\)"):
        load_dataset("fashion_mnist")


@pytest.mark.parametrize(
    ("name", "where"),
    [("mnist", "MNIST/raw"), ("cifar10", "cifar-10-batches-py"), ("svhn", "train_32x32.mat")],
)
def test_torchvision_datasets_not_found_without_download(nowhere, name, where):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset(name, root=nowhere / "root")
    msg = str(info.value)
    for base in ("root", "env", "cache"):
        assert str(nowhere / base / where) in msg
    assert f"d.load_dataset('{name}', download=True)" in msg
    assert "IMBNB_DATA=" in msg
    assert not (nowhere / "cache").exists()  # nothing was created, nothing downloaded


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match=r"`name` must be one of \['fashion_mnist'.*got 'x'"):
        load_dataset("x")
    with pytest.raises(ValueError, match=r"`split` must be one of \['train', 'test'\]; got 'val'"):
        load_dataset("digits", "val")


def test_datasets_tuple():
    assert set(d.DATASETS) == {
        "fashion_mnist",
        "mnist5k",
        "digits",
        "mnist",
        "cifar10",
        "svhn",
        "synthetic",
    }
    assert os.fspath(d.data_dir()).endswith("datasets")


def test_cli_data_get_finds_offline_and_downloads_only_when_told(nowhere, monkeypatch, capsys):
    import torchvision.datasets

    from imbnb.cli import main

    fetched: list[tuple[Path, bool]] = []

    class FakeFashionMNIST:
        """torchvision's class as `download=True` uses it: files into ROOT/FashionMNIST/raw."""

        def __init__(self, root: str, train: bool, download: bool) -> None:
            fetched.append((Path(root), download))
            raw = Path(root) / "FashionMNIST" / "raw"
            for prefix, n in (("train", 12), ("t10k", 5)):
                images = np.zeros((n, 28, 28), dtype=np.uint8)
                _write_idx(raw / f"{prefix}-images-idx3-ubyte.gz", images)
                _write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", FakeFashionMNIST)
    assert main(["data", "get"]) == 2  # not found anywhere, and no download without --download
    assert "'fashion_mnist' (train split) was not found" in capsys.readouterr().err
    assert fetched == [] and not (nowhere / "cache").exists()

    assert main(["data", "get", "--download"]) == 0
    assert "fashion_mnist: 12 training and 5 test images, 10 classes" in capsys.readouterr().out
    assert fetched == [(nowhere / "cache", True)]  # the test split came from the same download

    assert main(["data", "get", "fashion_mnist", "mnist5k"]) == 0  # now found offline
    assert "mnist5k: 4000 training and 1000 test images" in capsys.readouterr().out
    assert len(fetched) == 1
    assert main(["data", "get", "fashion"]) == 2
    assert "`name` must be one of ['fashion_mnist'," in capsys.readouterr().err
