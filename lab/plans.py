"""Which training runs each table and figure needs: the `Run` spec, one planner per notebook (`RUNS_OF`) and the
batch's plan (`planned_runs`: every distinct run of the named notebooks, shared between them).

Cheap to import (no TensorFlow, no pandas): `lab.reproduce` plans a batch before it trains anything.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence

from lab import paper, presets, validate
from lab.paper import NETWORKS

COMPARED_BINARIZERS = ("sign", "niblack", "sauvola", "lab")


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run a table needs: a network, its binarizer, the stages that use it, a seed and, where it is
    not the preset's, a width multiplier."""

    model: str
    binarizer: str = "sign"
    lab_blocks: str | None = None
    seed: int | None = None
    width: float | None = None

    @property
    def overrides(self) -> dict[str, Any]:
        """Keyword arguments of `lab.train.run` (unset fields keep the preset's values)."""
        optional = {"lab_blocks": self.lab_blocks, "seed": self.seed, "width": self.width}
        return {"model": self.model, "binarizer": self.binarizer,
                **{key: value for key, value in optional.items() if value is not None}}

    @property
    def name(self) -> str:
        """File-name-safe label: ``birealnet-lab-1011``, ``birealnet-sign-w1.0``."""
        width = f"w{self.width}" if self.width is not None else None
        return "-".join(str(p) for p in (self.model, self.binarizer, self.lab_blocks, width) if p)

    @property
    def label(self) -> str:
        """Progress label: ``birealnet lab 1011 (seed 0)``."""
        seed = f" (seed {self.seed})" if self.seed is not None else ""
        width = f"width {self.width}" if self.width is not None else None
        return " ".join(str(p) for p in (self.model, self.binarizer, self.lab_blocks, width) if p) + seed


def _seeded(runs: Iterable[Run], seeds: Sequence[int]) -> list[Run]:
    return [dataclasses.replace(run, seed=seed) for run in runs for seed in seeds]


# --------------------------------------------------------------------------------------------- stage masks
def _mask_run(model: str, mask: str) -> Run:
    """The run behind one stage mask: all zeros is the sign network, all ones LAB everywhere (no mask needed)."""
    if set(mask) == {"0"}:
        return Run(model, "sign")
    return Run(model, "lab", None if set(mask) == {"1"} else mask)


def mask_of(model: str, binarizer: str, lab_blocks: str | None) -> str:
    """The stage mask of a run (the inverse of `_mask_run`): its ``lab_blocks``, else all ones (LAB) or all zeros
    (sign)."""
    from lab.models import NUM_STAGES

    return lab_blocks or ("1" if binarizer == "lab" else "0") * NUM_STAGES[model]


def _check_masks(masks: Sequence[str], stages: int) -> list[str]:
    masks = list(masks)
    validate.require(masks and all(isinstance(m, str) and len(m) == stages and set(m) <= {"0", "1"} for m in masks),
                     "masks", f"a non-empty list of '0'/'1' strings of length {stages}", masks)
    return masks


# --------------------------------------------------------------------------------------------- per notebook
def table_a_runs(preset: str, models: Sequence[str] | None = None) -> list[Run]:
    """Table A: each of the four networks (those of the preset) with sign and with LAB."""
    s = presets.load(preset)
    models = validate.choices("models", validate.as_list(models, "models") or [m for m in s.models if m in NETWORKS],
                              NETWORKS)
    return _seeded([Run(m, b) for m in models for b in ("sign", "lab")], s.seeds)


def table_b_runs(preset: str, masks: Sequence[str] | None = None) -> list[Run]:
    """Table B: the ablation network with LAB in the stages of each mask."""
    from lab.models import NUM_STAGES

    s = presets.load(preset)
    masks = _check_masks(validate.as_list(masks, "masks") or s.ablation_masks, NUM_STAGES[s.ablation_model])
    return _seeded([_mask_run(s.ablation_model, m) for m in masks], s.ablation_seeds)


def comparison_runs(preset: str, model: str = "birealnet",
                    binarizers: Sequence[str] = COMPARED_BINARIZERS) -> list[Run]:
    """sign vs Niblack vs Sauvola vs LAB on one network."""
    validate.choice("model", model, paper.MODELS)
    binarizers = validate.choices("binarizers", binarizers, COMPARED_BINARIZERS)
    return _seeded([Run(model, b) for b in binarizers], presets.load(preset).seeds)


def labbnn_runs(preset: str, models: Sequence[str] | None = None) -> list[Run]:
    """LAB-BNN beside the four networks with and without LAB."""
    return table_a_runs(preset, models) + _seeded([Run("labbnn", "lab")], presets.load(preset).seeds)


def binarization_runs(preset: str, model: str = "birealnet", width: float | None = None) -> list[Run]:
    """Fig. 1 and the uniqueness study: one network trained with sign and with LAB, every seed of the preset, at
    the preset's width or ``width`` (None or 0: the preset's)."""
    validate.choice("model", model, paper.MODELS)
    validate.require(not width or (validate.is_number(width) and width > 0), "width",
                     "a positive number (empty or 0: the preset's width)", width)
    return _seeded([Run(model, b, width=float(width) if width else None) for b in ("sign", "lab")],
                   presets.load(preset).seeds)


def claims_runs(preset: str) -> list[Run]:
    """The claims (`lab.claims`): every distinct run of Tables A and B, the LAB-BNN table and the uniqueness study."""
    groups = (table_a_runs(preset), table_b_runs(preset), labbnn_runs(preset), binarization_runs(preset))
    return list(dict.fromkeys(run for group in groups for run in group))


RUNS_OF = {  # notebook -> the runs it needs at its default parameters
    "binarization": binarization_runs, "table_lab_vs_sign": table_a_runs, "ablation_lab_blocks": table_b_runs,
    "binarizer_comparison": comparison_runs, "labbnn": labbnn_runs, "claims": claims_runs,
}


def planned_runs(preset: str, *, notebooks: Sequence[str] | None = None) -> list[Run]:
    """Every distinct run the (named) table notebooks need at ``preset``, in notebook order."""
    names = [n for n in (notebooks or RUNS_OF) if n in RUNS_OF]
    return list(dict.fromkeys(run for name in names for run in RUNS_OF[name](preset)))
