"""The edge-latency study: its notebook at smoke scale, and Fig. 6 (op-profile charts) from device logs."""
import os
from pathlib import Path

import pytest

from lab import edge, oplogs, provenance

FIXTURES = Path(__file__).parent / "fixtures" / "oplogs"


def test_notebook_runs_at_smoke_scale(tmp_path, monkeypatch):
    import papermill

    monkeypatch.setenv("LAB_RESULTS", str(tmp_path))
    logs = Path(__file__).parent / "fixtures" / "oplogs"
    papermill.execute_notebook(
        str(provenance.REPO_ROOT / "notebooks" / "edge_latency.ipynb"), str(tmp_path / "out.ipynb"),
        parameters=dict(preset="smoke", networks=["birealnet"], input_size=32, width=0.0625, runs=3,
                        profile_runs=1, device_logs=str(logs), jobs=2),  # conversions in processes of a kernel
        cwd=str(provenance.REPO_ROOT / "notebooks"), progress_bar=False, kernel_name="python3")
    out = tmp_path / "smoke" / "edge_latency"
    for name in ("birealnet_sign.tflite", "birealnet_lab.tflite", "birealnet_lab_folded.tflite", "benchmark.sh",
                 "deployment.csv", "lab_over_sign.csv", "host_op_profile.csv", "device_op_profile.csv",
                 "fig6_host.svg", "fig6_device.svg"):
        assert (out / name).exists(), name
    import pandas as pd

    table = pd.read_csv(out / "deployment.csv")
    assert table["variant"].tolist() == ["sign", "LAB (unfolded)", "LAB (folded)"]
    assert table["latency_ms_jetson_xavier_nx_paper"].tolist() == [72.5, 100.6, 100.6]
    assert os.path.getsize(out / "birealnet_sign.tflite") == pytest.approx(table["tflite_file_mb"][0] * 2**20)


def test_fig6_groups_small_ops():
    profiles = oplogs.read_logs(FIXTURES)
    grouped = edge.group_small_ops(profiles, min_share=0.05)
    # GREATER (1.7 %), LceQuantize (1.1 %), ADD (2.4 %), MEAN (0.6 %) fall under OTHER; the sum is kept
    assert sorted(grouped["node_type"].unique()) == sorted(["CONV_2D", "DEPTHWISE_CONV_2D", "LceBconv2d",
                                                            "FULLY_CONNECTED", edge.OTHER])
    assert grouped["avg_ms"].sum() == pytest.approx(profiles["avg_ms"].sum())
    spec = edge.op_profile_chart(profiles, min_share=0.05).to_dict()
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["order"]["field"] == "run_order"
    assert spec["encoding"]["y"]["field"] == "model" and spec["encoding"]["x"]["stack"] == "zero"
    with pytest.raises(ValueError, match="min_share"):
        edge.group_small_ops(profiles, min_share=1.5)
