"""Datasets as ready ``tf.data`` pipelines, at every scale the project trains at.

:func:`load` is the one entry point. Small datasets (``digits``, ``fashion_mnist``) are held in memory, normalised
with their own training-set statistics, and augmented with pad-crop (and flip where it keeps the class). Large ones
(``imagenette``, ``imagenet2012``, an image ``folder``, ``synthetic``) go through larq-zoo's ImageNet preprocessing
(random resized crop + flip for training, centre crop for evaluation, per-channel normalisation), as the paper did.

Nothing is downloaded unless asked: a missing dataset raises :class:`DatasetNotFoundError`, which says where it looked
and how to get it. ``python -m lab.data fetch NAME`` gets one (``make data`` runs it for Fashion-MNIST).
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from lab.provenance import REPO_ROOT

DATASETS = ("digits", "fashion_mnist", "imagenette", "imagenet2012", "folder", "synthetic")
SPLITS = ("train", "validation")
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


class Pipeline(NamedTuple):
    """A batched ``tf.data`` pipeline of ``(image, label)`` and what a model built for it needs to know."""

    dataset: tf.data.Dataset
    num_examples: int
    num_classes: int
    input_shape: tuple[int, int, int]


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
    dirs = fashion_mnist_dirs(data_dir)
    paths = [_find_file(dirs, name) for name in FASHION_MNIST_FILES[split]]
    if None in paths:
        raise DatasetNotFoundError(
            f"Fashion-MNIST ({split}) not found; looked for {' and '.join(FASHION_MNIST_FILES[split])}[.gz] in "
            + ", ".join(str(d) for d in dirs)
            + ". Get it with `make data` (apt-get install dataset-fashion-mnist, or the Keras download).")
    images, labels = (read_idx(p) for p in paths)
    return images[..., None], labels.astype(np.int64)


def load_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (offline), split 80/20 by a fixed permutation."""
    from sklearn.datasets import load_digits as sk_digits

    digits = sk_digits()
    images = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)[..., None]
    order = np.random.default_rng(0).permutation(len(images))
    cut = int(0.8 * len(images))
    index = order[:cut] if split == "train" else order[cut:]
    return images[index], digits.target[index].astype(np.int64)


# --------------------------------------------------------------------------------------------------- pipelines
def _small_image_pipeline(images: np.ndarray, labels: np.ndarray, *, mean: float, std: float, image_size: int,
                          training: bool, flip: bool, seed: int) -> tf.data.Dataset:
    """Normalise, resize and (for training) pad-crop/flip in-memory images, with per-example stateless seeds.

    Stateless ops seeded from ``Dataset.random`` keep augmentation reproducible under op determinism while still
    drawing new crops every epoch.
    """
    pad = max(1, image_size // 8)
    channels = images.shape[-1]

    def prepare(image, label):
        image = (tf.cast(image, tf.float32) - mean) / std
        return tf.image.resize(image, (image_size, image_size)), label

    def augment(element, seeds):
        (image, label), seeds = element, tf.reshape(seeds, [1]) + tf.constant([0, 1], tf.int64)
        image = tf.image.pad_to_bounding_box(image, pad, pad, image_size + 2 * pad, image_size + 2 * pad)
        image = tf.image.stateless_random_crop(image, (image_size, image_size, channels), seed=seeds)
        if flip:
            image = tf.image.stateless_random_flip_left_right(image, seed=seeds[::-1])
        return image, label

    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if training:
        ds = ds.shuffle(len(images), seed=seed)
    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    if training:
        random = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip((ds, random)).map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    return ds


def _small_dataset(name, split, *, image_size, data_dir, seed, limit):
    """In-memory pipeline for ``digits`` / ``fashion_mnist``, normalised with training-set statistics."""
    def load_split(s):
        return load_digits(s) if name == "digits" else load_fashion_mnist(s, data_dir)

    train_images, _ = load_split("train")
    images, labels = load_split(split)
    images, labels = images[:limit], labels[:limit]
    mean, std = float(train_images.mean()), float(train_images.std())
    ds = _small_image_pipeline(images, labels, mean=mean, std=std, image_size=image_size, training=split == "train",
                               flip=name == "fashion_mnist", seed=seed)
    return ds, len(images), 10, (image_size, image_size, images.shape[-1])


def _tfds_dataset(name, split, *, image_size, data_dir, download, seed):
    """Encoded JPEG bytes from TensorFlow Datasets (never downloaded unless ``download``)."""
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
    ds = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()},
                            shuffle_files=split == "train", read_config=tfds.ReadConfig(shuffle_seed=seed))
    ds = ds.map(lambda x: (x["image"], x["label"]))
    return (ds, builder.info.splits[split].num_examples, builder.info.features["label"].num_classes,
            (image_size, image_size, 3))


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


def _folder_dataset(split, *, image_size, data_dir):
    """JPEG bytes from an image folder (see :func:`list_image_folder`)."""
    if data_dir is None:
        raise ValueError("data_dir: the 'folder' dataset needs data_dir=<root of class/image.jpg folders>")
    files, labels, classes = list_image_folder(data_dir, split)
    ds = tf.data.Dataset.from_tensor_slices((files, np.asarray(labels, np.int64)))
    ds = ds.map(lambda f, y: (tf.io.read_file(f), y))
    return ds, len(files), len(classes), (image_size, image_size, 3)


