"""The driver's writes outside ask/tell, and what it reads back of its own trials.

- ``persist_launch``: a just-asked trial written before it runs (for ``recover``).
- ``recover`` / ``fail_and_requeue``: trials a dead driver left RUNNING, failed and enqueued again.
- ``write_live``: running trials' new points, in one transaction, for live readers.
- ``report_step``: one point of a running trial's learning curve (none in multi-objective ones).
- ``changed_outside`` / ``stored_values``: what was changed from outside (optuna-dashboard).

Each works on the driver's ``SingleWriterStorage`` and also on a plain Optuna storage (tests,
``optuna.create_study`` studies), where there is nothing to sync.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpsearch import _attrs as A

if TYPE_CHECKING:
    import optuna

__all__ = ["changed_outside", "fail_and_requeue", "persist_launch", "recover", "report_step",
           "stored_values", "write_live"]


def persist_launch(study: optuna.Study, trial: optuna.trial.Trial) -> None:
    """Write a just-asked trial (parameters, attributes) before it runs.

    A driver that dies afterwards leaves it RUNNING with its parameters, for ``recover``.
    """
    from hpsearch.storage._optuna import storage_of, trial_id

    sync = getattr(storage_of(study), "sync", None)
    if sync is not None:  # a plain Optuna storage wrote it already
        sync(trial_id(trial))


def fail_and_requeue(study: optuna.Study, trial: optuna.trial.Trial, params: dict[str, Any],
                     reason: str) -> None:
    """Record ``trial`` as FAIL for ``reason`` and enqueue its parameters again."""
    from optuna.trial import TrialState

    trial.set_user_attr(A.TRIAL_FAILURE, reason)
    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
    study.enqueue_trial(params, user_attrs={A.TRIAL_RETRY_OF: trial.number})


def recover(study: optuna.Study) -> list[int]:
    """Fail the trials a dead driver left RUNNING as "interrupted" and enqueue them again.

    Returns:
        The numbers of the trials recovered.
    """
    from optuna.trial import TrialState

    from hpsearch.storage._optuna import live_trial

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for frozen in stale:
        fail_and_requeue(study, live_trial(study, frozen), dict(frozen.params),
                         A.REASON_INTERRUPTED)
    return [t.number for t in stale]


def write_live(study: optuna.Study, trials: list[optuna.trial.Trial]) -> None:
    """Write running trials' new points and attributes in one transaction (the driver's study).

    Readers (``optuna-dashboard``, ``hpsearch status --watch``) then see live learning curves.
    """
    from hpsearch.storage._optuna import storage_of, trial_id

    storage = storage_of(study)
    if trials and hasattr(storage, "sync_many"):
        storage.sync_many([trial_id(t) for t in trials])


def changed_outside(study: optuna.Study, trials: list[optuna.trial.Trial]) -> dict[int, Any]:
    """Running trials whose stored state was changed from outside: number -> ``TrialState``.

    A trial failed from optuna-dashboard or ``hpsearch stop --trial`` shows here (one query).
    """
    from hpsearch.storage._optuna import storage_of, trial_id

    storage = storage_of(study)
    if not trials or not hasattr(storage, "changed_outside"):
        return {}
    number_of = {trial_id(t): t.number for t in trials}
    return {number_of[t]: state for t, state in storage.changed_outside(list(number_of)).items()}


def report_step(study: optuna.Study, trial: optuna.trial.Trial, value: float, step: int) -> None:
    """Record ``value`` at ``step`` of a running trial's learning curve (``trial.report``).

    Not in a multi-objective study: Optuna's ``Trial.report`` refuses one, and its samplers
    assume such trials have no intermediate values (TPE ranks pruned trials by their last one
    with ``study.direction``, which a multi-objective study does not have: it raises). The
    curve is the trial's ``history`` attribute there, which hpsearch's pruners read.
    """
    if len(study.directions) == 1:
        trial.report(value, step)


def stored_values(study: optuna.Study, trial: optuna.trial.Trial) -> list[float] | None:
    """The values a trial holds in the storage (one marked complete from outside carries them)."""
    from hpsearch.storage._optuna import storage_of, trial_id

    storage = storage_of(study)
    in_backend = (storage.backend_trial(trial_id(trial)) if hasattr(storage, "backend_trial")
                  else storage.get_trial(trial_id(trial)))
    return in_backend.values
