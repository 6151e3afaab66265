"""``python -m lab.bench latency``: host latency and model size of sign, LAB and folded LAB through LCE.

Every network x variant (`lab.deploy.VARIANTS`) is built and converted first, in ``--jobs`` processes (or reused
from `lab.deployment`'s cache, which the tables share); then each
network's three graphs are timed alone, at each thread count, without and with TFLite's XNNPACK delegate for the
float ops (LAB's depthwise convs among them), their runs interleaved (one run of each in turn, so
a change in load hits all three alike). These are host figures (LCE's portable x86 kernels), set beside the paper's
Jetson Xavier NX ratios, not device figures. The goal is folded LAB / sign <= 1.10 on every network.
"""
from __future__ import annotations

import argparse
import itertools
import os
import platform

import numpy as np
import pandas as pd

from lab import deploy, models, paper, provenance
from lab.paper import table_a
from lab.processes import check_jobs

GOAL = 1.10  # folded LAB / sign latency the deployment form should stay within
SIGN, LAB, FOLDED = (deploy.VARIANT_LABELS[v] for v in ("sign", "lab", "lab_folded"))
THREADS = (1, 4)  # the settings, whatever the host's core count (recorded beside them)
# Each conversion process holds a full-size graph and its TF runtime (several GB): a few at most.
JOBS = min(4, len(os.sched_getaffinity(0)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # `extend`: a repeated option adds to the list instead of silently replacing it.
    parser.add_argument("--networks", nargs="+", action="extend", metavar="NAME",
                        help=f"networks of {models.NAMES} (default: {' '.join(paper.NETWORKS)})")
    parser.add_argument("--threads", nargs="+", action="extend", type=int, metavar="N",
                        help=f"interpreter thread counts (default: {' '.join(map(str, THREADS))})")
    parser.add_argument("--runs", type=int, default=20, help="interleaved timed runs per graph; the median is shown")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs of each graph first")
    parser.add_argument("--input-size", type=int, default=224, help="input side (the deployment shape: 224)")
    parser.add_argument("--width", type=float, default=1.0, help="width multiplier (1.0: the published networks)")
    parser.add_argument("--jobs", type=int, default=JOBS, help="processes that convert (timing runs alone)")
    parser.add_argument("--xnnpack", nargs="+", action="extend", choices=("off", "on"), metavar="off|on",
                        help="time without and/or with TFLite's XNNPACK delegate for the float ops (default: "
                             "off on); LCE's binary ops never go to XNNPACK")
    parser.add_argument("--default-kernel", action="store_true",
                        help="LCE's default bconv kernel instead of indirect BGEMM (5-6x slower on x86)")


def _require(ok: bool, name: str, allowed: str, got) -> None:
    if not ok:
        raise ValueError(f"{name}: must be {allowed}, got {got!r}")


def params(args: argparse.Namespace) -> dict:
    """The benchmark's parameters from ``args`` (defaults filled in), checked before any work."""
    p = {"networks": args.networks or list(paper.NETWORKS), "threads": args.threads or list(THREADS),
         "runs": args.runs, "warmup": args.warmup, "input_size": args.input_size, "width": args.width,
         "bconv_kernel": "LCE default" if args.default_kernel else "indirect BGEMM", "jobs": args.jobs,
         "xnnpack": [flag == "on" for flag in dict.fromkeys(args.xnnpack or ("off", "on"))]}
    unknown = sorted(set(p["networks"]) - set(models.NAMES))
    _require(not unknown, "--networks", f"names from {models.NAMES}", unknown)
    _require(min(p["threads"]) >= 1, "--threads", "integers >= 1", p["threads"])
    _require(p["runs"] >= 1, "--runs", "an integer >= 1 (20 or more for stable medians)", p["runs"])
    _require(p["warmup"] >= 0, "--warmup", "an integer >= 0", p["warmup"])
    _require(p["input_size"] >= models.MIN_INPUT_SIDE, "--input-size", f"an integer >= {models.MIN_INPUT_SIDE}",
             p["input_size"])
    _require(0 < p["width"] <= 4, "--width", "a number in (0, 4]", p["width"])
    check_jobs(p["jobs"])
    return p


def measure(p: dict) -> pd.DataFrame:
    """One row per network x thread count x variant: `lab.deploy.time_variants` (sizes, latency, host)."""
    converted = deploy._convert_all({**p, "variants": list(deploy.VARIANTS)}, lab_blocks=None)
    rows = []
    for i, network in enumerate(p["networks"], 1):
        mine = {v: converted[network, v] for v in deploy.VARIANTS}
        for threads, xnnpack in itertools.product(p["threads"], p["xnnpack"]):
            print(f"[{i}/{len(p['networks'])}] {network}, {threads} thread(s), XNNPACK {'on' if xnnpack else 'off'}: "
                  f"timing {', '.join(mine)}", flush=True)
            rows.append(deploy.time_variants(mine, threads=threads, runs=p["runs"], warmup=p["warmup"],
                                             indirect_bgemm=p["bconv_kernel"] == "indirect BGEMM", xnnpack=xnnpack))
    return pd.concat(rows, ignore_index=True)


def _paper(column: str) -> pd.DataFrame:
    """Table A's ``column`` by network (rows) and binarizer (columns "sign", "lab")."""
    return table_a().pivot(index="model", columns="binarizer", values=column)


def latency_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Median latency per network, thread count and XNNPACK setting: sign, LAB unfolded and folded, their ratios
    to sign, the paper's LAB / sign."""
    keys = ["network", "threads", "xnnpack"]
    ms = raw.pivot(index=keys, columns="variant", values="median_ms").reindex(
        pd.MultiIndex.from_frame(raw[keys].drop_duplicates()))
    table = pd.DataFrame({"sign ms": ms[SIGN], "LAB unfolded ms": ms[LAB], "LAB folded ms": ms[FOLDED],
                          "unfolded / sign": ms[LAB] / ms[SIGN], "folded / sign": ms[FOLDED] / ms[SIGN]})
    table[f"folded <= {GOAL:.2f}"] = np.where(table["folded / sign"] <= GOAL, "yes", "no")
    paper = _paper("latency_ms")
    table["paper LAB / sign (Jetson Xavier NX)"] = (paper["lab"] / paper["sign"]).reindex(
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
    paper = _paper("size_mb").reindex(networks)
    return pd.DataFrame({
        "sign file MB": file[SIGN], "LAB file MB": file[FOLDED],
        "sign deployed MB": deployed[SIGN], "LAB deployed MB": deployed[FOLDED],
        "LAB overhead file MB": file[FOLDED] - file[SIGN],
        "LAB overhead deployed MB": deployed[FOLDED] - deployed[SIGN],
        "paper LAB overhead MB": paper["lab"] - paper["sign"]}).rename_axis("network").reset_index()


def markdown(raw: pd.DataFrame, p: dict) -> str:
    """The two tables, each under a line that says what was measured where."""
    machine = provenance.device()
    cores = machine["cpu_count"]
    oversubscribed = f"; {max(p['threads'])} threads oversubscribe them" if max(p["threads"]) > cores else ""
    side = p["input_size"]
    fmt = dict(index=False, floatfmt=".2f", missingval="-")
    return (
        f"**Host latency**: host {platform.machine()} ({machine['cpu']}, {cores} cores{oversubscribed}), "
        f"LCE interpreter, {p['bconv_kernel']}, `xnnpack`: TFLite's XNNPACK delegate ran the float ops (LCE's "
        f"binary ops never go to it); batch 1 at {side}x{side}x3, width {p['width']:g}; median of "
        f"{p['runs']} interleaved runs after {p['warmup']} warm-up runs, in ms. Host figures, not a device: the "
        f"paper's ratio is on a Jetson Xavier NX. Goal: folded / sign <= {GOAL:.2f}.\n\n"
        f"{latency_table(raw).to_markdown(**fmt)}\n\n"
        "**Model size** in MB (2^20 bytes): the `.tflite` file and the deployed size (binary weights at 1 bit, the "
        "rest at 32 bit); LAB in its folded, deployed form; the paper's overhead from its Table A.\n\n"
        f"{size_table(raw).to_markdown(**fmt)}\n")


def run(args: argparse.Namespace) -> tuple[str, pd.DataFrame, dict]:
    """Check the arguments, measure; the Markdown, the raw rows (every figure) and the parameters."""
    p = params(args)
    if p["runs"] < 20:
        print(f"note: --runs {p['runs']} < 20: medians are less stable than the benchmark's default", flush=True)
    raw = measure(p)
    return markdown(raw, p), raw, p
