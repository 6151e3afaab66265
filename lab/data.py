"""Datasets as ready ``tf.data`` pipelines, at every scale the project trains at.

:func:`load` is the one entry point. Small datasets (``digits``, ``fashion_mnist``) are held in memory, normalised
with their own training-set statistics, and augmented with pad-crop (and flip where it keeps the class). Large ones
(``imagenette``, ``imagenet2012``, an image ``folder``, ``synthetic``) go through larq-zoo's ImageNet preprocessing
(random resized crop + flip for training, centre crop for evaluation, per-channel normalisation), as the paper did.
Training epoch ``e`` is shuffled and augmented with stateless random ops keyed by ``(seed, e)`` alone (see
:class:`Pipeline`), so a resumed run sees the data an uninterrupted one would.

Where the examples come from (files, TFDS, fetching a missing dataset) is `lab.sources`'. Nothing is downloaded
unless asked: a missing dataset raises :class:`DatasetNotFoundError`, which says where it looked and how to get it.
``python -m lab.data fetch NAME`` gets one (``make data`` runs it for Fashion-MNIST).
"""
from __future__ import annotations

import argparse
import functools
import math
import os
import sys
from typing import Callable, NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from lab import sources, validate
# Re-exported: what a caller of `load` needs (lab.data.DATASETS, lab.data.DatasetNotFoundError, ...).
from lab.sources import DATASETS, DEFAULT_IMAGE_SIZE, SYNTHETIC_CLASSES, DatasetNotFoundError  # noqa: F401

SPLITS = ("train", "validation")


class Pipeline(NamedTuple):
    """Batched ``(image, label)`` epochs of one split and what a model built for it needs to know.

    ``epochs(initial_epoch, epochs)`` is epochs ``initial_epoch .. epochs - 1`` (Keras' numbering) back to back, each
    exactly ``steps_per_epoch`` batches. Epoch ``e`` of a training split is shuffled and augmented as a function of
    ``(seed, e)`` alone, so a run resumed at epoch ``e`` sees what an uninterrupted one would; every epoch of a
    validation split is the split in file order.
    """

    epochs: Callable[[int, int], tf.data.Dataset]
    num_examples: int
    num_classes: int
    input_shape: tuple[int, int, int]
    steps_per_epoch: int

    @property
    def dataset(self) -> tf.data.Dataset:
        """Epoch 0 alone."""
        return self.epochs(0, 1)


# --------------------------------------------------------------------------------------------------- randomness
# Streams of an epoch's key: the order of its examples, and their augmentation.
ORDER, AUGMENT = 0, 1


def fold_in(key: tf.Tensor, data) -> tf.Tensor:
    """A new stateless-RNG key from ``key`` and the integer ``data`` (a scalar tensor or int)."""
    return tf.random.experimental.stateless_fold_in(key, tf.cast(data, tf.int64))


def epoch_key(seed: int, epoch) -> tf.Tensor:
    """The stateless-RNG key of training epoch ``epoch`` (int or scalar tensor): a function of ``(seed, epoch)``
    alone, so an epoch draws the same order and crops in a fresh process as after the epochs before it."""
    return fold_in(tf.constant([0, seed], tf.int64), epoch)


def example_keys(key: tf.Tensor, count) -> tf.Tensor:
    """``count`` pairs of stateless-RNG keys (shape ``[count, 2, 2]``) drawn from ``key``: one pair per example of an
    epoch, for its two random choices (crop, flip)."""
    return tf.random.stateless_uniform([count, 2, 2], seed=key, minval=None, maxval=None, dtype=tf.int64)


