"""Benchmarks: figures written as Markdown tables with provenance (never timed asserts).

    python -m lab.bench train-step [--steps 20] [--rounds 5]      # LAB vs sign training step on the CPU
    python -m lab.bench latency [--networks ...] [--threads 1 4]  # LCE host latency and size (lab.edge)
    python -m lab.bench cpu-run [--networks ...]                  # where a cpu-preset run's time goes (lab.run_speed)
    python -m lab.bench gpu [--steps 300] [--batch 256]           # full-size training on the GPU (lab.gpu_bench)
    python -m lab.bench readme                                    # copy mirrored results files into README.md

A benchmark prints its table and writes it to ``--out`` (default ``<results>/bench``): ``NAME.md`` (what the
README shows), ``NAME.csv`` (every figure measured) and ``NAME.provenance.json`` (parameters, package versions,
commit, host, threads). README.md shows such results files (these, ``results/cpu/batch.md``, Table A's top-1
summary) between ``<!-- PATH -->`` and ``<!-- end -->``; ``readme`` copies the files in, so the README carries no
figure that no file backs.

Cheap to import: TensorFlow, larq and the latency study (`lab.edge`) load inside the subcommands, so ``--help`` and
bad options answer at once.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lab import paper, provenance, validate

if TYPE_CHECKING:
    import pandas as pd
    import tensorflow as tf

README = provenance.REPO_ROOT / "README.md"
# A README block mirroring a results file: the marker names the file (relative to the repository), then its text.
BLOCK = re.compile(r"(<!-- (results/[\w./-]+\.md) -->\n)(.*?)(<!-- end -->)", re.S)

# The benchmark network: a small Bi-Real-style net (3 stages of 2 blocks, 32/64/128 channels) on 32x32x3, batch 64.
STAGES = (32, 64, 128)
BLOCKS = 2
SHAPE = (32, 32, 3)
BATCH = 64


def _ste_sign():
    import larq as lq

    return lq.quantizers.SteSign()


def _lab(pairing: str):
    from lab.quantizers import LAB

    return LAB(pairing=pairing)


SIGN = "sign (STE)"
VARIANTS = {
    SIGN: _ste_sign,
    'LAB (pairing="channel")': lambda: _lab("channel"),
    'LAB (pairing="reference", the authors\' pairing)': lambda: _lab("reference"),
}
GOAL = 1.2  # LAB (channel pairing) / sign training-step time
# Latency: the thread counts, whatever the host's core count (recorded beside them).
THREADS = (1, 4)
# Each conversion process holds a full-size graph and its TF runtime (several GB): a few at most.
JOBS = min(4, len(os.sched_getaffinity(0)))


def bireal_style(binarizer, stages=STAGES, blocks=BLOCKS, input_shape=SHAPE, classes=10) -> tf.keras.Model:
    """Bi-Real-style blocks (binarizer -> binary 3x3 conv -> BN -> + shortcut), downsampling at each new stage."""
    import larq as lq
    import tensorflow as tf

    x = inputs = tf.keras.Input(input_shape)
    x = tf.keras.layers.BatchNormalization()(tf.keras.layers.Conv2D(stages[0], 3, padding="same", use_bias=False)(x))
    for s, filters in enumerate(stages):
        for b in range(blocks):
            stride = 2 if s > 0 and b == 0 else 1
            shortcut = x
            if stride == 2:
                shortcut = tf.keras.layers.AveragePooling2D(2)(shortcut)
                shortcut = tf.keras.layers.Conv2D(filters, 1, use_bias=False)(shortcut)
                shortcut = tf.keras.layers.BatchNormalization()(shortcut)
            x = lq.layers.QuantConv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                                      input_quantizer=binarizer(), kernel_quantizer="ste_sign",
                                      kernel_constraint="weight_clip")(x)
            x = tf.keras.layers.add([tf.keras.layers.BatchNormalization()(x), shortcut])
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(classes)(x))


def _train_step_fn(model):
    import tensorflow as tf

    optimizer = tf.keras.optimizers.Adam(1e-3)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    return step


def train_step_times(steps: int = 20, rounds: int = 5, batch: int = BATCH, seed: int = 0) -> dict[str, float]:
    """Median seconds per training step of each variant, measured in interleaved rounds (fair under load)."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(batch, *SHAPE)), tf.float32)
    y = tf.constant(rng.integers(0, 10, size=batch))
    fns = {}
    for name, binarizer in VARIANTS.items():
        tf.keras.utils.set_random_seed(seed)
        fns[name] = _train_step_fn(bireal_style(binarizer))
        for _ in range(3):  # trace and warm up
            fns[name](x, y).numpy()
        print(f"{name}: traced and warmed up", file=sys.stderr, flush=True)
    samples = {name: [] for name in fns}
    for r in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(steps):
                loss = fn(x, y)
            loss.numpy()
            samples[name].append((time.perf_counter() - start) / steps)
        print(f"round {r + 1}/{rounds}", file=sys.stderr, flush=True)
    return {name: statistics.median(values) for name, values in samples.items()}


