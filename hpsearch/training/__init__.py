"""One trial, free of Ray and Optuna: parameters -> netcore model -> Solver -> ``TrialResult``.

What belongs here: building the model, training it (with cross-validation folds), scoring; the
worker entry that ``hpsearch.execution`` runs inside a Ray task and ``rerun`` runs in-process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import face

if TYPE_CHECKING:
    from ._trial import (
        TrialResult,
        build_model,
        fit,
        predict_proba,
        split_seed,
        train_trial,
    )

_NAMES = {
    "TrialResult": "._trial",
    "build_model": "._trial",
    "fit": "._trial",
    "predict_proba": "._trial",
    "split_seed": "._trial",
    "train_trial": "._trial",
}
__all__ = [
    "TrialResult",
    "build_model",
    "fit",
    "predict_proba",
    "split_seed",
    "train_trial",
]
__getattr__, __dir__ = face(__name__, _NAMES)
