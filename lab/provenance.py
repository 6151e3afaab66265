"""Provenance: what produced a results file (parameters, package versions, git commit, device, time).

Every results file written by `lab` goes through :func:`write_json` or carries :func:`provenance` so that a
number can always be traced back to the code and machine that measured it. Paths in what `lab` publishes are
relative to the repository (:func:`display_path`, :func:`scrub_paths`): results carry no path of the machine that
made them.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_ENV = "LAB_RESULTS"


def results_root() -> Path:
    """Where results go: ``$LAB_RESULTS`` when set (tests, other disks), else ``results/`` in the repository."""
    return Path(os.environ.get(RESULTS_ENV) or REPO_ROOT / "results")


def _machine_prefixes() -> list[tuple[str, str]]:
    """``(absolute folder, what replaces "<folder>/")``, most specific first: installed packages and the standard
    library (``.../site-packages/tqdm/auto.py`` -> ``tqdm/auto.py``), a results root outside the repository
    (-> ``$LAB_RESULTS/``) and the repository itself (-> relative)."""
    paths = sysconfig.get_paths()
    libraries = {paths[key] for key in ("purelib", "platlib", "stdlib", "platstdlib")} | {sys.prefix}
    folders = [(folder, "") for folder in libraries] + [(str(REPO_ROOT), "")]
    root = results_root()
    if not root.resolve().is_relative_to(REPO_ROOT):
        folders += [(str(path), f"${RESULTS_ENV}/") for path in {root.absolute(), root.resolve()}]
    return sorted(folders, key=lambda pair: len(pair[0]), reverse=True)


def scrub_paths(text: str) -> str:
    """``text`` with this machine's absolute paths (see :func:`_machine_prefixes`) made relative."""
    for folder, replacement in _machine_prefixes():
        text = text.replace(folder + "/", replacement).replace(folder, replacement.rstrip("/") or ".")
    return text


def display_path(path: str | os.PathLike) -> str:
    """``path`` as `lab` prints and records it: relative to the repository (``results/runs/<run_id>``), or
    ``$LAB_RESULTS/...`` for a results root elsewhere."""
    return scrub_paths(str(Path(path).resolve()))


PACKAGES = (
    "tensorflow-cpu", "tensorflow", "keras", "larq", "larq-zoo", "larq-compute-engine", "numpy",
    "pandas", "tensorflow-datasets", "papermill", "altair",
)


def package_versions(names=PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that shape results (missing ones are left out)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def git_commit(root: Path = REPO_ROOT) -> str:
    """HEAD commit of the repository, suffixed with ``-dirty`` when tracked files other than the committed results
    (``results/``, which a reproduction rewrites) have uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!results"],
                               cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def cpu_model() -> str:
    """Human-readable CPU name (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device() -> dict[str, Any]:
    """The machine a figure was measured on: host, CPU, core count and the accelerators TF sees."""
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": gpus,
        "kind": "gpu" if gpus else "cpu",
        # Threads change float summation order, hence the trained numbers (0: TF's default, one per core).
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def provenance(params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The provenance block stored with every results file."""
    return {
        "params": json.loads(scrub_paths(json.dumps(dict(params or {}), default=str))),
        "packages": package_versions(),
        "git_commit": git_commit(),
        "device": device(),
        "python": platform.python_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write_json(path: str | os.PathLike, payload: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> Path:
    """Write ``payload`` plus a ``provenance`` block as JSON, atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**payload, "provenance": provenance(params)}
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    return path


def write_table(df, path: str | os.PathLike, params: Mapping[str, Any] | None = None, *,
                note: str | None = None) -> Path:
    """Write a pandas table as CSV and Markdown (``note``, when given, as a paragraph above the table) with a
    ``<name>.provenance.json`` sidecar."""
    path = Path(path).with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path.with_suffix(".csv"), index=False)
    path.with_suffix(".md").write_text((f"{note}\n\n" if note else "") + df.to_markdown(index=False) + "\n")
    write_json(path.with_name(path.name + ".provenance.json"), {"files": [path.name + ".csv", path.name + ".md"]},
               params)
    return path.with_suffix(".csv")


def out_dir(preset: str, notebook: str) -> Path:
    """Where a notebook's tables and figures go: ``results/<preset>/<notebook>/``."""
    return results_root() / preset / notebook
