"""The README's code runs as printed: its Python examples, and every shell command it shows, at smoke scale.

`COMMANDS` lists every shell command of the README (each line of a ```bash block, and each inline `...` span that
starts with one of `PREFIXES`) with how it is checked here; `test_every_readme_command_is_listed` fails when the
README gains, loses or changes one, so a new command cannot go untested. Commands run in a scratch folder that
looks like a checkout (links to notebooks/, .venv/, ...), so `out.ipynb` and friends land there, with
``LAB_RESULTS`` in it too; ``python``, ``papermill`` and ``jupyter`` are the venv's (as after
``source .venv/bin/activate``).
"""
import dataclasses
import os
import re
import subprocess
import tomllib

import pytest

from lab.provenance import REPO_ROOT

README = REPO_ROOT / "README.md"
PREFIXES = (".venv/bin/", "python -m", "make ", "papermill")


def readme_block(heading: str) -> str:
    text = README.read_text()
    section = text.split(f"## {heading}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def readme_commands(text: str) -> set[str]:
    """Every line of the ```bash blocks (comments dropped) and every inline command starting with `PREFIXES`."""
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    commands = {re.sub(r"\s+#.*$", "", line).strip() for block in blocks for line in block.splitlines()}
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    spans = {" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)}
    return {c for c in commands if c} | {s for s in spans if s.startswith(PREFIXES)}


@dataclasses.dataclass(frozen=True)
class Run:
    """Run ``command`` (the README's, at smoke scale where it names a bigger preset) in the scratch checkout; it
    must succeed and print ``expect`` (a regex); ``after``: a README command whose output it reads."""
    command: str
    expect: str = ""
    after: str | None = None


@dataclasses.dataclass(frozen=True)
class Elsewhere:
    """Not run here: ``why``, and where the suite runs it (or its equivalent) instead."""
    why: str


ABLATION = ".venv/bin/papermill notebooks/ablation_lab_blocks.ipynb out.ipynb -p preset smoke -p masks " \
           """'["0000", "1111"]'"""
TRAIN_NOTEBOOK = ".venv/bin/papermill notebooks/train.ipynb results/train-birealnet.ipynb -p preset cpu -p model " \
                 "birealnet -p binarizer lab"
SMOKE_BATCH = "python -m lab.reproduce --preset smoke --only train"
COMMANDS = {
    "git clone <this repository> lab && cd lab": Elsewhere("a fresh clone is what CI starts from (.ci/run)"),
    "make setup": Run("make setup"),
    """export TF_CONFIG='{"cluster": {"worker": ["hostA:23456", "hostB:23456"]}, "task": {"type": "worker", """
    """"index": 0}}'""": Elsewhere("names two hosts: tests/test_multiworker.py starts two workers with such a "
                                    "TF_CONFIG on 127.0.0.1 ports"),
    ".venv/bin/python -m lab.train --preset imagenette --model birealnet --binarizer lab --set "
    "strategy=multiworker": Elsewhere("needs Imagenette and two hosts: tests/test_multiworker.py trains a smoke run "
                                      "with strategy=multiworker on two local workers"),
    "make test": Elsewhere("the suite itself (CI runs it: .ci/run)"),
    "make reproduce": Run("make -n reproduce PRESET=smoke", expect=r"-m lab\.reproduce --preset smoke\n"),
    # The whole batch at smoke takes minutes: its notebooks run at smoke in test_notebooks.py, the batch itself
    # (order, failures, report) in test_reproduce.py; here its command line, end to end on one notebook.
    "python -m lab.reproduce --preset $(PRESET)": Run(SMOKE_BATCH, expect=r"report: \$LAB_RESULTS/smoke/report\.html"),
    "make reproduce PRESET=cpu-long ONLY=table_lab_vs_sign,labbnn,binarization,claims": Run(
        "make -n reproduce PRESET=smoke ONLY=table_lab_vs_sign,labbnn,binarization,claims",
        expect=r"--preset smoke --only table_lab_vs_sign,labbnn,binarization,claims\n"),
    # the preset names its one notebook (`notebooks:`): its plan trains the 6 wide runs of Fig. 1 and nothing else
    "make reproduce PRESET=cpu-wide": Run("make reproduce PRESET=cpu-wide PLAN=1",
                                          expect=r"6 runs for the notebooks binarization"),
    "make reproduce KEEP_STALE=1": Run("make -n reproduce PRESET=smoke KEEP_STALE=1",
                                       expect=r"--preset smoke --keep-stale\n"),
    "make data": Run("make data", expect="Fashion-MNIST"),
    "python -m lab.reproduce --preset imagenette --plan": Elsewhere(
        "needs Imagenette: tests/test_paper_scale.py runs it (its main, in-process) on TFDS mock data, and at the "
        "smoke and cpu presets, and without the data"),
    "make reproduce PRESET=imagenette PLAN=1": Run("make -n reproduce PRESET=smoke PLAN=1",
                                                   # nothing after the plan (no `lab.bench readme`); a make
                                                   # started by make adds its "Leaving directory" line
                                                   expect=r"-m lab\.reproduce --preset smoke --plan\n"
                                                          r"(make\[\d+\]: Leaving directory .*\n)?$"),
    "make test PYTEST_ARGS='-m slow'": Elsewhere("the slow tests themselves (more 224x224 training): "
                                                 "tests/test_paper_scale.py marks them; the default suite runs one "
                                                 "of their runs"),
    ".venv/bin/pip install -e .[gpu]": Elsewhere("installs the CUDA build (a download): "
                                                 "test_gpu_extra_exists checks the extra"),
    "python -m lab.reproduce": Elsewhere("named in the mirrored results/cpu/batch.md; run with its options above"),
    "python -m lab.models --out results/bench/sizes": Elsewhere(
        "part of make bench: tests/test_models.py::test_size_report_cli runs its main with --out at 32x32"),
    "python -m lab.models": Elsewhere("builds ten full-size networks (20 s): tests/test_models.py::"
                                      "test_size_report_cli runs its main at 32x32"),
    ".venv/bin/python -m lab.data fetch imagenette": Elsewhere("downloads Imagenette: test_fetch_commands_reach_tfds "
                                                               "runs it with TFDS stood in"),
    ".venv/bin/python -m lab.data fetch imagenet2012 --manual-dir FOLDER": Elsewhere(
        "needs the ImageNet tarballs: test_fetch_commands_reach_tfds runs it with TFDS stood in"),
    ".venv/bin/python -m lab.train --preset smoke --model quicknet --binarizer lab --set epochs=2": Run(
        ".venv/bin/python -m lab.train --preset smoke --model quicknet --binarizer lab --set epochs=2",
        expect=r'"top1"'),
    TRAIN_NOTEBOOK: Run(TRAIN_NOTEBOOK.replace("-p preset cpu", "-p preset smoke")),
    ".venv/bin/papermill notebooks/train.ipynb out.ipynb -f my_params.yaml": Run(
        ".venv/bin/papermill notebooks/train.ipynb out.ipynb -f my_params.yaml"),
    ".venv/bin/papermill --help-notebook notebooks/train.ipynb": Run(
        ".venv/bin/papermill --help-notebook notebooks/train.ipynb", expect=r"overrides: dict \(default"),
    "papermill --help-notebook notebooks/NAME.ipynb": Run(
        "papermill --help-notebook notebooks/ablation_lab_blocks.ipynb", expect=r"masks: list \(default"),
    ABLATION: Run(ABLATION),
    ".venv/bin/jupyter nbconvert --to html --no-input out.ipynb": Run(
        ".venv/bin/jupyter nbconvert --to html --no-input out.ipynb", after=ABLATION),
    "make lab": Run("make -n lab && .venv/bin/jupyter lab --version", expect=r"jupyter lab notebooks/"),
    "make bench": Elsewhere("times full-size networks for minutes and rewrites results/bench/: tests/test_bench.py "
                            "runs both benchmarks at tiny sizes"),
    "python -m lab.bench train-step": Elsewhere("tests/test_bench.py runs it with --steps 1 --rounds 1"),
    "python -m lab.bench cpu-run": Elsewhere("trains twelve cpu-preset runs (minutes): tests/test_bench.py runs it "
                                             "on stand-in runs, tests/test_train.py checks the figures it reads"),
    "python -m lab.bench latency": Elsewhere("tests/test_bench.py runs it on one tiny network"),
    "python -m lab.bench gpu": Elsewhere("tests/test_bench.py runs it without a GPU, at its tiny CPU defaults"),
    ".venv/bin/python -m lab.bench gpu": Elsewhere("for a GPU host; without one it is the run tests/test_bench.py "
                                                   "makes (test_gpu_check_runs_on_the_cpu_at_its_tiny_size)"),
    "python -m lab.bench latency --help": Run("python -m lab.bench latency --help", expect="--networks"),
    "python -m lab.bench readme": Elsewhere("rewrites README.md: tests/test_bench.py runs it on a scratch README "
                                            "and checks that the README's copies are current"),
}
MY_PARAMS = "preset: smoke\nmodel: birealnet\nbinarizer: lab\n"  # what `-f my_params.yaml` reads


def test_every_readme_command_is_listed():
    shown = readme_commands(README.read_text())
    assert not shown - set(COMMANDS), f"README commands no test knows: add them to COMMANDS: {shown - set(COMMANDS)}"
    assert not set(COMMANDS) - shown, f"COMMANDS the README no longer shows: {set(COMMANDS) - shown}"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A scratch folder standing for the repository root (links to its code, notebooks and venv), its results
    root inside; returns a function that runs a `Run` there once (its ``after`` first) and gives its output."""
    root = tmp_path_factory.mktemp("checkout")
    for name in ("lab", "notebooks", ".venv", "Makefile", "pyproject.toml", "data"):
        (root / name).symlink_to(REPO_ROOT / name)
    (root / "results").mkdir()
    (root / "my_params.yaml").write_text(MY_PARAMS)
    env = {**os.environ, "LAB_RESULTS": str(root / "results"),
           "PATH": f"{REPO_ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    outputs = {}

    def run(spec: Run) -> str:
        if spec.after:
            run(COMMANDS[spec.after])
        if spec.command not in outputs:
            done = subprocess.run(["bash", "-c", spec.command], cwd=root, env=env, capture_output=True, text=True,
                                  timeout=600)
            output = done.stdout + done.stderr
            assert done.returncode == 0, f"{spec.command} failed ({done.returncode}):\n{output[-3000:]}"
            outputs[spec.command] = output
        return outputs[spec.command]

    return run


@pytest.mark.parametrize("command", [c for c, spec in COMMANDS.items() if isinstance(spec, Run)], ids=str)
def test_readme_command_runs(checkout, command):
    spec = COMMANDS[command]
    assert re.search(spec.expect, checkout(spec)), f"{spec.command}: no {spec.expect!r} in its output"


def test_fetch_commands_reach_tfds(monkeypatch, tmp_path, capsys):
    """The two TFDS fetch commands, as written, with the download stood in (FOLDER: a scratch folder)."""
    from lab import data, sources

    asked = []
    monkeypatch.setattr(sources, "fetch_tfds", lambda *args: asked.append(args) or "prepared")
    for command in (".venv/bin/python -m lab.data fetch imagenette",
                    ".venv/bin/python -m lab.data fetch imagenet2012 --manual-dir FOLDER"):
        assert isinstance(COMMANDS[command], Elsewhere)
        data.main(command.replace("FOLDER", str(tmp_path)).split()[3:])
    assert asked == [("imagenette", None, None), ("imagenet2012", None, str(tmp_path))]
    assert capsys.readouterr().out == "prepared\nprepared\n"


def test_gpu_extra_exists():
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(name.startswith("tensorflow") for name in extras["gpu"])


def test_lab_example_runs():
    exec(compile(readme_block("The LAB binarizer"), "README.md", "exec"), {})


def test_training_example_runs_at_smoke_scale(results_root):
    code = readme_block("Training")
    assert 'lab.train.run("cpu", ' in code
    exec(compile(code.replace('run("cpu", ', 'run("smoke", '), "README.md", "exec"), {})
