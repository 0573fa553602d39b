"""How sure a search is of its choice, and how sure a test score is: intervals and ties.

``best_estimate`` says what the search promises for its chosen configuration (the estimate, its
95% interval, the trials statistically tied with it); ``bootstrap_ci`` gives a test score's
interval. Plain NumPy and SciPy on stored values: nothing here trains or reads a test split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpsearch.results._trials import accuracy, best_trial, fold_values, ranked_trials

__all__ = ["Estimate", "best_estimate", "bootstrap_ci", "confusion_matrix"]


@dataclass(frozen=True)
class Estimate:
    """The chosen configuration's estimate, its uncertainty, and the trials tied with it.

    Attributes:
        trial: the chosen (best) trial's number.
        value: its value: the mean over folds, or the one validation split's accuracy.
        low: lower end of a 95% interval for the estimate (None when it cannot be known).
        high: upper end.
        basis: what the interval rests on, in words.
        fold_values: its per-fold values (empty on one split).
        tied: numbers of the complete trials not significantly worse than it (one-sided 5%
            test: paired over folds with cross-validation, two proportions on one split), best
            first, the chosen trial excluded.
    """

    trial: int
    value: float
    low: float | None
    high: float | None
    basis: str
    fold_values: tuple[float, ...] = ()
    tied: tuple[int, ...] = ()


def best_estimate(study: Any, config: Any = None, n_val: int | None = None,
                  trial: Any = None) -> Estimate | None:
    """How sure the search is of its choice: the estimate's interval and the statistical ties.

    With cross-validation the interval is the fold mean ± t(k-1) x the standard error of the
    folds' spread, and a trial is tied when a one-sided paired t-test over the folds does not
    find it worse (p >= 0.05). On one validation split of ``n_val`` examples the interval is the
    binomial normal approximation and a trial is tied when a one-sided two-proportion z-test
    does not find it worse; without ``n_val`` neither is known.

    Args:
        study: the ``optuna.Study``.
        config: its ``StudyConfig`` (folds read from steps when the trials lack the attribute).
        n_val: the validation split's size, on one split.
        trial: the chosen trial (``[selection] rule = "one_se"`` may choose another than the
            most accurate); default: ``best_trial``.

    Returns:
        None when no trial has completed.
    """
    best = best_trial(study) if trial is None else trial
    if best is None:
        return None
    others = [t for t in ranked_trials(study) if t.number != best.number]
    folds = fold_values(best, config)
    p = accuracy(best)
    if folds and len(folds) >= 2:
        others_folds = [(t.number, fold_values(t, config)) for t in others]
        low, high, basis, tied = _over_folds(p, folds, others_folds)
    elif n_val:
        scored = [(t.number, accuracy(t)) for t in others]
        low, high, basis, tied = _over_one_split(p, n_val, scored)
    else:
        low, high, basis, tied = None, None, "one validation split (size unknown)", []
    return Estimate(best.number, p, low, high, basis, tuple(folds or ()), tuple(tied))


def _over_folds(p: float, folds: Sequence[float],
                others: Sequence[tuple[int, list[float] | None]]
                ) -> tuple[float, float, str, list[int]]:
    """(low, high, basis, tied) from the folds: t interval, paired one-sided t-tests."""
    from scipy import stats

    k = len(folds)
    se = float(np.std(folds, ddof=1) / math.sqrt(k))
    half = float(stats.t.ppf(0.975, k - 1)) * se
    crit = float(stats.t.ppf(0.95, k - 1))
    tied = []
    for number, other in others:
        if not other or len(other) != k:
            continue
        d = np.asarray(folds) - np.asarray(other)
        se_d = float(np.std(d, ddof=1) / math.sqrt(k))
        if d.mean() <= 0 or (se_d > 0 and d.mean() < crit * se_d):
            tied.append(number)
    basis = f"mean of {k} folds ± t({k - 1}) x SE of their spread"
    return p - half, min(1.0, p + half), basis, tied


def _over_one_split(p: float, n_val: int, others: Sequence[tuple[int, float]]
                    ) -> tuple[float, float, str, list[int]]:
    """(low, high, basis, tied) on one split: binomial interval, two-proportion z-tests."""
    half = 1.96 * math.sqrt(p * (1 - p) / n_val)
    tied = []
    for number, value in others:
        q = float(value)
        se_d = math.sqrt((p * (1 - p) + q * (1 - q)) / n_val)
        if p - q <= 0 or (se_d > 0 and p - q < 1.645 * se_d):
            tied.append(number)
    basis = f"one validation split of {n_val} examples (binomial)"
    return max(0.0, p - half), min(1.0, p + half), basis, tied


def bootstrap_ci(correct: np.ndarray, n_bootstrap: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of the mean of ``correct`` (0/1 per example), seeded resamples."""
    rng = np.random.default_rng(seed)
    n = len(correct)
    means = np.empty(n_bootstrap)
    per_block = max(1, (4 << 20) // max(n, 1))  # bound memory: ~4M indices at once
    for start in range(0, n_bootstrap, per_block):
        k = min(per_block, n_bootstrap - start)
        means[start:start + k] = correct[rng.integers(0, n, size=(k, n))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``[true][predicted]`` counts, (num_classes, num_classes)."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts
