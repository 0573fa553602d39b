"""Comparison studies: a few explicit settings side by side, described as data.

A study whose searched parameters are all explicit lists with at most ``MAX_SETTINGS``
combinations is a *comparison*: each trial is one setting, and what matters is how the settings
differ, not which is best. Only ``gap_table`` needs pandas; it imports it when called.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpsearch import _attrs as A
from hpsearch.results._trials import accuracy, resolved

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MAX_SETTINGS", "Setting", "comparison_settings", "gap_table", "is_comparison",
           "varied_params"]

#: Most combinations a study may have and still be shown as a side-by-side comparison.
MAX_SETTINGS = 8


@dataclass(frozen=True)
class Setting:
    """One completed trial of a comparison study (see ``is_comparison``).

    Attributes:
        label: the varied parameters, e.g. ``"update_rule=adam, learning_rate=0.001"``.
        number: the trial number.
        value: its validation accuracy (the best epoch's).
        seed: the trial's recorded seed.
        params: its resolved parameters.
        history: per-epoch ``loss``, ``train_acc`` and ``val_acc``.
    """

    label: str
    number: int
    value: float
    seed: int
    params: dict[str, Any]
    history: dict[str, list[float]]


def varied_params(space: Mapping[str, Any]) -> list[str]:
    """The parameters a space searches (everything not fixed), in space order."""
    from hpsearch.study import Fixed

    return [name for name, spec in space.items() if not isinstance(spec, Fixed)]


def is_comparison(space: Mapping[str, Any]) -> bool:
    """Whether every searched parameter is an explicit list and there are few combinations.

    Such a study is a *comparison*: each trial is one setting, and what matters is how the
    settings differ, not which is best (at most ``MAX_SETTINGS`` combinations).
    """
    from hpsearch.study import Choice, Grid

    varied = varied_params(space)
    if not varied or not all(isinstance(space[n], Choice | Grid) for n in varied):
        return False
    sizes = [len(space[n].choices if isinstance(space[n], Choice) else space[n].values)
             for n in varied]
    return math.prod(sizes) <= MAX_SETTINGS


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def comparison_settings(study: Any, config: Any) -> list[Setting]:
    """A comparison study's complete trials as settings, one per distinct parameter combination.

    A combination run more than once (a resumed study) is represented by its latest trial; trials
    without a recorded history are left out. Empty when the study is not a comparison.
    """
    from optuna.trial import TrialState

    if not is_comparison(config.space):
        return []
    varied = varied_params(config.space)
    latest: dict[tuple, Setting] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        history = t.user_attrs.get(A.TRIAL_HISTORY) or {}
        if not history.get("val_acc"):
            continue
        params = resolved(t.params, config)
        key = tuple(params[n] for n in varied)
        label = ", ".join(f"{n}={_fmt(params[n])}" for n in varied)
        latest[key] = Setting(label, t.number, accuracy(t), int(t.user_attrs[A.TRIAL_SEED]),
                              params, {k: list(v) for k, v in history.items()})
    return sorted(latest.values(), key=lambda s: s.number)


def gap_table(settings: list[Setting]) -> pd.DataFrame:
    """Per setting: train and validation accuracy at its best validation epoch, and the gap."""
    import numpy as np
    import pandas as pd

    rows = []
    for s in settings:
        val = np.asarray(s.history["val_acc"])
        train = np.asarray(s.history["train_acc"])
        best = int(np.argmax(val))
        rows.append({"setting": s.label, "trial": s.number, "best_epoch": best + 1,
                     "train_acc": float(train[best]), "val_acc": float(val[best]),
                     "gap": float(train[best] - val[best]),
                     "final_train_acc": float(train[-1]), "final_val_acc": float(val[-1]),
                     "final_gap": float(train[-1] - val[-1])})
    return pd.DataFrame(rows)
