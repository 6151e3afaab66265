"""On-device op profiles: run ``lce_benchmark_model`` on a device, read its op-profiling output back here.

``lce_benchmark_model`` (LCE's release binary for aarch64, arm32 and Android; no x86 build) with
``--enable_op_profiling=true`` prints, after the block ``Operator-wise Profiling Info for Regular Benchmark Runs:``,
the tables ``Run Order``, ``Top by Computation Time`` and ``Summary by node type`` (TensorFlow's StatsCalculator).
Run Order rows are tab-separated, right-aligned fields::

    [node type]  [first]  [avg ms]  [%]  [cdf%]  [mem KB]  [times called]  [Name]

(older TensorFlow adds ``[start]`` after ``[node type]``). With ``--profiling_output_csv_file=F`` the same
report goes to F with the fields separated by ``", "`` and a plain header
(``node type, first, avg_ms, %, cdf%, mem KB, times called, name``). Names read ``[<output tensor>]:<node index>``.

`read_log` turns either form into the table `lab.timing.op_profile` makes on the host; `benchmark_script` writes
the shell commands that produce the logs on a device.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Sequence

import pandas as pd

from lab import validate
from lab.tflite import PROFILE_COLUMNS, layer_of

__all__ = ["LogFormatError", "parse_log", "read_log", "read_logs", "benchmark_script", "RUNS_BLOCK"]

RUNS_BLOCK = "Operator-wise Profiling Info for Regular Benchmark Runs:"
_RUN_ORDER = re.compile(r"^=+ Run Order =+$")
_NODES = re.compile(r"Number of nodes executed: (\d+)")
_NAME = re.compile(r"^\[(?P<name>.*)\]:(?P<index>\d+)$")
# Header field (text "[avg ms]" or CSV "avg_ms") -> column.
_FIELDS = {"node type": "node_type", "start": "start_ms", "first": "first_ms", "avg ms": "avg_ms",
           "avg_ms": "avg_ms", "%": "percent", "cdf%": "cdf_percent", "mem kb": "mem_kb",
           "times called": "times_called", "name": "name"}
_LAYOUTS = (  # the two header layouts StatsCalculator has printed
    ("node_type", "first_ms", "avg_ms", "percent", "cdf_percent", "mem_kb", "times_called", "name"),
    ("node_type", "start_ms", "first_ms", "avg_ms", "percent", "cdf_percent", "mem_kb", "times_called", "name"),
)
_EXPECTED = ("lce_benchmark_model --enable_op_profiling=true output (its log, or its "
             "--profiling_output_csv_file)")


class LogFormatError(ValueError):
    """A file is not (or not all of) an op-profiling report of ``lce_benchmark_model``."""


def _header(line: str, source: str) -> tuple[tuple[str, ...], bool]:
    """Columns and CSV-ness of a Run Order header line."""
    is_csv = "[" not in line
    raw = [f.strip() for f in (line.split(",") if is_csv else line.strip().split("\t"))]
    columns = tuple(_FIELDS.get(f.strip("[]").lower()) for f in raw if f)
    if columns not in _LAYOUTS:
        raise LogFormatError(f"{source}: the Run Order header {line.strip()!r} is neither layout of {_EXPECTED}; "
                             f"expected the columns {_LAYOUTS[0]} (older TF: with start_ms after node_type)")
    return columns, is_csv


def _row(line: str, columns: tuple[str, ...], is_csv: bool, where: str) -> dict:
    fields = line.split(", ", len(columns) - 1) if is_csv else line.split("\t")[1:]
    if len(fields) != len(columns):
        raise LogFormatError(f"{where}: expected {len(columns)} fields {columns}, got {len(fields)}: {line!r}")
    row = dict(zip(columns, (f.strip() for f in fields)))
    try:
        for column in columns[1:-1]:
            row[column] = float(row[column].rstrip("%"))
    except ValueError as err:
        raise LogFormatError(f"{where}: a numeric field does not parse ({err}): {line!r}") from None
    match = _NAME.match(row["name"])
    row["name"], row["node_index"] = (match["name"], int(match["index"])) if match else (row["name"], None)
    return row


def parse_log(text: str, *, source: str = "log") -> pd.DataFrame:
    """The Run Order table of an ``lce_benchmark_model`` op-profiling report (text log or CSV file).

    Returns one row per op in run order with the columns of `lab.timing.op_profile` (``run_order``,
    ``node_type``, ``avg_ms``, ``percent``, ``name``, ``layer``) followed by the other fields of the report.
    Raises `LogFormatError` naming what was expected when the report is missing, foreign or truncated (the row
    count must match the ``Number of nodes executed`` line that follows the tables).
    """
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if RUNS_BLOCK in line), None)
    if start is None:
        raise LogFormatError(f"{source}: no {RUNS_BLOCK!r} block; expected {_EXPECTED}")
    title = next((i for i in range(start + 1, len(lines)) if _RUN_ORDER.match(lines[i].strip())), None)
    if title is None or title + 1 >= len(lines):
        raise LogFormatError(f"{source}: no Run Order table after {RUNS_BLOCK!r}; expected {_EXPECTED}")
    columns, is_csv = _header(lines[title + 1], source)
    rows, i = [], title + 2
    while i < len(lines) and lines[i].strip() and not lines[i].startswith("="):
        rows.append(_row(lines[i], columns, is_csv, f"{source} line {i + 1}"))
        i += 1
    executed = next((_NODES.search(line) for line in lines[i:] if _NODES.search(line)), None)
    if executed is None:
        raise LogFormatError(f"{source}: truncated: no 'Number of nodes executed' line after the Run Order table "
                             f"({len(rows)} rows read); expected the complete {_EXPECTED}")
    if int(executed[1]) != len(rows) or not rows:
        raise LogFormatError(f"{source}: truncated or inconsistent: the Run Order table has {len(rows)} rows but "
                             f"the report says {executed[1]} nodes were executed")
    table = pd.DataFrame(rows)
    table.insert(0, "run_order", range(len(table)))
    table["layer"] = table["name"].map(layer_of)
    table["times_called"] = table["times_called"].astype(int)
    return table[PROFILE_COLUMNS + [c for c in table.columns if c not in PROFILE_COLUMNS]]


def read_log(path: str | Path) -> pd.DataFrame:
    """`parse_log` of a file."""
    path = Path(path)
    return parse_log(path.read_text(errors="replace"), source=str(path))


def read_logs(folder: str | Path) -> pd.DataFrame:
    """Every report in ``folder`` (``*.csv``, ``*.log``, ``*.txt``; for one name the CSV wins, as a benchmark run
    with ``--profiling_output_csv_file`` writes its table there, not to the log), stacked with a ``model`` column
    holding the file name without suffix."""
    folder = Path(folder)
    validate.require(folder.is_dir(), "folder", "an existing directory of device logs", str(folder))
    chosen: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix in (".csv", ".log", ".txt") and (path.stem not in chosen or path.suffix == ".csv"):
            chosen[path.stem] = path
    validate.require(chosen, "folder", "a directory holding *.csv, *.log or *.txt device logs", str(folder))
    return pd.concat([read_log(path).assign(model=stem) for stem, path in chosen.items()], ignore_index=True)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def benchmark_script(graphs: Sequence[str], *, threads: Sequence[int] = (1,), runs: int = 50,
                     warmup_runs: int = 5, indirect_bgemm: bool = False, xnnpack: bool = False,
                     csv: bool = True) -> str:
    """A POSIX shell script with one op-profiled ``lce_benchmark_model`` run per graph and thread count.

    Each run writes ``<graph>_t<threads>.log`` (and ``.csv`` with ``csv=True``); copy them back and read them
    with `read_logs`. ``indirect_bgemm=False`` keeps LCE's default bconv kernel (the optimized one on ARM);
    ``xnnpack=False`` keeps float ops as separate nodes instead of one delegate node.
    """
    graphs = [str(g) for g in graphs]
    validate.require(graphs and all(g.endswith(".tflite") for g in graphs), "graphs",
                     "a non-empty list of .tflite file names", graphs)
    validate.require(threads and all(validate.is_number(t, (int,)) and t >= 1 for t in threads), "threads",
                     "a non-empty list of integers >= 1", threads)
    validate.integer("runs", runs, 1)
    validate.integer("warmup_runs", warmup_runs, 1)
    lines = [
        "#!/bin/sh",
        "# Op-profiled Larq Compute Engine benchmarks, written by lab.oplogs.benchmark_script.",
        "# On the device: put this script, the .tflite files and lce_benchmark_model (LCE release binary for the",
        "# device) in one folder, run `sh <this script>`, copy the *.log and *.csv files back into a folder here",
        "# and pass it to the notebook edge_latency (device_logs) or to lab.oplogs.read_logs.",
        "set -e",
        'BENCH="${LCE_BENCHMARK_MODEL:-./lce_benchmark_model}"',
    ]
    for graph in graphs:
        for count in threads:
            out = f"{Path(graph).stem}_t{count}"
            flags = [f"--graph={graph}", f"--num_threads={count}", f"--num_runs={runs}",
                     f"--warmup_runs={warmup_runs}", f"--use_indirect_bgemm={_flag(indirect_bgemm)}",
                     f"--use_xnnpack={_flag(xnnpack)}", "--enable_op_profiling=true"]
            if csv:
                flags.append(f"--profiling_output_csv_file={out}.csv")
            lines.append(f"echo {shlex.quote(out)}")
            lines.append(f'"$BENCH" {" ".join(shlex.quote(f) for f in flags)} > {shlex.quote(out + ".log")} 2>&1')
    return "\n".join(lines) + "\n"
