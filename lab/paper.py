"""The published numbers of the LAB paper (Falkena, Jamali-Rad, van Gemert, WACV 2023), as data.

Everything here is *published*, not measured: ImageNet accuracies and Nvidia Jetson Xavier NX latencies from
the authors' README and paper (see ``shared/paper/facts.md`` §2). Tables built by :mod:`lab.tables` put these
beside our own measurements in columns labelled "paper".
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas loads on first use: lab.presets imports this module on the command lines' fast path
    import pandas as pd

# The paper's networks in its order, with their display names: Table A's four, then the authors' LAB-BNN.
DISPLAY_NAMES = {"xnornet": "XNOR-Net", "birealnet": "Bi-Real Net", "quicknet": "QuickNet", "reactnet": "ReActNet",
                 "labbnn": "LAB-BNN"}
NETWORKS = ("xnornet", "birealnet", "quicknet", "reactnet")  # Table A: the networks LAB is plugged into
MODELS = (*NETWORKS, "labbnn")  # every network of the paper

SOURCE = "Falkena et al., LAB, WACV 2023 (arXiv:2210.13858): ImageNet; latency on Nvidia Jetson Xavier NX"

# Table A: LAB plugged into four BNNs. (network, backbone, epochs, binarizer, top-1 %, top-5 %, size MB, latency ms)
_TABLE_A = [
    ("xnornet", "AlexNet", 60, "sign", 44.0, 68.1, 23.9, 50.8),
    ("xnornet", "AlexNet", 60, "lab", 46.5, 70.3, 24.4, 55.1),
    ("birealnet", "ResNet-18", 150, "sign", 54.4, 77.6, 4.18, 72.5),
    ("birealnet", "ResNet-18", 150, "lab", 59.1, 81.2, 4.65, 100.6),
    ("quicknet", "ResNet-18", 120, "sign", 58.7, 81.2, 4.35, 58.1),
    ("quicknet", "ResNet-18", 120, "lab", 62.5, 84.0, 4.85, 82.4),
    ("reactnet", "MobileNetV1", 75, "sign", 62.4, 83.4, 7.74, 108.1),
    ("reactnet", "MobileNetV1", 75, "lab", 64.1, 84.8, 8.69, 210.9),
]

# Table B: LAB per stage of Bi-Real Net; mask "1011" = LAB in stages 1, 3, 4. mask -> (top-1 %, latency ms, size MB)
_TABLE_B = {
    "1111": (59.1, 83.7, 4.68), "0111": (58.7, 68.0, 4.66), "1011": (58.4, 75.3, 4.64),
    "1110": (58.4, 79.1, 4.33), "1101": (58.1, 77.1, 4.61), "0110": (58.0, 63.9, 4.31),
    "0101": (57.9, 64.9, 4.58), "0011": (57.8, 60.6, 4.62), "1010": (57.8, 72.9, 4.29),
    "0010": (56.7, 58.8, 4.27), "1001": (56.7, 71.1, 4.57), "1100": (56.4, 75.0, 4.26),
    "0001": (55.9, 41.4, 4.54), "0100": (55.7, 47.6, 4.23), "1000": (54.9, 59.9, 4.22),
    "0000": (53.2, 54.6, 4.20),
}

# LAB-BNN, the authors' end-to-end network around LAB (no latency published).
LAB_BNN = {"model": "labbnn", "binarizer": "lab", "top1": 62.4, "top5": 85.5, "size_mb": 4.62}

MASKS = tuple(_TABLE_B)  # all 16 stage masks, in the paper's order (best accuracy first)


def table_a() -> pd.DataFrame:
    """Table A as published: one row per (model, binarizer), columns model, backbone, epochs, binarizer,
    top1, top5, size_mb, latency_ms."""
    import pandas as pd

    columns = ["model", "backbone", "epochs", "binarizer", "top1", "top5", "size_mb", "latency_ms"]
    return pd.DataFrame(_TABLE_A, columns=columns)


def table_b() -> pd.DataFrame:
    """Table B as published: one row per stage mask of Bi-Real Net, columns mask, top1, latency_ms, size_mb."""
    import pandas as pd

    rows = [(mask, *values) for mask, values in _TABLE_B.items()]
    return pd.DataFrame(rows, columns=["mask", "top1", "latency_ms", "size_mb"])
