"""The batch runner and its offline report, on tiny stand-in notebooks (no training: seconds, not minutes). The
tables, their runs and charts are tested in test_tables.py."""
import json
import os
import re

import nbformat
import pytest

import lab.report
from lab import reproduce

CHART_CODE = """
import altair as alt
import matplotlib.pyplot as plt
import os
import pandas as pd
import sys

import lab.figures

print("keep stale:", os.environ.get("LAB_KEEP_STALE"))
frame = pd.DataFrame({"x": [1, 2, 3], "y": [3.0, 1.0, 2.0]})
lab.figures.show(alt.Chart(frame).mark_point().encode(x="x", y="y").properties(title="shown by lab"))
print("a warning nobody should read", file=sys.stderr)
plt.plot(frame["x"], frame["y"])
plt.show()
alt.Chart(frame).mark_bar().encode(x="x:N", y="y")  # altair's own output, which would load Vega from a CDN
"""


def _notebook(path, *codes, preset="smoke"):
    """A notebook with a tagged parameters cell and ``codes`` as further code cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell(f'preset: str = "{preset}"  # scale')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), parameters,
                *(nbformat.v4.new_code_cell(code) for code in codes)]
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def results(tmp_path, monkeypatch):
    root = tmp_path / "results"
    monkeypatch.setenv("LAB_RESULTS", str(root))
    return root


@pytest.fixture(scope="module")
def stand_in_dir(tmp_path_factory):
    """A notebook folder: a_charts (charts, a table), b_fails (raises), c_never (must not run)."""
    folder = tmp_path_factory.mktemp("notebooks")
    _notebook(folder / "a_charts.ipynb", CHART_CODE, "frame")
    _notebook(folder / "b_fails.ipynb", "raise RuntimeError('deliberate failure in ' + preset)")
    _notebook(folder / "c_never.ipynb", f"open({str(folder / 'c_ran')!r}, 'w').close()")
    return folder


@pytest.fixture
def stand_ins(stand_in_dir, monkeypatch):
    monkeypatch.setattr(reproduce, "NOTEBOOK_DIR", stand_in_dir)
    return stand_in_dir


@pytest.mark.parametrize("jobs", [0, -1, 1.5, "2", True])
def test_invalid_jobs_raises_before_anything_is_written(results, jobs):
    with pytest.raises(ValueError, match="^jobs: must be an integer >= 1"):
        reproduce.reproduce(preset="smoke", jobs=jobs)
    assert not results.exists()


def test_invalid_preset_raises_before_anything_is_written(results, capsys):
    with pytest.raises(ValueError, match="preset.*smoke"):
        reproduce.reproduce(preset="laptop")
    with pytest.raises(SystemExit) as error:
        reproduce.main(["--preset", "laptop"])
    assert error.value.code == 2 and "error: preset: must be one of" in capsys.readouterr().err
    assert not results.exists()


def test_unknown_notebook_in_only_raises(results):
    with pytest.raises(ValueError, match="only.*nope"):
        reproduce.reproduce(preset="smoke", only=["nope"])
    assert not results.exists()


def test_batch_order_puts_the_paper_order_first_and_the_claims_last(tmp_path):
    for name in ("zeta", "claims", "labbnn", "train", "binarization", "alpha"):
        _notebook(tmp_path / f"{name}.ipynb")
    names = [p.stem for p in reproduce.notebooks(directory=tmp_path)]
    assert names == ["train", "binarization", "labbnn", "alpha", "zeta", "claims"]
    assert [p.stem for p in reproduce.notebooks(["claims", "zeta", "train"], directory=tmp_path)] == [
        "train", "zeta", "claims"]


def _executed(path, title, *outputs):
    """A notebook as the batch leaves it: a title, one code cell with ``outputs`` (no execution needed)."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print('code nobody should read')")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="printed text nobody should read\n"),
                    *outputs]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nintro of {path.stem}"), cell]
    nbformat.write(nb, str(path))
    return path


def _html_output(html):
    return nbformat.v4.new_output("display_data", data={"text/html": html, "text/plain": "table"})


