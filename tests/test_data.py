"""lab.sources and lab.data: the IDX parser, the small-image and JPEG pipelines, missing-data errors, argument
checks, fetching."""
import gzip
import struct

import numpy as np
import pytest
import tensorflow as tf

from lab import data, sources


def write_idx(path, array):
    """An IDX file written from the format's description (independent of lab.sources.read_idx)."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, ">i4", ">f4"])
def test_read_idx_roundtrip(tmp_path, suffix, dtype):
    array = np.arange(2 * 3 * 5).reshape(2, 3, 5).astype(dtype)
    write_idx(tmp_path / f"x{suffix}", array)
    parsed = sources.read_idx(tmp_path / f"x{suffix}")
    assert parsed.shape == (2, 3, 5) and parsed.dtype.byteorder in "=|"
    np.testing.assert_array_equal(parsed, array.astype(array.dtype.newbyteorder("=")))


def test_read_idx_rejects_other_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"PK\x03\x04rest")
    with pytest.raises(ValueError, match="IDX"):
        sources.read_idx(tmp_path / "bad")


@pytest.fixture
def fashion_dir(tmp_path, monkeypatch):
    """A tiny Fashion-MNIST in IDX files (train gzipped, test plain), and no other search location."""
    rng = np.random.default_rng(0)
    monkeypatch.setattr(sources, "FASHION_MNIST_DIRS", (tmp_path / "nowhere",))
    for (images, labels), n, gz in zip(sources.FASHION_MNIST_FILES.values(), (40, 12), (".gz", "")):
        write_idx(tmp_path / (images + gz), rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / (labels + gz), (np.arange(n) % 10).astype(np.uint8))
    return tmp_path


def test_fashion_mnist_pipeline_from_idx_files(fashion_dir):
    train = data.load("fashion_mnist", split="train", batch_size=16, data_dir=fashion_dir)
    val = data.load("fashion_mnist", split="validation", batch_size=16, data_dir=fashion_dir)
    assert (train.num_examples, val.num_examples, train.num_classes, train.input_shape) == (40, 12, 10, (28, 28, 1))
    images, labels = map(np.concatenate, zip(*[(x.numpy(), y.numpy()) for x, y in val.dataset]))
    np.testing.assert_array_equal(labels, np.arange(12) % 10)  # validation keeps file order
    train_raw = sources.read_idx(fashion_dir / (sources.FASHION_MNIST_FILES["train"][0] + ".gz")).astype(np.float64)
    test_raw = sources.read_idx(fashion_dir / sources.FASHION_MNIST_FILES["validation"][0]).astype(np.float64)
    expected = (test_raw - train_raw.mean()) / train_raw.std()  # normalised with the training statistics
    np.testing.assert_allclose(images[..., 0], expected, atol=1e-4)


def test_the_data_cache_changes_nothing_but_the_reads(fashion_dir, monkeypatch):
    """A split is read once per process and shared read-only: the pipeline is the same as from fresh reads."""
    reads = []
    real = sources.read_idx
    monkeypatch.setattr(sources, "read_idx", lambda path: reads.append(path) or real(path))

    def batches():
        train = data.load("fashion_mnist", split="train", batch_size=16, data_dir=fashion_dir, seed=3)
        return [x.numpy() for x, _ in train.epochs(0, 2)]

    data.clear_cache()
    fresh = batches()
    first_reads = len(reads)
    cached = batches()
    assert len(reads) == first_reads == 2  # the training images and labels, once
    assert all(np.array_equal(a, b) for a, b in zip(fresh, cached)) and len(fresh) == len(cached) == 6
    images, _ = data._small_split("fashion_mnist", "train", str(fashion_dir))
    assert not images.flags.writeable


def test_missing_fashion_mnist_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "FASHION_MNIST_DIRS", (tmp_path / "a", tmp_path / "b"))
    with pytest.raises(data.DatasetNotFoundError) as error:
        data.load("fashion_mnist", data_dir=tmp_path / "mine")
    assert all(str(tmp_path / d) in str(error.value) for d in ("mine", "a", "b")) and "make data" in str(error.value)


@pytest.mark.parametrize("name", ["imagenette", "imagenet2012"])
def test_missing_tfds_dataset_says_where_and_how(tmp_path, name):
    with pytest.raises(data.DatasetNotFoundError, match="lab.data fetch") as error:
        data.load(name, data_dir=tmp_path)
    assert str(tmp_path) in str(error.value)
    assert not any(tmp_path.iterdir())  # nothing downloaded


def arrays(dataset):
    """Every batch of ``dataset`` as numpy ``(images, labels)``."""
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def test_digits_split_and_augmentation():
    train = data.load("digits", split="train", batch_size=2000)
    val = data.load("digits", split="validation", batch_size=2000)
    assert train.num_examples + val.num_examples == 1797 and train.input_shape == (32, 32, 1)
    assert train.steps_per_epoch == 1
    (x1, y1), (x2, y2) = arrays(train.epochs(0, 2))
    assert not np.array_equal(x1, x2) and not np.array_equal(y1, y2)  # new order and crops every epoch
    assert sorted(y1) == sorted(y2)  # ... of every example once
    x3, _ = next(iter(data.load("digits", split="train", batch_size=2000).dataset))
    np.testing.assert_array_equal(x1, x3)  # ... reproducible from the seed
    (v1, _), (v2, _) = arrays(val.epochs(0, 2))
    np.testing.assert_array_equal(v1, v2)  # validation: fixed order, no augmentation
    assert abs(float(tf.reduce_mean(v1))) < 0.2
    with pytest.raises(ValueError, match="^initial_epoch"):
        train.epochs(1, 1)


@pytest.mark.parametrize("name, kwargs", [
    ("digits", {"batch_size": 500, "steps_per_epoch": 2}),  # in memory, pad-crop
    ("synthetic", {"batch_size": 4, "limit": 8, "image_size": 32}),  # JPEGs, larq-zoo's random resized crop
])
def test_epoch_e_depends_only_on_seed_and_e(name, kwargs):
    """A fresh pipeline started at epoch 2 (a resumed run) gives what one pipeline gives after epochs 0 and 1."""
    pipeline = data.load(name, **kwargs)
    steps = pipeline.steps_per_epoch
    run = arrays(pipeline.epochs(0, 3))
    assert len(run) == 3 * steps
    resumed = arrays(data.load(name, **kwargs).epochs(2, 3))
    assert len(resumed) == steps
    for (x, y), (x_resumed, y_resumed) in zip(run[2 * steps:], resumed):
        np.testing.assert_array_equal(x, x_resumed)
        np.testing.assert_array_equal(y, y_resumed)
    images = [np.concatenate([x for x, _ in run[e * steps:(e + 1) * steps]]) for e in range(3)]
    assert not np.array_equal(images[0], images[1]) and not np.array_equal(images[1], images[2])
    other_seed = arrays(data.load(name, **kwargs, seed=1).epochs(2, 3))
    assert not np.array_equal(other_seed[0][0], resumed[0][0])


def test_tfds_epochs_are_seeded_by_epoch(tmp_path, monkeypatch):
    """TFDS training epochs: files read in an order seeded per epoch (never reshuffled by iteration state), so a
    fresh pipeline's epoch 2 is the one after epochs 0 and 1. A stand-in builder shuffles like TFDS's file order."""
    import tensorflow_datasets as tfds

    rng = np.random.default_rng(0)
    jpegs = [tf.io.encode_jpeg(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).numpy() for _ in range(8)]
    reads = []

    class Builder:
        data_dir = str(tmp_path)
        info = type("Info", (), {"splits": {"train": type("Split", (), {"num_examples": 8})},
                                 "features": {"label": type("Label", (), {"num_classes": 8})}})

        def as_dataset(self, split, decoders, shuffle_files, read_config):
            reads.append((shuffle_files, read_config.shuffle_seed, read_config.shuffle_reshuffle_each_iteration))
            ds = tf.data.Dataset.from_tensor_slices({"image": jpegs, "label": np.arange(8)})
            return ds.shuffle(8, seed=read_config.shuffle_seed,
                              reshuffle_each_iteration=read_config.shuffle_reshuffle_each_iteration)

    (tmp_path / "dataset_info.json").write_text("{}")
    monkeypatch.setattr(tfds, "builder", lambda name, data_dir: Builder())
    load = lambda: data.load("imagenette", batch_size=8, image_size=32, data_dir=tmp_path)  # noqa: E731
    run, resumed = arrays(load().epochs(0, 3)), arrays(load().epochs(2, 3))
    np.testing.assert_array_equal(run[2][0], resumed[0][0])
    assert not np.array_equal(run[0][1], run[1][1]) and not np.array_equal(run[1][0], run[2][0])
    assert [read[1] for read in reads] == [data.epoch_seed(0, e) for e in (0, 1, 2, 2)]
    assert all(shuffle and not reshuffle for shuffle, _, reshuffle in reads)


def test_limit_keeps_a_fixed_subset():
    small = data.load("digits", split="train", batch_size=7, limit=10)
    assert small.num_examples == 10 and sum(int(x.shape[0]) for x, _ in small.dataset) == 10


def test_image_folder_through_larq_zoo_preprocessing(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(10):
            jpeg = tf.io.encode_jpeg(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).numpy()
            (tmp_path / cls / f"{i:02d}.jpg").write_bytes(jpeg)
    train = data.load("folder", split="train", batch_size=32, image_size=32, data_dir=tmp_path)
    val = data.load("folder", split="validation", batch_size=32, image_size=32, data_dir=tmp_path)
    assert (train.num_examples, val.num_examples, train.num_classes) == (18, 2, 2)
    x, y = next(iter(val.dataset))
    assert x.shape == (2, 32, 32, 3) and y.numpy().tolist() == [0, 1]
    assert abs(float(tf.reduce_mean(x))) < 1.5  # normalised with ImageNet's mean/std


def test_synthetic_is_imagenet_shaped():
    synthetic = data.load("synthetic", split="train", batch_size=4, limit=4)
    x, y = next(iter(synthetic.dataset))
    assert x.shape == (4, 224, 224, 3) and synthetic.num_classes == 1000 and x.dtype == tf.float32


@pytest.mark.parametrize("kwargs, name", [
    ({"name": "mnist"}, "dataset"), ({"name": "digits", "split": "test"}, "split"),
    ({"name": "digits", "batch_size": 0}, "batch_size"), ({"name": "digits", "image_size": 4}, "image_size"),
    ({"name": "digits", "limit": -1}, "limit"), ({"name": "folder"}, "data_dir"),
    ({"name": "digits", "steps_per_epoch": 0}, "steps_per_epoch"),
])
def test_bad_arguments_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        data.load(kwargs.pop("name"), **kwargs)


def test_fetch_reports_present_data(fashion_dir, monkeypatch, capsys):
    monkeypatch.setattr(sources, "FASHION_MNIST_DIRS", (fashion_dir,))
    data.main(["fetch", "fashion_mnist"])
    assert "already present" in capsys.readouterr().out
