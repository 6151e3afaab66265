"""The statistics behind every comparison the tables and claims make: paired differences, ratios, factorial effects.

A LAB-vs-sign comparison pairs runs by seed (same seed -> same initial data order), so the question is the mean of
the per-seed differences and its t-interval (`paired`, `scipy.stats.ttest_rel`). A latency ratio pairs the
interleaved timing rounds of two graphs, which share the machine's load round by round: the geometric mean of the
per-round ratios with the t-interval of the mean log ratio (`ratio`). Table B is a 2^4 full factorial (LAB on or
off in each stage): the main effect of each factor comes from an OLS fit on +-1 coded factors, with its error from
replicate seeds or, with one replicate, from the interactions of order >= 3 (`factorial_effects`, statsmodels).

No TensorFlow; the statistics are scipy's and statsmodels', never hand-written.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from lab import validate

REPLICATE_ERROR = "replicates"
INTERACTION_ERROR = "interactions of order >= 3"
EFFECT_COLUMNS = ["factor", "effect", "low", "high", "df", "error"]


def _confidence(confidence: Any) -> float:
    ok = validate.is_number(confidence) and 0.0 < confidence < 1.0
    validate.require(ok, "confidence", "a number in (0, 1)", confidence)
    return float(confidence)


def _samples(name: str, values: Any, *, positive: bool = False) -> np.ndarray:
    """``values`` as a 1-d float array of finite numbers (> 0 where ``positive``), at least one."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        array = None
    what = "a non-empty sequence of finite numbers" + (" > 0" if positive else "")
    ok = array is not None and array.ndim == 1 and array.size > 0 and bool(np.isfinite(array).all())
    validate.require(ok and (not positive or bool((array > 0).all())), name, what, values)
    return array


