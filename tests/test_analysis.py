"""Uniqueness measures against hand-computed examples, probes against an independently computed model; Fig. 1's
photograph and its statistics (`lab.binarization`)."""
import itertools

import numpy as np
import pytest

from lab import analysis, binarization


def _maps(*channels):
    """Binary maps (1, W, C) from C channels given as +-1 lists of length W."""
    return np.array(channels, dtype=np.float32).T[None]


# Image 1: channels 0 and 1 equal, channel 2 differs from both in 2 of 4 pixels.
IMAGE_1 = _maps([1, 1, -1, -1], [1, 1, -1, -1], [1, -1, 1, -1])
# Image 2: channel 0 all +1, channel 1 all -1, channel 2 alternating: distances 1, 1/2, 1/2.
IMAGE_2 = _maps([1, 1, 1, 1], [-1, -1, -1, -1], [1, -1, 1, -1])


def test_pairwise_hamming_by_hand():
    np.testing.assert_allclose(analysis.pairwise_hamming(IMAGE_1),
                               [[0, 0, 0.5], [0, 0, 0.5], [0.5, 0.5, 0]])
    np.testing.assert_allclose(analysis.pairwise_hamming(IMAGE_2),
                               [[0, 1, 0.5], [1, 0, 0.5], [0.5, 0.5, 0]])


def test_pairwise_hamming_matches_a_loop():
    maps = np.where(np.random.default_rng(0).random((5, 6, 7)) > 0.5, 1.0, -1.0)
    flat = maps.reshape(-1, 7)
    loop = [[np.mean(flat[:, i] != flat[:, j]) for j in range(7)] for i in range(7)]
    np.testing.assert_allclose(analysis.pairwise_hamming(maps), loop)


def test_uniqueness_one_image_by_hand():
    result = analysis.uniqueness(IMAGE_1)
    assert result == pytest.approx({"channels": 3, "distinct_fraction": 2 / 3, "mean_hamming": 1 / 3,
                                    "near_duplicate_fraction": 2 / 3})


def test_uniqueness_batch_is_the_mean_over_images():
    result = analysis.uniqueness(np.stack([IMAGE_1, IMAGE_2]))  # (N, H, W, C)
    # Image 2: all distinct, mean distance (1 + 1/2 + 1/2) / 3 = 2/3, no near duplicates.
    assert result == pytest.approx({"channels": 3, "distinct_fraction": (2 / 3 + 1) / 2,
                                    "mean_hamming": (1 / 3 + 2 / 3) / 2, "near_duplicate_fraction": (2 / 3 + 0) / 2})


def test_tolerance_counts_near_duplicates():
    assert analysis.uniqueness(IMAGE_1, tol=0.5)["near_duplicate_fraction"] == 1.0
    assert analysis.uniqueness(IMAGE_2, tol=0.49)["near_duplicate_fraction"] == 0.0


def test_zero_one_maps_equal_plus_minus_one_maps():
    assert analysis.uniqueness((IMAGE_2 > 0).astype(int)) == analysis.uniqueness(IMAGE_2)


def test_random_maps_are_unique_and_half_apart():
    maps = np.where(np.random.default_rng(1).random((32, 32, 64)) > 0.5, 1, -1)
    result = analysis.uniqueness(maps)
    assert result["distinct_fraction"] == 1.0 and result["near_duplicate_fraction"] == 0.0
    assert result["mean_hamming"] == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((4, 4)), "shape"), (np.ones((4, 4, 1)), "C >= 2"), (np.full((2, 2, 3), 0.5), "-1/\\+1"),
])
def test_bad_maps_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        analysis.uniqueness(bad)


def test_bad_tolerance_raises():
    with pytest.raises(ValueError, match="tol"):
        analysis.uniqueness(IMAGE_1, tol=1.5)


def test_photo_shapes_and_range():
    grey = binarization.photo("chelsea", shape=(32, 32, 1))
    colour = binarization.photo("astronaut", shape=(40, 40, 3))
    assert grey.shape == (32, 32, 1) and colour.shape == (40, 40, 3)
    assert 0.0 <= grey.min() < grey.max() <= 1.0
    with pytest.raises(ValueError, match="name"):
        binarization.photo("lena", shape=(32, 32, 1))


@pytest.mark.parametrize("bad, match", [
    ({"photo_name": "lena"}, "photo_name: must be one of"), ({"dataset_images": 0}, "dataset_images: must be"),
    ({"model": "vgg"}, "model: must be one of"),
])
def test_bad_binarization_study_parameters_raise_before_training(results_root, bad, match):
    with pytest.raises(ValueError, match=match):
        binarization.binarization_study(preset="smoke", **bad)
    assert not results_root.exists()


def test_match_statistics():
    reference = np.random.default_rng(2).normal(3.0, 2.0, (8, 8, 1))
    matched = binarization.match_statistics(np.arange(64.0).reshape(8, 8, 1), reference)
    assert matched.mean() == pytest.approx(reference.mean(), abs=1e-4)
    assert matched.std() == pytest.approx(reference.std(), rel=1e-4)


def test_probe_captures_binarizer_input_and_output():
    import larq as lq
    import tensorflow as tf

    inputs = tf.keras.Input((8, 8, 2))
    stem = tf.keras.layers.Conv2D(4, 3, padding="same", name="stem")(inputs)
    binconv = lq.layers.QuantConv2D(3, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                                    kernel_constraint="weight_clip", name="stage1_block1_binconv1")(stem)
    model = tf.keras.Model(inputs, binconv)
    images = np.random.default_rng(3).normal(size=(2, 8, 8, 2)).astype(np.float32)
    (probe,) = analysis.probe_binarizers(model, images)
    expected = tf.keras.Model(inputs, stem)(images).numpy()  # the stem's output is the binary conv's input
    assert probe.layer == "stage1_block1_binconv1" and probe.quantizer == "SteSign"
    np.testing.assert_allclose(probe.inputs, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(probe.outputs, np.where(expected >= 0, 1.0, -1.0))  # larq: sign(0) = +1
    table = analysis.uniqueness_table(model, images)
    assert list(table["layer"]) == ["stage1_block1_binconv1"]
    assert table.loc[0, "mean_hamming"] == pytest.approx(analysis.uniqueness(probe.outputs)["mean_hamming"])


def test_uniqueness_of_duplicated_channels_is_low():
    base = np.where(np.random.default_rng(4).random((6, 6, 1)) > 0.5, 1, -1)
    maps = np.concatenate(list(itertools.repeat(base, 8)), axis=-1)
    result = analysis.uniqueness(maps)
    assert result["distinct_fraction"] == 1 / 8 and result["mean_hamming"] == 0.0
    assert result["near_duplicate_fraction"] == 1.0
