"""The paper's scale without a GPU or its data: Imagenette and ImageNet through TFDS mock data
(`tensorflow_datasets.testing.mock_data`, never a download) at 224x224 through larq-zoo's preprocessing, the
imagenette preset's runs trained at full width, and ``python -m lab.reproduce --plan`` at every preset.

The mock serves random JPEGs under each dataset's metadata files, written here from its TFDS code (features and
label names, no split sizes), as TFDS's ``MockPolicy.USE_FILES`` asks: lab's own check that a dataset is prepared
(its ``dataset_info.json``) passes as for real data, and the split sizes come from the mock's datasets
(`lab.sources.tfds_split_size`). Training at 224x224 and full width is slow on 2 cores: the default suite trains one
network (Bi-Real Net, sign and LAB); the whole matrix is marked ``slow`` (``pytest -m slow``).
"""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from lab import batch_plan, data, plans, presets, reproduce, sources, train
from lab.provenance import REPO_ROOT, display_path
from lab.schedules import RECIPES

MOCK_EXAMPLES = 8  # per split


@pytest.fixture(scope="module")
def metadata(tmp_path_factory):
    """A TFDS ``data_dir`` holding both datasets' metadata files as their TFDS code writes them (no examples)."""
    import tensorflow_datasets as tfds

    root = tmp_path_factory.mktemp("tfds")
    for name in sources.TFDS_NAMES.values():
        builder = tfds.builder(name, data_dir=str(root))
        Path(builder.data_dir).mkdir(parents=True)
        builder.info.write_to_directory(builder.data_dir)
    return root


@pytest.fixture
def mock_tfds(metadata):
    """TFDS mocked for the test: every prepared dataset serves `MOCK_EXAMPLES` random examples per split."""
    from tensorflow_datasets.testing import MockPolicy, mock_data

    with mock_data(num_examples=MOCK_EXAMPLES, data_dir=str(metadata), policy=MockPolicy.USE_FILES):
        yield metadata


# --------------------------------------------------------------------------------------------- data
@pytest.mark.parametrize("name, classes", [("imagenette", 10), ("imagenet2012", 1000)])
def test_tfds_data_comes_at_224_through_larq_zoo_preprocessing(mock_tfds, name, classes):
    import tensorflow_datasets as tfds
    from larq_zoo.training.data import preprocess_image_bytes

    pipelines = {split: data.load(name, split=split, batch_size=4) for split in data.SPLITS}
    for split, pipeline in pipelines.items():
        assert (pipeline.num_examples, pipeline.num_classes, pipeline.input_shape, pipeline.steps_per_epoch) == (
            MOCK_EXAMPLES, classes, (224, 224, 3), 2), split
        batches = [(x.numpy(), y.numpy()) for x, y in pipeline.dataset]
        assert [x.shape for x, _ in batches] == [(4, 224, 224, 3)] * 2 and batches[0][0].dtype == np.float32
        assert all(((0 <= y) & (y < classes)).all() for _, y in batches)
        # Normalised by ImageNet's mean and std: centred, unit-scale (bicubic resizing of the mock's noise images
        # overshoots [0, 255] a little, so no hard bound on single pixels).
        assert all(np.isfinite(x).all() and abs(x.mean()) < 1 and 0.1 < x.std() < 3 for x, _ in batches)
    # Validation is larq-zoo's evaluation preprocessing (centre crop) of the served JPEGs, in file order.
    served = sources.tfds_builder(name).as_dataset(split="validation", decoders={"image": tfds.decode.SkipDecoding()})
    expected = [preprocess_image_bytes(ex["image"], is_training=False, image_size=224) for ex in served.take(4)]
    np.testing.assert_allclose(next(iter(pipelines["validation"].dataset))[0], tf.stack(expected), atol=1e-5)


# --------------------------------------------------------------------------------------------- training
FULL_WIDTH = {  # binary kernels and binarizer weights at width 1 (README: "Parameters and deployed size")
    ("birealnet", "sign"): (10985472, 0), ("birealnet", "lab"): (10985472, 67856),
    ("quicknet", "sign"): (12533760, 0), ("quicknet", "lab"): (12533760, 76816),
}
DEFAULT_SUITE = {("birealnet", "sign"), ("birealnet", "lab")}


@pytest.mark.parametrize("model, binarizer", [
    pytest.param(*run, marks=() if run in DEFAULT_SUITE else pytest.mark.slow) for run in FULL_WIDTH])
