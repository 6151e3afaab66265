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
    assert rows[0] == ["network", "threads", "xnnpack", "sign ms", "LAB unfolded ms", "LAB folded ms", "unfolded / sign",
                       "folded / sign", "folded <= 1.10", "paper LAB / sign (Jetson Xavier NX)"]
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


def test_cpu_run_compares_every_setting_with_the_fastest(tmp_path, monkeypatch):
    """The table and its ratios, on stand-in runs (the real ones train at the cpu preset: minutes)."""
    from lab import run_speed

    def stand_in(params, *, clear_data_cache=False):
        if params.get("jit_compile") and params["model"] == "quicknet":
            return {"error": "InvalidArgumentError: no deterministic XLA implementation"}
        slow = 2.0 if clear_data_cache else 4.0 if params.get("jit_compile") else 1.0
        lab = 1.1 if params["binarizer"] == "lab" else 1.0
        return {"first_step_s": 3 * slow * lab, "images_per_s": 900 / lab / (slow if slow > 2 else 1),
                "validation_images_per_s": 3000.0}

    monkeypatch.setattr(run_speed, "timed_run", stand_in)
    monkeypatch.setattr(run_speed.processes, "worker_start", lambda threads: None)
    bench.main(["cpu-run", "--no-layout", "--out", str(tmp_path)])
    text, csv, meta = _read(tmp_path, "cpu_run")
    rows = _rows(text)
    assert rows[0][:6] == ["network", "binarizer", "setting", "first step [s]", "train img/s", "val img/s"]
    by = {(r[0], r[1], r[2]): dict(zip(rows[0], r)) for r in rows[1:]}
    assert len(by) == 2 * 2 * len(run_speed.SETTINGS)
    assert by["birealnet", "lab", "no data cache"]["first step [s] vs fastest"] == "2.00"
    assert by["birealnet", "sign", "XLA on"]["train img/s vs fastest"] == "0.25"
    assert by["quicknet", "lab", "XLA on"]["error"].startswith("InvalidArgumentError") and by[
        "quicknet", "lab", "XLA on"]["first step [s]"] == ""
    assert "LAB / sign training step (fastest setting): birealnet 1.10, quicknet 1.10." in text
    assert meta["params"]["settings"]["XLA on"] == {"clear_data_cache": False, "jit_compile": True}


def test_gpu_check_runs_on_the_cpu_at_its_tiny_size(tmp_path, capsys):
    """Without a GPU: the line that says so, and full-size networks at 224x224x3 trained through the real pipeline
    at the CPU defaults (2 steps of batch 2). Two runs (each builds and traces a full-size network: seconds); the
    whole grid and the GPU's columns in the next test."""
    bench.main(["gpu", "--networks", "quicknet", "--strategies", "mirrored", "--out", str(tmp_path)])
    text, csv, meta = _read(tmp_path, "gpu")
    assert capsys.readouterr().out.startswith("no GPU found, running on CPU\n")
    assert text.startswith("no GPU found, running on CPU (") and "built with CUDA: " in text
    assert "at 224x224x3, full width" in text and "2 steps of global batch 2 per run" in text
    rows = _rows(text)
    assert rows[0] == ["network", "strategy", "binarizer", "img/s", "step ms", "LAB / sign step", "first step [s]"]
    assert rows[1][:3] == ["(data pipeline alone)", "", ""] and float(rows[1][3]) > 0
    assert [row[:3] for row in rows[2:]] == [["quicknet", "mirrored", "sign"], ["quicknet", "mirrored", "lab"]]
    assert all(float(value) > 0 for row in rows[2:] for value in row[3:]) and rows[2][5] == "1.00"
    assert csv[0] == "network,strategy,binarizer,images_per_s,step_ms,lab_over_sign,first_step_s,peak_gpu_mib,error"
    assert meta["params"]["steps"] == 2 and meta["params"]["batch"] == 2
    assert meta["params"]["device"]["kind"] == "cpu" and meta["params"]["device"]["replicas"] == 1


