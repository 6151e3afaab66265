"""Where each dataset's examples come from: the names `lab.data.load` accepts, finding and reading the files
(Fashion-MNIST's IDX files, scikit-learn's digits, an image folder, a prepared TFDS dataset), and getting a missing
dataset (``python -m lab.data fetch NAME``).

Nothing is downloaded unless asked: a missing dataset raises :class:`DatasetNotFoundError`, which says where it looked
and how to get it. Cheap to import (no TensorFlow); the input pipelines built from these sources are `lab.data`'s.
"""
from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

import numpy as np

from lab.provenance import REPO_ROOT

DATASETS = ("digits", "fashion_mnist", "imagenette", "imagenet2012", "folder", "synthetic")
TFDS_NAMES = {"imagenette": "imagenette/full-size-v2", "imagenet2012": "imagenet2012"}
DEFAULT_TFDS_DIR = REPO_ROOT / "data" / "tensorflow_datasets"
FASHION_MNIST_DIRS = (
    REPO_ROOT / "data" / "fashion-mnist",
    Path("/usr/share/datasets/fashion-mnist"),
    Path.home() / ".keras" / "datasets" / "fashion-mnist",
)
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "validation": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# The image size each dataset is used at unless the caller picks another.
DEFAULT_IMAGE_SIZE = {"digits": 32, "fashion_mnist": 28, "imagenette": 224, "imagenet2012": 224, "folder": 224,
                      "synthetic": 224}
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".JPG", ".JPEG")
SYNTHETIC_CLASSES = 1000


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not on disk; the message says where we looked and how to get it."""


# --------------------------------------------------------------------------------------------------- IDX files
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (the MNIST format; plain or ``.gz``) into a numpy array.

    The header is two zero bytes, a type code, the number of dimensions, then one big-endian uint32 per dimension.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x00\x00":
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    dtype, ndim = dtypes[raw[2]], raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    return np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(shape).astype(np.dtype(dtype).newbyteorder("="))


def _find_file(dirs: Sequence[Path], name: str) -> Path | None:
    """First of ``dir/name`` or ``dir/name.gz`` that exists."""
    for d in dirs:
        for candidate in (d / name, d / (name + ".gz")):
            if candidate.is_file():
                return candidate
    return None


def fashion_mnist_dirs(data_dir: str | os.PathLike | None = None) -> tuple[Path, ...]:
    """Where Fashion-MNIST is looked for, in order (``data_dir`` first when given)."""
    return ((Path(data_dir),) if data_dir else ()) + FASHION_MNIST_DIRS


def load_fashion_mnist(split: str, data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST ``split`` as uint8 images ``(N, 28, 28, 1)`` and int labels."""
    paths = _fashion_mnist_files(split, data_dir)
    images, labels = (read_idx(p) for p in paths)
    return images[..., None], labels.astype(np.int64)


def _fashion_mnist_files(split: str, data_dir: str | os.PathLike | None) -> list[Path]:
    """The IDX files (images, labels) of Fashion-MNIST ``split``, or `DatasetNotFoundError` saying where lab looked
    and how to get them."""
    dirs = fashion_mnist_dirs(data_dir)
    paths = [_find_file(dirs, name) for name in FASHION_MNIST_FILES[split]]
    if None in paths:
        raise DatasetNotFoundError(
            f"Fashion-MNIST ({split}) not found; looked for {' and '.join(FASHION_MNIST_FILES[split])}[.gz] in "
            + ", ".join(str(d) for d in dirs)
            + ". Get it with `make data` (`python -m lab.data fetch fashion_mnist`: apt-get install "
            "dataset-fashion-mnist, or the Keras download).")
    return paths


