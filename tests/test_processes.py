"""lab.processes.run_all: results in task order, progress, each worker's thread share, and no hang or leftover
worker when a task fails or a worker dies."""
from concurrent.futures.process import BrokenProcessPool
import multiprocessing
import os
import subprocess

import pytest

from lab import processes, provenance


def test_in_process_runs_in_order_and_reports_each_task():
    seen = []
    results = processes.run_all(processes.check_jobs, [{"jobs": 3}, {"jobs": 1}],
                                on_done=lambda i, n, r: seen.append((i, n, r)))
    assert results == [3, 1] and seen == [(0, 1, 3), (1, 2, 1)]


def test_workers_get_their_share_of_the_cores_and_results_keep_task_order():
    seen = []
    devices = processes.run_all(provenance.device, [{}, {}, {}], jobs=2, on_done=lambda i, n, r: seen.append(i))
    assert len(devices) == 3 and sorted(seen) == [0, 1, 2]
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    assert {d["tf_intra_op_threads"] for d in devices} == {threads}
    assert {d["tf_inter_op_threads"] for d in devices} == {threads}
    assert not multiprocessing.active_children()


def test_a_failing_task_raises_its_error():
    with pytest.raises(ValueError, match="^jobs: must be an integer >= 1"):
        processes.run_all(processes.check_jobs, [{"jobs": 2}, {"jobs": 0}], jobs=2)
    assert not multiprocessing.active_children()


def test_a_dead_worker_breaks_the_batch_instead_of_hanging_and_the_others_are_stopped():
    tasks = [{"args": ["sh", "-c", "kill -9 $PPID"]}, {"args": ["sleep", "60"]}]  # one worker killed, one busy
    with pytest.raises(BrokenProcessPool):
        processes.run_all(subprocess.run, tasks, jobs=2)
    assert not multiprocessing.active_children()


@pytest.mark.parametrize("jobs", [0, -1, 1.5, "2", True])
def test_bad_jobs_are_refused(jobs):
    with pytest.raises(ValueError, match="^jobs"):
        processes.run_all(processes.check_jobs, [{"jobs": 1}], jobs=jobs)


def test_quiet_warnings_drops_only_the_keras_initializer_warning(recwarn):
    import warnings

    from lab import processes

    with warnings.catch_warnings():
        processes.quiet_warnings()
        warnings.warn("The `keras.initializers.serialize()` API should only be used for objects of type ...",
                      UserWarning)
        warnings.warn("something else", UserWarning)
    assert [str(w.message) for w in recwarn] == ["something else"]
