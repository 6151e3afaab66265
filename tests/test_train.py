"""lab.train: parameter checks, presets, the CLI, and the reliability of real (tiny) training runs in subprocesses:
kill-and-resume, parallel runs, determinism, a mirrored strategy on two logical CPUs, the papermill notebook."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lab import fingerprint, loop, presets, runs, train
from lab.provenance import REPO_ROOT

# The cheapest real run: XNOR-Net (the fastest to trace) with its sign baseline on digits, 2 batches per epoch.
TINY = dict(model="xnornet", binarizer="sign", dataset="digits", width=0.0625, epochs=1, batch_size=32,
            steps_per_epoch=2, validation_examples=64, deterministic=True, verbose=2)
TRAIN_SCRIPT = ("import json, sys; from lab import train; "
                "print('METRICS', json.dumps(train.train(**json.loads(sys.argv[1]))))")


def python(script, *args, env=None, **popen):
    """Start ``python -c script args`` from the repository root."""
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO_ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def finish(process, timeout=240):
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-3000:]
    return out


def metrics_of(out):
    return [json.loads(line.split(" ", 1)[1]) for line in out.splitlines() if line.startswith("METRICS ")]


# --------------------------------------------------------------------------------------------------- parameters
@pytest.mark.parametrize("bad, name", [
    ({"model": "resnet"}, "model"), ({"dataset": "mnist"}, "dataset"), ({"binarizer": "tanh"}, "binarizer"),
    ({"model": "birealnet", "binarizer": "lab", "lab_blocks": "101"}, "lab_blocks"),
    ({"model": "birealnet", "binarizer": "lab", "lab_blocks": "1021"}, "lab_blocks"),
    ({"epochs": 0}, "epochs"), ({"epochs": -2}, "epochs"), ({"batch_size": 0}, "batch_size"),
    ({"image_size": 16}, "image_size"), ({"strategy": "tpu"}, "strategy"), ({"width": 0}, "width"),
    ({"steps_per_epoch": 0}, "steps_per_epoch"), ({"lr_schedule": "exp"}, "lr_schedule"), ({"seed": -1}, "seed"),
    ({"run_id": "a/b"}, "run_id"), ({"run_eagerly": "yes"}, "run_eagerly"), ({"verbose": "loud"}, "verbose"),
    ({"jit_compile": 1}, "jit_compile"),
])
def test_bad_parameter_fails_before_any_file(results_root, bad, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        train.train(**{**TINY, **bad})
    assert not results_root.exists()


def test_bad_preset_or_override_fails_before_any_file(results_root):
    with pytest.raises(ValueError, match="^preset"):
        train.run("huge", model="birealnet")
    with pytest.raises(ValueError, match="^overrides.*epoch"):
        train.run("smoke", model="birealnet", epoch=3)
    assert not results_root.exists()


def test_cli_set_accumulates_and_refuses_unknown_or_repeated_keys(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(train, "run", lambda preset, **kw: calls.append((preset, kw)) or {})
    train.main(["--model", "xnornet", "--set", "epochs=2", "width=0.5", "--set", "run_id=mine"])
    assert calls == [("smoke", {"model": "xnornet", "binarizer": "sign", "lab_blocks": None, "epochs": 2,
                                "width": 0.5, "run_id": "mine"})]
    for argv, message in [(["--set", "epochs=2", "--set", "epochs=3"], "--set: 'epochs' given twice"),
                          (["--set", "epoch=2"], "--set: unknown training parameters ['epoch']"),
                          (["--set", "model=quicknet"], "--set: 'model' has its own option, --model"),
                          (["--set", "epochs"], "--set: expected KEY=VALUE, got 'epochs'")]:
        with pytest.raises(SystemExit):
            train.main(["--model", "xnornet", *argv])
        assert message in capsys.readouterr().err, argv
    assert len(calls) == 1  # nothing trained on a bad command line


def test_run_takes_overrides_as_a_mapping_or_its_text_and_refuses_a_key_given_twice(monkeypatch, results_root):
    """A notebook's ``overrides`` parameter as papermill's -p passes it (YAML text) or -y / -f do (a mapping)."""
    calls = []
    monkeypatch.setattr(train, "train", lambda **kw: calls.append(kw))
    for overrides in ("{epochs: 2, width: 0.5}", '{"epochs": 2, "width": 0.5}', {"epochs": 2, "width": 0.5}):
        train.run("smoke", model="xnornet", overrides=overrides)
        assert (calls[-1]["model"], calls[-1]["epochs"], calls[-1]["width"]) == ("xnornet", 2, 0.5), overrides
    with pytest.raises(ValueError, match=r"^overrides: must be free of the parameters given on their own, got "
                                         r"\['seed'\]"):
        train.run("smoke", model="xnornet", seed=1, overrides="{seed: 2}")
    with pytest.raises(ValueError, match="^overrides: must be a mapping"):
        train.run("smoke", model="xnornet", overrides="[1, 2]")
    with pytest.raises(ValueError, match=r"^overrides: unknown training parameters \['epoch'\]"):
        train.run("smoke", model="xnornet", overrides="{epoch: 2}")
    assert len(calls) == 3 and not results_root.exists()


def test_run_layers_recipe_preset_per_model_and_overrides(monkeypatch):
    calls = []
    monkeypatch.setattr(train, "train", lambda **kw: calls.append(kw))
    train.run("imagenet", model="quicknet", seed=3)
    assert calls[-1]["epochs"] == 120 and calls[-1]["batch_size"] == 512 and calls[-1]["seed"] == 3
    config = {"train": {"width": 0.5, "epochs": 2}, "per_model": {"xnornet": {"width": 0.25, "why": "test"}}}
    monkeypatch.setattr(presets, "load", lambda name: presets.parse(name, config))
    train.run("any", model="xnornet", epochs=4)
    assert (calls[-1]["width"], calls[-1]["epochs"]) == (0.25, 4)
    train.run("any", model="birealnet")
    assert calls[-1]["width"] == 0.5


def test_lab_with_no_lab_stage_is_the_sign_run():
    params = {**train.train.__kwdefaults__, **TINY, "model": "birealnet", "binarizer": "lab", "lab_blocks": "0000"}
    checked = train.check_params(params)
    assert (checked["binarizer"], checked["lab_blocks"]) == ("sign", None)


def test_default_run_id_is_readable_and_parameter_specific():
    def run_id(**kw):
        params = {**train.train.__kwdefaults__, **TINY, "model": "birealnet", **kw}
        return runs.default_run_id(train.check_params(params))

    assert run_id(binarizer="lab", width=0.25).startswith("birealnet-lab-1111-w0.25-digits-s0-")
    assert run_id().startswith("birealnet-sign-w0.0625-digits-s0-")
    assert run_id(epochs=2) != run_id() and run_id(verbose=0) == run_id()


def test_run_fingerprint_covers_every_module_that_trains():
    """Every `lab` module that training imports is in `lab.fingerprint.RUN_CODE` (so an edit of it makes finished runs
    stale), but for those that only book-keep or name things: an edit of them cannot change a trained number."""
    script = ("import sys, lab.train, lab.loop\n"
              "for name, module in sys.modules.items():\n"
              "    if name == 'lab' or name.startswith('lab.'): print('MODULE', module.__file__)")
    loaded = {os.path.relpath(line.split(" ", 1)[1], REPO_ROOT) for line in finish(python(script)).splitlines()
              if line.startswith("MODULE ")}
    bookkeeping = {"lab/__init__.py", "lab/fingerprint.py", "lab/provenance.py", "lab/validate.py", "lab/presets.py",
                   "lab/paper.py"}
    assert loaded - set(fingerprint.code_hashes(fingerprint.RUN_CODE)) - bookkeeping == set()


# --------------------------------------------------------------------------------------------------- real runs
def test_identical_runs_give_identical_metrics_and_finished_runs_are_reused(results_root):
    script = (TRAIN_SCRIPT.rsplit(";", 1)[0] + "; kw = json.loads(sys.argv[1])\n"
              "for run_id in ('a', 'b', 'a'): print('METRICS', json.dumps(train.train(**kw, run_id=run_id)))\n"
              # The stored weights, rebuilt by load_model, score what metrics.json says.
              "import numpy as np; from lab import data, runs\n"
              "val = data.load('digits', split='validation', limit=kw['validation_examples'])\n"
              "x, y = map(np.concatenate, zip(*val.dataset.as_numpy_iterator()))\n"
              "top1 = float(np.mean(runs.load_model('a').predict(x, verbose=0).argmax(-1) == y))\n"
              "print('METRICS', json.dumps({'reloaded_top1': top1}))")
    kw = {**TINY, "binarizer": "lab"}  # LAB's custom gradient in the loop
    out = finish(python(script, json.dumps(kw)))
    a, b, again, reloaded = metrics_of(out)
    assert reloaded["reloaded_top1"] == pytest.approx(a["top1"])
    varying = ("run_id", "wall_time_s", "train_time_s", "images_per_s", "validation_images_per_s", "first_step_s")
    assert {k: v for k, v in a.items() if k not in varying} == {k: v for k, v in b.items() if k not in varying}
    assert again == a and "finished earlier" in out
    history = [pd.read_csv(results_root / "runs" / r / "history.csv") for r in "ab"]
    pd.testing.assert_series_equal(history[0]["loss"], history[1]["loss"])
    config = json.loads((results_root / "runs" / "a" / "config.json").read_text())
    assert config["params"]["lab_blocks"] == "1" and config["provenance"]["packages"]["larq"]
    assert config["fingerprint"] == a["fingerprint"] and "lab/quantizers.py" in a["fingerprint"]["code"]
    assert "stale" not in a and "stale" not in out
    assert {"top1", "top5", "loss", "total_params", "binary_params", "deployed_size_mb", "wall_time_s",
            "images_per_s"} <= set(a)


def weights_of(run_id):
    """The trained network's variables, as :func:`lab.runs.load_model` rebuilds it, in the model's order."""
    return [w.numpy() for w in runs.load_model(run_id).weights]


def latest_checkpoint(folder):
    """The checkpoint the run's ``checkpoints/checkpoint`` state file names as the latest."""
    state = (folder / "checkpoints" / "checkpoint").read_text()
    return state.split("model_checkpoint_path:", 1)[1].split()[0].strip('"')