def _train_step_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=20, help="training steps per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the median is reported")
    parser.add_argument("--batch", type=int, default=BATCH, help="examples per training step")
    parser.add_argument("--threads", type=int, default=0, help="TF intra-op threads (0: TF's default, all cores)")


def train_step(args: argparse.Namespace) -> tuple[str, pd.DataFrame, dict]:
    """Check the arguments, measure; the Markdown, the table and the parameters."""
    for name, value, low in (("--steps", args.steps, 1), ("--rounds", args.rounds, 1), ("--batch", args.batch, 1),
                             ("--threads", args.threads, 0)):
        validate.integer(name, value, low)
    import pandas as pd
    import tensorflow as tf

    if args.threads:  # 0 leaves TF's default (setting it once TF has started raises)
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    times = train_step_times(args.steps, args.rounds, args.batch)
    sign = times[SIGN]
    table = pd.DataFrame({"binarizer": list(times), "ms / step": [t * 1e3 for t in times.values()],
                          "ratio to sign": [t / sign for t in times.values()]})
    machine = provenance.device()
    text = (f"**Training step** on the CPU ({machine['cpu']}, {machine['cpu_count']} cores, TF intra-op threads: "
            f"{args.threads or 'default'}): Bi-Real-style net {STAGES} x {BLOCKS} blocks, input {SHAPE}, batch "
            f"{args.batch}; median of {args.rounds} interleaved rounds x {args.steps} steps. "
            f"Goal: LAB / sign <= {GOAL}.\n\n{table.to_markdown(index=False, floatfmt='.2f')}\n")
    return text, table, {"steps": args.steps, "rounds": args.rounds, "threads": args.threads, "stages": STAGES,
                         "blocks": BLOCKS, "input_shape": SHAPE, "batch": args.batch}


# --------------------------------------------------------------------------------------------- latency
def _latency_arguments(parser: argparse.ArgumentParser) -> None:
    # `extend`: a repeated option adds to the list instead of silently replacing it.
    parser.add_argument("--networks", nargs="+", action="extend", metavar="NAME",
                        help=f"networks of {paper.MODELS} (default: {' '.join(paper.NETWORKS)})")
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


def latency_params(args: argparse.Namespace) -> dict:
    """The latency benchmark's parameters from ``args`` (defaults filled in), checked before any work."""
    from lab import edge

    p = {"networks": args.networks or list(paper.NETWORKS), "threads": args.threads or list(THREADS),
         "runs": args.runs, "warmup": args.warmup, "input_size": args.input_size, "width": args.width,
         "bconv_kernel": "LCE default" if args.default_kernel else "indirect BGEMM", "jobs": args.jobs,
         "xnnpack": [flag == "on" for flag in dict.fromkeys(args.xnnpack or ("off", "on"))]}
    unknown = sorted(set(p["networks"]) - set(paper.MODELS))
    validate.require(not unknown, "--networks", f"names from {paper.MODELS}", unknown)
    validate.require(min(p["threads"]) >= 1, "--threads", "integers >= 1", p["threads"])
    edge.check_settings(p, name=lambda key: "--" + key.replace("_", "-"))
    return p


def latency_markdown(raw: pd.DataFrame, p: dict) -> str:
    """The latency and size tables (`lab.edge.latency_table`, `size_table`), each under a line that says what was
    measured where."""
    from lab import edge

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
        f"paper's ratio is on a Jetson Xavier NX. Goal: folded / sign <= {edge.GOAL:.2f}.\n\n"
        f"{edge.latency_table(raw).to_markdown(**fmt)}\n\n"
        "**Model size** in MB (2^20 bytes): the `.tflite` file and the deployed size (binary weights at 1 bit, the "
        "rest at 32 bit); LAB in its folded, deployed form; the paper's overhead from its Table A.\n\n"
        f"{edge.size_table(raw).to_markdown(**fmt)}\n")


