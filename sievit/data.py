"""Fashion-MNIST from Debian's dataset-fashion-mnist package (IDX files, no downloads)."""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sievit.errors import SievitError

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
VAL_SIZE = 5000
SPLIT_SEED = 20231  # fixed: the train/validation split never depends on the training seed
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 [N, 28, 28]
    labels: np.ndarray  # int64 [N]


def data_dir() -> Path:
    return Path(os.environ.get("SIEVIT_FMNIST_DIR", DEFAULT_DIR))


def _read_idx(path: Path) -> np.ndarray:
    if not path.exists():
        raise SievitError(
            f"Fashion-MNIST file {path} is missing: install Debian's package with "
            f"'apt-get install dataset-fashion-mnist' (or set SIEVIT_FMNIST_DIR)")
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    magic = int.from_bytes(raw[0:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in (1, 3):
        raise SievitError(f"{path} is not a uint8 IDX file (magic {magic:#x})")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise SievitError(f"{path} is truncated: {data.size} bytes for shape {dims}")
    return data.reshape(dims)


def _load(kind: str) -> Split:
    img_name, lbl_name = FILES[kind]
    images = _read_idx(data_dir() / img_name)
    labels = _read_idx(data_dir() / lbl_name).astype(np.int64)
    return Split(images, labels)


def load_split(name: str) -> Split:
    """'train' (55k), 'val' (5k, fixed split of the 60k training set) or 'test' (10k)."""
    if name == "test":
        return _load("test")
    if name not in ("train", "val"):
        raise SievitError(f"unknown split {name!r}: use train, val or test")
    full = _load("train")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(full.labels))
    idx = order[:VAL_SIZE] if name == "val" else order[VAL_SIZE:]
    idx = np.sort(idx)
    return Split(full.images[idx], full.labels[idx])


def first_test_images(n: int | None) -> Split:
    """The first n test images (all 10k when n is None)."""
    split = load_split("test")
    if n is None:
        return split
    if n <= 0:
        raise SievitError(f"--images must be positive, got {n}")
    return Split(split.images[:n], split.labels[:n])


def resize_to(cfg: dict, images: np.ndarray) -> np.ndarray:
    """Fashion-MNIST images at a config's input shape: nearest resize, repeated over channels
    (identity for 28 x 28 x 1). Used for shape-only configs such as deit_tiny."""
    m = cfg["model"]
    idx = (np.arange(m["image_size"]) * images.shape[1]) // m["image_size"]
    img = images[:, idx][:, :, idx]
    if m["in_chans"] == 1:
        return np.ascontiguousarray(img)
    return np.ascontiguousarray(np.repeat(img[..., None], m["in_chans"], axis=-1))


def first_images_for(cfg: dict, n: int | None) -> np.ndarray:
    """The first n test images at the config's input shape."""
    return resize_to(cfg, first_test_images(n).images)