def _pair(names: tuple[str, str], first: Any, second: Any, *,
          positive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Two checked samples (named ``names``) of the same length: index i of each belongs together (a seed, a
    timing round)."""
    a, b = (_samples(name, values, positive=positive) for name, values in zip(names, (first, second)))
    validate.require(len(a) == len(b), names[1], f"as long as {names[0]} ({len(a)} values)", list(second))
    return a, b


def paired(treatment: Sequence[float], control: Sequence[float], *, confidence: float = 0.95) -> dict[str, Any]:
    """The paired difference ``treatment - control`` (index i of each: the same seed) with its t-interval.

    Returns ``n``, ``treatment_mean``, ``control_mean``, ``diff`` (mean of the differences), ``low`` / ``high``
    (the ``confidence`` interval of ``diff``, `scipy.stats.ttest_rel`), ``sd`` (standard deviation of the
    differences, ddof 1) and ``p`` (two-sided, difference 0). With one pair there is no spread: ``low``, ``high``,
    ``sd`` and ``p`` are NaN while ``diff`` is still given."""
    from scipy import stats

    confidence = _confidence(confidence)
    a, b = _pair(("treatment", "control"), treatment, control)
    n, nan = len(a), float("nan")
    out = {"n": n, "treatment_mean": float(a.mean()), "control_mean": float(b.mean()), "diff": float((a - b).mean()),
           "low": nan, "high": nan, "sd": nan, "p": nan}
    if n < 2:
        return out
    test = stats.ttest_rel(a, b)
    interval = test.confidence_interval(confidence)
    return {**out, "low": float(interval.low), "high": float(interval.high), "sd": float(np.std(a - b, ddof=1)),
            "p": float(test.pvalue)}


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """The mean of ``values`` (one per seed) and its ``confidence`` t-interval (`scipy.stats.ttest_1samp`); NaN
    bounds with one value, the mean itself where all values agree (scipy gives NaN for no spread)."""
    values = _samples("values", values)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan, math.nan
    if np.ptp(values) == 0:
        return mean, mean, mean
    from scipy import stats

    interval = stats.ttest_1samp(values, 0.0).confidence_interval(_confidence(confidence))
    return mean, float(interval.low), float(interval.high)


def ratio(numerator: Sequence[float], denominator: Sequence[float], *,
          confidence: float = 0.95) -> dict[str, Any]:
    """The ratio ``numerator / denominator`` of paired positive samples (index i of each: one interleaved timing
    round): ``ratio``, the geometric mean of the per-round ratios, and ``low`` / ``high``, the exponentiated
    t-interval of the mean log ratio (`scipy.stats.ttest_1samp`; NaN with one pair); ``n`` pairs. Logs make a
    ratio's interval symmetric in 1/ratio and robust to the right-skew of timings."""
    from scipy import stats

    confidence = _confidence(confidence)
    a, b = _pair(("numerator", "denominator"), numerator, denominator, positive=True)
    logs = np.log(a) - np.log(b)
    out = {"n": len(logs), "ratio": float(np.exp(logs.mean())), "low": float("nan"), "high": float("nan")}
    if len(logs) < 2:
        return out
    interval = stats.ttest_1samp(logs, 0.0).confidence_interval(confidence)
    return {**out, "low": float(np.exp(interval.low)), "high": float(np.exp(interval.high))}


# --------------------------------------------------------------------------------------------- 2^k factorial
def _design_counts(frame: pd.DataFrame, factors: list[str], response: str) -> pd.Series:
    """Rows per factor combination, after checking that ``frame`` is a balanced full 2^k factorial: factor columns
    of 0/1, a finite response, every one of the 2^k combinations present and each as often."""
    validate.require(isinstance(frame, pd.DataFrame), "frame", "a pandas DataFrame", type(frame).__name__)
    validate.require(len(factors) > 0 and len(set(factors)) == len(factors) and set(factors) <= set(frame),
                     "factors", f"a non-empty list of distinct columns of frame {list(frame)}", factors)
    validate.require(response in frame and response not in factors, "response",
                     f"a column of frame other than the factors {list(frame)}", response)
    levels = frame[factors]
    validate.require(bool(levels.isin([0, 1]).all().all()), "frame", "factor columns holding only 0 and 1",
                     sorted({v for c in factors for v in frame[c].unique().tolist()}, key=str))
    values = pd.to_numeric(frame[response], errors="coerce")
    validate.require(bool(np.isfinite(values).all()), response, "finite numbers", frame[response].tolist())
    counts = levels.astype(int).value_counts()
    full = len(counts) == 2 ** len(factors) and counts.nunique() == 1
    validate.require(full, "frame", f"a full 2^{len(factors)} factorial (all {2 ** len(factors)} combinations of "
                     "the factors' 0/1 levels, each as often)", f"{len(counts)} combinations, counts "
                     f"{sorted(set(counts.tolist()))}")
    return counts


def _terms(k: int, order: int) -> list[tuple[int, ...]]:
    """The model's terms up to ``order``: main effects, then interactions, as tuples of factor indices."""
    return [term for size in range(1, order + 1) for term in itertools.combinations(range(k), size)]


def factorial_effects(frame: pd.DataFrame, factors: Sequence[str], response: str, *,
                      confidence: float = 0.95) -> pd.DataFrame:
    """Main effects of a balanced 2-level full factorial: one row per factor with columns ``factor``, ``effect``
    (mean ``response`` where the factor is 1 minus where it is 0), ``low`` / ``high`` (its ``confidence``
    interval), ``df`` (the error's degrees of freedom) and ``error`` (what estimates it).

    The fit is statsmodels OLS on +-1 coded factors, so effect = 2 x coefficient and the interval 2 x its
    ``conf_int``. With replicates (more than one row per combination: seeds) the model holds every interaction and
    the error is the pure replicate error (``"replicates"``); with one row per combination it holds the main
    effects and two-factor interactions and the higher-order interactions are the error (``"interactions of order
    >= 3"``: 5 df for 2^4), the usual assumption that they are negligible. Needs an error estimate: replicates or
    >= 3 factors."""
    import statsmodels.api as sm

    confidence = _confidence(confidence)
    factors = validate.as_list(factors, "factors")
    counts = _design_counts(frame, factors, response)
    replicated = int(counts.iloc[0]) > 1
    k = len(factors)
    validate.require(replicated or k >= 3, "frame", "replicated (more than one row per combination) or a design "
                     "of >= 3 factors, to estimate an error", f"{k} factor(s), one row per combination")
    coded = 2.0 * frame[factors].to_numpy(dtype=float) - 1.0  # 0/1 -> -1/+1
    terms = _terms(k, k if replicated else 2)
    design = np.column_stack([np.ones(len(frame))] + [coded[:, list(t)].prod(axis=1) for t in terms])
    fit = sm.OLS(pd.to_numeric(frame[response]).to_numpy(dtype=float), design).fit()
    intervals = 2.0 * np.asarray(fit.conf_int(alpha=1.0 - confidence))
    return pd.DataFrame({"factor": factors, "effect": 2.0 * fit.params[1:k + 1], "low": intervals[1:k + 1, 0],
                         "high": intervals[1:k + 1, 1], "df": int(round(fit.df_resid)),
                         "error": REPLICATE_ERROR if replicated else INTERACTION_ERROR})[EFFECT_COLUMNS]

