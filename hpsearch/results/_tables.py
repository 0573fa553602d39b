"""A stored study as pandas tables: one row per trial, learning curves, summary facts, the grid.

Everything here reads the study (any Optuna storage) and never writes to it, so it works on a
finished study, on one a driver is still running, and on an empty one. What a trial is (its
state, its rank, the best one) is defined in ``_trials``, free of pandas.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hpsearch import _attrs as A
from hpsearch.results._accounting import cpu_seconds
from hpsearch.results._trials import (
    accuracy,
    best_trial,
    count_states,
    cross_validated,
    fold_values,
    resolved,
    state_word,
)

__all__ = ["grid_table", "intermediate_frame", "param_columns", "summary_facts", "trials_frame"]

_LEADING = ["number", "state", "value"]
_TRAILING = [
    "epochs_run",
    "duration_s",
    "started_at",
    "seed",
    "node",
    "dataset_fingerprint",
    "failure_reason",
    "pruned_at_epoch",
    "retry_of",
    "datetime_start",
    "datetime_complete",
]
_ATTR_COLUMNS = {
    "epochs_run": A.TRIAL_EPOCHS_RUN,
    "duration_s": A.TRIAL_DURATION,
    "started_at": A.TRIAL_STARTED_AT,
    "seed": A.TRIAL_SEED,
    "node": A.TRIAL_NODE,
    "dataset_fingerprint": A.TRIAL_FINGERPRINT,
    "failure_reason": A.TRIAL_FAILURE,
    "pruned_at_epoch": A.TRIAL_PRUNED_AT,
    "retry_of": A.TRIAL_RETRY_OF,
}
_FOLD_COLUMN = "fold_values"  # trials table column: "0.9800 0.9733 ..." (cross-validated studies)
_INT_COLUMNS = ("number", "epochs_run", "seed", "pruned_at_epoch", "retry_of")
_STR_COLUMNS = ("state", "node", "dataset_fingerprint", "failure_reason")


def _trials(study: Any) -> list[Any]:
    return list(study.get_trials(deepcopy=False))


def param_columns(frame: pd.DataFrame) -> list[str]:
    """The parameter columns of a ``trials_frame`` (everything between the fixed columns)."""
    from hpsearch.study._objectives import COSTS

    return [c for c in frame.columns if c not in _LEADING and c not in _TRAILING
            and c != _FOLD_COLUMN and c not in COSTS]


def _cost_names(config: Any) -> list[str]:
    """The costs a study optimizes or selects by: the trials table's cost columns."""
    if config is None:
        return []
    names = list(getattr(config, "cost_objectives", []))
    cost = getattr(getattr(config, "selection", None), "cost", None)
    return names + ([cost] if cost is not None and cost not in names else [])