def test_gpu_check_on_a_gpu_runs_the_whole_grid_and_shows_peak_memory(tmp_path, monkeypatch):
    """The GPU's defaults, header and columns, with the device and the runs stood in (no GPU here)."""
    from lab import gpu_bench

    gpu = {"kind": "gpu", "gpus": 1, "name": "1 x NVIDIA H200", "replicas": 1, "tensorflow": "2.15.1",
           "built_with_cuda": True, "cuda": "12.2", "cudnn": "8"}
    asked = []

    def stand_in(p, gpus):
        asked.append((p["steps"], p["batch"], gpus))
        rows = [{"network": n, "strategy": s, "binarizer": b, "images_per_s": 800.0 if b == "lab" else 1000.0,
                 "first_step_s": 20.0, "peak_gpu_mib": 4096.0}
                for n in p["networks"] for s in p["strategies"] for b in p["binarizers"]]
        return rows[:-1] + [{**rows[-1], "error": "ResourceExhaustedError: OOM"}]

    monkeypatch.setattr(gpu_bench, "find_device", lambda: gpu)
    monkeypatch.setattr(gpu_bench, "measure", stand_in)
    monkeypatch.setattr(gpu_bench, "pipeline_rate", lambda p: 5000.0)
    bench.main(["gpu", "--out", str(tmp_path)])
    text, csv, meta = _read(tmp_path, "gpu")
    assert asked == [(300, 256, 1)] and "300 steps of global batch 256" in text and "no GPU found" not in text
    assert text.startswith("**GPU check** on 1 x NVIDIA H200 (TensorFlow 2.15.1, CUDA 12.2, cuDNN 8)")
    rows = _rows(text)
    assert rows[0][-2:] == ["peak GPU MiB", "error"] and len(rows) == 2 + 2 * 2 * 2
    runs = {tuple(row[:3]): dict(zip(rows[0], row)) for row in rows[2:]}
    assert list(runs) == [(n, s, b) for n in gpu_bench.NETWORKS for s in gpu_bench.STRATEGIES
                          for b in gpu_bench.BINARIZERS]
    assert runs["birealnet", "mirrored", "lab"]["LAB / sign step"] == "1.25"
    assert runs["birealnet", "mirrored", "lab"]["step ms"] == "320.00"
    assert runs["quicknet", "mirrored", "lab"]["error"].startswith("ResourceExhaustedError")
    assert runs["quicknet", "default", "sign"]["peak GPU MiB"] == "4096.00" and len(csv) == 1 + 1 + 8


@pytest.mark.parametrize("argv, message", [
    (["latency", "--networks", "alexnet"], "--networks: must be names from"),
    (["latency", "--threads", "0"], "--threads: must be integers >= 1"),
    (["latency", "--runs", "0"], "--runs: must be an integer >= 1"),
    (["latency", "--width", "0"], "--width: must be a number in (0, 4]"),
    (["latency", "--input-size", "8"], "--input-size: must be an integer >= 28"),
    (["latency", "--jobs", "0"], "jobs: must be an integer >= 1"),
    (["train-step", "--rounds", "0"], "--rounds: must be an integer >= 1"),
    (["train-step", "--batch", "0"], "--batch: must be an integer >= 1"),
    (["cpu-run", "--epochs", "1"], "--epochs: must be an integer >= 2"),
    (["cpu-run", "--networks", "alexnet"], "--networks: must be a non-empty list of"),
    (["gpu", "--steps", "1"], "--steps: must be an integer >= 2, got 1"),
    (["gpu", "--batch", "0"], "--batch: must be an integer >= 1, got 0"),
    (["gpu", "--strategies", "multiworker"], "--strategies: must be a non-empty list of"),
    (["gpu", "--networks", "alexnet"], "--networks: must be a non-empty list of"),
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