def load_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (offline), split 80/20 by a fixed permutation."""
    from sklearn.datasets import load_digits as sk_digits

    digits = sk_digits()
    images = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)[..., None]
    order = np.random.default_rng(0).permutation(len(images))
    cut = int(0.8 * len(images))
    index = order[:cut] if split == "train" else order[cut:]
    return images[index], digits.target[index].astype(np.int64)


# --------------------------------------------------------------------------------------------------- folders, TFDS
def list_image_folder(root: str | os.PathLike, split: str) -> tuple[list[str], list[int], list[str]]:
    """Files and labels of a ``class/image.jpg`` folder.

    ``root/train/`` and ``root/validation/`` (or ``root/val/``) are used when present; otherwise every 10th file of
    each class (in name order) is held out for validation.
    """
    root = Path(root)
    subdirs = {"train": ["train"], "validation": ["validation", "val"]}[split]
    split_root = next((root / s for s in subdirs if (root / s).is_dir()), None)
    base = split_root or root
    classes = sorted(d.name for d in base.iterdir() if d.is_dir()) if base.is_dir() else []
    files, labels = [], []
    for label, cls in enumerate(classes):
        names = sorted(p for p in (base / cls).iterdir() if p.suffix in IMAGE_EXTENSIONS)
        if split_root is None:
            names = [p for i, p in enumerate(names) if (i % 10 == 9) == (split == "validation")]
        files += [str(p) for p in names]
        labels += [label] * len(names)
    if not files:
        raise DatasetNotFoundError(f"no JPEG images in {base}/<class>/*.jpg; put one folder of images per class there"
                                   " (optionally under train/ and validation/) and pass it as data_dir.")
    return files, labels, classes


def tfds_builder(name: str, data_dir: str | os.PathLike | None = None, *, download: bool = False):
    """The TFDS builder of a prepared ``name`` (``imagenette``, ``imagenet2012``) under ``data_dir``; prepared now
    when ``download``, else `DatasetNotFoundError` saying how to get it."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    data_dir = Path(data_dir or DEFAULT_TFDS_DIR)
    builder = tfds.builder(TFDS_NAMES[name], data_dir=str(data_dir))
    if not tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json")):
        if not download:
            how = ("download ImageNet's ILSVRC2012 train/val tarballs yourself into a manual dir, then run "
                   f"`python -m lab.data fetch imagenet2012 --manual-dir DIR --data-dir {data_dir}`"
                   if name == "imagenet2012" else f"run `python -m lab.data fetch {name} --data-dir {data_dir}`")
            raise DatasetNotFoundError(f"{name} not prepared at {builder.data_dir}; {how} (or pass download=True).")
        builder.download_and_prepare()
    return builder


def tfds_split_size(builder, split: str) -> int:
    """The examples in ``split`` of a prepared TFDS dataset: as its metadata records them, else as TFDS's dataset of
    the split counts them (metadata without split sizes: a dataset's code-derived metadata, as
    ``tfds.testing.mock_data`` serves it)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    if split in builder.info.splits:
        return builder.info.splits[split].num_examples
    examples = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
    count = int(examples.cardinality())
    return count if count >= 0 else int(examples.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))


def locate(name: str, data_dir: str | os.PathLike | None = None) -> Path | str:
    """Where `lab.data.load` finds dataset ``name``: its folder, or in words what makes its examples; never
    downloads: `DatasetNotFoundError` saying where lab looked and the command that gets it when it is not there."""
    if name == "digits":
        return "scikit-learn's bundled digits (offline)"
    if name == "synthetic":
        return "random JPEGs made on the fly"
    if name == "folder":
        if data_dir is None:
            raise ValueError("data_dir: the 'folder' dataset needs data_dir=<root of class/image.jpg folders>")
        list_image_folder(data_dir, "train")
        return Path(data_dir)
    if name == "fashion_mnist":
        images = [_fashion_mnist_files(split, data_dir)[0] for split in FASHION_MNIST_FILES]
        return images[0].parent
    return Path(tfds_builder(name, data_dir).data_dir)


# --------------------------------------------------------------------------------------------------- fetching
def fetch_fashion_mnist(target: Path = FASHION_MNIST_DIRS[0]) -> str:
    """Get Fashion-MNIST: already there, else the Debian package (as root with apt), else the Keras download."""
    if all(_find_file(FASHION_MNIST_DIRS, n) for files in FASHION_MNIST_FILES.values() for n in files):
        found = _find_file(FASHION_MNIST_DIRS, FASHION_MNIST_FILES["train"][0]).parent
        return f"Fashion-MNIST already present in {found}; nothing to do."
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("installing Debian package dataset-fashion-mnist with apt-get ...", flush=True)
        done = subprocess.run(["apt-get", "install", "-y", "dataset-fashion-mnist"], check=False)
        if done.returncode == 0 and _find_file(FASHION_MNIST_DIRS[1:2], FASHION_MNIST_FILES["train"][0]):
            return f"installed dataset-fashion-mnist; files in {FASHION_MNIST_DIRS[1]}."
        print("apt-get did not provide the files; trying the Keras download.", flush=True)
    import tensorflow as tf

    target.mkdir(parents=True, exist_ok=True)
    for files in FASHION_MNIST_FILES.values():
        for name in files:
            tf.keras.utils.get_file(str(target.resolve() / (name + ".gz")), FASHION_MNIST_URL + name + ".gz")
    return f"downloaded Fashion-MNIST from {FASHION_MNIST_URL} into {target}."


def fetch_tfds(name: str, data_dir: str | os.PathLike | None = None, manual_dir: str | None = None) -> str:
    """Download and prepare a TFDS dataset (ImageNet needs its tarballs in ``manual_dir``)."""
    import tensorflow_datasets as tfds

    data_dir = str(data_dir or DEFAULT_TFDS_DIR)
    builder = tfds.builder(TFDS_NAMES[name], data_dir=data_dir)
    config = tfds.download.DownloadConfig(manual_dir=manual_dir) if manual_dir else None
    builder.download_and_prepare(download_config=config)
    return f"{name} prepared in {builder.data_dir}."
