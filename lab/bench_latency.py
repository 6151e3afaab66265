"""``python -m lab.bench latency``: host latency of sign, LAB (unfolded) and LAB (folded) through LCE, side by side.

For each network the three variants are converted (`lab.deploy.measure_network`) and timed with interleaved runs
(1 thread, indirect BGEMM by default), then the LAB / sign ratios are printed beside the paper's (Jetson Xavier NX).
The goal is folded LAB / sign <= 1.10 on every network. These are host x86 figures, not device figures.
"""
from __future__ import annotations

import argparse
import time

import pandas as pd

GOAL = 1.10  # folded LAB / sign latency the deployment form should stay within


def _parser() -> argparse.ArgumentParser:
    from lab.deploy import PAPER_NETWORKS

    parser = argparse.ArgumentParser(prog="python -m lab.bench latency", description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=list(PAPER_NETWORKS), help="networks (lab.models.NAMES)")
    parser.add_argument("--input-size", type=int, default=224, help="input side (the deployment shape: 224)")
    parser.add_argument("--width", type=float, default=1.0, help="width multiplier (1.0: the published networks)")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per variant (the median is reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    parser.add_argument("--default-kernel", action="store_true",
                        help="LCE's default bconv kernel instead of indirect BGEMM (5-6x slower on x86)")
    return parser


def main(argv=None) -> pd.DataFrame:
    """Run the benchmark, print its table and return it."""
    from lab import deploy, models

    args = _parser().parse_args(argv)
    unknown = sorted(set(args.networks) - set(models.NAMES))
    if unknown:
        raise SystemExit(f"--networks: unknown {unknown}; choose from {models.NAMES}")
    if args.runs < 20:
        print(f"note: --runs {args.runs} < 20: medians are less stable than the benchmark's default")
    tables = []
    for i, network in enumerate(args.networks, 1):
        start = time.perf_counter()
        print(f"[{i}/{len(args.networks)}] {network}: converting sign, LAB, LAB folded and timing ...", flush=True)
        _, table = deploy.measure_network(
            network, input_shape=(args.input_size, args.input_size, 3), width=args.width,
            threads=args.threads, runs=args.runs, warmup=args.warmup, indirect_bgemm=not args.default_kernel)
        tables.append(table)
        print(f"    done in {time.perf_counter() - start:.0f} s", flush=True)
    table = pd.concat(tables, ignore_index=True)
    host = table.iloc[0]
    print(f"\nHost latency (LCE interpreter on this host, NOT a device): {host.host_cpu}, {host.host_cores} cores, "
          f"{host.threads} thread(s), {host.bconv_kernel}; input {args.input_size}x{args.input_size}x3, "
          f"width {args.width}, median of {args.runs} interleaved runs")
    shown = table[["network", "variant", "median_ms", "iqr_ms", "min_ms", "tflite_file_mb", "deployed_size_mb"]]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    ratios = deploy.lab_over_sign(table)
    ratios[f"folded <= {GOAL}"] = ratios["LAB (folded) / sign"] <= GOAL
    print("\nLatency ratios (median / median; paper: Jetson Xavier NX):")
    print(ratios.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print("\nThe same from the fastest run of each (less sensitive to other load on the host):")
    print(deploy.lab_over_sign(table, "min_ms").to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return table


if __name__ == "__main__":
    main()
