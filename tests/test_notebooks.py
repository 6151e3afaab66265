"""Every notebook under papermill at smoke scale (training runs shared through one results root), their hygiene,
and the offline report built from the executed notebooks."""
import re

import nbformat
import pytest

from lab import reproduce

NOTEBOOKS = reproduce.notebooks()
NAMES = [p.stem for p in NOTEBOOKS]
MINE = ("binarization", "table_lab_vs_sign", "ablation_lab_blocks", "binarizer_comparison", "labbnn")
# Smallest settings that still run every path; the runs overlap (Bi-Real Net sign/LAB), so each trains once.
SMOKE_PARAMETERS = {
    "table_lab_vs_sign": {"models": ["birealnet"]},
    "ablation_lab_blocks": {"masks": ["0000", "1111"]},
    "binarizer_comparison": {"binarizers": ["sign", "lab"]},
    "labbnn": {"models": ["birealnet"]},
    # helper "deploy"'s notebook: one small network, few timed runs (its smoke defaults take minutes)
    "edge_latency": {"networks": ["birealnet"], "input_size": 32, "width": 0.0625, "runs": 3, "profile_runs": 1},
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


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=NAMES)
def test_committed_clean_with_typed_parameters(notebook):
    book = nbformat.read(str(notebook), as_version=4)
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    assert book.metadata["kernelspec"]["name"] == "python3"
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


def _charts_and_tables(path):
    """Charts (Vega-Lite bundles or altair HTML) and HTML tables among a notebook's outputs."""
    charts = tables = 0
    for cell in nbformat.read(str(path), as_version=4).cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if reproduce._chart_spec(data):
                charts += 1
            elif "<table" in data.get("text/html", ""):
                tables += 1
    return charts, tables


def test_report_holds_every_table_and_chart(executed, tmp_path):
    _, outcome = executed
    done = [path for path in outcome.values() if not isinstance(path, Exception)]
    report = reproduce.build_report(done, tmp_path / "report.html", title="smoke test")
    counts = {path.stem: _charts_and_tables(path) for path in done}
    for name in set(MINE) & set(counts):
        assert counts[name][0] >= 1 and counts[name][1] >= 1, f"{name} shows no chart or no table"
    text = report.read_text()
    assert reproduce.report_chart_count(report) == sum(c for c, _ in counts.values())
    assert text.count('class="lab-chart-static"><svg') == reproduce.report_chart_count(report)
    assert text.count("<table") >= sum(t for _, t in counts.values())
    assert not re.search(r"<script[^>]*src=", text)
    if reproduce.CHROMIUM.exists():  # the render check proper is in test_reproduce; here: every real chart draws
        drawn = reproduce.offline_check(report)
        assert drawn["static_left"] == 0 and drawn["rendered"] >= drawn["charts"]