def epoch_seed(seed: int, epoch: int) -> int:
    """An integer seed of epoch ``epoch`` for APIs that take no tensor seed (TFDS's file shuffling)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


# --------------------------------------------------------------------------------------------------- pipelines
def _small_transform(*, mean: float, std: float, image_size: int, channels: int, training: bool, flip: bool):
    """``(uint8 image, label, keys) -> (image, label)``: normalise and resize, and for training pad-crop (and flip)
    with stateless ops seeded by ``keys`` (see :func:`example_keys`)."""
    pad = max(1, image_size // 8)

    def transform(image, label, keys):
        image = tf.image.resize((tf.cast(image, tf.float32) - mean) / std, (image_size, image_size))
        if training:
            crop_key, flip_key = keys[0], keys[1]
            image = tf.image.pad_to_bounding_box(image, pad, pad, image_size + 2 * pad, image_size + 2 * pad)
            image = tf.image.stateless_random_crop(image, (image_size, image_size, channels), seed=crop_key)
            if flip:
                image = tf.image.stateless_random_flip_left_right(image, seed=flip_key)
        return image, label

    return transform


def _imagenet_train_image(image_bytes, image_size: int, keys):
    """larq-zoo's ImageNet training preprocessing (random resized crop, flip, normalisation) with stateless random
    ops seeded by ``keys`` (see :func:`example_keys`): larq-zoo's own draw from per-process op state, which a resumed
    run would not continue."""
    from larq_zoo.training import data as zoo

    crop_key, flip_key = keys[0], keys[1]
    shape = tf.image.extract_jpeg_shape(image_bytes)
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape, bounding_boxes=tf.constant([0.0, 0.0, 1.0, 1.0], shape=[1, 1, 4]), seed=crop_key,
        min_object_covered=0.1, aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0), max_attempts=10,
        use_image_if_no_bounding_boxes=True)
    window = tf.stack([begin[0], begin[1], size[0], size[1]])
    image = tf.image.decode_and_crop_jpeg(image_bytes, window, channels=3)
    image = tf.cond(zoo._at_least_x_are_equal(shape, tf.shape(image), 3),  # no crop found: centre crop
                    lambda: zoo._decode_and_center_crop(image_bytes, image_size),
                    lambda: tf.compat.v1.image.resize_bicubic([image], [image_size, image_size])[0])
    image = tf.image.stateless_random_flip_left_right(image, seed=flip_key)
    image = tf.cast(tf.reshape(image, [image_size, image_size, 3]), tf.float32)
    return zoo._normalize(image, mean_rgb=zoo.MEAN_RGB, stddev_rgb=zoo.STDDEV_RGB)


def _jpeg_transform(*, image_size: int, training: bool, read=lambda source: source):
    """``(source, label, keys) -> (image, label)``: the JPEG bytes ``read(source)`` through larq-zoo's ImageNet
    preprocessing (random resized crop + flip seeded by ``keys`` for training, centre crop for evaluation)."""
    from larq_zoo.training.data import preprocess_image_bytes

    def transform(source, label, keys):
        image_bytes = read(source)
        if training:
            return _imagenet_train_image(image_bytes, image_size, keys), label
        return preprocess_image_bytes(image_bytes, is_training=False, image_size=image_size), label

    return transform


def _in_memory_epochs(examples: Sequence[np.ndarray], transform, *, training: bool, seed: int):
    """``(initial_epoch, epochs, per_epoch) -> dataset`` of in-memory ``examples`` (arrays, one row per example):
    epochs ``initial_epoch .. epochs - 1``, each passed through ``per_epoch`` (batching), back to back.

    Epoch ``e`` of a training split visits every example once, in a permutation drawn from ``epoch_key(seed, e)``,
    and augments the example at position ``i`` with the ``i``-th of :func:`example_keys` drawn from that key too: a
    function of ``(seed, e)`` alone.
    """
    tensors = tuple(tf.constant(array) for array in examples)
    count = len(examples[0])

    def one_epoch(epoch):
        key = epoch_key(seed, epoch)
        order = tf.range(count, dtype=tf.int64)
        if training:
            order = tf.random.experimental.stateless_shuffle(order, seed=fold_in(key, ORDER))
        keys = example_keys(fold_in(key, AUGMENT), count)  # all at once: far cheaper than per example

        def example(i, pair):
            return transform(*(tf.gather(t, i) for t in tensors), pair)

        return tf.data.Dataset.from_tensor_slices((order, keys)).map(example, num_parallel_calls=tf.data.AUTOTUNE)

    def epochs(initial_epoch: int, stop: int, per_epoch):
        return tf.data.Dataset.range(initial_epoch, stop).flat_map(lambda e: per_epoch(one_epoch(e)))

    return epochs


@functools.lru_cache(maxsize=None)
def _small_split(name: str, split: str, data_dir) -> tuple[np.ndarray, np.ndarray]:
    """A split of ``digits`` / ``fashion_mnist``, read once per process (read-only): a worker that trains many runs,
    and each run's two pipelines, share it."""
    images, labels = sources.load_digits(split) if name == "digits" else sources.load_fashion_mnist(split, data_dir)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


