"""What a stored trial is, in hpsearch's words: its state, its rank, the best one, its folds.

The engine, the CLI, evaluation, tables and reports share these definitions. This module is on
the search driver's import path (``from hpsearch.results import best_trial``): it imports neither
pandas nor NumPy, and Optuna only inside the functions that need it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from hpsearch import _attrs as A

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

__all__ = [
    "STATES",
    "TRIAL_FOLD_VALUES",
    "accuracy",
    "best_trial",
    "count_states",
    "cross_validated",
    "fold_values",
    "rank_key",
    "ranked_trials",
    "resolved",
    "state_word",
]

# Optuna state name -> the word the tables use, in the order reports list them.
STATES: dict[str, str] = {
    "COMPLETE": "complete",
    "PRUNED": "pruned",
    "FAIL": "failed",
    "RUNNING": "running",
    "WAITING": "waiting",
}
# A cross-validated trial's per-fold validation accuracies (trial user attribute, a list).
TRIAL_FOLD_VALUES = A.TRIAL_FOLD_VALUES  # kept here too: readers of the trials table use it


def state_word(trial: Any) -> str:
    """The trial's state as the tables write it ("complete", "pruned", "failed", ...)."""
    return STATES.get(trial.state.name, trial.state.name.lower())


def count_states(trials: Iterable[Any]) -> dict[str, int]:
    """State word -> number of trials, every state of ``STATES`` listed (0 when none)."""
    counts = dict.fromkeys(STATES.values(), 0)
    for trial in trials:
        word = state_word(trial)
        counts[word] = counts.get(word, 0) + 1
    return counts


def accuracy(trial: Any) -> float | None:
    """A trial's validation accuracy: its value, or its first value in a multi-objective study.

    (Optuna's ``trial.value`` refuses a trial of several values; accuracy always comes first,
    ``hpsearch.study._objectives``.) None when the trial has no value (pruned, failed, running).
    """
    values = trial.values
    return None if not values else float(values[0])


def rank_key(trial: Any) -> tuple[float, int]:
    """Sort key of complete trials, best first: highest accuracy, ties to the lowest number."""
    return -accuracy(trial), trial.number


def ranked_trials(study: Any) -> list[FrozenTrial]:
    """The study's complete trials, best first (``rank_key``)."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sorted(complete, key=rank_key)


def best_trial(study: Any) -> FrozenTrial | None:
    """The best complete trial: highest accuracy, ties broken by the lowest trial number.

    The one definition every part of hpsearch uses (engine, CLI, evaluation, reports).

    Args:
        study: an ``optuna.Study`` (any storage; accuracy its value or its first value).

    Returns:
        The ``optuna.trial.FrozenTrial``, or None when no trial has completed.
    """
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return min(complete, key=rank_key, default=None)


def cross_validated(config: Any) -> bool:
    """Whether the study file asks for cross-validation (``[selection] folds``)."""
    selection_ = getattr(config, "selection", None)
    return bool(selection_ is not None and selection_.cross_validated)


def fold_values(trial: Any, config: Any = None) -> list[float] | None:
    """A trial's per-fold validation accuracies, in fold order, or None on a single split.

    Read from the trial's ``fold_values`` attribute, or, for a cross-validated study (``config``
    given), from its reported steps (fold k is step k).
    """
    stored = trial.user_attrs.get(TRIAL_FOLD_VALUES)
    if stored is not None:
        return [float(v) for v in stored]
    if cross_validated(config) and trial.intermediate_values:
        return [float(v) for _, v in sorted(trial.intermediate_values.items())]
    return None


def resolved(params: Mapping[str, Any], config: Any) -> dict[str, Any]:
    """All parameters a trial trained with: searched, fixed and defaults.

    Without ``config``, only the stored (searched) ones.
    """
    if config is None:
        return dict(params)
    from hpsearch.study import resolve_params

    return resolve_params(params, config.space)