def test_an_imagenette_run_trains_at_full_width(mock_tfds, tmp_path, model, binarizer):
    """The imagenette preset's run, shortened to two steps of batch 2, writes a complete run folder."""
    params = presets.load("imagenette").train_params(model)
    assert (params["image_size"], params["width"], params["dataset"]) == (224, 1.0, "imagenette")
    params.update(model=model, binarizer=binarizer, epochs=1, steps_per_epoch=2, batch_size=2, validation_examples=2,
                  results_root=str(tmp_path), verbose=0)
    metrics = train.train(**params)
    folder = tmp_path / "runs" / metrics["run_id"]
    assert {"config.json", "history.csv", "metrics.json", "model.weights.h5", "checkpoints"} <= {
        p.name for p in folder.iterdir()}
    assert any((folder / "checkpoints").iterdir())
    config = json.loads((folder / "config.json").read_text())
    assert (config["input_shape"], config["num_classes"], config["steps_per_epoch"]) == ([224, 224, 3], 10, 2)
    assert (config["params"]["model"], config["params"]["binarizer"]) == (model, binarizer)
    assert json.loads((folder / "metrics.json").read_text())["run_id"] == metrics["run_id"]
    assert (metrics["binary_params"], metrics["binarizer_params"]) == FULL_WIDTH[model, binarizer]
    assert (metrics["epochs"], metrics["train_examples"], metrics["validation_examples"]) == (1, MOCK_EXAMPLES, 2)
    assert 0 <= metrics["top1"] <= 1 and np.isfinite(metrics["loss"])
    assert len((folder / "history.csv").read_text().splitlines()) == 2


# --------------------------------------------------------------------------------------------- the plan
STEP = batch_plan.Step("birealnet lab (width 1)", (224, 224, 3), 8, 0.5, 20.0, "CPU (2 cores)")


@pytest.fixture
def stand_in_step(monkeypatch):
    """The measured step stood in by `STEP` (the real one, at 224x224 and full width: the slow test)."""
    monkeypatch.setattr(batch_plan, "measure_step", lambda params: STEP)


def _check_estimate(plan):
    assert plan.estimate_s == pytest.approx(sum(
        plan.step.overhead_s + r.params["epochs"] * (r.train_images + r.validation_images / 3)
        * plan.step.seconds_per_image for r in plan.runs))


def test_the_plan_at_smoke_times_a_step_and_knows_finished_and_stale_runs(results_root, capsys, monkeypatch):
    plan = reproduce.main(["--preset", "smoke", "--plan"])
    shown = capsys.readouterr().out
    assert [r.run for r in plan.runs] == plans.planned_runs("smoke")
    for r in plan.runs:
        assert (r.params["epochs"], r.params["batch_size"], r.steps_per_epoch, r.train_images) == (1, 64, 12, 768)
        assert (r.validation_images, r.status, r.epochs_left) == (256, "train", 1)
        assert f"| {r.run.label} " in shown
    assert plan.step.input_shape == (32, 32, 1) and plan.step.batch_size == 64 and plan.step.seconds_per_image > 0
    _check_estimate(plan)
    assert "- digits: scikit-learn's bundled digits" in shown and "Estimated training time: about" in shown
    assert not results_root.exists()  # nothing written

    first = plan.runs[0]
    train.run("smoke", **first.run.overrides, verbose=0)
    monkeypatch.setattr(batch_plan, "measure_step", lambda params: STEP)
    assert [(r.status, r.epochs_left) for r in batch_plan.plan("smoke").runs[:2]] == [("reuse", 0), ("train", 1)]
    config = results_root / "runs" / first.params["run_id"] / "config.json"
    stored = json.loads(config.read_text())
    stored["fingerprint"]["code"]["lab/loop.py"] = "0" * 16
    config.write_text(json.dumps(stored))
    assert batch_plan.plan("smoke").runs[0].status == "retrain (stale: lab/loop.py changed since it ran)"
    kept = batch_plan.plan("smoke", keep_stale_runs=True).runs[0]
    assert kept.status.startswith("reuse, kept stale: lab/loop.py") and kept.epochs_left == 0


