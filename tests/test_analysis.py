"""Uniqueness measures against hand-computed examples, probes against an independently computed model; Fig. 1's
photograph and its statistics (`lab.binarization`)."""
import itertools

import numpy as np
import pandas as pd
import pytest

from lab import analysis, binarization


def _maps(*channels):
    """Binary maps (1, W, C) from C channels given as +-1 lists of length W."""
    return np.array(channels, dtype=np.float32).T[None]


# Image 1: channels 0 and 1 equal, channel 2 differs from both in 2 of 4 pixels.
IMAGE_1 = _maps([1, 1, -1, -1], [1, 1, -1, -1], [1, -1, 1, -1])
# Image 2: channel 0 all +1, channel 1 all -1 (its negation: a duplicate up to sign), channel 2 alternating:
# Hamming distances 1, 1/2, 1/2; up to sign 0, 1/2, 1/2.
IMAGE_2 = _maps([1, 1, 1, 1], [-1, -1, -1, -1], [1, -1, 1, -1])


def _brute_force(maps, tol):
    """The measures by their definitions (module docstring of lab.analysis), one pair of channels at a time."""
    flat = np.asarray(maps).reshape(-1, maps.shape[-1])
    channels = [flat[:, c] for c in range(flat.shape[1])]
    up_to_sign = {min(tuple(c), tuple(-c)) for c in channels}
    distance = [[min(np.mean(a != b), np.mean(a != -b)) for b in channels] for a in channels]
    pairs = [distance[i][j] for i, j in itertools.combinations(range(len(channels)), 2)]
    near = [any(distance[i][j] <= tol for j in range(len(channels)) if j != i) for i in range(len(channels))]
    return {"channels": len(channels), "distinct_fraction": len(up_to_sign) / len(channels),
            "mean_distance": np.mean(pairs), "near_duplicate_fraction": np.mean(near)}


def _planted(seed, shape=(6, 5, 12)):
    """Random +-1 maps with planted duplicates, negations and near-duplicates (1 pixel off)."""
    maps = np.where(np.random.default_rng(seed).random(shape) > 0.5, 1.0, -1.0)
    maps[..., 1] = maps[..., 0]
    maps[..., 2] = -maps[..., 0]
    maps[..., 3] = -maps[..., 4]
    maps[..., 5] = maps[..., 6]
    maps[0, 0, 5] *= -1
    return maps


def test_pairwise_hamming_by_hand():
    np.testing.assert_allclose(analysis.pairwise_hamming(IMAGE_1),
                               [[0, 0, 0.5], [0, 0, 0.5], [0.5, 0.5, 0]])
    np.testing.assert_allclose(analysis.pairwise_hamming(IMAGE_2),
                               [[0, 1, 0.5], [1, 0, 0.5], [0.5, 0.5, 0]])


def test_pairwise_distance_is_up_to_sign_by_hand():
    np.testing.assert_allclose(analysis.pairwise_distance(IMAGE_2), [[0, 0, 0.5], [0, 0, 0.5], [0.5, 0.5, 0]])
    np.testing.assert_allclose(analysis.pairwise_distance(_maps([1, 1, 1, -1], [-1, -1, -1, -1])),
                               [[0, 0.25], [0.25, 0]])  # d = 3/4 -> d' = 1/4


def test_pairwise_hamming_matches_a_loop():
    maps = np.where(np.random.default_rng(0).random((5, 6, 7)) > 0.5, 1.0, -1.0)
    flat = maps.reshape(-1, 7)
    loop = [[np.mean(flat[:, i] != flat[:, j]) for j in range(7)] for i in range(7)]
    np.testing.assert_allclose(analysis.pairwise_hamming(maps), loop)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("tol", [0.0, 1 / 30, 0.2])
def test_uniqueness_matches_a_brute_force_loop(seed, tol):
    maps = _planted(seed)
    assert analysis.uniqueness(maps, tol=tol) == pytest.approx(_brute_force(maps, tol))


