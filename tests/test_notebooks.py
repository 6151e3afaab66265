"""Every notebook under papermill at smoke scale (training runs shared through one results root), their hygiene,
and the offline report built from the executed notebooks."""
import html
import json
import re

import nbformat
import pytest
from test_paths import absolute_paths
from test_reproduce import require_chromium

import lab.report
from lab import reproduce

NOTEBOOKS = reproduce.notebooks()
NAMES = [p.stem for p in NOTEBOOKS]
MINE = ("binarization", "table_lab_vs_sign", "ablation_lab_blocks", "binarizer_comparison", "labbnn")
# Smallest settings that still run every path; the runs overlap (Bi-Real Net sign/LAB), so each trains once. Some
# lists come as papermill's -p gives them, as text (lab.validate.as_list reads them).
SMOKE_PARAMETERS = {
    "table_lab_vs_sign": {"models": "birealnet"},
    "ablation_lab_blocks": {"masks": '["0000", "1111"]'},
    "binarizer_comparison": {"binarizers": "sign, lab"},
    "labbnn": {"models": ["birealnet"]},
    # helper "deploy"'s notebook: one small network, few timed runs (its smoke defaults take minutes)
    "edge_latency": {"networks": '["birealnet"]', "input_size": 32, "width": 0.0625, "runs": 3, "profile_runs": 1},
}
PARAMETER_LINE = re.compile(r"^(\w+): (\w+) = .+  # \S.*$")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run every notebook once at preset smoke into a shared results root: name -> executed path or the error."""
    root = tmp_path_factory.mktemp("results")
    outcome = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAB_RESULTS", str(root))
        for notebook in NOTEBOOKS:
            try:
                outcome[notebook.stem] = reproduce.execute(
                    notebook, preset="smoke", out_dir=root / "smoke" / "notebooks",
                    parameters=SMOKE_PARAMETERS.get(notebook.stem))
            except reproduce.NotebookError as error:
                outcome[notebook.stem] = error
    return root, outcome


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_at_smoke_scale(executed, name):
    root, outcome = executed
    if isinstance(outcome[name], Exception):
        pytest.fail(str(outcome[name]))
    if name in MINE:
        written = {p.suffix for p in (root / "smoke" / name).iterdir()}
        assert {".csv", ".md", ".json"} <= written and written & {".svg", ".png"}


@pytest.mark.parametrize("name", NAMES)
def test_executed_notebook_holds_no_machine_path(executed, name):
    _, outcome = executed
    if isinstance(outcome[name], Exception):
        pytest.skip("failed: test_notebook_runs_at_smoke_scale says why")
    found = absolute_paths(outcome[name])
    assert not found, "\n".join(found)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=NAMES)
def test_committed_clean_with_typed_parameters(notebook):
    book = nbformat.read(str(notebook), as_version=4)
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    assert book.metadata["kernelspec"]["name"] == "python3"
    raw = json.loads(notebook.read_text())["cells"]  # nbformat.read fills missing ids in: read the file itself
    assert all("id" in cell for cell in raw), "a cell without an id (nbformat 4.5 requires one; the batch log warns)"
    assert all(not cell.outputs and cell.execution_count is None for cell in code), "committed with outputs"
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell is not tagged 'parameters'"
    lines = [line for line in code[0].source.splitlines() if line.strip()]
    assert all(PARAMETER_LINE.match(line) for line in lines), f"untyped or uncommented parameter in {lines}"
    assert lines[0].startswith("preset: str = ")
    assert not re.search(r"['\"]/(work|home|tmp|root)/", "".join(c.source for c in book.cells)), "absolute path"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=NAMES)
def test_help_notebook_documents_every_parameter(notebook):
    from click.testing import CliRunner
    from papermill.cli import papermill

    result = CliRunner().invoke(papermill, ["--help-notebook", str(notebook)])
    assert result.exit_code == 0, result.output
    source = nbformat.read(str(notebook), as_version=4).cells
    parameters = next(c for c in source if c.cell_type == "code").source
    for name, kind in re.findall(r"^(\w+): (\w+) =", parameters, re.M):
        assert re.search(rf"^\s+{name}: {kind} \(default", result.output, re.M), f"{name} missing from help"


def _shown(path):
    """What a notebook shows (its report's share): charts (Vega-Lite bundles or altair HTML), HTML tables and
    images among its outputs, and its title (first markdown heading)."""
    book = nbformat.read(str(path), as_version=4)
    counts = {"charts": 0, "tables": 0, "images": 0}
    for cell in book.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if lab.report._chart_spec(data):
                counts["charts"] += 1
            elif "<table" in data.get("text/html", ""):
                counts["tables"] += 1
            elif "image/png" in data:
                counts["images"] += 1
    title = next(c.source for c in book.cells if c.cell_type == "markdown").splitlines()[0].lstrip("# ")
    return counts, title


def _outputs(path):
    """Each code cell's outputs of an executed notebook, as lists of their mime bundles."""
    book = nbformat.read(str(path), as_version=4)
    return [[o.get("data", {}) for o in cell.outputs if "data" in o] for cell in book.cells if cell.cell_type == "code"]


@pytest.mark.parametrize("name", NAMES)
def test_tables_are_shown_for_reading(executed, name):
    """No raw DataFrame (index, float32 digits, cut columns): every table goes through `lab.views.show`."""
    _, outcome = executed
    if isinstance(outcome[name], Exception):
        pytest.skip("failed: test_notebook_runs_at_smoke_scale says why")
    tables = [data["text/html"] for cell in _outputs(outcome[name]) for data in cell if "<table" in
              data.get("text/html", "")]
    raw = [html for html in tables if 'class="lab-view"' not in html]
    assert not raw, f"{name} shows {len(raw)} table(s) not formatted by lab.views.show"


@pytest.mark.parametrize("name", NAMES)
def test_every_figure_has_a_caption_under_it(executed, name):
    """A cell that shows charts or images ends with a one-line Markdown caption (scale and device)."""
    _, outcome = executed
    if isinstance(outcome[name], Exception):
        pytest.skip("failed: test_notebook_runs_at_smoke_scale says why")
    for cell in _outputs(outcome[name]):
        figures = [i for i, data in enumerate(cell) if lab.report._chart_spec(data) or "image/png" in data]
        if figures:
            after = [data for data in cell[figures[-1] + 1:] if "text/markdown" in data]
            assert after, f"{name}: a figure without a caption under it"
            assert "preset smoke" in after[0]["text/markdown"], f"{name}: the caption names no scale"


def test_report_holds_every_notebook_and_its_outputs(executed, tmp_path):
    _, outcome = executed
    failed = {name: str(result) for name, result in outcome.items() if isinstance(result, Exception)}
    assert not failed, f"notebooks failed, the report would miss them: {failed}"
    report = lab.report.build_report(list(outcome.values()), tmp_path / "report.html", title="smoke test")
    shown = {name: _shown(path) for name, path in outcome.items()}
    for name, (counts, _) in shown.items():
        assert sum(counts.values()) >= 1, f"{name} shows nothing"
        if name in MINE:
            assert counts["charts"] >= 1 and counts["tables"] >= 1, f"{name} shows no chart or no table"
    text = report.read_text()
    missing = [name for name, (_, title) in shown.items() if title not in html.unescape(text)]
    assert not missing, f"the report lacks these notebooks: {missing}"
    total = {kind: sum(counts[kind] for counts, _ in shown.values()) for kind in ("charts", "tables", "images")}
    assert lab.report.report_chart_count(report) == total["charts"]
    assert text.count('class="lab-chart-static"><svg') == total["charts"]
    assert text.count("<table") >= total["tables"]
    assert text.count("data:image/png;base64") >= total["images"]
    assert not re.search(r"<script[^>]*src=", text)
    require_chromium()  # the render check proper is in test_reproduce; here: every real chart draws
    drawn = lab.report.offline_check(report)
    assert drawn["static_left"] == 0 and drawn["rendered"] >= drawn["charts"]
