"""Accuracy against cost: a trial's costs, the Pareto front, and the one-standard-error choice.

``choose`` decides which configuration is refit and tested (``[selection] rule``): "best" the
most accurate; "one_se" the cheapest whose estimate is within one standard error of the most
accurate's (Breiman et al.'s rule, as in "The Elements of Statistical Learning", 7.10): with
k folds the standard error is the spread of the best trial's fold accuracies over sqrt(k); on
one validation split of n examples, the binomial sqrt(p (1 - p) / n). ``pareto_front`` lists the
complete trials no other trial beats on every objective. Nothing here trains or reads the test
split.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from hpsearch import _attrs as A
from hpsearch.results._evaluation import Choice
from hpsearch.results._trials import accuracy, best_trial, fold_values, ranked_trials

__all__ = ["Choice", "SelectionError", "choose", "pareto_front", "trial_cost"]


class SelectionError(ValueError):
    """The chosen rule cannot be applied to the stored trials (a cost they did not measure)."""


def trial_cost(trial: Any, cost: str, config: Any = None, counter: Any = None) -> float | None:
    """The trial's ``cost`` (a key of ``hpsearch.study._objectives.COSTS``), or None.

    Read from the trial's measured costs (``costs`` attribute, or its values in a study that
    optimized the cost). ``n_params`` of a trial that predates the measurement is counted from
    its configuration by ``counter(resolved_params)`` when one is given; ``epochs`` falls back
    to the epochs it ran.
    """
    measured = trial.user_attrs.get(A.TRIAL_COSTS) or {}
    if cost in measured:
        return float(measured[cost])
    optimized = list(getattr(config, "cost_objectives", []))
    if cost in optimized and trial.values and len(trial.values) == 1 + len(optimized):
        return float(trial.values[1 + optimized.index(cost)])
    if cost == "epochs" and A.TRIAL_EPOCHS_RUN in trial.user_attrs:
        return float(trial.user_attrs[A.TRIAL_EPOCHS_RUN])
    if cost == "n_params" and counter is not None:
        from hpsearch.results._trials import resolved

        return float(counter(resolved(trial.params, config)))
    return None


def _standard_error(best: Any, config: Any, n_val: int | None) -> tuple[float, str]:
    folds = fold_values(best, config)
    if folds and len(folds) >= 2:
        mean = sum(folds) / len(folds)
        spread = math.sqrt(sum((v - mean) ** 2 for v in folds) / (len(folds) - 1))
        k = len(folds)
        return spread / math.sqrt(k), f"trial {best.number}'s {k} fold accuracies (sd / sqrt({k}))"
    if n_val:
        p = accuracy(best)
        return math.sqrt(p * (1 - p) / n_val), f"binomial, one validation split of {n_val}"
    raise SelectionError("the one-standard-error rule needs the validation split's size or "
                         "cross-validated trials; neither is known for this study")


def choose(study: Any, config: Any, n_val: int | None = None, counter: Any = None) -> Choice:
    """The configuration ``[selection] rule`` picks, among the complete trials.

    Args:
        study: the ``optuna.Study``.
        config: its ``StudyConfig`` (``selection.rule`` and ``selection.cost``).
        n_val: the validation split's size (the standard error on one split).
        counter: ``resolved params -> parameter count``, for trials without measured costs.

    Raises:
        SelectionError: no complete trial, or a candidate without the cost (named).
    """
    best = best_trial(study)
    if best is None:
        raise SelectionError(f"study {study.study_name!r} has no complete trial to choose from")
    selection = getattr(config, "selection", None)
    rule = getattr(selection, "rule", "best")
    cost = getattr(selection, "cost", None)
    if rule != "one_se":
        return Choice("best", best.number, best.number)
    se, basis = _standard_error(best, config, n_val)
    threshold = accuracy(best) - se
    within = [t for t in ranked_trials(study) if accuracy(t) >= threshold - 1e-12]
    costs = {t.number: trial_cost(t, cost, config, counter) for t in within}
    if missing := sorted(n for n, c in costs.items() if c is None):
        raise SelectionError(f"[selection] cost = {cost!r}: trials {missing} have no measured "
                             f"{cost} (run before hpsearch measured it); choose cost = "
                             "\"n_params\" or \"epochs\", which are known for every trial")
    # the cheapest; ties to the more accurate, then the lower number (within is ranked)
    chosen = min(within, key=lambda t: costs[t.number])
    return Choice("one_se", chosen.number, best.number, cost, costs[chosen.number],
                  costs[best.number], se, threshold, len(within), basis)


def pareto_front(trials: Sequence[Any], keys: Sequence[tuple[Mapping[int, float], str]]
                 ) -> list[Any]:
    """The trials no other beats on every key, in the order given.

    A trial is dominated when another is at least as good on every key and better on one.
    (Optuna's ``Study.best_trials`` gives the same set for a multi-objective study; this one
    also serves a single-objective study selected by a cost, whose "best trials" Optuna reduces
    to the argmax.)

    Args:
        trials: complete trials.
        keys: (trial number -> value, "maximize" or "minimize") per objective.
    """
    def signed(t: Any) -> tuple[float, ...]:
        return tuple(v[t.number] if d == "maximize" else -v[t.number] for v, d in keys)

    points = {t.number: signed(t) for t in trials}
    if len(keys) == 2:  # a sweep, O(n log n): studies of 100,000 trials report too
        kept, best_second, last = set(), -math.inf, None
        for number, point in sorted(points.items(), key=lambda p: (-p[1][0], -p[1][1])):
            if point[1] > best_second:  # better on the second than all better on the first
                kept.add(number)
                best_second, last = point[1], point
            elif point == last:  # the same point twice: neither dominates the other
                kept.add(number)
        return [t for t in trials if t.number in kept]

    def dominated(a: tuple[float, ...]) -> bool:
        return any(all(x >= y for x, y in zip(b, a, strict=True)) and b != a
                   for b in points.values())

    return [t for t in trials if not dominated(points[t.number])]
