"""Run independent pieces of work in parallel processes, for the batch steps that time nothing (training at small
scale, LCE conversion); whatever is timed runs afterwards, alone."""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import warnings
from typing import Any, Callable, Sequence

from lab import validate


def check_jobs(jobs) -> int:
    """``jobs`` itself, or ``ValueError`` naming the parameter and the allowed values."""
    return validate.integer("jobs", jobs, 1)


def quiet_warnings() -> None:
    """Drop the one warning that repeats through a batch's log without saying anything: larq-zoo's QuickNet passes a
    function as a kernel initializer, and Keras warns at every save or conversion that it cannot serialise it,
    though the weights (all a run or graph stores) are unaffected."""
    warnings.filterwarnings("ignore", message=r"The `keras\.initializers\.serialize\(\)` API should only be used",
                            category=UserWarning)


def worker_start(threads: int) -> None:
    """Pool initializer: this worker's share of the cores, set before TF runs anything; `quiet_warnings`."""
    quiet_warnings()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def run_all(fn: Callable, tasks: Sequence[dict[str, Any]], *, jobs: int = 1,
            on_done: Callable[[int, int, Any], None] | None = None) -> list:
    """``fn(**task)`` for every task; the results in task order. ``on_done(index, finished, result)`` reports each
    finished task (``finished``: how many so far), for progress lines.

    ``jobs=1`` runs here, one task after the other. More jobs run in that many fresh (spawned: TF is not fork-safe)
    processes with cores / jobs TF threads each: small graphs leave cores idle while Python builds and traces them,
    so two one-thread processes get through them sooner than one two-thread process. A failure, a worker that
    dies, or Ctrl-C terminates the other workers and raises. ``fn`` must be importable (a module-level function).
    """
    if check_jobs(jobs) == 1:
        results = []
        for index, task in enumerate(tasks):
            results.append(fn(**task))
            if on_done:
                on_done(index, index + 1, results[-1])
        return results
    threads = max(1, len(os.sched_getaffinity(0)) // jobs)
    before = set(multiprocessing.active_children())
    pool = concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=worker_start, initargs=(threads,))
    try:
        futures = {pool.submit(fn, **task): index for index, task in enumerate(tasks)}
        for finished, future in enumerate(concurrent.futures.as_completed(futures), start=1):
            if on_done:
                on_done(futures[future], finished, future.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in set(multiprocessing.active_children()) - before:
            worker.terminate()
        raise
    pool.shutdown()
    return [future.result() for future in futures]
