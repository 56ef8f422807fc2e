"""Data sets at a config's input shape: Fashion-MNIST from Debian's dataset-fashion-mnist
package (IDX files, no downloads; the default) or an image folder in torchvision's
ImageFolder layout (root/<class name>/*.png), chosen by the config's `data` section."""
from __future__ import annotations

import functools
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


def _nearest(images: np.ndarray, size: int) -> np.ndarray:
    """Nearest resize of square [N, H, H(, C)] images to size x size (index i reads pixel
    i * H // size)."""
    idx = (np.arange(size) * images.shape[1]) // size
    return images[:, idx][:, :, idx]


def resize_to(cfg: dict, images: np.ndarray) -> np.ndarray:
    """Images at a config's input shape: nearest resize, grey images repeated over channels
    (identity for 28 x 28 x 1 Fashion-MNIST)."""
    m = cfg["model"]
    img = _nearest(images, m["image_size"])
    if img.ndim == 3 and m["in_chans"] > 1:
        img = np.repeat(img[..., None], m["in_chans"], axis=-1)
    return np.ascontiguousarray(img)


# --- image files and folders -------------------------------------------------------------

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


def to_model_input(img, image_size: int, in_chans: int) -> np.ndarray:
    """A PIL image as the model's uint8 input, the way every data set is converted: grey
    ('L') for one channel, else RGB; centre-cropped to a square; box-reduced by an integer
    factor when at least twice the input size; then the nearest resize of `resize_to`."""
    if in_chans not in (1, 3):
        raise SievitError(f"image files convert to 1 or 3 channels, the model has {in_chans}")
    img = img.convert("L" if in_chans == 1 else "RGB")
    w, h = img.size
    side = min(w, h)
    if (w, h) != (side, side):
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
    if side >= 2 * image_size:
        img = img.reduce(side // image_size)
    arr = np.asarray(img, dtype=np.uint8)
    out = _nearest(arr[None], image_size)[0]
    if in_chans > 1 and out.ndim == 2:
        out = np.repeat(out[..., None], in_chans, axis=-1)
    return np.ascontiguousarray(out)


def load_image(path: str | Path, cfg: dict) -> np.ndarray:
    """One PNG/JPEG/BMP file at the config's input shape (uint8 [H, W] or [H, W, C])."""
    from PIL import Image, UnidentifiedImageError
    path = Path(path)
    if not path.is_file():
        raise SievitError(f"image file {path} does not exist")
    try:
        with Image.open(path) as img:
            img.load()
            return to_model_input(img, cfg["model"]["image_size"], cfg["model"]["in_chans"])
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise SievitError(f"{path} is not a readable image: {exc}") from None


def folder_classes(root: str | Path) -> list[str]:
    """Class names of an ImageFolder tree: its sub-folders, sorted (torchvision's order)."""
    root = Path(root)
    if not root.is_dir():
        raise SievitError(f"image folder {root} does not exist")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise SievitError(f"image folder {root} has no class sub-folders (root/<class>/*.png)")
    return classes


def _folder_files(root: Path) -> tuple[tuple[str, ...], tuple[tuple[str, int, int, int], ...]]:
    """Class names and (path, label, mtime, size) of every image file, in label/name order."""
    classes = folder_classes(root)
    files = []
    for label, name in enumerate(classes):
        found = sorted(f for f in (root / name).iterdir()
                       if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
        if not found:
            raise SievitError(f"class folder {root / name} holds no "
                              f"{'/'.join(IMAGE_EXTENSIONS)} images")
        for f in found:
            st = f.stat()
            files.append((str(f), label, st.st_mtime_ns, st.st_size))
    return tuple(classes), tuple(files)


@functools.lru_cache(maxsize=8)
def _load_files(files: tuple[tuple[str, int, int, int], ...], image_size: int,
                in_chans: int) -> Split:
    """Decoded once per file list (changed files have a new mtime / size, so a new key)."""
    cfg = {"model": {"image_size": image_size, "in_chans": in_chans}}
    images = np.stack([load_image(f, cfg) for f, _, _, _ in files])
    images.setflags(write=False)
    return Split(images, np.array([label for _, label, _, _ in files], dtype=np.int64))


def load_folder(root: str | Path, cfg: dict) -> tuple[Split, tuple[str, ...]]:
    """Every image of an ImageFolder tree at the config's input shape, labels by sorted
    class folder; returns (split, class names)."""
    m = cfg["model"]
    classes, files = _folder_files(Path(root))
    return _load_files(files, m["image_size"], m["in_chans"]), classes


# --- the config's data set -----------------------------------------------------------------

def data_section(cfg: dict) -> dict:
    """The config's data section with its defaults (Fashion-MNIST when absent)."""
    from sievit.config import DATA_DEFAULTS
    return {**DATA_DEFAULTS, **cfg.get("data", {})}


def class_names(cfg: dict) -> tuple[str, ...]:
    """Class names of the config's data set (folder: as recorded at training, else read)."""
    d = data_section(cfg)
    if d["dataset"] == "fmnist":
        return CLASSES
    if d["classes"]:
        return tuple(d["classes"])
    return tuple(folder_classes(d["train"]))


def _folder_split(cfg: dict, name: str) -> Split:
    d = data_section(cfg)
    if name == "test" or (name == "val" and d["val"]):
        split, classes = load_folder(d[name], cfg)
    else:
        full, classes = load_folder(d["train"], cfg)
        order = np.random.default_rng(SPLIT_SEED).permutation(len(full.labels))
        n_val = max(1, int(round(d["val_fraction"] * len(full.labels))))
        if d["val"]:
            n_val = 0  # a separate val folder: the whole train folder trains
        idx = np.sort(order[:n_val] if name == "val" else order[n_val:])
        if not len(idx):
            raise SievitError(f"image folder {d['train']} is too small for a {name} split")
        split = Split(full.images[idx], full.labels[idx])
    expected = class_names(cfg)
    if tuple(classes) != tuple(expected):
        raise SievitError(f"image folder {d['test' if name == 'test' else 'train']} has classes "
                          f"{list(classes)}, the config expects {list(expected)}")
    return split


def config_split(cfg: dict, name: str, n: int | None = None) -> Split:
    """'train', 'val' or 'test' of the config's data set at its input shape (the first n
    images when n is given). Fashion-MNIST: 55k / 5k (fixed split) / 10k; folder:
    data.val_fraction of data.train (fixed seed) is validation unless data.val names a
    folder, data.test is the test folder."""
    if name not in ("train", "val", "test"):
        raise SievitError(f"unknown split {name!r}: use train, val or test")
    if n is not None and n <= 0:
        raise SievitError(f"--images must be positive, got {n}")
    d = data_section(cfg)
    n_cls = cfg["model"]["num_classes"]
    if d["dataset"] == "fmnist":
        split = load_split(name)
        split = Split(split.images[:n], split.labels[:n])
        return Split(resize_to(cfg, split.images), split.labels)  # resize only what is used
    split = _folder_split(cfg, name)
    if len(class_names(cfg)) != n_cls:
        raise SievitError(f"image folder {d['train']} has {len(class_names(cfg))} classes, "
                          f"model.num_classes is {n_cls}")
    return Split(split.images[:n], split.labels[:n])


def config_test_images(cfg: dict, n: int | None) -> Split:
    """The first n test images (all when n is None) of the config's data set at its shape."""
    return config_split(cfg, "test", n)


def first_images_for(cfg: dict, n: int | None) -> np.ndarray:
    """The first n test images of the config's data set at its input shape."""
    return config_test_images(cfg, n).images
