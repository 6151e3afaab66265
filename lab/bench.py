"""Benchmarks: figures written as Markdown tables with provenance (never timed asserts).

    python -m lab.bench train-step [--steps 20] [--rounds 5]      # LAB vs sign training step on the CPU
    python -m lab.bench latency [--networks ...] [--threads 1 4]  # LCE host latency and size (lab.bench_latency)
    python -m lab.bench readme                                    # copy mirrored results files into README.md

A benchmark prints its table and writes it to ``--out`` (default ``<results>/bench``): ``NAME.md`` (what the
README shows), ``NAME.csv`` (every figure measured) and ``NAME.provenance.json`` (parameters, package versions,
commit, host, threads). README.md shows such results files (these, ``results/cpu/batch.md``, Table A's top-1
summary) between ``<!-- PATH -->`` and ``<!-- end -->``; ``readme`` copies the files in, so the README carries no
figure that no file backs.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import larq as lq
import numpy as np
import pandas as pd
import tensorflow as tf

from lab import bench_latency, provenance
from lab.quantizers import LAB

README = provenance.REPO_ROOT / "README.md"
# A README block mirroring a results file: the marker names the file (relative to the repository), then its text.
BLOCK = re.compile(r"(<!-- (results/[\w./-]+\.md) -->\n)(.*?)(<!-- end -->)", re.S)

# The benchmark network: a small Bi-Real-style net (3 stages of 2 blocks, 32/64/128 channels) on 32x32x3, batch 64.
STAGES = (32, 64, 128)
BLOCKS = 2
SHAPE = (32, 32, 3)
BATCH = 64

SIGN = "sign (STE)"
VARIANTS = {
    SIGN: lambda: lq.quantizers.SteSign(),
    'LAB (pairing="channel")': lambda: LAB(pairing="channel"),
    'LAB (pairing="reference", the authors\' pairing)': lambda: LAB(pairing="reference"),
}
GOAL = 1.2  # LAB (channel pairing) / sign training-step time


def bireal_style(binarizer, stages=STAGES, blocks=BLOCKS, input_shape=SHAPE, classes=10) -> tf.keras.Model:
    """Bi-Real-style blocks (binarizer -> binary 3x3 conv -> BN -> + shortcut), downsampling at each new stage."""
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
        if value < low:
            raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}")
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
                                "them first (`make bench` for results/bench/, `make reproduce` for results/cpu/)")
    changed = [path for path, copy in blocks.items() if copy != (root / path).read_text()]
    if changed:
        readme.write_text(BLOCK.sub(lambda m: m[1] + (root / m[2]).read_text() + m[4], text))
    return changed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lab.bench", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train-step,latency,readme}")
    for name, add, run, about in (
            ("train-step", _train_step_arguments, train_step, "LAB vs sign training step on the CPU"),
            ("latency", bench_latency.add_arguments, bench_latency.run, "LCE host latency and model size")):
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
