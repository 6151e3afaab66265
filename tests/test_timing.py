"""Host latency through LCE's interpreter (each round's time kept) and the host op profile."""
import pytest
from test_deploy import converted

import lab.timing
from lab import provenance, tflite


def test_latency_and_op_profile(monkeypatch):
    _, flatbuffer = converted("birealnet", "sign")
    timing = lab.timing.latency(flatbuffer, runs=5, warmup=1)
    assert timing["min_ms"] <= timing["median_ms"] <= timing["max_ms"] and timing["runs"] == 5
    assert timing["host_cpu"] == provenance.cpu_model() and timing["threads"] == 1
    assert timing["bconv_kernel"] == "indirect BGEMM"
    assert len(timing["times_ms"]) == 5 and timing["median_ms"] == pytest.approx(sorted(timing["times_ms"])[2])
    both = lab.timing.compare_latency({"a": flatbuffer, "b": flatbuffer}, runs=4, warmup=0)
    assert [len(both[k]["times_ms"]) for k in "ab"] == [4, 4]  # one time per interleaved round, paired by index
    with pytest.raises(ValueError, match="min_seconds"):
        lab.timing.latency(flatbuffer, min_seconds=-1)
    with monkeypatch.context() as clock:  # a round of 2 ms (a stand-in clock: a loaded machine's would vary)
        clock.setattr(lab.timing, "_times_ms", lambda it, inputs, runs, warmup: [2.0] * runs)
        longer = lab.timing.latency(flatbuffer, runs=5, warmup=1, min_seconds=0.2)  # 200 ms need 100 rounds
    assert longer["runs"] == 100 and longer["median_ms"] == 2.0
    profile = lab.timing.op_profile(flatbuffer, runs=2, warmup=1)
    ops = tflite.op_list(flatbuffer)
    assert list(profile.columns) == tflite.PROFILE_COLUMNS
    assert profile["node_type"].tolist() == ops["node_type"].tolist()  # every op, in run order
    assert (profile["avg_ms"] > 0).all() and profile["percent"].sum() == pytest.approx(100)
