"""The statistics (`lab.stats`) against independent references: intervals computed by hand with t quantiles from a
printed t table, and a synthetic 2^4 factorial with known main effects checked against group means and Yates'
contrasts."""
import itertools
import math

import numpy as np
import pandas as pd
import pytest

from lab import stats

# Two-sided 95 % t quantiles t_{0.975, df} as printed in any t table.
T975 = {2: 4.303, 3: 3.182, 5: 2.571, 16: 2.120}
STAGES = ["stage 1", "stage 2", "stage 3", "stage 4"]
TRUE_EFFECTS = np.array([1.0, 2.0, -0.5, 0.0])  # LAB in stage s adds this much


def test_paired_difference_and_its_t_interval_by_hand():
    lab, sign = [70.0, 72.0, 71.0, 73.0], [69.0, 70.0, 70.0, 71.0]
    # differences 1, 2, 1, 2: mean 1.5, sd sqrt(4 x 0.25 / 3) = 0.5774, standard error 0.5774 / 2 = 0.2887
    half = T975[3] * math.sqrt(1 / 3) / 2
    out = stats.paired(lab, sign)
    assert (out["n"], out["treatment_mean"], out["control_mean"], out["diff"]) == (4, 71.5, 70.0, 1.5)
    assert out["sd"] == pytest.approx(math.sqrt(1 / 3))
    assert (out["low"], out["high"]) == pytest.approx((1.5 - half, 1.5 + half), abs=1e-3)
    # t = 1.5 / 0.2887 = 5.196 lies between the table's 4.541 (p = 0.02) and 5.841 (p = 0.01) for 3 df
    assert 0.01 < out["p"] < 0.02
    wider = stats.paired(lab, sign, confidence=0.99)
    assert wider["low"] < out["low"] and wider["high"] > out["high"]


def test_one_pair_gives_the_difference_without_an_interval():
    out = stats.paired([60.0], [58.5])
    assert out["diff"] == 1.5 and out["n"] == 1
    assert all(math.isnan(out[key]) for key in ("low", "high", "sd", "p"))


def test_ratio_is_the_geometric_mean_with_the_interval_of_the_mean_log_by_hand():
    # per-round ratios 2, 2, 4: logs ln2 x (1, 1, 2), mean ln2 x 4/3, sd ln2 / sqrt(3), standard error ln2 / 3
    out = stats.ratio([2.0, 4.0, 8.0], [1.0, 2.0, 2.0])
    assert out["n"] == 3 and out["ratio"] == pytest.approx(2 ** (4 / 3))
    low, high = 2 ** (4 / 3 - T975[2] / 3), 2 ** (4 / 3 + T975[2] / 3)
    assert (out["low"], out["high"]) == pytest.approx((low, high), rel=1e-3)
    assert math.isnan(stats.ratio([3.0], [2.0])["low"]) and stats.ratio([3.0], [2.0])["ratio"] == pytest.approx(1.5)


def _factorial(replicates: int, seed: int = 1, noise: float = 0.05) -> pd.DataFrame:
    """The 16 stage masks x ``replicates`` with top-1 = 50 + the true effects of the stages with LAB + noise."""
    rng = np.random.default_rng(seed)
    design = pd.DataFrame(list(itertools.product([0, 1], repeat=4)) * replicates, columns=STAGES)
    return design.assign(top1=50.0 + design.to_numpy() @ TRUE_EFFECTS + rng.normal(0, noise, len(design)))


def _group_mean_effects(frame):
    """Main effects as the plain difference of group means (the definition, independent of any fit)."""
    return [frame.loc[frame[s] == 1, "top1"].mean() - frame.loc[frame[s] == 0, "top1"].mean() for s in STAGES]