@functools.lru_cache(maxsize=None)
def _train_statistics(name: str, data_dir) -> tuple[float, float]:
    """Mean and standard deviation of the training split's pixels (the normalisation of every split)."""
    images, _ = _small_split(name, "train", data_dir)
    return float(images.mean()), float(images.std())


def clear_cache() -> None:
    """Forget the in-memory splits and statistics (the benchmark's "no data cache" setting)."""
    _small_split.cache_clear()
    _train_statistics.cache_clear()


def _small_dataset(name, split, *, image_size, data_dir, seed, limit):
    """In-memory ``digits`` / ``fashion_mnist``, normalised with training-set statistics."""
    data_dir = str(data_dir) if data_dir is not None else None  # one cache entry per folder, however it is given
    images, labels = _small_split(name, split, data_dir)
    images, labels = images[:limit], labels[:limit]
    mean, std = _train_statistics(name, data_dir)
    transform = _small_transform(mean=mean, std=std, image_size=image_size, channels=images.shape[-1],
                                 training=split == "train", flip=name == "fashion_mnist")
    epochs = _in_memory_epochs((images, labels), transform, training=split == "train", seed=seed)
    return epochs, len(images), 10, (image_size, image_size, images.shape[-1])


def _tfds_dataset(name, split, *, image_size, data_dir, download, seed, limit):
    """Encoded JPEG bytes from TensorFlow Datasets (never downloaded unless ``download``).

    TFDS reads its files through its own pipeline, so an epoch is built per epoch number: training epoch ``e``
    reads the files in an order seeded by ``epoch_seed(seed, e)`` without reshuffling between iterations, shuffles
    in a 10,000-example buffer seeded the same way (``Dataset.shuffle`` combines that seed with TF's global seed,
    which `lab.loop.fit` sets from ``seed``), and augments the example at position ``i`` with keys drawn
    from ``epoch_key(seed, e)`` folded with ``i``.
    """
    import tensorflow_datasets as tfds

    builder = sources.tfds_builder(name, data_dir, download=download)
    training = split == "train"
    count = min(sources.tfds_split_size(builder, split), limit or math.inf)
    transform = _jpeg_transform(image_size=image_size, training=training)

    def one_epoch(epoch: int):
        read = tfds.ReadConfig(shuffle_seed=epoch_seed(seed, epoch), shuffle_reshuffle_each_iteration=False)
        ds = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()}, shuffle_files=training,
                                read_config=read)
        ds = ds.map(lambda x: (x["image"], x["label"])).take(count)
        if training:
            ds = ds.shuffle(min(count, 10_000), seed=epoch_seed(seed, epoch), reshuffle_each_iteration=False)
        augment_key = fold_in(epoch_key(seed, epoch), AUGMENT)

        def example(i, image_and_label):  # keys per position: all at once would hold them for every epoch built
            return transform(*image_and_label, example_keys(fold_in(augment_key, i), 1)[0])

        return ds.enumerate().map(example, num_parallel_calls=tf.data.AUTOTUNE)

    def epochs(initial_epoch: int, stop: int, per_epoch):
        return functools.reduce(tf.data.Dataset.concatenate,
                                (per_epoch(one_epoch(e)) for e in range(initial_epoch, stop)))

    return epochs, count, builder.info.features["label"].num_classes, (image_size, image_size, 3)


def _folder_dataset(split, *, image_size, data_dir, seed, limit):
    """JPEG files of an image folder (see `lab.sources.list_image_folder`), read as each example is needed."""
    if data_dir is None:
        raise ValueError("data_dir: the 'folder' dataset needs data_dir=<root of class/image.jpg folders>")
    files, labels, classes = sources.list_image_folder(data_dir, split)
    files, labels = np.asarray(files)[:limit], np.asarray(labels, np.int64)[:limit]
    transform = _jpeg_transform(image_size=image_size, training=split == "train", read=tf.io.read_file)
    epochs = _in_memory_epochs((files, labels), transform, training=split == "train", seed=seed)
    return epochs, len(files), len(classes), (image_size, image_size, 3)


def _synthetic_dataset(split, *, image_size, seed, limit):
    """Random ImageNet-shaped JPEGs (a pool of 16, cycled) for throughput checks without data."""
    count = limit or (1024 if split == "train" else 256)
    rng = np.random.default_rng(seed)
    pool = tf.constant([tf.io.encode_jpeg(rng.integers(0, 256, (256, 320, 3), dtype=np.uint8)).numpy()
                        for _ in range(16)])
    labels = rng.integers(0, SYNTHETIC_CLASSES, count)
    transform = _jpeg_transform(image_size=image_size, training=split == "train",
                                read=lambda index: tf.gather(pool, index))
    epochs = _in_memory_epochs((np.arange(count) % len(pool), labels), transform, training=split == "train",
                               seed=seed)
    return epochs, count, SYNTHETIC_CLASSES, (image_size, image_size, 3)