def _row(trial: Any, config: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(row, params) of one trial; parameter keys carry a NUL prefix (see ``trials_frame``)."""
    from hpsearch.storage import enqueued_params

    if trial.state.name == "WAITING":  # not sampled yet: only what was enqueued is known
        params = enqueued_params(trial)
    else:
        params = resolved(trial.params, config)
    attrs = trial.user_attrs
    row = {"number": trial.number, "state": state_word(trial), "value": accuracy(trial),
           **{f"\0{k}": v for k, v in params.items()}}
    row.update({col: attrs.get(key) for col, key in _ATTR_COLUMNS.items()})
    row["datetime_start"] = trial.datetime_start
    row["datetime_complete"] = trial.datetime_complete
    folds = fold_values(trial, config)
    row[_FOLD_COLUMN] = " ".join(f"{v:.4f}" for v in folds) if folds else None
    return row, params


def trials_frame(study: Any, config: Any = None) -> pd.DataFrame:
    """One row per trial, in trial-number order.

    Args:
        study: an ``optuna.Study`` (any storage).
        config: the ``StudyConfig``; when given, every parameter a trial trained with is a column
            (searched, fixed and defaults), otherwise only the searched ones.

    Returns:
        Columns ``number``, ``state`` ("complete", "pruned", "failed", "running", "waiting"),
        ``value`` (best validation accuracy; NaN where there is none), one column per parameter,
        then ``epochs_run``, ``duration_s``, ``started_at`` (when the worker began training, in
        Unix seconds), ``seed``, ``node``, ``dataset_fingerprint``,
        ``failure_reason``, ``pruned_at_epoch``, ``retry_of``, ``datetime_start`` and
        ``datetime_complete``. Missing values are NA. A cross-validated study (per-fold values
        stored, or ``config.selection.folds``) also has ``fold_values`` after ``value``: each
        fold's validation accuracy, space-separated, in fold order. A study with costs (``[study]
        objectives``, ``[selection] cost``) has one column per cost after those (``n_params``,
        ``train_cpu_s``, ...: ``hpsearch.results._selection.trial_cost``; NA where unknown).
    """
    from hpsearch.results._selection import trial_cost

    rows = []
    param_names: dict[str, None] = {}  # ordered set: first appearance wins
    for trial in _trials(study):
        row, params = _row(trial, config)
        param_names.update(dict.fromkeys(params))
        rows.append(row)
    # Parameter names are kept apart with a NUL prefix until the end, so a parameter can never
    # overwrite a fixed column (or the other way round).
    clash = {name for name in param_names if name in _LEADING or name in _TRAILING}
    rename = {f"\0{n}": (f"param_{n}" if n in clash else n) for n in param_names}
    has_folds = any(row[_FOLD_COLUMN] is not None for row in rows) or cross_validated(config)
    leading = [*_LEADING, _FOLD_COLUMN] if has_folds else _LEADING
    columns = [*leading, *(f"\0{n}" for n in param_names), *_TRAILING]
    # Object dtype first, so ints with gaps stay ints (Int64) instead of turning into floats.
    frame = pd.DataFrame(rows, columns=columns, dtype=object).rename(columns=rename)
    _type_columns(frame, has_folds)
    for at, cost in enumerate(_cost_names(config), start=len(leading)):
        frame.insert(at, cost, pd.array([trial_cost(t, cost) for t in _trials(study)],
                                        dtype="Float64"))
    for name in param_names:
        col = rename[f"\0{name}"]
        frame[col] = _tidy_param(frame[col])
    return frame


def _type_columns(frame: pd.DataFrame, has_folds: bool) -> None:
    """Give the fixed columns their dtypes, in place."""
    for col in ("value", "duration_s", "started_at"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    for col in _INT_COLUMNS:
        frame[col] = pd.array(frame[col].to_list(), dtype="Int64")
    for col in (*_STR_COLUMNS, *([_FOLD_COLUMN] if has_folds else [])):
        frame[col] = frame[col].astype("string")
    for col in ("datetime_start", "datetime_complete"):
        frame[col] = pd.to_datetime(frame[col])


def _tidy_param(column: pd.Series) -> pd.Series:
    """A parameter column with a useful dtype: numbers numeric, words strings, mixed as objects."""
    values = column.dropna()
    if values.empty:
        return column
    if values.map(lambda v: isinstance(v, bool | np.bool_)).all():
        return column.astype("boolean")
    if values.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool)).all():
        if values.map(lambda v: isinstance(v, int)).all():
            return pd.Series(pd.array(column.to_list(), dtype="Int64"), index=column.index)
        return pd.to_numeric(column).astype("float64")
    if values.map(lambda v: isinstance(v, str)).all():
        return column.astype("string")
    return column.astype(object)  # e.g. weight_scale: "he" or 0.01


def intermediate_frame(study: Any) -> pd.DataFrame:
    """Every reported validation accuracy as a long table.

    Returns:
        Columns ``trial``, ``state``, ``epoch`` (1-based) and ``value``, sorted by trial and epoch.
    """
    rows = [(t.number, state_word(t), int(step), float(v))
            for t in _trials(study) for step, v in sorted(t.intermediate_values.items())]
    frame = pd.DataFrame(rows, columns=["trial", "state", "epoch", "value"])
    frame = frame.astype({"trial": "int64", "epoch": "int64", "value": "float64",
                          "state": "string"})
    return frame.sort_values(["trial", "epoch"], ignore_index=True)


def _trial_budget(row: pd.Series, budget_epochs: int | None) -> int | None:
    """The epochs a trial would have trained unpruned: its own num_epochs when known."""
    own = row.get("num_epochs")
    if ("num_iterations" in row and not pd.isna(row["num_iterations"])) or own is None \
            or pd.isna(own):
        return budget_epochs
    return int(own) if budget_epochs is None else min(int(own), budget_epochs)


def summary_facts(study: Any, config: Any = None) -> dict[str, Any]:
    """Headline numbers of a study.

    Args:
        study: an ``optuna.Study``.
        config: the ``StudyConfig`` (lets each pruned trial's own ``num_epochs`` be its budget).

    Returns:
        A dict with ``n_trials``, ``by_state`` (state -> count, every state listed),
        ``n_interrupted`` (failed as "interrupted" and re-enqueued), ``best_value``,
        ``best_trial``, ``wall_s`` (first start to last completion), ``cpu_s`` (summed trial
        durations), ``cpu_seconds`` (what the study spent, stored: trials x their CPUs, and
        evaluation; ``hpsearch.results.cpu_seconds``), ``trials_per_minute`` (finished trials
        per wall minute), ``budget_epochs``
        (the full per-trial budget; with k folds, k times one training), ``epochs_run`` (all
        trials), ``epochs_saved`` (epochs pruned trials did not run) and
        ``pruning_saved_share`` (``epochs_saved`` as a share of the full budget of the complete
        and pruned trials). Values that cannot be known yet are None.
    """
    frame = trials_frame(study, config)
    budget = study.user_attrs.get(A.STUDY_BUDGET_EPOCHS)
    budget = int(budget) if budget is not None else None
    folds = config.selection.folds if cross_validated(config) else 1  # a full trial: every fold
    best = best_trial(study)
    throughput = _throughput(frame)
    pruning = _pruning_saved(frame, budget, folds)
    return {
        "n_trials": len(frame),
        "by_state": count_states(_trials(study)),
        "n_interrupted": int((frame["failure_reason"] == A.REASON_INTERRUPTED).sum()),
        "best_value": None if best is None else accuracy(best),
        "best_trial": None if best is None else best.number,
        "wall_s": throughput["wall_s"],
        "cpu_s": float(frame["duration_s"].sum()),
        "cpu_seconds": cpu_seconds(study),
        "trials_per_minute": throughput["trials_per_minute"],
        "budget_epochs": None if budget is None else budget * folds,
        "epochs_run": int(frame["epochs_run"].sum()),
        **pruning,
    }


def _throughput(frame: pd.DataFrame) -> dict[str, float | None]:
    """``wall_s`` (first start to last finish) and finished ``trials_per_minute``."""
    out: dict[str, float | None] = {"wall_s": None, "trials_per_minute": None}
    finished = frame[frame["state"].isin(["complete", "pruned", "failed"])]
    if finished.empty:
        return out
    start, end = frame["datetime_start"].min(), finished["datetime_complete"].max()
    if not (pd.isna(start) or pd.isna(end)):
        out["wall_s"] = wall = float((end - start).total_seconds())
        if wall > 0:
            out["trials_per_minute"] = len(finished) / (wall / 60.0)
    return out


def _pruning_saved(frame: pd.DataFrame, budget: int | None, folds: int) -> dict[str, Any]:
    """``epochs_saved`` by pruning and ``pruning_saved_share`` of the full budget."""
    out: dict[str, Any] = {"epochs_saved": None, "pruning_saved_share": None}
    ran = frame[frame["state"].isin(["complete", "pruned"])]
    if budget is None or ran.empty:
        return out
    budgets = folds * ran.apply(_trial_budget, axis=1, budget_epochs=budget).astype("float64")
    epochs = ran["epochs_run"].astype("float64").fillna(budgets)
    pruned = (ran["state"] == "pruned").to_numpy()
    saved = float(np.clip(budgets - epochs, 0, None)[pruned].sum())
    total = float(budgets.sum())
    out["epochs_saved"] = int(saved)
    out["pruning_saved_share"] = saved / total if total > 0 else None
    return out


def grid_table(study: Any, config: Any) -> pd.DataFrame | None:
    """The grid's parameter values with their validation accuracy, best first.

    Args:
        study: an ``optuna.Study``.
        config: its ``StudyConfig``.

    Returns:
        For a grid study: one row per grid trial (columns: the grid's parameters, ``value``,
        ``state``, ``number``), sorted by value (best first; trials without a value, such as
        failed, running or still waiting ones, last). Trials failed as "interrupted" are left
        out: their parameters were enqueued again and appear as the re-run. None for studies
        that are not grids.
    """
    if config is None or config.sampler != "grid":
        return None
    from hpsearch.study import grid_search_space

    names = sorted(grid_search_space(config.space))
    frame = trials_frame(study, config)
    frame = frame[frame["failure_reason"].fillna("") != A.REASON_INTERRUPTED]
    for name in names:  # an empty or partly enqueued study may lack a column
        if name not in frame:
            frame = frame.assign(**{name: pd.NA})
    table = frame[[*names, "value", "state", "number"]]
    return table.sort_values(["value", "number"], ascending=[False, True], na_position="last",
                             ignore_index=True)