@pytest.mark.parametrize("seed", range(5))
def test_negating_any_channels_changes_nothing(seed):
    rng = np.random.default_rng(seed)
    maps = np.stack([_planted(seed), _planted(seed + 10)])  # a batch (N, H, W, C)
    flips = np.where(rng.random(maps.shape[-1]) > 0.5, -1.0, 1.0)  # a random subset of channels negated
    assert analysis.uniqueness(maps * flips) == analysis.uniqueness(maps)
    np.testing.assert_array_equal(analysis.pairwise_distance(maps[0] * flips), analysis.pairwise_distance(maps[0]))
    assert analysis.uniqueness(-maps) == analysis.uniqueness(maps)  # every channel negated


def test_uniqueness_one_image_by_hand():
    result = analysis.uniqueness(IMAGE_1)
    assert result == pytest.approx({"channels": 3, "distinct_fraction": 2 / 3, "mean_distance": 1 / 3,
                                    "near_duplicate_fraction": 2 / 3})


def test_uniqueness_batch_is_the_mean_over_images():
    result = analysis.uniqueness(np.stack([IMAGE_1, IMAGE_2]))  # (N, H, W, C)
    # Image 2 up to sign: channels 0 and 1 one class, mean distance (0 + 1/2 + 1/2) / 3, channels 0 and 1 near.
    assert result == pytest.approx({"channels": 3, "distinct_fraction": 2 / 3, "mean_distance": 1 / 3,
                                    "near_duplicate_fraction": 2 / 3})
    result = analysis.uniqueness(np.stack([IMAGE_1, _maps([1, 1, 1, 1], [1, -1, -1, 1], [1, -1, 1, -1])]))
    # Second image: all three pairwise d' = 1/2 (distinct, none near): means of the two images.
    assert result == pytest.approx({"channels": 3, "distinct_fraction": (2 / 3 + 1) / 2,
                                    "mean_distance": (1 / 3 + 1 / 2) / 2, "near_duplicate_fraction": (2 / 3 + 0) / 2})


def test_tolerance_counts_near_duplicates():
    assert analysis.uniqueness(IMAGE_1, tol=0.5)["near_duplicate_fraction"] == 1.0
    assert analysis.uniqueness(IMAGE_1, tol=0.49)["near_duplicate_fraction"] == 2 / 3
    near = _maps([1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, -1], [1, -1, 1, -1, 1, -1, 1, -1])
    assert analysis.uniqueness(near, tol=1 / 8)["near_duplicate_fraction"] == 2 / 3  # exactly at tol counts
    assert analysis.uniqueness(-near * [1, -1, 1], tol=0.1)["near_duplicate_fraction"] == 0.0


def test_zero_one_maps_equal_plus_minus_one_maps():
    assert analysis.uniqueness((IMAGE_2 > 0).astype(int)) == analysis.uniqueness(IMAGE_2)


def test_random_maps_are_unique_and_half_apart():
    maps = np.where(np.random.default_rng(1).random((32, 32, 64)) > 0.5, 1, -1)
    result = analysis.uniqueness(maps)
    assert result["distinct_fraction"] == 1.0 and result["near_duplicate_fraction"] == 0.0
    # d' = 1/2 - |d - 1/2|; for P = 1024 random bits E|d - 1/2| = sqrt(2 / pi) / (2 sqrt(P)) ~ 0.0125.
    assert result["mean_distance"] == pytest.approx(0.5 - 0.0125, abs=0.003)


def test_primary_measure_is_one_of_the_measures():
    assert analysis.PRIMARY_MEASURE in analysis.MEASURES
    assert analysis.MORE_UNIQUE[analysis.PRIMARY_MEASURE] == "larger"
    assert set(analysis.MORE_UNIQUE) == set(analysis.LABELS) == set(analysis.MEASURES)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((4, 4)), "shape"), (np.ones((4, 4, 1)), "C >= 2"), (np.full((2, 2, 3), 0.5), "-1/\\+1"),
])
def test_bad_maps_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        analysis.uniqueness(bad)


@pytest.mark.parametrize("tol", [0.6, -0.1, "0.1"])
def test_bad_tolerance_raises(tol):
    with pytest.raises(ValueError, match=r"tol: must be a number in \[0, 0.5\]"):
        analysis.uniqueness(IMAGE_1, tol=tol)