def test_report_shows_the_claims_first_under_a_table_of_contents(tmp_path):
    books = [_executed(tmp_path / f"{name}.ipynb", title) for name, title in
             (("train", "Train one network"), ("table_lab_vs_sign", "Table A"), ("claims", "Claims decided"))]
    text = lab.report.build_report(books, tmp_path / "report.html", title="smoke").read_text()
    contents = text.index("Contents")
    links = [text.index(f'href="#nb-{name}"') for name in ("claims", "train", "table_lab_vs_sign")]
    assert contents < links[0] < links[1] < links[2], "contents not in report order"
    anchors = [text.index(f'id="nb-{name}"') for name in ("claims", "train", "table_lab_vs_sign")]
    titles = [re.search(f"<h1[^>]*>{title}<", text).start() for title in ("Claims decided", "Train one network",
                                                                           "Table A")]
    assert links[2] < anchors[0] < titles[0] < anchors[1] < titles[1] < anchors[2] < titles[2]
    assert "nobody should read" not in text  # no code, no printed text


def test_report_links_a_long_tables_csv_relative_to_the_report(tmp_path, monkeypatch):
    import pandas as pd

    from lab import views

    monkeypatch.setenv("LAB_RESULTS", str(tmp_path / "results"))
    csv = tmp_path / "results" / "smoke" / "binarization" / "uniqueness.csv"
    shown = views.show(pd.DataFrame({"layer": range(30)}), caption="Uniqueness", csv=csv, max_rows=3)
    book = _executed(tmp_path / "binarization.ipynb", "Fig. 1", _html_output(shown._repr_html_()))
    text = lab.report.build_report([book], tmp_path / "results" / "smoke" / "report.html", title="t").read_text()
    assert (f'<a class="{views.CSV_CLASS}" href="binarization/uniqueness.csv"><code>'
            f'$LAB_RESULTS/smoke/binarization/uniqueness.csv</code></a>') in text
    assert "max-width: 100%; overflow-x: auto" in text  # outputs wider than the page scroll in their own box


def test_the_batch_log_has_no_tensorflow_info_lines_nor_kernel_warnings(tmp_path, results, capfd):
    """A kernel that imports TensorFlow, executed as the batch executes notebooks: progress and errors only."""
    notebook = _notebook(tmp_path / "quiet.ipynb", "import os\nimport tensorflow as tf\n"
                         "print('level', os.environ.get('TF_CPP_MIN_LOG_LEVEL'), int(tf.constant(1) + 1))")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    try:
        executed = reproduce.execute(notebook, preset="smoke", out_dir=tmp_path / "out")
    finally:
        monkeypatch.undo()
    log = capfd.readouterr()
    printed = "".join(o.get("text", "") for c in nbformat.read(str(executed), as_version=4).cells
                      if c.cell_type == "code" for o in c.outputs)
    assert "level 1 2" in printed
    for noise in ("I tensorflow/", "oneDNN custom operations", "cpu_feature_guard", "To enable the following "
                  "instructions", "running over TCP", "IPKernelApp"):
        assert noise not in log.out + log.err, f"the batch log shows {noise!r}"


def test_failing_notebook_stops_the_batch_and_keeps_what_finished(results, stand_ins, capsys):
    with pytest.raises(SystemExit):
        reproduce.main(["--preset", "smoke", "--no-train"])
    err = capsys.readouterr()
    assert re.search(r"notebook b_fails failed: RuntimeError: deliberate failure in smoke", err.err)
    assert "notebook 2/3: b_fails" in err.out
    executed = results / "smoke" / "notebooks"
    assert (executed / "a_charts.ipynb").exists() and (executed / "b_fails.ipynb").exists()
    assert not (executed / "c_never.ipynb").exists() and not (stand_ins / "c_ran").exists()
    assert not (results / "smoke" / "report.html").exists()


