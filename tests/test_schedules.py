"""lab.schedules: the paper's learning-rate schedules, stretched to a run's real length, and their overrides."""
import math

import pytest

from lab import schedules


def lr(schedule, step):
    return float(schedule(step))


def test_linear_decay_spans_the_actual_run():
    s = schedules.schedule_for("birealnet", epochs=3, steps_per_epoch=10)  # 2.5e-3 -> 1e-6 over 30 steps
    assert lr(s, 0) == pytest.approx(2.5e-3)
    assert lr(s, 15) == pytest.approx(1e-6 + (2.5e-3 - 1e-6) / 2)
    assert lr(s, 30) == pytest.approx(1e-6) and lr(s, 300) == pytest.approx(1e-6)


def test_xnornet_steps_at_published_epochs():
    s = schedules.schedule_for("xnornet", epochs=60, steps_per_epoch=7)
    for epoch, factor in [(0, 1), (18, 1), (19, 0.5), (29, 0.5), (30, 0.1), (44, 0.05), (53, 0.01), (59, 0.01)]:
        assert lr(s, epoch * 7) == pytest.approx(1e-4 * factor), epoch
    half = schedules.schedule_for("xnornet", epochs=30, steps_per_epoch=7)  # same shape, half as long
    assert lr(half, 9 * 7) == pytest.approx(1e-4) and lr(half, 10 * 7) == pytest.approx(0.5e-4)


def test_quicknet_warmup_then_cosine():
    s = schedules.schedule_for("quicknet", epochs=120, steps_per_epoch=10)  # 5 warm-up epochs = 50 steps
    assert lr(s, 0) == pytest.approx(2.5e-3 / 50) and lr(s, 49) == pytest.approx(2.5e-3)
    middle = 50 + (1200 - 50) / 2
    assert lr(s, middle) == pytest.approx(2.5e-3 * 0.5 * (1 + math.cos(math.pi / 2)), abs=1e-6)
    assert lr(s, 1200) == pytest.approx(0, abs=1e-9)
    short = schedules.schedule_for("quicknet", epochs=12, steps_per_epoch=10)  # warm-up keeps its 5/120 share
    assert short.warmup_steps == 5


def test_overrides_replace_the_recipe():
    s = schedules.schedule_for("birealnet", epochs=2, steps_per_epoch=5, learning_rate=0.1, lr_schedule="constant",
                           warmup_epochs=1)
    assert [round(lr(s, i), 6) for i in (0, 4, 5, 9)] == [0.02, 0.1, 0.1, 0.1]