def test_run_killed_anywhere_ends_as_the_uninterrupted_run(results_root):
    """SIGKILLed mid-epoch, while a checkpoint is written and before history.csv is, resumed each time: the same
    history and bit-identical weights as the run never interrupted (which runs alongside)."""
    # LAB's parameters and their Adam slots go through the checkpoint too; eager steps: no tracing in 5 processes.
    kw = {**TINY, "epochs": 4, "binarizer": "lab", "run_eagerly": True}
    whole = python(TRAIN_SCRIPT, json.dumps({**kw, "run_id": "whole"}))
    killed, folder = json.dumps({**kw, "run_id": "killed"}), results_root / "runs" / "killed"
    outs = []
    for kill_at in ("2:batch", "3:checkpoint", "4:history"):
        process = python(TRAIN_SCRIPT, killed, env={loop.KILL_AT_ENV: kill_at})
        outs.append(process.communicate(timeout=240)[0])
        assert process.returncode == -signal.SIGKILL, outs[-1][-3000:]
        assert not (folder / "metrics.json").exists()
        if kill_at == "3:checkpoint":  # killed with epoch 3's checkpoint on disk but not yet the latest
            assert (folder / "checkpoints" / "ckpt-3.index").exists() and latest_checkpoint(folder) == "ckpt-2"
    assert pd.read_csv(folder / "history.csv")["epoch"].tolist() == [1, 2, 3]  # the last kill: before epoch 4's
    outs.append(finish(python(TRAIN_SCRIPT, killed)))
    resumed = [next((line for line in out.splitlines() if "resuming after" in line), None) for out in outs]
    assert resumed == [None] + [f"killed: resuming after epoch {e} of 4" for e in (1, 2, 4)]
    finish(whole)

    runs = [results_root / "runs" / r for r in ("whole", "killed")]
    timing = ["train_seconds", "epoch_seconds", "validation_seconds", "images_per_s", "validation_images_per_s"]
    pd.testing.assert_frame_equal(*(pd.read_csv(r / "history.csv").drop(columns=timing) for r in runs),
                                  check_exact=True)
    varying = ("run_id", "wall_time_s", "train_time_s", "images_per_s", "validation_images_per_s", "first_step_s",
               "provenance")
    expected, got = ({k: v for k, v in json.loads((r / "metrics.json").read_text()).items() if k not in varying}
                     for r in runs)
    assert expected == got
    timing = json.loads((runs[0] / "metrics.json").read_text())
    assert timing["first_step_s"] > 0 and timing["validation_images_per_s"] > 0  # epochs 2-4: steady validation
    expected, got = weights_of("whole"), weights_of("killed")
    assert len(expected) == len(got) and all(np.array_equal(e, g) for e, g in zip(expected, got))


