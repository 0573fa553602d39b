"""A trial's out-of-fold class probabilities, kept with it as a compact system attribute."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import optuna

__all__ = ["MAX_OOF_VALUES", "oof_probs", "set_oof_probs"]

#: The system attribute that holds them (``{"shape": [...], "f2": base64 of float16}``).
_OOF_KEY = "hpsearch:oof_probs"
#: At most this many probabilities per trial (1 MB as float16): digits' 1497 rows x 10 classes
#: are 15,000; CIFAR-10's 50,000 x 10 would put 1.3 MB of text in every complete trial's row.
MAX_OOF_VALUES = 500_000


def set_oof_probs(study: optuna.Study, trial: optuna.trial.Trial, probs: np.ndarray) -> bool:
    """Keep a trial's out-of-fold class probabilities with it (written with its ``tell``).

    A system attribute, not a user attribute: some 40 KB per trial on digits would swamp the
    trial's attributes in optuna-dashboard and in exported tables. Stored as float16, base64.

    Returns:
        False, keeping nothing, when there are more than ``MAX_OOF_VALUES`` of them.
    """
    import numpy as np

    from hpsearch.storage._optuna import storage_of, trial_id

    if probs.size > MAX_OOF_VALUES:
        return False
    data = np.ascontiguousarray(probs, dtype="<f2")
    storage_of(study).set_trial_system_attr(trial_id(trial), _OOF_KEY, {
        "shape": list(data.shape), "f2": base64.b64encode(data.tobytes()).decode("ascii")})
    return True


def oof_probs(trial: optuna.trial.FrozenTrial) -> np.ndarray | None:
    """The out-of-fold probabilities ``set_oof_probs`` kept with a stored trial, or None."""
    import numpy as np

    raw = trial.system_attrs.get(_OOF_KEY)
    try:
        shape = tuple(int(n) for n in raw["shape"])
        data = np.frombuffer(base64.b64decode(raw["f2"], validate=True), dtype="<f2")
        return data.astype(np.float64).reshape(shape)
    except (TypeError, KeyError, ValueError, binascii.Error):  # absent, or not ours
        return None