def test_photo_shapes_and_range():
    grey = binarization.photo("chelsea", shape=(32, 32, 1))
    colour = binarization.photo("astronaut", shape=(40, 40, 3))
    assert grey.shape == (32, 32, 1) and colour.shape == (40, 40, 3)
    assert 0.0 <= grey.min() < grey.max() <= 1.0
    with pytest.raises(ValueError, match="name"):
        binarization.photo("lena", shape=(32, 32, 1))


BAD_STUDY_PARAMETERS = [
    ({"dataset_images": 0}, "dataset_images: must be"), ({"model": "vgg"}, "model: must be one of"),
    ({"width": -1.0}, "width: must be a positive number"), ({"tol": 0.7}, "tol: must be a number in"),
]


@pytest.mark.parametrize("study, bad, match", [
    (binarization.binarization_study, {"photo_name": "lena"}, "photo_name: must be one of"),
    *[(study, bad, match) for study in (binarization.binarization_study, binarization.uniqueness_by_seed)
      for bad, match in BAD_STUDY_PARAMETERS],
])
def test_bad_binarization_study_parameters_raise_before_training(results_root, study, bad, match):
    with pytest.raises(ValueError, match=match):
        study(preset="smoke", **bad)
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
    assert table.loc[0, "mean_distance"] == pytest.approx(analysis.uniqueness(probe.outputs)["mean_distance"])


def test_uniqueness_of_duplicated_channels_is_low():
    base = np.where(np.random.default_rng(4).random((6, 6, 1)) > 0.5, 1, -1)
    maps = np.concatenate(list(itertools.repeat(base, 8)), axis=-1) * np.array([1, -1] * 4)  # half of them negated
    result = analysis.uniqueness(maps)
    assert result["distinct_fraction"] == 1 / 8 and result["mean_distance"] == 0.0
    assert result["near_duplicate_fraction"] == 1.0


def test_seed_summary_groups_and_counts_seeds():
    table = pd.DataFrame({"binarizer": ["sign", "sign", "lab", "lab"], "seed": [0, 1, 0, 1],
                          "mean_distance": [0.1, 0.3, 0.4, 0.4]})
    summary = binarization.seed_summary(table, ["binarizer"], measures=["mean_distance"])
    assert list(summary["binarizer"]) == ["sign", "lab"] and list(summary["seeds"]) == [2, 2]
    assert list(summary["mean_distance"]) == pytest.approx([0.2, 0.4])
    # two values: mean +- t(0.975, 1 df) * SEM = 0.2 +- 12.7062 * 0.1
    assert summary.loc[0, ["mean_distance_low", "mean_distance_high"]].tolist() == pytest.approx(
        [0.2 - 1.27062, 0.2 + 1.27062], abs=1e-4)
    assert summary.loc[1, ["mean_distance_low", "mean_distance_high"]].tolist() == [0.4, 0.4]


@pytest.mark.parametrize("channels, note", [(4, True), (64, False)])
def test_fig1_caption_says_how_many_channels(channels, note):
    probe = analysis.Probe("stage1_block1_binconv1", "SteSign", np.zeros((1, 2, 2, channels)),
                           np.ones((1, 2, 2, channels)))
    caption = binarization.fig1_caption(preset="cpu", model="birealnet", seed=0, probe=probe)
    assert f"the {channels} channels of its first binarizer" in caption and "Bi-Real Net" in caption
    assert ("The paper shows 64: preset cpu-wide trains the network at its published width" in caption) == note


SEEDS = (0, 1)
_UNTRAINED = {}  # run id -> network, shared by the tests below (building them is most of their time)


def _untrained_model(run_id):
    """A freshly initialised smoke-size Bi-Real Net for ``run_id`` ("<binarizer>-<seed>"), seeded by its seed."""
    import tensorflow as tf

    from lab import models

    if run_id not in _UNTRAINED:
        binarizer, seed = run_id.split("-")
        tf.keras.utils.set_random_seed(int(seed))
        _UNTRAINED[run_id] = models.build("birealnet", binarizer=binarizer, input_shape=(32, 32, 1), num_classes=10,
                                          width=0.0625)
    return _UNTRAINED[run_id]


@pytest.fixture
def untrained(monkeypatch):
    """The study without training: sign and LAB Bi-Real Nets at the smoke width, one per seed, freshly initialised
    from that seed (what the measures say about them does not matter here, only that they are computed right)."""
    from lab import plans, runs

    monkeypatch.setattr(binarization, "_trained_runs", lambda preset, model, width: [
        (plans.Run(model, b, seed=s), f"{b}-{s}") for s in SEEDS for b in ("sign", "lab")])
    monkeypatch.setattr(runs, "load_model", _untrained_model)
    return _untrained_model


