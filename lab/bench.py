"""Benchmarks that print figures (never timed asserts).

    python -m lab.bench train-step [--steps 20] [--rounds 5]   # LAB vs STE sign training step, CPU
    python -m lab.bench latency [...]                           # LCE host latency (see lab.bench_latency)
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import larq as lq
import numpy as np
import tensorflow as tf

from lab.bench_latency import main as latency_main
from lab.provenance import cpu_model
from lab.quantizers import LAB

# The benchmark network: a small Bi-Real-style net (3 stages of 2 blocks, 32/64/128 channels) on 32x32x3, batch 64.
STAGES = (32, 64, 128)
BLOCKS = 2
SHAPE = (32, 32, 3)
BATCH = 64

VARIANTS = {
    "sign": lambda: lq.quantizers.SteSign(),
    "lab": lambda: LAB(),
    "lab (reference pairing)": lambda: LAB(pairing="reference"),
}


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


def train_step_times(steps: int = 20, rounds: int = 5, seed: int = 0) -> dict[str, float]:
    """Median seconds per training step of each variant, measured in interleaved rounds (fair under load)."""
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(BATCH, *SHAPE)), tf.float32)
    y = tf.constant(rng.integers(0, 10, size=BATCH))
    fns = {}
    for name, binarizer in VARIANTS.items():
        tf.keras.utils.set_random_seed(seed)
        fns[name] = _train_step_fn(bireal_style(binarizer))
        for _ in range(3):  # trace and warm up
            fns[name](x, y).numpy()
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


def train_step_main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.bench train-step", description=__doc__)
    parser.add_argument("--steps", type=int, default=20, help="training steps per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the median is reported")
    parser.add_argument("--threads", type=int, default=0, help="TF intra-op threads (0: TF's default, all cores)")
    args = parser.parse_args(argv)
    if args.steps <= 0 or args.rounds <= 0 or args.threads < 0:
        parser.error("--steps and --rounds must be positive integers, --threads >= 0")
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    times = train_step_times(args.steps, args.rounds)
    print(f"Training step, Bi-Real-style net {STAGES} x {BLOCKS} blocks, input {SHAPE}, batch {BATCH}")
    print(f"host: {cpu_model()}, TF intra-op threads: {args.threads or 'default'}, "
          f"median of {args.rounds} rounds x {args.steps} steps")
    print(f"| binarizer | ms / step | ratio to sign |\n|---|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds * 1e3:.1f} | {seconds / times['sign']:.2f} |")


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"train-step": train_step_main, "latency": latency_main}
    if not argv or argv[0] not in commands:
        sys.exit(f"usage: python -m lab.bench {{{','.join(commands)}}} [options]")
    commands[argv[0]](argv[1:])


if __name__ == "__main__":
    main()
