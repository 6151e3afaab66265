"""Convergence of a preset's runs (lab.convergence): plateau and seed spread against hand-computed values."""
import math

import pandas as pd
import pytest

from lab import convergence


def _histories(curves):
    """``{(network, binarizer, mask, seed): [val_top1 per epoch]}`` as the long table `summarise` reads."""
    return pd.DataFrame([{"network": n, "binarizer": b, "mask": m, "seed": s, "epoch": e, "val_top1": v,
                          "epoch_seconds": 30.0}
                         for (n, b, m, s), values in curves.items() for e, v in enumerate(values, start=1)])


def test_plateau_and_seed_sd_are_computed_per_configuration():
    summary = convergence.summarise(_histories({
        ("birealnet", "sign", "0000", 0): [0.70, 0.80, 0.803],  # gain 0.3 points
        ("birealnet", "sign", "0000", 1): [0.70, 0.80, 0.812],  # gain 1.2 points: not plateaued
        ("birealnet", "lab", "1111", 0): [0.70, 0.81, 0.812],
        ("birealnet", "lab", "1111", 1): [0.70, 0.81, 0.814],
    }))
    assert list(summary.columns) == convergence.COLUMNS
    table = summary.set_index("binarizer")
    sign, lab = table.loc["sign"], table.loc["lab"]
    assert sign.seeds == 2 and sign.top1 == pytest.approx(80.75)
    assert sign.last_epoch_gain == pytest.approx(1.2) and sign.plateau == "no"
    assert sign.seed_sd == pytest.approx(math.sqrt(2 * 0.45 ** 2)) and sign.repeatable == "yes"  # 0.9 / sqrt(2)
    assert lab.last_epoch_gain == pytest.approx(0.4) and lab.plateau == "yes"
    assert lab.minutes_per_run == pytest.approx(1.5)  # 3 epochs of 30 s


def test_a_collapse_in_the_last_epoch_is_no_plateau():
    table = convergence.summarise(_histories({("birealnet", "lab", "0011", 0): [0.60, 0.68, 0.58],
                                              ("birealnet", "lab", "0011", 1): [0.60, 0.68, 0.683]}))
    assert table.loc[0, "last_epoch_gain"] == pytest.approx(-10.0) and table.loc[0, "plateau"] == "no"


def test_one_seed_leaves_repeatability_undecided():
    table = convergence.summarise(_histories({("xnornet", "lab", "1", 0): [0.5, 0.6]}))
    assert math.isnan(table.loc[0, "seed_sd"]) and table.loc[0, "repeatable"] == "not decided"
    assert table.loc[0, "plateau"] == "no"  # a 10-point last epoch
