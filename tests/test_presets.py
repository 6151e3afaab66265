"""Presets: one typed model, loaded in one place; an unknown key at any level is named with the allowed ones."""
import inspect
import subprocess
import sys

import pytest

from lab import presets, reproduce

PRESET = {"train": {"dataset": "digits", "seed": 0}, "models": ["xnornet", "birealnet", "labbnn"],
          "ablation_model": "birealnet", "ablation_masks": ["0000", "1111", "1011"], "seeds": [0]}


def test_train_parameters_are_the_signature_of_train():
    from lab import train

    assert presets.TRAIN_PARAMETERS == tuple(inspect.signature(train.train).parameters)


def test_min_input_side_is_the_builders_own():
    from lab import models

    assert presets.MIN_INPUT_SIDE == models.MIN_INPUT_SIDE


def test_every_preset_loads_with_valid_training_parameters():
    from lab import train

    for name in presets.PRESETS:
        preset = presets.load(name)
        for model in preset.models:
            train.check_params({**train.train.__kwdefaults__, "model": model, **preset.train_params(model)})
        assert all(len(mask) == 4 for mask in preset.ablation_masks) and preset.seeds
    assert {p: presets.load(p).jobs for p in presets.PRESETS} == {"smoke": 1, "cpu": 2, "cpu-long": 2, "cpu-wide": 2,
                                                                  "imagenette": 1, "imagenet": 1}


def test_every_preset_has_a_valid_deployment_shape():
    shapes = {p: presets.load(p).deployment_shape.description for p in presets.PRESETS}
    assert shapes == {"smoke": "32x32x3, width 0.0625, 10 classes", **{
        p: "224x224x3, width 1, 1000 classes" for p in ("cpu", "cpu-long", "cpu-wide", "imagenette", "imagenet")}}


@pytest.mark.parametrize("config, message", [
    ({**PRESET, "binarizers": ["sign"]}, r"^preset mine: unknown keys \['binarizers'\]; choose from \('train', "),
    ({**PRESET, "train": {"epoch": 3}}, r"^train: unknown keys \['epoch'\]; choose from \('model', "),
    ({**PRESET, "per_model": {"xnornet": {"widht": 0.5, "why": "typo"}}},
     r"^per_model.xnornet: unknown keys \['widht'\]"),
    ({**PRESET, "per_model": {"xnornet": {"width": 0.5}}}, r"^per_model.xnornet.why: must be a text saying why"),
    ({**PRESET, "per_model": {"resnet": {}}}, r"^per_model: unknown keys \['resnet'\]"),
    ({**PRESET, "edge": {"input": 32}}, r"^edge: unknown keys \['input'\]"),
    ({**PRESET, "edge": {"networks": ["alexnet"]}}, r"^edge.networks: must be a non-empty list of"),
    ({**PRESET, "models": ["resnet"]}, r"^models: must be a non-empty list of \('xnornet', "),
    ({**PRESET, "seeds": []}, r"^seeds: must be a non-empty list of integers >= 0"),
    ({**PRESET, "ablation_masks": ["01a1"]}, r"^ablation_masks: must be a non-empty list of '0'/'1'"),
    ({**PRESET, "jobs": 0}, r"^jobs: must be an integer >= 1, got 0"),
    ({**PRESET, "use_recipe": "yes"}, r"^use_recipe: must be true or false"),
    ({**PRESET, "notebooks": []}, r"^notebooks: must be a non-empty list of notebook names"),
    ({**PRESET, "notebooks": [3]}, r"^notebooks: must be a non-empty list of notebook names"),
    ({"models": ["xnornet"]}, r"^preset mine: must be a mapping with a `train:` section"),
])
def test_a_bad_preset_is_named_with_the_allowed_values(config, message):
    with pytest.raises(ValueError, match=message):
        presets.parse("mine", config)


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match=r"^preset: must be one of \('smoke', 'cpu', "):
        presets.load("laptop")


@pytest.mark.parametrize("value", [
    [224, 224, 3], {"input_shape": [224, 224], "width": 1.0, "num_classes": 1000},
    {"input_shape": [16, 16, 3], "width": 1.0, "num_classes": 1000},
    {"input_shape": [224, 224, 3], "width": 0, "num_classes": 1000},
    {"input_shape": [224, 224, 3], "width": 1.0, "num_classes": "1000"},
    {"input_shape": [224, 224, 3], "width": 1.0, "num_classes": 1000, "batch": 1},
])
def test_a_bad_deployment_shape_raises_naming_the_key_before_any_work(results_root, monkeypatch, value):
    monkeypatch.setattr(presets, "load", lambda name: presets.parse(name, {**PRESET, "deployment_shape": value}))
    with pytest.raises(ValueError, match=r"^deployment_shape: must be deployment_shape: \{input_shape: \[height"):
        presets.load("smoke")
    with pytest.raises(ValueError, match="^deployment_shape: "):
        reproduce.reproduce(preset="smoke")
    assert not results_root.exists()


def test_presets_and_the_package_face_import_without_tensorflow():
    code = ("import sys, lab, lab.presets, lab.paper, lab.provenance, lab.validate, lab.fingerprint; "
            "[lab.presets.load(p) for p in lab.presets.PRESETS]; print('tensorflow' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_deviations_carry_the_reason_of_each_per_model_entry():
    preset = presets.parse("mine", {**PRESET, "per_model": {"xnornet": {"learning_rate": 1e-3, "why": " short "}}})
    assert preset.per_model == {"xnornet": {"learning_rate": 1e-3}} and preset.deviations == {"xnornet": "short"}
    assert set(presets.load("cpu").deviations) == set(presets.load("cpu").per_model)


def test_a_preset_names_the_notebooks_its_batch_runs(monkeypatch):
    assert [p.stem for p in reproduce.check(preset="cpu-wide")[0]] == ["binarization"]
    assert [p.stem for p in reproduce.check(preset="cpu-wide", only=["claims"])[0]] == ["claims"]  # --only wins
    assert reproduce.check(preset="cpu")[0] == reproduce.notebooks()  # none named: all of them
    monkeypatch.setattr(presets, "load", lambda name: presets.parse(name, {**PRESET, "notebooks": ["fig9"]}))
    with pytest.raises(ValueError, match=r"^notebooks \(preset smoke\): unknown notebooks \['fig9'\]; choose from"):
        reproduce.check(preset="smoke")
