"""The edge-latency study: every network as sign, LAB (unfolded) and LAB (folded), converted, sized, timed on the host
and op-profiled, the paper's Table A beside; the edge notebook's tables and Fig. 6 charts (`views`).

Graphs come first, all of them (`convert_all`: from `lab.deployment`'s cache, which Tables A and B share, or
converted in parallel processes); then each network's variants are timed alone, their runs interleaved (one run of
each in turn, so a change in load hits all alike: `time_networks`). Both `edge_latency` (the notebook) and
``python -m lab.bench latency`` (`latency_table`, `size_table`) measure this way. These are host figures (LCE's
portable x86 kernels, `lab.timing`), set beside the paper's Jetson Xavier NX figures, not device figures.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from lab import paper, presets, provenance, timing, validate
from lab.paper import table_a

__all__ = ["VARIANTS", "VARIANT_LABELS", "GOAL", "OTHER", "build_variant", "convert_variant", "time_variants",
           "measure_network", "convert_all", "time_networks", "check_settings", "with_paper", "lab_over_sign",
           "latency_table", "size_table", "edge_latency", "group_small_ops", "op_profile_chart", "views"]

# Deployment variants of a network: (binarizer, fold LAB before converting).
VARIANTS = {"sign": ("sign", False), "lab": ("lab", False), "lab_folded": ("lab", True)}
VARIANT_LABELS = {"sign": "sign", "lab": "LAB (unfolded)", "lab_folded": "LAB (folded)"}
SIGN, LAB, FOLDED = (VARIANT_LABELS[v] for v in ("sign", "lab", "lab_folded"))
GOAL = 1.10  # folded LAB / sign latency the deployment form should stay within
OTHER = "OTHER"  # Fig. 6's colour for the node types that take a small share of the time


def build_variant(network: str, *, variant: str, lab_blocks=None, input_shape=(224, 224, 3), width: float = 1.0,
                  num_classes: int = 1000):
    """``network`` as deployment variant ``variant``: "sign", "lab" or "lab_folded" (`lab.deploy.build_network`)."""
    from lab import deploy

    validate.choice("variant", variant, VARIANTS)
    binarizer, fold = VARIANTS[variant]
    return deploy.build_network(network, binarizer=binarizer, lab_blocks=lab_blocks, fold=fold,
                                input_shape=input_shape, width=width, num_classes=num_classes)


def convert_variant(network: str, *, variant: str, lab_blocks=None, input_shape=(224, 224, 3), width: float = 1.0,
                    num_classes: int = 1000) -> tuple[bytes, dict[str, Any]]:
    """`build_variant` converted with LCE: its flatbuffer and its table row (network, variant label, `sizes`)."""
    from lab import deploy

    model = build_variant(network, variant=variant, lab_blocks=lab_blocks, input_shape=input_shape, width=width,
                          num_classes=num_classes)
    flatbuffer = deploy.convert(model, fold=False)
    return flatbuffer, {"network": network, "variant": VARIANT_LABELS[variant], **deploy.sizes(model, flatbuffer)}


def time_variants(converted: Mapping[str, tuple[bytes, dict]], *, threads: int = 1, runs: int = 20, warmup: int = 3,
                  indirect_bgemm: bool = True, xnnpack: bool = False) -> pd.DataFrame:
    """The rows of `convert_variant` results (by variant) with their latencies measured side by side
    (`lab.timing.compare_latency`) and the host setting."""
    timings = timing.compare_latency({v: fb for v, (fb, _) in converted.items()}, threads=threads, runs=runs,
                                     warmup=warmup, indirect_bgemm=indirect_bgemm, xnnpack=xnnpack)
    # Per-round times stay out of the table: it shows the summary of each variant's rounds.
    return pd.DataFrame([{**row, **{k: x for k, x in timings[v].items() if k != "times_ms"}}
                         for v, (_, row) in converted.items()])


def measure_network(network: str, *, variants=tuple(VARIANTS), lab_blocks=None, input_shape=(224, 224, 3),
                    width: float = 1.0, num_classes: int = 1000, threads: int = 1, runs: int = 20, warmup: int = 3,
                    indirect_bgemm: bool = True) -> tuple[dict[str, bytes], pd.DataFrame]:
    """Convert each variant of ``network`` (`convert_variant`) and measure them side by side (`time_variants`).

    Returns the flatbuffers by variant and one row per variant: network, variant (its label), ``tflite_file_mb``,
    ``deployed_size_mb`` (`lab.deploy.sizes`), the latency figures and the host setting.
    """
    variants = validate.choices("variants", variants, VARIANTS)
    timing.check(threads, runs, warmup)
    converted = {v: convert_variant(network, variant=v, lab_blocks=lab_blocks, input_shape=input_shape, width=width,
                                    num_classes=num_classes) for v in variants}
    table = time_variants(converted, threads=threads, runs=runs, warmup=warmup, indirect_bgemm=indirect_bgemm)
    return {v: fb for v, (fb, _) in converted.items()}, table


def convert_all(networks: Iterable[str], variants: Iterable[str], *, lab_blocks=None, input_size: int = 224,
                width: float = 1.0, jobs: int = 1) -> dict[tuple[str, str], tuple[bytes, dict]]:
    """Every (network, variant) converted at ``input_size`` and ``width`` (1000 classes): its flatbuffer and table
    row. Graphs come from `lab.deployment`'s cache, shared with Tables A and B (a graph still fresh there is not
    converted again); the others are converted in ``jobs`` processes, with progress."""
    from lab import deployment

    where = presets.Shape((input_size, input_size, 3), float(width), 1000)
    graphs = {(n, v): deployment.Graph(n, VARIANTS[v][0], lab_blocks if VARIANTS[v][0] == "lab" else None,
                                       fold=VARIANTS[v][1])
              for n in networks for v in variants}
    sizes = deployment.convert_all(list(graphs.values()), where, jobs=jobs)
    return {(n, v): (deployment.graph_path(g, where).read_bytes(),
                     {"network": n, "variant": VARIANT_LABELS[v], **sizes[g]}) for (n, v), g in graphs.items()}


def time_networks(converted: Mapping[tuple[str, str], tuple[bytes, dict]], *, settings: Iterable[tuple[int, bool]],
                  runs: int, warmup: int, indirect_bgemm: bool = True) -> pd.DataFrame:
    """`time_variants` of each network's graphs in ``converted`` (`convert_all`), one network at a time, at each
    (threads, xnnpack) of ``settings``: one row per network x setting x variant."""
    settings = list(settings)
    networks = list(dict.fromkeys(network for network, _ in converted))
    rows = []
    for i, network in enumerate(networks, 1):
        mine = {v: graph for (n, v), graph in converted.items() if n == network}
        for threads, xnnpack in settings:
            print(f"[{i}/{len(networks)}] {network}, {threads} thread(s), XNNPACK {'on' if xnnpack else 'off'}: "
                  f"timing {', '.join(mine)}", flush=True)
            rows.append(time_variants(mine, threads=threads, runs=runs, warmup=warmup, indirect_bgemm=indirect_bgemm,
                                      xnnpack=xnnpack))
    return pd.concat(rows, ignore_index=True)


def check_settings(p: Mapping[str, Any], name=lambda key: key) -> None:
    """Raise ``ValueError`` naming the first of the study's shape, timing and process settings in ``p`` that is out
    of range; ``name(key)`` is what the message calls it (``--input-size`` on a command line)."""
    validate.integer(name("input_size"), p["input_size"], presets.MIN_INPUT_SIDE)
    validate.number(name("width"), p["width"], 0, 4, strict=True)
    validate.integer(name("runs"), p["runs"], 1)
    validate.integer(name("warmup"), p["warmup"], 0)
    validate.integer(name("jobs"), p["jobs"], 1)


def _paper(column: str) -> pd.DataFrame:
    """Table A's ``column`` by network (rows) and binarizer (columns "sign", "lab")."""
    return table_a().pivot(index="model", columns="binarizer", values=column)


