"""Stopping from outside: a study's driver asked to stop, a running trial failed, who drives it now.

These write to the study's storage from any process (``hpsearch stop``), as optuna-dashboard does;
the driver notices them (``stop_requested``, ``changed_outside``) and honours them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from hpsearch.storage._errors import StorageError

if TYPE_CHECKING:
    import optuna

__all__ = ["driver_of", "request_stop", "stop_requested", "stop_trial"]

#: The study system attribute that holds the time of the last stop request (Unix s).
_STOP_KEY = "hpsearch:stop_requested"


def request_stop(study: optuna.Study) -> None:
    """Ask the study's driver, wherever it runs, to stop after its current step.

    Finished trials are kept; running ones are recorded "interrupted" and re-run on resume.
    """
    from hpsearch.storage._optuna import storage_of, study_id

    storage_of(study).set_study_system_attr(study_id(study), _STOP_KEY, time.time())


def stop_requested(study: optuna.Study, since: float) -> bool:
    """Whether a stop was requested after ``since`` (seconds since the Unix epoch)."""
    from hpsearch.storage._optuna import storage_of, study_id

    asked = storage_of(study).get_study_system_attrs(study_id(study)).get(_STOP_KEY)
    return isinstance(asked, int | float) and asked >= since


def stop_trial(study: optuna.Study, number: int) -> None:
    """Fail a running trial from outside, as optuna-dashboard's "Fail trial" does.

    Its driver notices within a second, stops the worker and records "stopped by user".

    Raises:
        StorageError: no such trial, or it is not running.
    """
    from optuna.trial import TrialState

    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number not in trials:
        raise StorageError(f"study {study.study_name!r} has no trial {number}")
    if trials[number].state != TrialState.RUNNING:
        raise StorageError(f"trial {number} is not running (it is "
                           f"{trials[number].state.name.lower()})")
    study.tell(number, state=TrialState.FAIL)


def driver_of(study: optuna.Study) -> str | None:
    """Who runs ``study`` now ("driver pid P on host H since ..."), None when no driver is live."""
    from hpsearch.storage._lease import current_holder
    from hpsearch.storage._optuna import backend_study_id

    found = backend_study_id(study)
    if found is None:
        return None
    backend, study_id = found
    holder = current_holder(backend, study_id)
    return None if holder is None else holder.describe(time.time())