def test_uniqueness_by_seed_measures_every_run_at_every_binarizer(untrained):
    table = binarization.uniqueness_by_seed(preset="smoke", dataset_images=6)
    assert list(table.columns) == binarization.BY_SEED
    assert set(table["seed"]) == set(SEEDS) and set(table["binarizer"]) == {"sign", "lab"}
    _, images = binarization._validation_images("smoke", "birealnet", 6)
    assert len(images) == 6
    probes = analysis.probe_binarizers(untrained("lab-1"), images)  # the same network, measured independently
    rows = table[(table["binarizer"] == "lab") & (table["seed"] == 1)]
    assert list(rows["layer"]) == [p.layer for p in probes]
    for measure in analysis.MEASURES:
        assert rows[measure].tolist() == pytest.approx([analysis.uniqueness(p.outputs)[measure] for p in probes])


def test_binarization_study_summarizes_over_seeds_and_writes_fig1(untrained, results_root):
    from scipy import stats

    study = binarization.binarization_study(preset="smoke", dataset_images=4)
    assert set(study.uniqueness["image"]) == {"photograph (astronaut)", "digits validation images (4)"}
    first = study.summary.iloc[0]
    per_seed = study.uniqueness.query("image == @first.image and binarizer == @first.binarizer and "
                                      "index == @first['index']")
    assert first["seeds"] == len(per_seed) == len(SEEDS)
    for measure in analysis.MEASURES:
        values = per_seed[measure].to_numpy()
        assert first[measure] == pytest.approx(values.mean())
        if values.std() > 0:  # reference: scipy's one-sample t-test interval
            ci = stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
            assert (first[f"{measure}_low"], first[f"{measure}_high"]) == pytest.approx((ci.low, ci.high))
    assert len(study.overall) == 4 and set(study.overall["seeds"]) == {len(SEEDS)}
    assert "the 4 channels of its first binarizer" in study.caption and "PRESET=cpu-wide" in study.caption
    folder = results_root / "smoke" / "binarization"
    for name in ("uniqueness.csv", "summary.csv", "overall.csv", "fig1_photo.png", "fig1_dataset.png"):
        assert (folder / name).exists(), name
    assert set(study.csv) == {"uniqueness", "summary", "overall"}
    # the claim per image set: LAB - sign of the layers' mean, paired by seed (reference: scipy's paired t-test)
    from lab import claims

    claim, csv = claims.uniqueness_by_image(study)
    assert csv == folder / "claim.csv" and csv.with_suffix(".md").exists()
    assert len(claim) == 2 and set(claim["n"]) == {len(SEEDS)}
    for (name, rows), claimed in zip(study.uniqueness.groupby("image", sort=False), claim.itertuples()):
        by_seed = rows.groupby(["seed", "binarizer"])[analysis.PRIMARY_MEASURE].mean().unstack()
        diff = by_seed["lab"] - by_seed["sign"]
        assert name in claimed.measure and claimed.ours == pytest.approx(diff.mean(), rel=1e-2)
        ci = stats.ttest_rel(by_seed["lab"], by_seed["sign"]).confidence_interval(0.95)
        assert (claimed.low, claimed.high) == pytest.approx((ci.low, ci.high), rel=1e-2)
    binarization.uniqueness_chart(study.summary).to_dict()  # the chart builds from the summary


def test_the_wide_preset_gives_fig1_the_papers_64_channels():
    from lab import models, presets, train

    settings = presets.load(binarization.WIDE_PRESET)
    params = train.preset_params(settings, model="birealnet")
    side = params["image_size"]
    net = models.build("birealnet", binarizer="sign", input_shape=(side, side, 1), num_classes=10,
                       width=params["width"])
    probe = analysis.probe_binarizers(net, np.zeros((1, side, side, 1), np.float32), first=1)[0]
    assert probe.outputs.shape[-1] >= binarization.PAPER_CHANNELS
    assert settings.notebooks == ("binarization",) and "birealnet" in settings.models