def _synthetic_dataset(split, *, image_size, seed, limit):
    """Random ImageNet-shaped JPEGs (a small pool, cycled) for throughput checks without data."""
    count = limit or (1024 if split == "train" else 256)
    rng = np.random.default_rng(seed)
    pool = [tf.io.encode_jpeg(rng.integers(0, 256, (256, 320, 3), dtype=np.uint8)).numpy() for _ in range(16)]
    labels = rng.integers(0, SYNTHETIC_CLASSES, count)
    ds = tf.data.Dataset.from_tensor_slices(([pool[i % len(pool)] for i in range(count)], labels))
    return ds, count, SYNTHETIC_CLASSES, (image_size, image_size, 3)


def _larq_zoo_preprocess(ds: tf.data.Dataset, *, image_size: int, training: bool) -> tf.data.Dataset:
    """larq-zoo's ImageNet preprocessing of JPEG bytes (random resized crop + flip, or centre crop)."""
    from larq_zoo.training.data import preprocess_image_bytes

    return ds.map(lambda b, y: (preprocess_image_bytes(b, is_training=training, image_size=image_size), y),
                  num_parallel_calls=tf.data.AUTOTUNE)


def check_args(*, name: str, split: str = "train", image_size: int | None = None, batch_size: int = 1,
               limit: int | None = None) -> None:
    """Raise ``ValueError`` naming the first bad argument of :func:`load`."""
    if name not in DATASETS:
        raise ValueError(f"dataset: unknown dataset {name!r}; choose one of {DATASETS}")
    if split not in SPLITS:
        raise ValueError(f"split: must be one of {SPLITS}, got {split!r}")
    if image_size is not None and (not isinstance(image_size, int) or image_size < 8):
        raise ValueError(f"image_size: must be an integer >= 8, got {image_size!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size: must be a positive integer, got {batch_size!r}")
    if limit is not None and (not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"limit: must be a positive integer or None, got {limit!r}")


def load(name: str, *, split: str = "train", batch_size: int = 64, image_size: int | None = None,
         limit: int | None = None, data_dir: str | os.PathLike | None = None, seed: int = 0,
         download: bool = False) -> Pipeline:
    """A batched, prefetched ``(image, label)`` pipeline of dataset ``name`` and its example count.

    Args:
        name: one of :data:`DATASETS`.
        split: ``"train"`` (shuffled with ``seed``, augmented) or ``"validation"`` (fixed order).
        batch_size: examples per batch.
        image_size: side of the square images fed to the model (default :data:`DEFAULT_IMAGE_SIZE`).
        limit: keep only the first ``limit`` examples of the split (for small-scale runs; a fixed subset except for
            TFDS training splits, whose files are read in shuffled order).
        data_dir: where the data lives: Fashion-MNIST IDX folder, TFDS ``data_dir``, or the image folder root.
        seed: shuffling and augmentation seed.
        download: allow TFDS to download and prepare a missing dataset.
    """
    check_args(name=name, split=split, image_size=image_size, batch_size=batch_size, limit=limit)
    image_size = image_size or DEFAULT_IMAGE_SIZE[name]
    training = split == "train"
    if name in ("digits", "fashion_mnist"):
        ds, count, classes, shape = _small_dataset(name, split, image_size=image_size, data_dir=data_dir, seed=seed,
                                                   limit=limit)
    else:
        if name == "synthetic":
            ds, count, classes, shape = _synthetic_dataset(split, image_size=image_size, seed=seed, limit=limit)
        elif name == "folder":
            ds, count, classes, shape = _folder_dataset(split, image_size=image_size, data_dir=data_dir)
        else:
            ds, count, classes, shape = _tfds_dataset(name, split, image_size=image_size, data_dir=data_dir,
                                                      download=download, seed=seed)
        if limit is not None:
            ds, count = ds.take(limit), min(count, limit)
        if training:
            ds = ds.shuffle(min(count, 10_000), seed=seed)
        ds = _larq_zoo_preprocess(ds, image_size=image_size, training=training)
    ds = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    return Pipeline(ds, count, classes, shape)


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


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m lab.data fetch NAME``: obtain a dataset and say what was done."""
    parser = argparse.ArgumentParser(prog="python -m lab.data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="obtain a dataset")
    fetch.add_argument("name", choices=("fashion_mnist", *TFDS_NAMES))
    fetch.add_argument("--data-dir", default=None, help="TFDS data_dir (default data/tensorflow_datasets)")
    fetch.add_argument("--manual-dir", default=None, help="folder holding ImageNet's ILSVRC2012 tarballs")
    args = parser.parse_args(argv)
    if args.name == "fashion_mnist":
        print(fetch_fashion_mnist())
    else:
        print(fetch_tfds(args.name, args.data_dir, args.manual_dir))


if __name__ == "__main__":
    main(sys.argv[1:])