@pytest.fixture(scope="module")
def report(stand_in_dir, tmp_path_factory):
    """The report of the stand-in a_charts notebook, executed at preset smoke with --keep-stale (once for this
    module)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAB_RESULTS", str(tmp_path_factory.mktemp("results")))
        patch.delenv("LAB_KEEP_STALE", raising=False)
        patch.setattr(reproduce, "NOTEBOOK_DIR", stand_in_dir)
        path = reproduce.main(["--preset", "smoke", "--only", "a_charts", "--no-train", "--keep-stale"])
        assert path == reproduce.results_root() / "smoke" / "report.html"
        assert "LAB_KEEP_STALE" not in os.environ, "--keep-stale leaked out of the batch"
    return path


def test_keep_stale_reaches_the_notebook_kernels(report):
    executed = nbformat.read(str(report.parent / "notebooks" / "a_charts.ipynb"), as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert "keep stale: 1" in printed


def test_invalid_keep_stale_raises_before_anything_is_written(results):
    with pytest.raises(ValueError, match="^keep_stale: must be True or False"):
        reproduce.reproduce(preset="smoke", keep_stale="yes")
    assert not results.exists()


def test_report_is_self_contained(report):
    text = report.read_text()
    assert not re.search(r"<script[^>]*src=|<link[^>]*href=\"https?:", text), "report loads something from outside"
    assert "window.vegaEmbed" in text  # the inlined Vega bundle
    assert lab.report.report_chart_count(report) == 2  # lab's chart and altair's own one
    assert text.count('class="lab-chart-static"><svg') == 2  # each with a static SVG underneath
    assert text.count("data:image/png;base64") >= 1  # the matplotlib figure, embedded
    assert "<table" in text  # the DataFrame
    assert "a warning nobody should read" not in text  # printed text dropped
    assert "lab.figures.show(" not in text  # no code
    assert "cdn.jsdelivr" not in text


def test_chart_specs_survive_into_the_report(report):
    text = report.read_text()
    assert '"title": "shown by lab"' in text
    assert text.count("vegaEmbed(box.appendChild") == 2


def require_chromium():
    """Skip where headless Chromium is absent, except in CI (``CI=true``; .ci/run installs it): there, fail."""
    if lab.report.CHROMIUM.exists():
        return
    message = f"{lab.report.CHROMIUM} is absent: the offline render check needs headless Chromium (apt-get install " \
              "chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; CI must check that the report renders")
    pytest.skip(message)


def test_report_renders_every_chart_offline(report):
    require_chromium()
    drawn = lab.report.offline_check(report)
    assert drawn["charts"] == 2
    assert drawn["static_left"] == 0, "a chart's script failed: its static fallback is still there"
    assert drawn["rendered"] >= drawn["charts"]
    assert drawn["images"] >= 1


def test_offline_check_says_when_chromium_is_missing(tmp_path):
    page = tmp_path / "r.html"
    page.write_text("<html></html>")
    with pytest.raises(FileNotFoundError, match="chromium"):
        lab.report.offline_check(page, chromium=tmp_path / "no-chromium")


def test_parallel_training_trains_and_converts_every_run(results, capfd):
    """Two worker processes at the smoke preset: every run trained and converted, metrics in plan order, epoch lines
    named by run, each worker's thread share in the provenance."""
    import json
    import os

    from lab import plans

    planned = plans.planned_runs("smoke", notebooks=["binarization"])
    metrics = reproduce.train_runs("smoke", ["binarization"], jobs=2)
    out = capfd.readouterr().out
    assert [m["run_id"].split("-")[:2] for m in metrics] == [[r.model, r.binarizer] for r in planned]
    assert f"run {len(planned)}/{len(planned)} done" in out
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    for m in metrics:
        folder = results / "runs" / m["run_id"]
        assert {"model.tflite", "sizes.json", "metrics.json"} <= {p.name for p in folder.iterdir()}
        assert f"{m['run_id']}: epoch 1/1" in out
        device = json.loads((folder / "config.json").read_text())["provenance"]["device"]
        assert device["tf_intra_op_threads"] == threads


def test_a_failing_run_in_a_worker_stops_the_batch_naming_it(results):
    results.mkdir()
    (results / "runs").write_text("a file where the runs folder should be")
    with pytest.raises(RuntimeError, match=r"run birealnet (sign|lab) \(seed 0\) failed"):
        reproduce.train_runs("smoke", ["binarization"], jobs=2)


def test_batch_times_are_written_phase_by_phase_with_trained_and_reused_runs(tmp_path):
    import pandas as pd

    clock = [("start", 10.0), ("training", 70.0), ("notebooks", 100.0), ("report", 106.0)]
    reproduce.write_batch_times(tmp_path / "batch", clock, runs=5, trained=2, notebooks=["train", "labbnn"], jobs=2)
    table = pd.read_csv(tmp_path / "batch.csv")
    assert table.to_dict("list") == {"phase": ["training", "notebooks", "report", "in all"],
                                     "minutes": [1.0, 0.5, 0.1, 1.6]}
    text = (tmp_path / "batch.md").read_text()
    assert "5 runs (2 trained in this batch, 3 reused from an earlier one), 2 notebooks, 2 process(es)" in text
    meta = json.loads((tmp_path / "batch.provenance.json").read_text())["provenance"]
    assert meta["params"] == {"runs": 5, "trained": 2, "notebooks": ["train", "labbnn"], "jobs": 2}
