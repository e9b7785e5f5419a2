"""Bundled datasets as tensors with a fixed-seed validation split; nothing is downloaded.

- `fashion_mnist()`: Zalando's Fashion-MNIST (70,000 28x28 grey images, 10 classes), read from
  its IDX files. Debian's `dataset-fashion-mnist` package puts them in
  /usr/share/datasets/fashion-mnist, searched after $ZOOMTUNE_DATA. An explicit `data_dir` is the
  only place looked in: one that is not a folder or lacks the files raises `ConfigError`.
- `digits()`: scikit-learn's bundled 8x8 digits (1,797 images: 1,079 train, 359 validation, 359 test),
  the tiny one for tests.

>>> data = digits()
>>> data.x_train.shape, data.n_classes
(torch.Size([1079, 64]), 10)
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from zoomtune.errors import ConfigError, ZoomtuneError

FASHION_DIRS = ("/usr/share/datasets/fashion-mnist",)
FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


class DatasetNotFoundError(ZoomtuneError, FileNotFoundError):
    """A dataset's files are not on this machine; the message says how to install them."""


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test tensors: features float32, standardised with training statistics."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    image_shape: tuple[int, int, int]  # (channels, height, width) of one example
    n_classes: int

    @property
    def n_features(self) -> int:
        return int(np.prod(self.image_shape))

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """Flat rows reshaped to (N, C, H, W), for convolutional networks."""
        return x.reshape(len(x), *self.image_shape)


def _split(name: str, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, n_val: int,
           seed: int, image_shape: tuple[int, int, int]) -> Dataset:
    order = np.random.default_rng(seed).permutation(len(x))
    val, train = order[:n_val], order[n_val:]
    mean, std = float(x[train].mean()), float(x[train].std())

    def prep(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((a.reshape(len(a), -1).astype(np.float32) - mean) / std).astype(np.float32))

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.int64))

    return Dataset(name, prep(x[train]), labels(y[train]), prep(x[val]), labels(y[val]), prep(x_test),
                   labels(y_test), image_shape, int(y.max()) + 1)


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DatasetNotFoundError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _fashion_files(folder: Path) -> dict[str, Path]:
    """The Fashion-MNIST IDX files present in `folder` (gzipped or not), by key."""
    found = {}
    for key, stem in FASHION_FILES.items():
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                found[key] = folder / name
                break
    return found


def _find_fashion(data_dir: str | os.PathLike[str] | None) -> dict[str, Path]:
    if data_dir is not None:
        # An explicit folder is used or refused, never silently replaced by another copy.
        given = Path(data_dir)
        if not str(data_dir) or not given.is_dir():
            raise ConfigError("data_dir", "must be an existing folder holding Fashion-MNIST's four IDX files",
                              str(data_dir))
        best: dict[str, Path] = {}
        for folder in (given, given / "fashion-mnist"):
            found = _fashion_files(folder)
            if len(found) == len(FASHION_FILES):
                return found
            best = found if len(found) > len(best) else best
        missing = ", ".join(f"{FASHION_FILES[key]}[.gz]" for key in FASHION_FILES if key not in best)
        raise ConfigError("data_dir", f"must hold Fashion-MNIST's IDX files; missing {missing} (its "
                          "fashion-mnist/ subfolder was looked in too)", str(data_dir))
    candidates = [Path(d) for d in (os.environ.get("ZOOMTUNE_DATA"),) if d]
    candidates += [c / "fashion-mnist" for c in candidates] + [Path(d) for d in FASHION_DIRS]
    for folder in candidates:
        found = _fashion_files(folder)
        if len(found) == len(FASHION_FILES):
            return found
    searched = ", ".join(str(c) for c in candidates) or "nowhere"
    raise DatasetNotFoundError(
        f"Fashion-MNIST not found (looked in {searched}); install it with `sudo apt-get install "
        f"dataset-fashion-mnist`, or put its four IDX files in a folder and pass data_dir= or set ZOOMTUNE_DATA")


@lru_cache(maxsize=4)
def fashion_mnist(data_dir: str | os.PathLike[str] | None = None, n_val: int = 10_000, seed: int = 0) -> Dataset:
    """Fashion-MNIST: 50,000 train / 10,000 validation (split with `seed`) / 10,000 test.

    `data_dir` (or its fashion-mnist/ subfolder) must hold the four IDX files, else `ConfigError`;
    without it, $ZOOMTUNE_DATA and then the system copy are searched (`DatasetNotFoundError` if
    neither has them).
    """
    files = _find_fashion(data_dir)
    x, y = _read_idx(files["train_images"]), _read_idx(files["train_labels"])
    x_test, y_test = _read_idx(files["test_images"]), _read_idx(files["test_labels"])
    return _split("fashion-mnist", x, y, x_test, y_test, n_val, seed, (1, 28, 28))


@lru_cache(maxsize=4)
def digits(seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits: 60% train, 20% validation, 20% test, split with `seed`."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, y = bunch.data.astype(np.float32), bunch.target
    order = np.random.default_rng(seed + 1).permutation(len(x))
    n_test = len(x) // 5
    test, rest = order[:n_test], order[n_test:]
    return _split("digits", x[rest], y[rest], x[test], y[test], n_test, seed, (1, 8, 8))


DATASETS: dict[str, Callable[..., Dataset]] = {"fashion-mnist": fashion_mnist, "digits": digits}


def load(name: str, **kwargs: object) -> Dataset:
    """A dataset by name: "fashion-mnist" or "digits"."""
    if name not in DATASETS:
        raise DatasetNotFoundError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name](**kwargs)


__all__ = ["DATASETS", "FASHION_CLASSES", "Dataset", "DatasetNotFoundError", "digits", "fashion_mnist", "load"]
