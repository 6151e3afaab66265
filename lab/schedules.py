"""The paper's optimizer settings and learning-rate schedules, per network, stretched to a run's real length.

`RECIPES` holds each network's published recipe (epochs, batch size, Adam's initial learning rate and how it
decays); `schedule_for` turns one into a `PaperSchedule` over a run's actual steps. `lab.train` trains with them.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import tensorflow as tf

SCHEDULES = ("linear", "cosine", "step", "constant")  # `lr_schedule` of `lab.train.train`


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A network's published training recipe (facts.md §3; authors' code, no distillation)."""

    epochs: int
    batch_size: int
    learning_rate: float
    schedule: str
    end_learning_rate: float = 0.0
    warmup_epochs: float = 0.0
    step_epochs: tuple[int, ...] = ()
    step_factors: tuple[float, ...] = ()


RECIPES = {
    # Adam 1e-4, x0.5 / x0.1 / x0.05 / x0.01 of the initial rate from epochs 19, 30, 44, 53 (of 60).
    "xnornet": Recipe(60, 128, 1e-4, "step", step_epochs=(19, 30, 44, 53), step_factors=(0.5, 0.1, 0.05, 0.01)),
    "birealnet": Recipe(150, 256, 2.5e-3, "linear", end_learning_rate=1e-6),
    "quicknet": Recipe(120, 512, 2.5e-3, "cosine", warmup_epochs=5),
    "reactnet": Recipe(75, 128, 2.5e-4, "linear"),
    "labbnn": Recipe(100, 256, 2.5e-3, "linear", end_learning_rate=1e-6),
}


class PaperSchedule(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0, then linear / cosine / step / constant decay over ``total_steps``.

    The decay length is the run's actual number of steps (epochs x batches per epoch), not ImageNet's.
    """

    def __init__(self, *, kind: str, learning_rate: float, total_steps: int, warmup_steps: int = 0,
                 end_learning_rate: float = 0.0, boundaries: Sequence[int] = (), factors: Sequence[float] = ()):
        super().__init__()
        self.kind, self.learning_rate, self.total_steps = kind, learning_rate, total_steps
        self.warmup_steps, self.end_learning_rate = warmup_steps, end_learning_rate
        self.boundaries, self.factors = list(boundaries), list(factors)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        lr0, end = self.learning_rate, self.end_learning_rate
        progress = tf.clip_by_value((step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1), 0, 1)
        if self.kind == "linear":
            lr = end + (lr0 - end) * (1.0 - progress)
        elif self.kind == "cosine":
            lr = end + (lr0 - end) * 0.5 * (1.0 + tf.cos(math.pi * progress))
        elif self.kind == "step":
            index = tf.searchsorted(tf.constant(self.boundaries, tf.float32), [step], side="right")[0]
            lr = tf.gather(tf.constant([1.0, *self.factors], tf.float32), index) * lr0
        else:
            lr = tf.constant(lr0, tf.float32)
        if self.warmup_steps:
            lr = tf.where(step < self.warmup_steps, lr0 * (step + 1.0) / self.warmup_steps, lr)
        return lr

    def get_config(self):
        return {"kind": self.kind, "learning_rate": self.learning_rate, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "end_learning_rate": self.end_learning_rate,
                "boundaries": self.boundaries, "factors": self.factors}


def schedule_for(model: str, *, epochs: int, steps_per_epoch: int, learning_rate: float | None = None,
                 lr_schedule: str | None = None, warmup_epochs: float | None = None) -> PaperSchedule:
    """The paper's schedule for ``model`` stretched to ``epochs`` x ``steps_per_epoch``, with optional overrides.

    Epoch-based landmarks (warm-up length, step boundaries) keep their share of the published run: QuickNet's 5 of
    120 warm-up epochs become 5/120 of this run.
    """
    recipe = RECIPES[model]
    scale = epochs / recipe.epochs
    warmup = recipe.warmup_epochs * scale if warmup_epochs is None else warmup_epochs
    return PaperSchedule(
        kind=lr_schedule or recipe.schedule, learning_rate=learning_rate or recipe.learning_rate,
        total_steps=epochs * steps_per_epoch, warmup_steps=round(warmup * steps_per_epoch),
        end_learning_rate=recipe.end_learning_rate,
        boundaries=[round(e * scale * steps_per_epoch) for e in recipe.step_epochs], factors=recipe.step_factors)
