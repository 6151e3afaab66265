"""``python -m lab.models [--out results/bench/sizes]``: every network's parameters and deployed size (sign and LAB)
beside the paper's, printed and, with ``--out``, written as Markdown and CSV with provenance (the README mirrors
``results/bench/sizes.md``)."""
from __future__ import annotations

import argparse
import sys

import pandas as pd
import tensorflow as tf

from lab import models, paper
from lab.provenance import write_table


def _paper_size_mb() -> dict[tuple[str, str], float]:
    """The model sizes the LAB paper publishes, by (network, binarizer)."""
    sizes = {(row.model, row.binarizer): row.size_mb for row in paper.table_a().itertuples()}
    sizes[(paper.LAB_BNN["model"], paper.LAB_BNN["binarizer"])] = paper.LAB_BNN["size_mb"]
    return sizes


def size_table(input_shape=(224, 224, 3), *, width: float = 1.0, num_classes: int = 1000) -> pd.DataFrame:
    """Parameters and deployed size of every network with the sign and the LAB binarizer, beside the paper's size.

    Columns: network, binarizer, total params, binary params, binarizer params, deployed MiB, paper MB (the
    paper's published size, blank where it publishes none). Builds 10 models (progress on stderr).
    """
    published = _paper_size_mb()
    rows = []
    for name in models.NAMES:
        for binarizer in ("sign", "lab"):
            print(f"size_table: building {name} with {binarizer}", file=sys.stderr, flush=True)
            stats = models.summary(models.build(name, binarizer=binarizer, input_shape=input_shape, width=width,
                                  num_classes=num_classes))
            tf.keras.backend.clear_session()
            rows.append({"network": name, "binarizer": binarizer, "total params": stats["total_params"],
                         "binary params": stats["binary_params"], "binarizer params": stats["binarizer_params"],
                         "deployed MiB": round(stats["deployed_size_mb"], 3),
                         "paper MB": published.get((name, binarizer))})
    return pd.DataFrame(rows)


def _shape(text: str) -> tuple[int, int, int]:
    try:
        height, width, channels = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--input-shape must be HEIGHT,WIDTH,CHANNELS, got {text!r}") from None
    return height, width, channels


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.models", description=__doc__)
    parser.add_argument("--input-shape", type=_shape, default=(224, 224, 3), help="HEIGHT,WIDTH,CHANNELS")
    parser.add_argument("--width", type=float, default=1.0, help="filter-count multiplier (1.0 = published)")
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--out", default=None, help="also write OUT.md / OUT.csv / OUT.provenance.json")
    args = parser.parse_args(argv)
    table = size_table(args.input_shape, width=args.width, num_classes=args.num_classes)
    note = (f"**Parameters and deployed size** at {'x'.join(map(str, args.input_shape))}, width {args.width:g}, "
            f"{args.num_classes} classes (`python -m lab.models`). deployed MiB: binary kernels at 1 bit, other "
            "weights (LAB's two kernels unfolded) at 32 bit, BN folded, 2**20 bytes; paper MB: the LAB paper's "
            "published size (its unit and counting are not stated).")
    print(table.to_markdown(index=False) + "\n\n" + note)
    if args.out:
        write_table(table, args.out, vars(args), note=note)


if __name__ == "__main__":
    main()
