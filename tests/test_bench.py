"""lab.bench: each benchmark writes its table with provenance (tiny configurations here: the figures themselves
are not tested), bad options fail before any work, and the README's tables are copies of the committed files."""
import json
import re

import pytest

from lab import bench, provenance

TINY_LATENCY = ["latency", "--networks", "birealnet", "--threads", "1", "--threads", "2", "--runs", "2",
                "--warmup", "0", "--input-size", "32", "--width", "0.0625", "--jobs", "1", "--xnnpack", "off"]


def _read(out, name):
    """The Markdown, the CSV lines and the provenance block a benchmark wrote."""
    meta = json.loads((out / f"{name}.provenance.json").read_text())
    assert meta["files"] == [f"{name}.md", f"{name}.csv"]
    return (out / f"{name}.md").read_text(), (out / f"{name}.csv").read_text().splitlines(), meta["provenance"]


def _rows(text):
    """The cells of every Markdown table row in ``text`` (separator rows left out)."""
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("|") and not line.startswith("|:")]


def test_latency_writes_both_tables_with_provenance(tmp_path, results_root, capsys):  # graphs cached there
    bench.main([*TINY_LATENCY, "--out", str(tmp_path)])
    text, csv, meta = _read(tmp_path, "latency")
    assert text in capsys.readouterr().out
    assert "LCE interpreter, indirect BGEMM" in text and "median of 2 interleaved runs" in text
    rows = _rows(text)
    assert rows[0] == ["network", "threads", "xnnpack", "sign ms", "LAB unfolded ms", "LAB folded ms", "unfolded / sign", "folded / sign",
                       "folded <= 1.10", "paper LAB / sign (Jetson Xavier NX)"]
    assert [row[:3] for row in rows[1:3]] == [["birealnet", "1", "off"], ["birealnet", "2", "off"]]
    assert rows[3] == ["network", "sign file MB", "LAB file MB", "sign deployed MB", "LAB deployed MB",
                       "LAB overhead file MB", "LAB overhead deployed MB", "paper LAB overhead MB"]
    assert rows[4][0] == "birealnet" and rows[4][-1] == "0.47" and len(rows) == 5  # Table A: 4.65 - 4.18
    assert csv[0].startswith("network,variant,tflite_file_mb,deployed_size_mb,median_ms") and len(csv) == 1 + 2 * 3
    assert meta["params"]["threads"] == [1, 2] and meta["params"]["networks"] == ["birealnet"]
    assert meta["params"]["xnnpack"] == [False]
    assert meta["git_commit"] and "larq-compute-engine" in meta["packages"] and meta["device"]["cpu_count"] >= 1


def test_latency_times_with_xnnpack_when_asked(tmp_path, results_root):
    bench.main(["latency", "--networks", "birealnet", "--threads", "1", "--runs", "2", "--warmup", "0",
                "--input-size", "32", "--width", "0.0625", "--jobs", "1", "--out", str(tmp_path)])
    text, csv, meta = _read(tmp_path, "latency")
    assert [row[:3] for row in _rows(text)[1:3]] == [["birealnet", "1", "off"], ["birealnet", "1", "on"]]
    assert meta["params"]["xnnpack"] == [False, True] and "xnnpack" in csv[0].split(",")


def test_train_step_writes_its_table_with_provenance(tmp_path):
    bench.main(["train-step", "--steps", "1", "--rounds", "1", "--batch", "2", "--out", str(tmp_path)])
    text, csv, meta = _read(tmp_path, "train_step")
    assert csv[0] == "binarizer,ms / step,ratio to sign" and len(csv) == 1 + len(bench.VARIANTS)
    rows = _rows(text)
    assert rows[0] == ["binarizer", "ms / step", "ratio to sign"] and [r[0] for r in rows[1:]] == list(bench.VARIANTS)
    assert rows[1][2] == "1.00" and "batch 2; median of 1 interleaved rounds x 1 steps" in text
    assert meta["params"]["batch"] == 2 and "tensorflow-cpu" in meta["packages"]


@pytest.mark.parametrize("argv, message", [
    (["latency", "--networks", "alexnet"], "--networks: must be names from"),
    (["latency", "--threads", "0"], "--threads: must be integers >= 1"),
    (["latency", "--runs", "0"], "--runs: must be an integer >= 1"),
    (["latency", "--width", "0"], "--width: must be a number in (0, 4]"),
    (["latency", "--input-size", "8"], "--input-size: must be an integer >= 28"),
    (["latency", "--jobs", "0"], "jobs: must be an integer >= 1"),
    (["train-step", "--rounds", "0"], "--rounds: must be an integer >= 1"),
    (["train-step", "--batch", "0"], "--batch: must be an integer >= 1"),
])
def test_bad_options_fail_before_any_work_or_write(tmp_path, argv, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bench.main([*argv, "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_sync_readme_copies_the_files_in_and_refuses_a_missing_one(tmp_path):
    (tmp_path / "results" / "bench").mkdir(parents=True)
    (tmp_path / "results" / "bench" / "a.md").write_text("| new |\n")
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results/bench/a.md -->\n| old |\n<!-- end -->\noutro\n")
    assert bench.sync_readme(readme, root=tmp_path) == ["results/bench/a.md"]
    assert readme.read_text() == "intro\n<!-- results/bench/a.md -->\n| new |\n<!-- end -->\noutro\n"
    assert bench.sync_readme(readme, root=tmp_path) == []
    readme.write_text("<!-- results/bench/b.md -->\n| 1 |\n<!-- end -->\n")
    with pytest.raises(FileNotFoundError, match="results/bench/b.md"):
        bench.sync_readme(readme, root=tmp_path)


def test_readme_shows_the_committed_benchmark_files_verbatim():
    blocks = bench.readme_blocks(bench.README.read_text())
    assert set(blocks) >= {"results/bench/train_step.md", "results/bench/latency.md"}
    for path, copy in blocks.items():
        file = provenance.REPO_ROOT / path
        assert file.is_file(), f"README.md mirrors {path}, which does not exist: run `make bench`"
        assert copy == file.read_text(), f"README.md's copy of {path} is stale: run `python -m lab.bench readme`"


def test_the_benchmarks_section_has_no_figure_outside_the_copied_files():
    section = bench.README.read_text().split("## Benchmarks\n", 1)[1].split("\n## ", 1)[0]
    prose = bench.BLOCK.sub("", section)
    assert not re.findall(r"\d+\.\d+", prose), "a measured figure belongs in results/bench/, copied in"