def latency(args: argparse.Namespace) -> tuple[str, pd.DataFrame, dict]:
    """Host latency and model size of sign, LAB and folded LAB through LCE (the edge study's way, `lab.edge`):
    every network x variant converted first, in ``--jobs`` processes (or reused from `lab.deployment`'s cache), then
    each network's three graphs timed alone at each thread count and XNNPACK setting. Checks the arguments, measures;
    returns the Markdown, the raw rows (every figure) and the parameters."""
    p = latency_params(args)
    from lab import edge

    if p["runs"] < 20:
        print(f"note: --runs {p['runs']} < 20: medians are less stable than the benchmark's default", flush=True)
    converted = edge.convert_all(p["networks"], list(edge.VARIANTS), input_size=p["input_size"], width=p["width"],
                                 jobs=p["jobs"])
    raw = edge.time_networks(converted, settings=[(t, x) for t in p["threads"] for x in p["xnnpack"]],
                             runs=p["runs"], warmup=p["warmup"], indirect_bgemm=p["bconv_kernel"] == "indirect BGEMM")
    return latency_markdown(raw, p), raw, p


def publish(name: str, text: str, table: pd.DataFrame, params: dict, out: Path) -> None:
    """Print ``text`` and write it (with the commit) as ``out/NAME.md``, ``table`` as ``NAME.csv`` and their
    provenance as ``NAME.provenance.json``."""
    out.mkdir(parents=True, exist_ok=True)
    head, dirty, _ = provenance.git_commit().partition("-dirty")
    text += (f"\nWritten by `python -m lab.bench {name.replace('_', '-')}` at commit {head[:12]}{dirty}; "
             f"parameters, packages and host in `{name}.provenance.json`.\n")
    print(text, flush=True)
    (out / f"{name}.md").write_text(text)
    table.to_csv(out / f"{name}.csv", index=False)
    provenance.write_json(out / f"{name}.provenance.json", {"files": [f"{name}.md", f"{name}.csv"]}, params)


def readme_blocks(text: str) -> dict[str, str]:
    """The results files a README mirrors (paths relative to the repository) and its copy of each."""
    return {match[2]: match[3] for match in BLOCK.finditer(text)}


def sync_readme(readme: Path = README, root: Path = provenance.REPO_ROOT) -> list[str]:
    """Copy every mirrored results file into its block of ``readme``; the files whose copy changed."""
    text = readme.read_text()
    blocks = readme_blocks(text)
    missing = [path for path in blocks if not (root / path).is_file()]
    if missing:
        raise FileNotFoundError(f"{readme.name} mirrors {missing}, which do not exist: run the command that writes "
                                "them first (`make bench` for results/bench/, `make reproduce PRESET=<name>` for "
                                "results/<name>/; the README's results section names each preset's command)")
    changed = [path for path, copy in blocks.items() if copy != (root / path).read_text()]
    if changed:
        readme.write_text(BLOCK.sub(lambda m: m[1] + (root / m[2]).read_text() + m[4], text))
    return changed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lab.bench", description=__doc__.splitlines()[0])
    from lab import gpu_bench, run_speed

    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="{train-step,latency,cpu-run,gpu,readme}")
    for name, add, run, about in (
            ("cpu-run", run_speed.add_arguments, run_speed.run, "where a cpu-preset training run's time goes"),
            ("gpu", gpu_bench.add_arguments, gpu_bench.run, "Bi-Real Net and QuickNet training at full size on "
                                                            "the GPU (or the CPU)"),
            ("train-step", _train_step_arguments, train_step, "LAB vs sign training step on the CPU"),
            ("latency", _latency_arguments, latency, "LCE host latency and model size")):
        sub = commands.add_parser(name, help=about, description=about)
        add(sub)
        sub.add_argument("--out", type=Path, default=provenance.results_root() / "bench",
                         help="folder of the results (default: results/bench)")
        sub.set_defaults(run=run)
    commands.add_parser("readme", help="copy results/bench/*.md into README.md").set_defaults(run=None)
    return parser


def main(argv=None) -> None:
    args = _parser().parse_args(argv)
    if args.run is None:
        changed = sync_readme()
        print(f"README.md: {len(changed)} block(s) updated {changed}" if changed else "README.md: up to date")
        return
    text, table, params = args.run(args)
    publish(args.command.replace("-", "_"), text, table, params, args.out)


if __name__ == "__main__":
    main()
