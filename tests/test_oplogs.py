"""Device op-profile logs: parsing both layouts of text and CSV, rejecting broken files, the benchmark script.

The fixtures follow TensorFlow's StatsCalculator output (tab-separated right-aligned fields in the text log, ", "
in the CSV file; older TF with a [start] column) for an 8-op graph with known per-op times.
"""
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from lab import oplogs

FIXTURES = Path(__file__).parent / "fixtures" / "oplogs"
GOOD = ["text_current.log", "text_start_column.log", "csv_current.csv", "csv_start_column.csv"]
NODE_TYPES = ["CONV_2D", "DEPTHWISE_CONV_2D", "GREATER", "LceQuantize", "LceBconv2d", "ADD", "MEAN",
              "FULLY_CONNECTED"]
AVG_MS = [1.25, 0.42, 0.08, 0.05, 2.10, 0.11, 0.03, 0.60]


@pytest.mark.parametrize("name", GOOD)
def test_reads_run_order_table(name):
    table = oplogs.read_log(FIXTURES / name)
    assert table["node_type"].tolist() == NODE_TYPES  # the regular runs, not the initialization block
    assert table["avg_ms"].tolist() == pytest.approx(AVG_MS)
    assert table["percent"].sum() == pytest.approx(100, abs=0.01)
    assert table["percent"].tolist() == pytest.approx([100 * t / sum(AVG_MS) for t in AVG_MS], abs=1e-3)
    assert table["run_order"].tolist() == list(range(8)) == table["node_index"].tolist()
    assert table.loc[0, "name"] == "model/stem_conv/Conv2D"
    assert table.loc[3, "layer"] == "stage1_block1_binconv1"
    assert list(table.columns[:6]) == ["run_order", "node_type", "avg_ms", "percent", "name", "layer"]
    assert ("start_ms" in table) == ("start" in name)


def test_text_and_csv_agree():
    text, csv = oplogs.read_log(FIXTURES / "text_current.log"), oplogs.read_log(FIXTURES / "csv_current.csv")
    assert text["name"].tolist() == csv["name"].tolist()
    assert text["first_ms"].tolist() == pytest.approx(csv["first_ms"].tolist(), abs=1e-3)


@pytest.mark.parametrize("name, message", [("bad/truncated.log", "expected 8 fields"),
                                           ("bad/foreign.txt", "Operator-wise Profiling Info")])
def test_rejects_bad_files(name, message):
    with pytest.raises(oplogs.LogFormatError, match=message):
        oplogs.read_log(FIXTURES / name)


def test_rejects_table_cut_at_a_row_boundary():
    lines = (FIXTURES / "csv_current.csv").read_text().splitlines()
    block = lines.index(oplogs.RUNS_BLOCK)
    add_row = next(i for i in range(block, len(lines)) if lines[i].startswith("ADD, "))
    cut = "\n".join(lines[:add_row])  # the Run Order table stops after 5 of its 8 rows
    with pytest.raises(oplogs.LogFormatError, match="truncated"):
        oplogs.parse_log(cut)
    lines[add_row] = "ADD, 0.121, 0.11, 2.37069%"  # a short row
    with pytest.raises(oplogs.LogFormatError, match="expected 8 fields"):
        oplogs.parse_log("\n".join(lines))


def test_rejects_foreign_header_and_numbers():
    text = (FIXTURES / "csv_current.csv").read_text()
    with pytest.raises(oplogs.LogFormatError, match="header"):
        oplogs.parse_log(text.replace("node type, first, avg_ms", "kind, first, avg_ms"))
    with pytest.raises(oplogs.LogFormatError, match="numeric"):
        oplogs.parse_log(text.replace("CONV_2D, 1.375, 1.25", "CONV_2D, 1.375, fast"))
    with pytest.raises(oplogs.LogFormatError):
        oplogs.parse_log("")


def test_read_logs_prefers_csv(tmp_path):
    shutil.copy(FIXTURES / "text_start_column.log", tmp_path / "net.log")
    shutil.copy(FIXTURES / "csv_current.csv", tmp_path / "net.csv")
    table = oplogs.read_logs(tmp_path)
    assert set(table["model"]) == {"net"} and "start_ms" not in table and len(table) == 8
    with pytest.raises(ValueError, match="folder"):
        oplogs.read_logs(tmp_path / "missing")


def test_benchmark_script_commands():
    script = oplogs.benchmark_script(["a.tflite"], threads=[1, 4], runs=30, warmup_runs=2)
    assert ('"$BENCH" --graph=a.tflite --num_threads=4 --num_runs=30 --warmup_runs=2 --use_indirect_bgemm=false '
            "--use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=a_t4.csv > a_t4.log 2>&1"
            in script)
    assert script.count("--graph=") == 2
    for bad in (dict(graphs=[]), dict(graphs=["a.onnx"]), dict(graphs=["a.tflite"], threads=[0]),
                dict(graphs=["a.tflite"], runs=0)):
        with pytest.raises(ValueError):
            oplogs.benchmark_script(**bad)


def test_benchmark_script_round_trip(tmp_path):
    """The script runs a stand-in lce_benchmark_model that writes a report where it is told; read_logs reads it."""
    fake = tmp_path / "fake_benchmark"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do case "$a" in --profiling_output_csv_file=*) '
                    f'cp {FIXTURES / "csv_current.csv"} "${{a#*=}}";; esac; done\necho "$@"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "run.sh").write_text(oplogs.benchmark_script(["net_sign.tflite", "net_lab.tflite"]))
    subprocess.run(["sh", "run.sh"], cwd=tmp_path, check=True, env={"LCE_BENCHMARK_MODEL": str(fake)})
    assert "--graph=net_lab.tflite" in (tmp_path / "net_lab_t1.log").read_text()
    table = oplogs.read_logs(tmp_path)
    assert sorted(set(table["model"])) == ["net_lab_t1", "net_sign_t1"]