def test_the_plan_at_cpu_reads_fashion_mnist(results_root, stand_in_step, capsys):
    try:
        where = sources.locate("fashion_mnist")
    except sources.DatasetNotFoundError:
        pytest.skip("Fashion-MNIST is not installed (make data)")
    plan = reproduce.main(["--preset", "cpu", "--plan"])
    assert len(plan.runs) == len(plans.planned_runs("cpu")) and plan.jobs == 2
    assert {(r.params["epochs"], r.params["batch_size"], r.steps_per_epoch, r.train_images, r.validation_images)
            for r in plan.runs} == {(4, 128, 40, 5000, 5000)}
    _check_estimate(plan)
    shown = capsys.readouterr().out
    assert f"- fashion_mnist: {display_path(where)}" in shown and "the 2 processes share these cores" in shown


def test_the_plan_at_imagenette_on_mock_data(mock_tfds, results_root, stand_in_step, capsys):
    """The README's ``python -m lab.reproduce --preset imagenette --plan``, on mock data."""
    plan = reproduce.main(["--preset", "imagenette", "--plan"])
    shown = capsys.readouterr().out
    assert [r.run for r in plan.runs] == plans.planned_runs("imagenette")
    assert {(r.params["epochs"], r.params["batch_size"], r.params["image_size"], r.steps_per_epoch, r.train_images)
            for r in plan.runs} == {(50, 128, 224, 1, MOCK_EXAMPLES)}
    assert plan.data == {"imagenette": display_path(sources.tfds_builder("imagenette").data_dir)}
    _check_estimate(plan)
    assert f"about {batch_plan.duration(plan.estimate_s)} for the {len(plan.runs)} runs left" in shown
    assert "(a CPU estimate)" in shown
    only = reproduce.show_plan(preset="imagenette", only=["binarization"])
    assert [r.run.label for r in only.runs] == ["birealnet sign (seed 0)", "birealnet lab (seed 0)"]


def test_the_plan_at_imagenet_takes_each_networks_recipe(mock_tfds, results_root, stand_in_step):
    plan = batch_plan.plan("imagenet")
    assert {r.run.model for r in plan.runs} == set(RECIPES)
    for r in plan.runs:
        recipe = RECIPES[r.run.model]
        assert (r.params["epochs"], r.params["batch_size"], r.steps_per_epoch) == (recipe.epochs, recipe.batch_size, 1)
    _check_estimate(plan)


@pytest.mark.parametrize("preset, name, how", [
    ("imagenette", "imagenette", "python -m lab.data fetch imagenette --data-dir {}"),
    ("imagenet", "imagenet2012", "python -m lab.data fetch imagenet2012 --manual-dir DIR --data-dir {}"),
])
def test_the_plan_stops_at_missing_data_saying_where_and_how(results_root, tmp_path, monkeypatch, capsys, preset,
                                                             name, how):
    monkeypatch.setattr(sources, "DEFAULT_TFDS_DIR", tmp_path / "tfds")
    monkeypatch.setattr(batch_plan, "measure_step", lambda params: pytest.fail("timed a step without data"))
    with pytest.raises(SystemExit) as stopped:
        reproduce.main(["--preset", preset, "--plan"])
    err = capsys.readouterr().err
    assert stopped.value.code == 1 and f"error: {name} not prepared at {tmp_path / 'tfds' / name}" in err
    assert how.format(tmp_path / "tfds") in err
    assert not results_root.exists() and not (tmp_path / "tfds").exists()


def test_bad_plan_arguments_name_the_parameter(results_root):
    presets_named = r"\('smoke', 'cpu', 'cpu-long', 'cpu-wide', 'imagenette', 'imagenet'\)"
    with pytest.raises(ValueError, match=rf"^preset: must be one of {presets_named}"):
        reproduce.show_plan(preset="laptop")
    with pytest.raises(ValueError, match=r"^jobs: must be an integer >= 1"):
        batch_plan.plan("smoke", jobs=0)
    done = subprocess.run(["make", "-n", "reproduce", "PRESET=smoke", "PLAN=yes"], cwd=REPO_ROOT, capture_output=True,
                          text=True)
    assert done.returncode != 0 and "PLAN: must be 0 or 1, got 'yes'" in done.stderr
    assert not results_root.exists()


@pytest.mark.slow
def test_the_plan_at_imagenette_times_a_full_width_step(mock_tfds, results_root):
    plan = batch_plan.plan("imagenette", notebooks=["binarization"])
    assert plan.step.input_shape == (224, 224, 3) and plan.step.batch_size == 8
    assert plan.step.label == "birealnet lab (width 1)" and plan.step.seconds_per_image > 0
    assert "CPU" in plan.step.device or "GPU" in plan.step.device
    _check_estimate(plan)
