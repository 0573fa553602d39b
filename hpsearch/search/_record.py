"""A finished trial's record: its result written on the Optuna trial and told, in one step.

The engine keeps each running trial's Optuna handle in a ``Running``; when its result arrives,
``record_result`` sets its attributes and the learning curve not yet reported (all in memory) and
tells it (one transaction). A state set from outside meanwhile (the dashboard's "Fail trial",
``hpsearch stop --trial``) is kept, not ours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpsearch import _attrs as A
from hpsearch.storage import fail_and_requeue, report_step, set_oof_probs, stored_values

if TYPE_CHECKING:
    from optuna.trial import TrialState

    from hpsearch.execution import Sees

__all__ = ["Running", "record_failure", "record_result"]

log = logging.getLogger("hpsearch")


@dataclass
class Running:
    """A trial the engine launched and has not told yet."""

    trial: Any  # optuna.Trial
    params: dict[str, Any]  # sampled (searched) parameters, for re-enqueueing
    submitted: float  # time.monotonic() at launch
    reported: set[int] = field(default_factory=set)  # epochs already told to Optuna
    outside: TrialState | None = None  # a state set from outside (dashboard, `hpsearch stop`)
    visible: Sees | None = None  # what its pruning decisions see (reproducible studies)
    preempting: bool = False  # told to give its slot back at the next epoch boundary
    checkpoint: Any = None  # preempted: where it resumes (``hpsearch.training.TrialCheckpoint``)
    counted_s: float = 0.0  # training seconds of its parts before the last preemption


def record_result(study: Any, entry: Running, result: Any, fingerprint: str,
                  costs: tuple[str, ...] = ()) -> tuple[str, float | None]:
    """Write ``result`` (a ``TrialResult``) on the trial and tell it.

    Args:
        study: the driver's study.
        entry: the trial, as the engine keeps it.
        result: what the worker returned.
        fingerprint: the dataset's, stored on the trial.
        costs: a multi-objective study's values after accuracy (``TrialResult.costs`` keys).

    Returns:
        The state told ("complete", "pruned" or "failed") and, when complete, the accuracy.
    """
    from optuna.trial import TrialState

    trial = entry.trial
    attrs = _attrs(result, fingerprint)
    # The learning curve not already reported by the driver (all of it, unless Hyperband).
    # It stays in memory with the attributes; `tell` writes it all in one transaction.
    for epoch, value in enumerate(result.history.get("val_acc", []), start=1):
        if epoch not in entry.reported:
            report_step(study, trial, value, epoch)
    state = result.state
    if state == "complete" and (missing := [c for c in costs if c not in result.costs]):
        state = "failed"  # cannot be told without them; never expected: the worker measures all
        attrs[A.TRIAL_FAILURE] = f"cost {', '.join(missing)} not measured"
    if entry.outside is not None:  # stopped from outside: that state is kept, not ours
        state, attrs = _outside_outcome(entry.outside, attrs)
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    if state == "complete":
        if result.oof_probs is not None:  # returned only when the plan keeps them
            set_oof_probs(study, trial, result.oof_probs)
        values = [result.value, *(float(result.costs[c]) for c in costs)]
        if entry.outside is not None:  # marked complete from outside: its values, if it has any
            values = stored_values(study, trial) or values
        study.tell(trial, values if costs else values[0])
        return state, values[0]
    if state == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, state=TrialState.FAIL)
        log.warning("trial %d failed: %s", trial.number, attrs[A.TRIAL_FAILURE])
    return state, None


def record_failure(study: Any, entry: Running, reason: str, requeue: bool = False) -> None:
    """Fail a trial that has no result of its own; ``requeue``: run its parameters again."""
    from optuna.trial import TrialState

    trial = entry.trial
    if requeue:
        fail_and_requeue(study, trial, entry.params, reason)
    else:
        trial.set_user_attr(A.TRIAL_FAILURE, reason)
        study.tell(trial, state=TrialState.FAIL)
    log.warning("trial %d failed: %s%s", trial.number, reason,
                " (parameters enqueued again)" if requeue else "")


def _attrs(result: Any, fingerprint: str) -> dict[str, Any]:
    attrs = {A.TRIAL_NODE: result.node, A.TRIAL_NODE_IP: result.node_ip,
             A.TRIAL_DURATION: result.duration_s, A.TRIAL_STARTED_AT: result.started_at,
             A.TRIAL_EPOCHS_RUN: result.epochs_run, A.TRIAL_FINGERPRINT: fingerprint,
             A.TRIAL_HISTORY: result.history}
    if result.costs:
        attrs[A.TRIAL_COSTS] = dict(result.costs)
    if result.fold_values is not None:
        attrs[A.TRIAL_FOLD_VALUES] = result.fold_values
    if result.first_fold_curve is not None:
        attrs[A.TRIAL_FIRST_FOLD_CURVE] = result.first_fold_curve
    if result.state == "failed":
        attrs[A.TRIAL_FAILURE] = result.failure_reason
    if result.state == "pruned":
        attrs[A.TRIAL_PRUNED_AT] = result.pruned_at_epoch
        attrs[A.TRIAL_PRUNE_DECIDED_AT] = result.prune_decided_at
    return attrs


def _outside_outcome(outside: TrialState, attrs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """How a trial stopped from outside is recorded: the state set there, with our record."""
    from optuna.trial import TrialState

    attrs = {k: v for k, v in attrs.items()
             if k not in (A.TRIAL_PRUNED_AT, A.TRIAL_PRUNE_DECIDED_AT)}
    if outside == TrialState.COMPLETE:
        return "complete", attrs
    if outside == TrialState.PRUNED:
        return "pruned", attrs
    attrs[A.TRIAL_FAILURE] = A.REASON_STOPPED_BY_USER
    return "failed", attrs