def check_args(*, name: str, split: str = "train", image_size: int | None = None, batch_size: int = 1,
               limit: int | None = None, steps_per_epoch: int | None = None) -> None:
    """Raise ``ValueError`` naming the first bad argument of :func:`load`."""
    validate.choice("dataset", name, DATASETS)
    validate.choice("split", split, SPLITS)
    validate.integer("image_size", image_size, 8, none=True)
    validate.integer("batch_size", batch_size, 1)
    validate.integer("limit", limit, 1, none=True)
    validate.integer("steps_per_epoch", steps_per_epoch, 1, none=True)


def load(name: str, *, split: str = "train", batch_size: int = 64, image_size: int | None = None,
         limit: int | None = None, data_dir: str | os.PathLike | None = None, seed: int = 0,
         download: bool = False, steps_per_epoch: int | None = None) -> Pipeline:
    """Batched, prefetched ``(image, label)`` epochs of dataset ``name`` (see :class:`Pipeline`).

    Args:
        name: one of :data:`DATASETS`.
        split: ``"train"`` (shuffled and augmented per epoch from ``seed``) or ``"validation"`` (fixed order).
        batch_size: examples per batch.
        image_size: side of the square images fed to the model (default :data:`DEFAULT_IMAGE_SIZE`).
        limit: keep only the first ``limit`` examples of the split (for small-scale runs; a fixed subset except for
            TFDS training splits, whose epochs read the files in their own shuffled order).
        data_dir: where the data lives: Fashion-MNIST IDX folder, TFDS ``data_dir``, or the image folder root.
        seed: shuffling and augmentation seed.
        download: allow TFDS to download and prepare a missing dataset.
        steps_per_epoch: cap on the batches of an epoch (None: every example once).
    """
    check_args(name=name, split=split, image_size=image_size, batch_size=batch_size, limit=limit,
               steps_per_epoch=steps_per_epoch)
    image_size = image_size or DEFAULT_IMAGE_SIZE[name]
    common = dict(image_size=image_size, seed=seed, limit=limit)
    if name in ("digits", "fashion_mnist"):
        source, count, classes, shape = _small_dataset(name, split, data_dir=data_dir, **common)
    elif name == "synthetic":
        source, count, classes, shape = _synthetic_dataset(split, **common)
    elif name == "folder":
        source, count, classes, shape = _folder_dataset(split, data_dir=data_dir, **common)
    else:
        source, count, classes, shape = _tfds_dataset(name, split, data_dir=data_dir, download=download, **common)
    steps = min(math.ceil(count / batch_size), steps_per_epoch or math.inf)

    def epochs(initial_epoch: int = 0, epochs: int = 1) -> tf.data.Dataset:
        if not 0 <= initial_epoch < epochs:
            raise ValueError(f"initial_epoch, epochs: must satisfy 0 <= initial_epoch < epochs, got "
                             f"{initial_epoch!r}, {epochs!r}")
        # Batched per epoch, so an epoch's last (partial) batch never mixes in the next epoch's examples.
        return source(initial_epoch, epochs, lambda ds: ds.batch(batch_size).take(steps)).prefetch(tf.data.AUTOTUNE)

    return Pipeline(epochs, count, classes, shape, steps)


# --------------------------------------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> None:
    """``python -m lab.data fetch NAME``: obtain a dataset and say what was done."""
    parser = argparse.ArgumentParser(prog="python -m lab.data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="obtain a dataset")
    fetch.add_argument("name", choices=("fashion_mnist", *sources.TFDS_NAMES))
    fetch.add_argument("--data-dir", default=None, help="TFDS data_dir (default data/tensorflow_datasets)")
    fetch.add_argument("--manual-dir", default=None, help="folder holding ImageNet's ILSVRC2012 tarballs")
    args = parser.parse_args(argv)
    if args.name == "fashion_mnist":
        print(sources.fetch_fashion_mnist())
    else:
        print(sources.fetch_tfds(args.name, args.data_dir, args.manual_dir))


if __name__ == "__main__":
    main(sys.argv[1:])