def test_single_replicate_factorial_uses_the_higher_order_interactions_as_error():
    frame = _factorial(1)
    effects = stats.factorial_effects(frame, STAGES, "top1")
    assert list(effects.columns) == ["factor", "effect", "low", "high", "df", "error"]
    assert effects["factor"].tolist() == STAGES
    assert effects["effect"].to_numpy() == pytest.approx(_group_mean_effects(frame))
    assert effects["effect"].to_numpy() == pytest.approx(TRUE_EFFECTS, abs=0.1)
    assert set(effects["df"]) == {5} and set(effects["error"]) == {"interactions of order >= 3"}
    # Yates: each +-1 contrast's coefficient is mean(y x contrast); the five contrasts of order >= 3 carry the error
    x = 2.0 * frame[STAGES].to_numpy() - 1.0
    high_order = [c for size in (3, 4) for c in itertools.combinations(range(4), size)]
    error_ss = sum(16 * np.mean(frame["top1"] * x[:, list(c)].prod(axis=1)) ** 2 for c in high_order)
    half = 2 * T975[5] * math.sqrt(error_ss / 5 / 16)
    assert (effects["high"] - effects["effect"]).to_numpy() == pytest.approx([half] * 4, rel=1e-3)
    assert (effects["effect"] - effects["low"]).to_numpy() == pytest.approx([half] * 4, rel=1e-3)


def test_replicated_factorial_uses_the_pure_replicate_error():
    frame = _factorial(2)
    effects = stats.factorial_effects(frame.sample(frac=1.0, random_state=0), STAGES, "top1")  # any row order
    assert effects["effect"].to_numpy() == pytest.approx(_group_mean_effects(frame))
    assert set(effects["df"]) == {16} and set(effects["error"]) == {"replicates"}
    # pure error: the pooled variance within the 16 cells (1 df each); an effect's variance is 4 sigma^2 / 32
    pooled = frame.groupby(STAGES)["top1"].var().mean()
    half = T975[16] * math.sqrt(4 * pooled / 32)
    assert (effects["high"] - effects["low"]).to_numpy() == pytest.approx([2 * half] * 4, rel=1e-3)
    assert ((effects["low"] < TRUE_EFFECTS) & (TRUE_EFFECTS < effects["high"])).sum() >= 3


@pytest.mark.parametrize("call, match", [
    (lambda: stats.paired([1.0, 2.0], [1.0]), r"^control: must be as long as treatment \(2 values\)"),
    (lambda: stats.paired([1.0, float("nan")], [1.0, 2.0]), r"^treatment: must be a non-empty sequence of finite"),
    (lambda: stats.paired([], []), "^treatment: must be a non-empty"),
    (lambda: stats.paired(["a"], [1.0]), "^treatment: must be"),
    (lambda: stats.paired([1.0, 2.0], [1.0, 2.0], confidence=95), r"^confidence: must be a number in \(0, 1\)"),
    (lambda: stats.ratio([1.0, 0.0], [1.0, 1.0]), "^numerator: must be a non-empty sequence of finite numbers > 0"),
    (lambda: stats.factorial_effects(_factorial(1).iloc[:15], STAGES, "top1"), r"^frame: must be a full 2\^4"),
    (lambda: stats.factorial_effects(pd.concat([_factorial(1), _factorial(1).iloc[:1]]), STAGES, "top1"),
     r"^frame: must be a full 2\^4 factorial .*each as often"),
    (lambda: stats.factorial_effects(_factorial(1).replace({"stage 1": {1: 2}}), STAGES, "top1"),
     "^frame: must be factor columns holding only 0 and 1"),
    (lambda: stats.factorial_effects(_factorial(1), STAGES, "top5"), "^response: must be a column"),
    (lambda: stats.factorial_effects(_factorial(1), ["stage 9"], "top1"), "^factors: must be"),
    (lambda: stats.factorial_effects(_factorial(1).assign(top1=float("inf")), STAGES, "top1"), "^top1: must be finite"),
    (lambda: stats.factorial_effects(_factorial(1).query("`stage 3` == 0 and `stage 4` == 0"), STAGES[:2], "top1"),
     "^frame: must be replicated"),
])
def test_bad_inputs_raise_naming_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_mean_interval_by_hand():
    # [1, 2, 4]: mean 7/3, sample SD sqrt(7/3), SEM sqrt(7/9) = 0.88192; t(0.975, 2 df) = 4.30265 from a t-table.
    mean, low, high = stats.mean_interval([1.0, 2.0, 4.0])
    assert (mean, low, high) == pytest.approx((7 / 3, 7 / 3 - 4.30265 * 0.88192, 7 / 3 + 4.30265 * 0.88192),
                                              abs=1e-4)
    assert stats.mean_interval([2.0, 2.0]) == (2.0, 2.0, 2.0)  # identical seeds: no spread
    mean, low, high = stats.mean_interval([0.3])
    assert mean == 0.3 and np.isnan(low) and np.isnan(high)  # one seed: no interval
