"""``python -m lab.models``: print every network's parameters and deployed size (sign and LAB) beside the paper's."""
from __future__ import annotations

import argparse

from lab.models import size_table


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
    args = parser.parse_args(argv)
    table = size_table(args.input_shape, width=args.width, num_classes=args.num_classes)
    print(table.to_markdown(index=False))
    print("\ndeployed MiB: binary kernels at 1 bit, other weights at 32 bit (BN folded), 2**20 bytes; "
          "paper MB: the LAB paper's published size (its unit and counting are not stated).")


if __name__ == "__main__":
    main()
