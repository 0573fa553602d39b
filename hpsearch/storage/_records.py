"""Trial records as the single-writer storage compares them: snapshots, differences, numbering."""

from __future__ import annotations

import copy
import math
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from hpsearch.storage._errors import StorageConflictError

__all__ = ["StorageConflictError", "changed", "check_number", "empty_trial", "snapshot"]


def snapshot(trial: FrozenTrial) -> FrozenTrial:
    """A copy of what ``trial`` holds now.

    ``optuna.Trial`` edits the dicts of the frozen trial it was handed in place, so a reference
    would follow later edits.
    """
    snap = copy.copy(trial)
    for name in ("params", "distributions", "user_attrs", "system_attrs",
                 "intermediate_values"):
        setattr(snap, name, dict(getattr(trial, name)))
    snap.values = None if trial.values is None else list(trial.values)
    return snap


def empty_trial() -> FrozenTrial:
    """A trial holding nothing: what the backend has of a trial before its first write."""
    return FrozenTrial(number=-1, state=TrialState.RUNNING, value=None, datetime_start=None,
                       datetime_complete=None, params={}, distributions={}, user_attrs={},
                       system_attrs={}, intermediate_values={}, trial_id=-1)


def changed(old: dict[Any, Any], new: dict[Any, Any]) -> dict[Any, Any]:
    """Entries of ``new`` that ``old`` lacks or holds with another value (NaN equals NaN)."""

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return a == b

    return {k: v for k, v in new.items() if k not in old or not same(old[k], v)}


def check_number(ours: int, theirs: int) -> None:
    """Raise when the backend numbered a trial differently: a second writer is at work."""
    if ours != theirs:
        raise StorageConflictError(
            f"the storage numbered trial {ours} as {theirs}: another process is writing this "
            "study (only one driver may run a study at a time)")
