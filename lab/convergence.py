"""Whether a preset's runs have converged: the issue's bar for a comparison that says something about the binarizer
rather than the schedule.

For every configuration a table trains (network, binarizer, stage mask; `lab.plans`), over its seeds:

- ``last_epoch_gain``: validation top-1 of the last epoch minus that of the epoch before (points), the one of
  largest size over the seeds; the configuration has *plateaued* when its size is at most `PLATEAU_POINTS` (a run
  that lost ten points in its last epoch has not settled either);
- ``seed_sd``: the sample standard deviation of the final validation top-1 over the seeds (points); the
  configuration is *repeatable* when it is at most `SEED_SD_POINTS` (``NaN`` with one seed: not decided);
- ``minutes_per_run``: the mean wall time of its runs' epochs (training and validation), as they ran: what the
  preset's training costs on the machine that trained it.

`convergence_table` reads the finished runs' histories (`lab.runs.load_history`) and writes
``results/<preset>/convergence.{csv,md}``; the claims notebook shows it beside the verdicts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from lab import provenance

PLATEAU_POINTS = 0.5
SEED_SD_POINTS = 1.0
COLUMNS = ["network", "binarizer", "mask", "seeds", "top1", "seed_sd", "last_epoch_gain", "plateau", "repeatable",
           "minutes_per_run"]


def _verdict(value: float, bound: float) -> str:
    return "not decided" if np.isnan(value) else ("yes" if abs(value) <= bound else "no")


def summarise(histories: pd.DataFrame) -> pd.DataFrame:
    """The convergence of each configuration from its runs' validation histories.

    ``histories``: one row per (run, epoch) with columns ``network, binarizer, mask, seed, epoch, val_top1``
    (fraction), ``epoch_seconds``. Returns one row per configuration with `COLUMNS` (points of top-1)."""
    rows = []
    for (network, binarizer, mask), runs in histories.groupby(["network", "binarizer", "mask"], sort=False):
        finals, gains, minutes = [], [], []
        for _, run in runs.sort_values("epoch").groupby("seed", sort=True):
            top1 = 100 * run["val_top1"].to_numpy()
            finals.append(top1[-1])
            minutes.append(run["epoch_seconds"].sum() / 60)
            gains.append(top1[-1] - top1[-2] if len(top1) > 1 else np.nan)
        sd = float(np.std(finals, ddof=1)) if len(finals) > 1 else np.nan
        gain = float(max(gains, key=abs))
        rows.append({"network": network, "binarizer": binarizer, "mask": mask, "seeds": len(finals),
                     "top1": float(np.mean(finals)), "seed_sd": sd, "last_epoch_gain": gain,
                     "plateau": _verdict(gain, PLATEAU_POINTS), "repeatable": _verdict(sd, SEED_SD_POINTS),
                     "minutes_per_run": float(np.mean(minutes))})
    return pd.DataFrame(rows, columns=COLUMNS)


def histories(runs: Sequence, preset: str) -> pd.DataFrame:
    """The validation histories of those of the planned ``runs`` (`lab.plans.Run`) at ``preset`` that have
    finished (reading a table trains nothing: a batch run with ``--only`` leaves the other notebooks' runs out)."""
    from lab import plans, presets, runs as run_store, train

    settings = presets.load(preset)
    frames = []
    for run in runs:
        run_id = train.planned_params(settings, **run.overrides)["run_id"]
        if not (run_store.run_path(run_id) / "metrics.json").exists():
            continue
        history = run_store.load_history(run_id)[["epoch", "val_top1", "epoch_seconds"]]
        frames.append(history.assign(network=run.model, binarizer=run.binarizer, seed=run.seed,
                                     mask=plans.mask_of(run.model, run.binarizer, run.lab_blocks)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["epoch", "val_top1", "epoch_seconds", "network", "binarizer", "seed", "mask"])


def convergence_table(*, preset: str) -> pd.DataFrame:
    """`summarise` every finished run the preset's batch trains (`lab.plans.planned_runs`), written as
    ``results/<preset>/convergence``."""
    from lab import plans

    table = summarise(histories(plans.planned_runs(preset), preset))
    note = (f"**Convergence at the `{preset}` preset**: per configuration, the final validation top-1 (mean of its "
            f"seeds, %), its seed standard deviation (`seed_sd`, points; repeatable when <= {SEED_SD_POINTS}) and the "
            f"last-epoch change of largest size over the seeds (`last_epoch_gain`, points; plateaued when "
            f"within +-{PLATEAU_POINTS}). `minutes_per_run`: the mean wall time of a run's epochs as they ran; the "
            f"{int(table['seeds'].sum())} runs took {table.eval('seeds * minutes_per_run').sum():.0f} minutes of "
            f"process time in all.")
    provenance.write_table(table.round(2), path(preset),
                           {"preset": preset, "plateau_points": PLATEAU_POINTS, "seed_sd_points": SEED_SD_POINTS},
                           note=note)
    return table


def path(preset: str) -> Path:
    """``results/<preset>/convergence.csv`` (beside it the Markdown and the provenance)."""
    from lab import presets

    return provenance.results_root() / presets.check_name(preset) / "convergence.csv"


def caption(preset: str) -> str:
    """The convergence table's one-line caption: the scale and device of the runs (`lab.views.caption`)."""
    from lab import views

    return views.caption(preset, "training", title="Have the runs converged?")