def with_paper(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (rows of `measure_network`) with the paper's model size and Jetson Xavier NX latency beside each
    sign / LAB row of the four paper networks (empty elsewhere)."""
    published = table_a()[["model", "binarizer", "size_mb", "latency_ms"]].rename(columns={
        "model": "network", "size_mb": "size_mb_paper", "latency_ms": "latency_ms_jetson_xavier_nx_paper"})
    binarizer = table["variant"].map({label: VARIANTS[v][0] for v, label in VARIANT_LABELS.items()})
    return table.assign(binarizer=binarizer).merge(published, on=["network", "binarizer"], how="left").drop(
        columns="binarizer")


def lab_over_sign(table: pd.DataFrame, column: str = "median_ms") -> pd.DataFrame:
    """Per network, ``column`` of each LAB variant divided by that of sign (and the paper's ratio, when known)."""
    wide = table.pivot(index="network", columns="variant", values=column)
    ratios = pd.DataFrame({f"{label} / sign": wide[label] / wide[SIGN]
                           for v, label in VARIANT_LABELS.items() if v != "sign" and label in wide})
    latency = _paper("latency_ms")
    ratios["paper LAB / sign (Jetson Xavier NX, paper)"] = (latency["lab"] / latency["sign"]).reindex(ratios.index)
    return ratios.reset_index()


def latency_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Median latency per network, thread count and XNNPACK setting (rows of `time_networks`): sign, LAB unfolded
    and folded, their ratios to sign, whether folded / sign meets `GOAL`, the paper's LAB / sign."""
    keys = ["network", "threads", "xnnpack"]
    ms = raw.pivot(index=keys, columns="variant", values="median_ms").reindex(
        pd.MultiIndex.from_frame(raw[keys].drop_duplicates()))
    table = pd.DataFrame({"sign ms": ms[SIGN], "LAB unfolded ms": ms[LAB], "LAB folded ms": ms[FOLDED],
                          "unfolded / sign": ms[LAB] / ms[SIGN], "folded / sign": ms[FOLDED] / ms[SIGN]})
    table[f"folded <= {GOAL:.2f}"] = np.where(table["folded / sign"] <= GOAL, "yes", "no")
    latency = _paper("latency_ms")
    table["paper LAB / sign (Jetson Xavier NX)"] = (latency["lab"] / latency["sign"]).reindex(
        table.index.get_level_values("network")).to_numpy()
    table = table.reset_index()
    table["xnnpack"] = table["xnnpack"].map({False: "off", True: "on"})
    return table


def size_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Per network: file and deployed size of sign and folded LAB (the deployed form), LAB's overhead, the
    paper's."""
    once = raw.drop_duplicates(["network", "variant"])  # sizes do not depend on the thread count
    networks = once["network"].unique()
    file, deployed = (once.pivot(index="network", columns="variant", values=column).reindex(networks)
                      for column in ("tflite_file_mb", "deployed_size_mb"))
    size = _paper("size_mb").reindex(networks)
    return pd.DataFrame({
        "sign file MB": file[SIGN], "LAB file MB": file[FOLDED],
        "sign deployed MB": deployed[SIGN], "LAB deployed MB": deployed[FOLDED],
        "LAB overhead file MB": file[FOLDED] - file[SIGN],
        "LAB overhead deployed MB": deployed[FOLDED] - deployed[SIGN],
        "paper LAB overhead MB": size["lab"] - size["sign"]}).rename_axis("network").reset_index()


def _resolve(preset: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The preset's ``edge`` settings (`lab.presets.Edge`, its ``jobs``) updated by the non-None ``overrides``,
    checked before any work starts."""
    settings = presets.load(preset)
    p = {**dataclasses.asdict(settings.edge), "jobs": settings.jobs,
         **{k: v for k, v in overrides.items() if v is not None}}
    p["networks"] = validate.choices("networks", p["networks"], paper.MODELS)
    p["variants"] = validate.choices("variants", p.get("variants", list(VARIANTS)), VARIANTS)
    check_settings(p)
    timing.check(p["threads"], p["runs"], p["warmup"])
    validate.integer("profile_runs", p["profile_runs"], 1)
    if p.get("device_logs") is not None:
        p["device_logs"] = provenance.REPO_ROOT / p["device_logs"]  # relative paths: from the repository root
        validate.require(p["device_logs"].is_dir(), "device_logs", "a folder of lce_benchmark_model logs",
                         p["device_logs"])
    return p


def edge_latency(*, preset: str, networks=None, variants=None, lab_blocks=None, input_size=None, width=None,
                 threads: int = 1, runs=None, profile_runs=None, indirect_bgemm: bool = True, device_logs=None,
                 jobs=None, out: str | Path | None = None) -> dict[str, Any]:
    """The edge-latency study: every network x variant converted, sized, timed on the host and op-profiled.

    None arguments take the preset's value (``edge:``, `lab.presets.Edge`; ``jobs``: the preset's ``jobs:``). The
    graphs come first (`convert_all`: sign and folded LAB at 224x224x3 are usually in the tables' cache already),
    then each network's variants are timed one network at a time, with nothing else running (`time_networks`).
    Writes under ``out`` (default ``<results>/<preset>/edge_latency/``) the ``.tflite`` graphs, ``benchmark.sh`` to
    profile them on a device (`lab.oplogs.benchmark_script`), and the tables ``deployment`` (sizes and host latency,
    paper beside), ``lab_over_sign`` and ``host_op_profile`` (`lab.timing.op_profile`; plus ``device_op_profile``
    read from ``device_logs``). Returns those tables and the parameters used.
    """
    from lab import oplogs

    p = _resolve(preset, dict(networks=networks, variants=variants, input_size=input_size, width=width,
                              threads=threads, runs=runs, profile_runs=profile_runs, device_logs=device_logs,
                              jobs=jobs))
    p.update(preset=preset, lab_blocks=lab_blocks, indirect_bgemm=indirect_bgemm)
    out = Path(out) if out is not None else provenance.results_root() / preset / "edge_latency"
    out.mkdir(parents=True, exist_ok=True)
    converted = convert_all(p["networks"], p["variants"], lab_blocks=lab_blocks, input_size=p["input_size"],
                            width=p["width"], jobs=p["jobs"])
    result = {"deployment": with_paper(time_networks(converted, settings=[(threads, False)], runs=p["runs"],
                                                     warmup=p["warmup"], indirect_bgemm=indirect_bgemm))}
    profiles, graphs = [], []
    for (network, variant), (flatbuffer, _) in converted.items():
        graphs.append(f"{network}_{variant}.tflite")
        (out / graphs[-1]).write_bytes(flatbuffer)
        profile = timing.op_profile(flatbuffer, threads=threads, runs=p["profile_runs"], indirect_bgemm=indirect_bgemm)
        profiles.append(profile.assign(model=f"{network} {VARIANT_LABELS[variant]}"))
    (out / "benchmark.sh").write_text(oplogs.benchmark_script(graphs, threads=[threads]))
    result["host_op_profile"] = pd.concat(profiles, ignore_index=True)
    result["lab_over_sign"] = (lab_over_sign(result["deployment"]) if "sign" in p["variants"] and len(p["variants"]) > 1
                               else pd.DataFrame())
    if p.get("device_logs") is not None:
        result["device_op_profile"] = oplogs.read_logs(p["device_logs"])
    for name, table in result.items():
        if not table.empty:
            provenance.write_table(table, out / name, p)
    return {**result, "params": p, "out": out}


# --------------------------------------------------------------------------------------------- Fig. 6 and the view
def group_small_ops(profiles: pd.DataFrame, *, min_share: float = 0.03) -> pd.DataFrame:
    """``profiles`` with ``node_type`` set to `OTHER` for the types whose time is below ``min_share`` of the total
    in every model (so a type that matters in one bar keeps its colour in all bars)."""
    validate.require(validate.is_number(min_share) and 0 <= min_share < 1, "min_share", "a number in [0, 1)",
                     min_share)
    share = profiles.groupby(["model", "node_type"])["avg_ms"].sum() / profiles.groupby("model")["avg_ms"].sum()
    kept = set(share[share >= min_share].index.get_level_values("node_type"))
    return profiles.assign(node_type=profiles["node_type"].where(profiles["node_type"].isin(kept), OTHER))


def op_profile_chart(profiles: pd.DataFrame, *, min_share: float = 0.03, title: str = ""):
    """Fig. 6: one horizontal bar per ``model``, stacked from the op profile's rows in ``run_order``: one segment
    per operator, its length the operator's average time, its colour the node type (small ones: `group_small_ops`).

    ``profiles`` needs the columns ``model``, ``run_order``, ``node_type``, ``avg_ms`` (and ``layer`` for the
    tooltip): host (`lab.timing.op_profile`) or device (`lab.oplogs.read_logs`) op profiles with a ``model`` label.
    """
    import altair as alt

    missing = {"model", "run_order", "node_type", "avg_ms"} - set(profiles.columns)
    validate.require(not missing, "profiles", "a table with the columns model, run_order, node_type and avg_ms",
                     list(profiles.columns))
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


_SHOWN = {"network": "network", "variant": "variant", "tflite_file_mb": "tflite file MiB",
          "deployed_size_mb": "deployed MiB (binary 1 bit, rest 32 bit)", "size_mb_paper": "size MB (paper)",
          "median_ms": "host latency ms (median)", "iqr_ms": "host IQR ms",
          "latency_ms_jetson_xavier_nx_paper": "latency ms (Jetson Xavier NX, paper)", "host_cpu": "host_cpu",
          "threads": "threads", "bconv_kernel": "bconv_kernel"}


def views(result: Mapping[str, Any]) -> dict[str, Any]:
    """What the edge notebook shows of an `edge_latency` result: ``deployment`` (sizes and host latency, the
    paper's beside, labelled), ``lab_over_sign``, ``fig6_host`` (`op_profile_chart`), ``host_op_time`` (ms per
    model and node type) and, with device logs, ``fig6_device``."""
    p = result["params"]
    shown = {
        "deployment": result["deployment"][list(_SHOWN)].rename(columns=_SHOWN).round(3),
        "lab_over_sign": result["lab_over_sign"].round(2),
        "fig6_host": op_profile_chart(result["host_op_profile"], title=(
            f"Host op profile ({p['input_size']}x{p['input_size']}x3, {p['threads']} thread(s), LCE interpreter)")),
        "host_op_time": result["host_op_profile"].groupby(["model", "node_type"])["avg_ms"].sum().unstack(
            fill_value=0).round(3),
    }
    if "device_op_profile" in result:
        shown["fig6_device"] = op_profile_chart(result["device_op_profile"],
                                                title="Device op profile (lce_benchmark_model)")
    return shown