def test_stale_runs_are_retrained_unless_kept_and_then_marked(results_root, monkeypatch, capsys):
    """A run is reused while its code and packages are unchanged; after a change it is retrained and says why, or
    with LAB_KEEP_STALE=1 kept and marked; a partial stale run is started afresh, never resumed."""
    # In this process, so no op determinism (it would stay on for the other tests); eager: no tracing.
    kw = {**TINY, "deterministic": False, "run_eagerly": True, "verbose": 0, "run_id": "fp"}
    folder, real_hashes = results_root / "runs" / "fp", fingerprint.code_hashes

    def edit(path):  # as if `path` had been edited since the run
        monkeypatch.setattr(fingerprint, "code_hashes", lambda paths, root=REPO_ROOT: {**real_hashes(paths, root),
                                                                                        path: "0" * 16})

    def again(keep=False):
        monkeypatch.setenv(fingerprint.KEEP_STALE_ENV, "1" if keep else "0")
        capsys.readouterr()
        return train.train(**kw), capsys.readouterr().out

    first = train.train(**kw)
    reused, out = again()
    assert "stale" not in first and reused == first and out.startswith("fp: finished earlier; using its stored")

    edit("lab/quantizers.py")
    kept, out = again(keep=True)
    assert kept == {**first, "stale": ["lab/quantizers.py changed"]}
    assert out == "fp: stale: lab/quantizers.py changed since this run; kept as LAB_KEEP_STALE=1 asks\n"
    (folder / "model.tflite").write_text("converted from the stale weights")
    retrained, out = again()
    assert out == "fp: stale: lab/quantizers.py changed since this run; retraining\n"
    assert not (folder / "model.tflite").exists()  # nothing made from the stale run survives
    assert "stale" not in retrained and retrained["fingerprint"]["code"]["lab/quantizers.py"] == "0" * 16
    assert json.loads((folder / "config.json").read_text())["fingerprint"] == retrained["fingerprint"]

    (folder / "metrics.json").unlink()  # a partial run (its last checkpoint is epoch 1 of 1) that still holds ...
    assert "fp: resuming after epoch 1 of 1" in again()[1]
    (folder / "metrics.json").unlink()  # ... and one that does not, even with LAB_KEEP_STALE=1
    edit("lab/data.py")
    out = again(keep=True)[1]
    assert "fp: stale: lab/data.py changed; lab/quantizers.py changed since this run; retraining" in out
    assert "resuming" not in out and (folder / "metrics.json").exists()

    config = json.loads((folder / "config.json").read_text())
    del config["fingerprint"]  # as written before runs were fingerprinted
    (folder / "config.json").write_text(json.dumps(config))
    assert again(keep=True)[0]["stale"] == [fingerprint.NO_FINGERPRINT]
    assert "retraining" in again()[1]


