"""No machine paths in results: the committed files under results/, and what `lab.reproduce` writes."""
import re
import subprocess

import nbformat
import pytest

from lab import provenance, reproduce
from lab.provenance import REPO_ROOT

# An absolute path starts a word (not "results/usr/..." nor "https://host/home/"); a library path in any form.
ABSOLUTE = re.compile(r"(?<![\w.~-])(?:/work/|/home/|/root/|/tmp/|/usr/|" + re.escape(str(REPO_ROOT)) +
                      r"(?![\w.-]))|site-packages")


def absolute_paths(path) -> list[str]:
    """``"<file>:<line>: <text>"`` for every line of a text file that holds an absolute path (binary files: none)."""
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        return []
    return [f"{path}:{number}: {line.strip()[:160]}" for number, line in enumerate(lines, start=1)
            if ABSOLUTE.search(line)]


def test_tracked_results_hold_no_absolute_path():
    tracked = subprocess.run(["git", "ls-files", "results"], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    found = [hit for name in tracked for hit in absolute_paths(REPO_ROOT / name)]
    assert not found, f"{len(found)} lines with machine paths (regenerate with make reproduce):\n" + "\n".join(
        found[:40])


def test_the_scan_finds_machine_paths(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"ok results/runs/x https://example.org/home/x\n{REPO_ROOT}/results/runs/x\n"
                    "see /usr/share/x\n.venv/lib/python3.11/site-packages/tqdm/auto.py:21: TqdmWarning\n")
    assert [hit.split(":")[1] for hit in absolute_paths(page)] == ["2", "3", "4"]


PRINTS_PATHS = """
import os, sys, warnings
from pathlib import Path

import numpy as np
import pandas as pd

import lab.provenance
import lab.runs

assert Path.cwd() == lab.provenance.REPO_ROOT, "the kernel runs in the repository root"
run = lab.runs.run_path("some-run")
print("using its stored metrics", run, "in", lab.provenance.REPO_ROOT)
print("numpy from", np.__file__, file=sys.stderr)
warnings.warn_explicit("a library warning", UserWarning, np.__file__, 1)
pd.set_option("display.max_colwidth", None)  # pandas cuts long cells: a cut path can no longer be recognised
pd.DataFrame({"folder": [str(run)], "library": [np.__file__]})
"""


def test_executed_notebook_and_report_hold_no_absolute_path(results_root, monkeypatch):
    """A notebook printing run folders, library paths and warnings: its executed copy and the report say
    ``$LAB_RESULTS/runs/...`` and ``numpy/__init__.py``, never this machine's folders."""
    folder = results_root / "stand-in notebooks"
    folder.mkdir(parents=True)
    book = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                             "language": "python"}})
    book.cells = [nbformat.v4.new_code_cell('preset: str = "smoke"  # scale'), nbformat.v4.new_code_cell(PRINTS_PATHS)]
    book.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(book, str(folder / "paths.ipynb"))
    monkeypatch.setattr(reproduce, "NOTEBOOK_DIR", folder)
    report = reproduce.reproduce(preset="smoke", only=["paths"], train=False)
    executed = report.parent / "notebooks" / "paths.ipynb"
    text = executed.read_text()
    assert "$LAB_RESULTS/runs/some-run" in text and "numpy/__init__.py" in text  # printed, made relative
    assert nbformat.read(str(executed), as_version=4).metadata["papermill"]["input_path"] == \
        "$LAB_RESULTS/stand-in notebooks/paths.ipynb"
    found = absolute_paths(executed) + absolute_paths(report)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("path, shown", [
    (REPO_ROOT / "results" / "runs" / "r", "results/runs/r"), (REPO_ROOT, "."),
    ("{root}/runs/r", "$LAB_RESULTS/runs/r"),
])
def test_display_path_is_relative(results_root, path, shown):
    assert provenance.display_path(str(path).format(root=results_root)) == shown
