"""The trained runs' own converted graphs, for a benchmark on a device: each run folded and converted with LCE once
while its fingerprint holds (`convert_run`), copied beside a ``benchmark.sh`` for ``lce_benchmark_model``
(`write_graphs`), and the op-profiling logs that script makes read back as device latencies (`device_latencies`).

The tables' own latency and size columns do not come from here but from `lab.deployment` (fresh networks at the
deployment shape); these graphs are the trained networks as they would ship.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lab import fingerprint, provenance


def _run_fingerprint(folder: Path) -> dict[str, Any] | None:
    """The fingerprint a trained run recorded (`lab.train`: ``metrics.json`` or ``config.json``); None if none."""
    for name in ("metrics.json", "config.json"):
        recorded = (fingerprint.stored_json(folder / name) or {}).get("fingerprint")
        if recorded:
            return recorded
    return None


def graph_fingerprint(run_id: str) -> dict[str, Any]:
    """What a run's converted graph depends on: the run (its fingerprint and its final weights), the fold and
    conversion code and the packages behind them."""
    from lab import runs

    folder = runs.run_path(run_id)
    return fingerprint.fingerprint(code=fingerprint.CONVERSION_CODE, packages=fingerprint.CONVERSION_PACKAGES,
                                   run=_run_fingerprint(folder),
                                   weights=fingerprint.file_hash(folder / "model.weights.h5"))


def convert_run(run_id: str) -> dict[str, Any]:
    """Fold and convert a trained run with LCE: writes ``runs/<run_id>/model.tflite`` (for a device benchmark,
    `write_graphs`) and returns its sizes (`lab.deploy.sizes`), cached in ``runs/<run_id>/sizes.json`` with the graph's
    fingerprint (`graph_fingerprint`). A cached graph is reused while that fingerprint holds; a stale one is
    converted again, or kept under ``LAB_KEEP_STALE=1`` and then returned with ``"stale": [reasons]``.

    Timing nothing, it can run beside other work (`lab.reproduce`'s parallel training)."""
    import lab
    from lab import deploy, runs

    folder = runs.run_path(run_id)
    cache, graph = folder / "sizes.json", folder / "model.tflite"
    current = graph_fingerprint(run_id)
    stored = fingerprint.stored_json(cache) if graph.exists() else None
    reuse, stale = fingerprint.reusable(stored, current, run_id=run_id, what="this graph was converted")
    if reuse:
        sizes = {k: v for k, v in stored.items() if k != "fingerprint"}
        return {**sizes, "stale": stale} if stale else sizes
    net = lab.fold(runs.load_model(run_id))
    flatbuffer = deploy.convert(net, fold=False)
    graph.write_bytes(flatbuffer)
    sizes = deploy.sizes(net, flatbuffer)
    provenance.write_json(cache, {**sizes, "fingerprint": current}, {"run_id": run_id})
    return sizes


def write_graphs(table, folder: Path) -> Path:
    """Copy each row's trained, converted graph (`convert_run`) to ``folder/<name>.tflite`` and write
    ``benchmark.sh`` to profile them on a device (`lab.oplogs.benchmark_script`); the logs it makes are the
    ``device_logs`` the tables read (`device_latencies`). ``table``: a table of `lab.tables` (``name``,
    ``run_ids``)."""
    from lab import oplogs, runs

    folder.mkdir(parents=True, exist_ok=True)
    for name, run_ids in zip(table["name"], table["run_ids"]):
        run_id = run_ids.split()[0]
        convert_run(run_id)
        (folder / f"{name}.tflite").write_bytes((runs.run_path(run_id) / "model.tflite").read_bytes())
    script = folder / "benchmark.sh"
    script.write_text(oplogs.benchmark_script([f"{name}.tflite" for name in table["name"]]))
    return script


def device_latencies(folder: str | Path | None) -> dict[str, float]:
    """``{graph name: device latency ms}`` from a folder of ``lce_benchmark_model`` op-profiling logs (the sum of
    the per-op averages of each log; a ``_t1`` thread suffix is dropped). Empty when ``folder`` is None."""
    if not folder:
        return {}
    from lab import oplogs

    logs = oplogs.read_logs(folder)
    sums = logs.groupby("model")["avg_ms"].sum()
    return {name.removesuffix("_t1"): float(ms) for name, ms in sums.items()}
