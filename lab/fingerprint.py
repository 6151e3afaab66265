"""Fingerprints: what produced a reusable artifact, and why a stored one no longer holds.

A fingerprint is a plain JSON-able dict: a hash of every source file of the ``lab/`` code that produced the
artifact (``code``), the versions of the packages that shape it (``packages``) and any further inputs (the
parameters, a graph's hash, timing settings, the host). A stored artifact is reused only while its stored
fingerprint equals the current one; otherwise :func:`stale_reasons` says, in words, what changed
(``lab/quantizers.py changed``, ``larq 0.13.3 -> 0.14.0``, ``threads: 1 -> 4``).

``LAB_KEEP_STALE=1`` (``python -m lab.reproduce --keep-stale``) keeps stale artifacts instead of redoing them;
whatever is built from them then carries their reasons (a ``stale`` entry), so a table can say so.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from lab.provenance import REPO_ROOT, package_versions

KEEP_STALE_ENV = "LAB_KEEP_STALE"
NO_FINGERPRINT = "no fingerprint recorded (made before lab recorded them)"
# The code behind a trained run: binarizers, networks, data sources and pipelines, the recipes and schedules, the
# parameter checks, the training loop and the run's folder (`lab.train` and the modules it trains with).
RUN_CODE = ("lab/quantizers.py", "lab/models", "lab/sources.py", "lab/data.py", "lab/schedules.py", "lab/train.py",
            "lab/loop.py", "lab/runs.py")
RUN_PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "larq", "larq-zoo", "numpy", "tensorflow-datasets")
# The code behind a converted graph (on top of its run's fingerprint): the fold and LCE conversion.
CONVERSION_CODE = ("lab/quantizers.py", "lab/folding.py", "lab/deploy.py", "lab/tflite.py")
CONVERSION_PACKAGES = ("tensorflow-cpu", "tensorflow", "larq", "larq-compute-engine")


def _sources(paths: Iterable[str], root: Path) -> list[Path]:
    """The ``.py`` files named by ``paths`` (files, or folders searched recursively), sorted."""
    files = []
    for name in paths:
        path = root / name
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def code_hashes(paths: Iterable[str], root: Path = REPO_ROOT) -> dict[str, str]:
    """``{relative path: sha256 of its bytes (16 hex digits)}`` for the sources named by ``paths``."""
    return {path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            for path in _sources(paths, root) if path.exists()}


def file_hash(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (16 hex digits): names a converted graph in a latency's fingerprint."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def fingerprint(*, code: Iterable[str] = (), packages: Iterable[str] = (), **inputs: Any) -> dict[str, Any]:
    """The fingerprint of an artifact made by ``code`` with ``packages`` from ``inputs``."""
    return {"code": code_hashes(code), "packages": package_versions(tuple(packages)), **inputs}


def _code_changes(stored: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    changed = [f"{path} changed" for path in sorted(stored.keys() & current.keys()) if stored[path] != current[path]]
    added = [f"{path} is new" for path in sorted(current.keys() - stored.keys())]
    removed = [f"{path} was removed" for path in sorted(stored.keys() - current.keys())]
    return changed + added + removed


def stale_reasons(stored: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[str]:
    """Why an artifact fingerprinted ``stored`` is stale now that the fingerprint is ``current``; ``[]`` if fresh."""
    if not stored:
        return [NO_FINGERPRINT]
    reasons = _code_changes(stored.get("code", {}), current.get("code", {}))
    old, new = stored.get("packages", {}), current.get("packages", {})
    reasons += [f"{name} {old.get(name, 'absent')} -> {new.get(name, 'absent')}"
                for name in sorted(old.keys() | new.keys()) if old.get(name) != new.get(name)]
    for key in sorted((stored.keys() | current.keys()) - {"code", "packages"}):
        reasons += _input_changes(key, stored.get(key), current.get(key))
    return reasons


def _input_changes(key: str, old: Any, new: Any) -> list[str]:
    """How one further input changed: a nested fingerprint (a graph's ``run``) by its own reasons, prefixed."""
    if old == new:
        return []
    if isinstance(old, Mapping) and isinstance(new, Mapping) and old and new:
        return [f"{key}: {reason}" for reason in stale_reasons(old, new)]
    return [f"{key}: {_brief(old)} -> {_brief(new)}"]


def _brief(value: Any) -> str:
    """A value in a reason: a nested fingerprint is named, not dumped."""
    if isinstance(value, Mapping):
        return "a fingerprint" if value else "none"
    return "none" if value is None else repr(value)


def keep_stale() -> bool:
    """Whether stale artifacts are kept (``LAB_KEEP_STALE=1``) rather than redone."""
    return os.environ.get(KEEP_STALE_ENV, "") not in ("", "0")


def describe(reasons: list[str], what: str = "it was made") -> str:
    """One line for a log: ``stale: lab/quantizers.py changed; larq 0.13.3 -> 0.14.0 since this run``."""
    if reasons == [NO_FINGERPRINT]:
        return f"stale: {NO_FINGERPRINT}"
    return "stale: " + "; ".join(reasons) + f" since {what}"


def stored_json(path: Path) -> dict[str, Any] | None:
    """A JSON results file without its provenance block; ``None`` when it is missing."""
    if not path.exists():
        return None
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "provenance"}


def reusable(stored: dict[str, Any] | None, current: dict[str, Any], *, run_id: str,
             what: str) -> tuple[bool, list[str]]:
    """Whether a cached artifact (``stored``, with its ``fingerprint``; ``None``: there is none) may be reused now
    that the fingerprint is ``current``, and the reasons it is stale when it is kept anyway.

    A stale one is announced in one line naming the run, then redone, or kept under ``LAB_KEEP_STALE=1``."""
    if stored is None:
        return False, []
    reasons = stale_reasons(stored.get("fingerprint"), current)
    if not reasons:
        return True, []
    keep = keep_stale()
    action = f"kept ({KEEP_STALE_ENV}=1)" if keep else "redoing it"
    print(f"{run_id}: {describe(reasons, what)}; {action}", flush=True)
    return keep, reasons if keep else []
