"""Accuracy against cost, as data: each complete trial's costs, the Pareto front, the choice.

A study has costs to show when it optimizes some beside accuracy (``[study] objectives``) or
selects by one (``[selection] cost``). The front is the set of complete trials that no other
beats on accuracy and every cost (for a multi-objective study, Optuna's ``study.best_trials``).
No matplotlib here: ``_figures`` draws what this computes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from hpsearch.results import (
    SelectionError,
    accuracy,
    best_trial,
    choose,
    pareto_front,
    ranked_trials,
    trial_cost,
)
from hpsearch.results._evaluation import Choice
from hpsearch.study import COSTS

__all__ = ["CostFront", "cost_front", "front_costs"]

# Costs spread over orders of magnitude: drawn on a log axis when their range spans > 10x.
LOG_COSTS = frozenset({"n_params", "train_cpu_s", "inference_ms"})


@dataclass
class CostFront:
    """What the study's trials cost beside how accurate they are.

    Attributes:
        trials: one row per complete trial whose costs are all known, best first: ``number``,
            ``value`` (validation accuracy), one column per cost, ``pareto`` (no other trial is
            at least as good on accuracy and every cost and better on one), ``front_<cost>``
            (on the front of accuracy and that cost alone: what that cost's panel joins), then
            the searched parameters.
        costs: cost name -> direction ("minimize" or "maximize"), in the study's order.
        choice: how the configuration to test was (or would be) chosen; ``choice.trial`` the
            chosen trial, ``choice.most_accurate`` the most accurate.
        tested: the choice is the stored evaluation's (else computed from the trials here).
        notes: sentences saying what is left out and why.
    """

    trials: pd.DataFrame
    costs: dict[str, str]
    choice: Choice
    tested: bool
    notes: list[str] = field(default_factory=list)

    @property
    def front(self) -> pd.DataFrame:
        """The Pareto-optimal trials, most accurate first."""
        return self.trials[self.trials["pareto"]]

    def label(self, cost: str) -> str:
        """How tables and figures name ``cost``."""
        return COSTS[cost].label

    def log_scale(self, cost: str) -> bool:
        """Whether ``cost`` is drawn on a log axis: a size or time spanning more than 10x."""
        x = self.trials[cost]
        return cost in LOG_COSTS and bool((x > 0).all()) and x.max() > 10 * x.min()


def front_costs(config: Any) -> dict[str, str]:
    """Cost name -> direction: the study's cost objectives, then ``[selection] cost`` (minimize)."""
    costs = {o.name: o.direction for o in getattr(config, "objectives", ())[1:]}
    cost = getattr(getattr(config, "selection", None), "cost", None)
    if cost is not None and cost not in costs:
        costs[cost] = "minimize"
    return costs


def _lazy_counter(dataset: Any) -> Callable[[Any], int] | None:
    """``resolved params -> parameter count`` for trials that predate measured costs."""
    if dataset is None:
        return None

    def count(params: Any) -> int:
        from hpsearch.training import count_params

        return count_params(params, tuple(dataset.input_shape), dataset.num_classes)

    return count


def _cost_values(trials: list[Any], cost: str, config: Any, counter: Any) -> dict[int, float]:
    """Trial number -> ``cost``: the stored objective value where the study optimized it."""
    names = [o.name for o in getattr(config, "objectives", ())]
    index = names.index(cost) if cost in names else None
    out = {}
    for t in trials:
        if index is not None and t.values is not None and len(t.values) > index:
            out[t.number] = float(t.values[index])
        elif (value := trial_cost(t, cost, config, counter)) is not None:
            out[t.number] = value
    return out


def _choice(study: Any, config: Any, evaluation: Any, dataset: Any
            ) -> tuple[Choice, bool, str | None]:
    """The evaluation's choice, else what ``[selection] rule`` picks now; a note if it cannot.

    Returns:
        (choice, whether it is the evaluation's, a sentence when the rule could not be applied).
    """
    best = best_trial(study)
    if evaluation is not None:
        if evaluation.choice is not None:
            return evaluation.choice, True, None
        return Choice("best", evaluation.trial.number, best.number), True, None
    if getattr(config.selection, "rule", "best") != "one_se":
        return Choice("best", best.number, best.number), False, None
    n_val = len(dataset.y_val) if dataset is not None else None
    try:
        choice = choose(study, config, n_val, _lazy_counter(dataset))
    except SelectionError as exc:
        return Choice("best", best.number, best.number), False, (
            f"The one-standard-error choice is not shown ({exc}); `hpsearch best` makes it.")
    return choice, False, (f"Trial {choice.trial} is what the one-standard-error rule chooses "
                           "from the trials now; `hpsearch best` retrains and tests it.")


def _frame(measured: list[Any], values: Mapping[str, Mapping[int, float]],
           costs: Mapping[str, str], params: pd.DataFrame) -> pd.DataFrame:
    acc = {t.number: accuracy(t) for t in measured}
    keys = [(acc, "maximize"), *((values[c], d) for c, d in costs.items())]
    pareto = {t.number for t in pareto_front(measured, keys)}
    frame = pd.DataFrame({"number": [t.number for t in measured],
                          "value": [acc[t.number] for t in measured],
                          **{c: [values[c][t.number] for t in measured] for c in costs},
                          "pareto": [t.number in pareto for t in measured]})
    for cost, direction in costs.items():
        on = {t.number for t in pareto_front(measured, [keys[0], (values[cost], direction)])}
        frame[f"front_{cost}"] = frame["number"].isin(on)
    return frame.merge(params, on="number", how="left")


def cost_front(study: Any, config: Any, trials: pd.DataFrame, searched: list[str], *,
               evaluation: Any = None, dataset: Any = None) -> CostFront | None:
    """Accuracy against each cost of the study's complete trials, or None without costs.

    Args:
        study: the ``optuna.Study``.
        config: its ``StudyConfig``.
        trials: ``trials_frame`` of the study (the searched parameters are read from it).
        searched: the searched parameters' names.
        evaluation: the stored evaluation, whose ``choice`` says which trial was tested.
        dataset: the loaded dataset: the validation split's size for the one-standard-error
            rule without an evaluation, and parameter counts of trials that predate measured
            costs (optional).

    Returns:
        None when the study neither optimizes nor selects by a cost, or has no complete trial.
    """
    costs = front_costs(config)
    complete = ranked_trials(study)
    if not costs or not complete:
        return None
    counter = _lazy_counter(dataset)
    values = {c: _cost_values(complete, c, config, counter) for c in costs}
    measured = [t for t in complete if all(t.number in values[c] for c in costs)]
    notes = []
    if len(measured) < len(complete):
        notes.append(f"{len(complete) - len(measured)} of the {len(complete)} complete trials "
                     "have no measured " + " or ".join(costs) + " (they ran before hpsearch "
                     "measured costs) and are left out of accuracy against cost.")
    if not measured:
        return None
    choice, tested, note = _choice(study, config, evaluation, dataset)
    if note is not None:
        notes.append(note)
    frame = _frame(measured, values, costs, trials[["number", *searched]])
    return CostFront(frame, costs, choice, tested, notes)