def test_epoch_verbosity_names_the_run_on_every_epoch_line(results_root):
    out = finish(python(TRAIN_SCRIPT, json.dumps({**TINY, "epochs": 2, "run_id": "named", "verbose": "epoch"})))
    lines = [line for line in out.splitlines() if line.startswith("named: epoch ")]
    assert [line.split()[2] for line in lines] == ["1/2", "2/2"] and all("val_top1: " in line for line in lines)
    assert "Epoch 1/2" not in out  # Keras' own lines are off


def test_parallel_runs_keep_to_their_own_folders(results_root):
    runs = {"p0": 0, "p1": 1}
    processes = {r: python(TRAIN_SCRIPT, json.dumps({**TINY, "run_id": r, "seed": s})) for r, s in runs.items()}
    outs = {r: finish(p) for r, p in processes.items()}
    assert sorted(p.name for p in (results_root / "runs").iterdir()) == sorted(runs)
    for r, seed in runs.items():
        folder = results_root / "runs" / r
        assert {"config.json", "history.csv", "metrics.json", "model.weights.h5", "checkpoints"} <= \
            {p.name for p in folder.iterdir()}
        assert json.loads((folder / "config.json").read_text())["params"]["seed"] == seed
        assert metrics_of(outs[r])[0]["run_id"] == r


def test_mirrored_strategy_on_two_logical_cpus(results_root):
    script = ("import tensorflow as tf\n"
              "cpu = tf.config.list_physical_devices('CPU')[0]\n"
              "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
              + TRAIN_SCRIPT.replace("; ", "\n"))
    out = finish(python(script, json.dumps({**TINY, "strategy": "mirrored", "deterministic": False,
                                            "run_id": "mirrored"})))
    assert json.loads((results_root / "runs" / "mirrored" / "config.json").read_text())["replicas"] == 2
    assert metrics_of(out)[0]["epochs"] == 1


def test_train_notebook_under_papermill(results_root, tmp_path):
    notebook = REPO_ROOT / "notebooks" / "train.ipynb"
    help_text = subprocess.run([sys.executable, "-m", "papermill", "--help-notebook", str(notebook)],
                               capture_output=True, text=True, check=True).stdout
    assert all(f"  {p}: " in help_text for p in ("preset", "model", "binarizer", "lab_blocks", "seed", "overrides"))
    output = tmp_path / "train.ipynb"
    overrides = json.dumps({"steps_per_epoch": 2, "validation_examples": 64, "run_id": "nb"})
    subprocess.run([sys.executable, "-m", "papermill", str(notebook), str(output), "-p", "binarizer", "sign",
                    "-y", f"overrides: {overrides}", "--cwd", str(notebook.parent)],
                   check=True, capture_output=True, env={**os.environ, "LAB_RESULTS": str(results_root)})
    assert json.loads((results_root / "runs" / "nb" / "metrics.json").read_text())["run_id"] == "nb"
    text = output.read_text()
    assert "top1" in text and "image/png" in text  # the metrics table and the learning curves
