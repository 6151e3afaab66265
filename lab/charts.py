"""Fig. 6 of the LAB paper: per-operator latency as horizontal stacked bars, one bar per model.

Each bar is a model's op profile (`lab.deploy.op_profile` on the host, `lab.oplogs.read_logs` from a device): one
segment per operator in run order, its length the operator's average time, its colour the TFLite node type.
Node types that take a small share of the time are grouped as OTHER so that the colours stay readable.
"""
from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = ["OTHER", "group_small_ops", "op_profile_chart"]

OTHER = "OTHER"


def group_small_ops(profiles: pd.DataFrame, *, min_share: float = 0.03) -> pd.DataFrame:
    """``profiles`` with ``node_type`` set to OTHER for the types whose time is below ``min_share`` of the total
    in every model (so a type that matters in one bar keeps its colour in all bars)."""
    if not 0 <= min_share < 1:
        raise ValueError(f"min_share must be in [0, 1), got {min_share!r}")
    share = profiles.groupby(["model", "node_type"])["avg_ms"].sum() / profiles.groupby("model")["avg_ms"].sum()
    kept = set(share[share >= min_share].index.get_level_values("node_type"))
    return profiles.assign(node_type=profiles["node_type"].where(profiles["node_type"].isin(kept), OTHER))


def op_profile_chart(profiles: pd.DataFrame, *, min_share: float = 0.03, title: str = "") -> alt.Chart:
    """Fig. 6: one horizontal bar per ``model``, stacked from the op profile's rows in ``run_order``.

    ``profiles`` needs the columns ``model``, ``run_order``, ``node_type``, ``avg_ms`` (and ``layer`` for the
    tooltip), e.g. host or device op profiles stacked with a ``model`` label.
    """
    missing = {"model", "run_order", "node_type", "avg_ms"} - set(profiles.columns)
    if missing:
        raise ValueError(f"profiles: missing columns {sorted(missing)}")
    data = group_small_ops(profiles, min_share=min_share)
    data = data[["model", "run_order", "node_type", "avg_ms"] + (["layer"] if "layer" in data else [])]
    return alt.Chart(data).mark_bar(stroke="white", strokeWidth=0.3).encode(
        x=alt.X("sum(avg_ms):Q", stack="zero", title="latency [ms] (operators in run order)"),
        y=alt.Y("model:N", sort=list(dict.fromkeys(data["model"])), title=None),
        color=alt.Color("node_type:N", title="operator"),
        order=alt.Order("run_order:Q"),
        detail="run_order:Q",
        tooltip=[c for c in ("model", "run_order", "node_type", "layer") if c in data]
        + [alt.Tooltip("avg_ms:Q", format=".3f")],
    ).properties(width=560, title=title)
