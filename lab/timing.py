"""Host latency of converted graphs: LCE's Python interpreter on this machine, whole graphs and operator by operator.

These are *host* figures (LCE's x86 kernels are portable C++, not the ARM kernels of a phone or a Jetson); every
figure carries the host it was measured on (`host`). The host op profile times each operator of a converted graph on
its own (`op_profile`); on-device op profiles come from ``lce_benchmark_model`` logs (`lab.oplogs`).
"""
from __future__ import annotations

import math
import time
from typing import Any, Mapping

import numpy as np
import pandas as pd

from lab import provenance, tflite, validate

__all__ = ["host", "check", "interpreter", "compare_latency", "latency", "op_profile"]


def host(*, threads: int, indirect_bgemm: bool, xnnpack: bool = False) -> dict[str, Any]:
    """The setting a host figure was measured with: CPU, core count, interpreter threads, LCE's bconv kernel and
    whether TFLite's XNNPACK delegate ran the float ops."""
    machine = provenance.device()
    return {"host_cpu": machine["cpu"], "host_cores": machine["cpu_count"], "threads": threads,
            "bconv_kernel": "indirect BGEMM" if indirect_bgemm else "LCE default", "xnnpack": xnnpack}


def check(threads, runs, warmup, min_seconds: float = 0.0) -> None:
    """Raise ``ValueError`` naming the first timing setting out of range."""
    validate.integer("threads", threads, 1)
    validate.integer("runs", runs, 1)
    validate.integer("warmup", warmup, 0)
    validate.number("min_seconds", min_seconds, 0)


def interpreter(flatbuffer: bytes, threads: int, indirect_bgemm: bool, xnnpack: bool = False):
    """LCE's interpreter for ``flatbuffer`` (optimized bconv kernels; indirect BGEMM or LCE's default one)."""
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    return Interpreter(flatbuffer, num_threads=threads, use_reference_bconv=False,
                       use_indirect_bgemm=indirect_bgemm, use_xnnpack=xnnpack)


def _random_inputs(interpreter, seed: int = 0) -> list[np.ndarray]:
    """One random input per model input, in the interpreter's shapes and types (bitpacked tensors are int32)."""
    rng = np.random.default_rng(seed)
    inputs = []
    for shape, dtype in zip(interpreter.input_shapes, interpreter.input_types):
        dtype = np.dtype(dtype)
        if dtype == np.bool_:
            inputs.append(rng.random(shape) > 0.5)
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            inputs.append(rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True))
        else:
            inputs.append(rng.standard_normal(shape).astype(dtype))
    return inputs


def _times_ms(interpreter, inputs, runs: int, warmup: int) -> np.ndarray:
    """Wall time of ``runs`` single-example inferences (after ``warmup`` untimed ones), in ms."""
    for _ in range(warmup):
        interpreter.predict(inputs)
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        interpreter.predict(inputs)
        times[i] = time.perf_counter() - start
    return times * 1e3


def compare_latency(flatbuffers: Mapping[str, bytes], *, threads: int = 1, runs: int = 20, warmup: int = 3,
                    indirect_bgemm: bool = True, min_seconds: float = 0.0,
                    xnnpack: bool = False) -> dict[str, dict[str, Any]]:
    """`latency` of several models measured side by side: their timed runs interleave (one run of each in
    turn), so a change in machine load between them affects all alike. Keys as in ``flatbuffers``; each also has
    ``times_ms``, its per-round times (index i of every model: the same round), which pair two models' rounds for a
    ratio's interval (`lab.stats.ratio`)."""
    check(threads, runs, warmup, min_seconds)
    interpreters = {key: interpreter(fb, threads, indirect_bgemm, xnnpack) for key, fb in flatbuffers.items()}
    inputs = {key: _random_inputs(it) for key, it in interpreters.items()}
    for key, it in interpreters.items():
        _times_ms(it, inputs[key], warmup, 0)
    if min_seconds:  # one timed round tells how many rounds fill min_seconds
        round_ms = sum(_times_ms(it, inputs[key], 1, 0)[0] for key, it in interpreters.items())
        runs = max(runs, math.ceil(min_seconds * 1e3 / round_ms))
    times = {key: np.empty(runs) for key in interpreters}
    for i in range(runs):
        for key, it in interpreters.items():
            times[key][i] = _times_ms(it, inputs[key], 1, 0)[0]
    setting = host(threads=threads, indirect_bgemm=indirect_bgemm, xnnpack=xnnpack)
    return {key: {**_spread(t), "runs": runs, "warmup": warmup, **setting, "times_ms": t.tolist()}
            for key, t in times.items()}


def _spread(times: np.ndarray) -> dict[str, float]:
    q1, q3 = np.percentile(times, [25, 75])
    return {"median_ms": float(np.median(times)), "mean_ms": float(times.mean()), "std_ms": float(times.std()),
            "iqr_ms": float(q3 - q1), "min_ms": float(times.min()), "max_ms": float(times.max())}


def latency(flatbuffer: bytes, *, threads: int = 1, runs: int = 20, warmup: int = 3,
            indirect_bgemm: bool = True, min_seconds: float = 0.0) -> dict[str, Any]:
    """Host latency of one inference (batch 1) through LCE's interpreter.

    Returns the median, mean, standard deviation, interquartile range, min and max over ``runs`` timed runs
    (in ms; more when ``runs`` take less than ``min_seconds`` in all), the run counts, the host setting
    (`host`) and the times themselves (``times_ms``). ``indirect_bgemm=True`` selects LCE's indirect BGEMM
    bconv kernel, 5-6x faster than the default one on x86: the representative host setting.
    """
    return compare_latency({"model": flatbuffer}, threads=threads, runs=runs, warmup=warmup,
                           indirect_bgemm=indirect_bgemm, min_seconds=min_seconds)["model"]


def op_profile(flatbuffer: bytes, *, threads: int = 1, runs: int = 10, warmup: int = 2,
               indirect_bgemm: bool = True, progress: bool = False) -> pd.DataFrame:
    """Host op profile: each operator of the converted graph cut out into a one-op flatbuffer
    (`lab.tflite.single_op_flatbuffer`: same tensor shapes, same constants, same fused options) and timed on its own
    through LCE's interpreter.

    LCE's Python interpreter has no per-op timer, so this stands in for on-device op profiling, with the same
    columns as `lab.oplogs.read_log` (`lab.tflite.PROFILE_COLUMNS`): ``run_order``, ``node_type``, ``avg_ms``
    (median of ``runs``), ``percent`` (of the summed op times), ``name`` (output tensor) and ``layer``. The sum
    includes one interpreter call overhead per op, so it is a little above the whole-model `latency`.
    """
    check(threads, runs, warmup)
    ops = tflite.op_list(flatbuffer)
    model = tflite.unpack(flatbuffer)
    avg = []
    for index in range(len(ops)):
        it = interpreter(tflite.single_op_flatbuffer(model, index), threads, indirect_bgemm)
        avg.append(float(np.median(_times_ms(it, _random_inputs(it, seed=index), runs, warmup))))
        if progress:
            print(f"\rop profile: {index + 1}/{len(ops)} ops", end="", flush=True)
    if progress:
        print()
    profile = ops.assign(avg_ms=avg)
    profile["percent"] = 100.0 * profile["avg_ms"] / profile["avg_ms"].sum()
    return profile[tflite.PROFILE_COLUMNS]
