"""One trial, free of Ray and Optuna: parameters -> netcore model -> Solver -> ``TrialResult``.

What belongs here: building the model, training it (with cross-validation folds), scoring, what a
trial costs; the worker entry that ``hpsearch.execution`` runs inside a Ray task and ``rerun`` runs
in-process; the checkpoint a preempted trial leaves and resumes from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import face

if TYPE_CHECKING:
    from ._checkpoint import TrialCheckpoint
    from ._memory import RULE_STATE, estimate_trial_bytes
    from ._trial import (
        SCORE_CHUNK,
        TrialResult,
        build_model,
        count_params,
        fit,
        predict_proba,
        split_seed,
        train_trial,
    )

_NAMES = {
    "RULE_STATE": "._memory",
    "estimate_trial_bytes": "._memory",
    "SCORE_CHUNK": "._trial",
    "TrialCheckpoint": "._checkpoint",
    "TrialResult": "._trial",
    "build_model": "._trial",
    "count_params": "._trial",
    "fit": "._trial",
    "predict_proba": "._trial",
    "split_seed": "._trial",
    "train_trial": "._trial",
}
__all__ = [
    "RULE_STATE",
    "SCORE_CHUNK",
    "TrialCheckpoint",
    "TrialResult",
    "build_model",
    "count_params",
    "estimate_trial_bytes",
    "fit",
    "predict_proba",
    "split_seed",
    "train_trial",
]
__getattr__, __dir__ = face(__name__, _NAMES)
