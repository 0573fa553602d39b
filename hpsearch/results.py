"""A stored study as pandas tables: one row per trial, learning curves, summary facts, exports.

Everything here reads the study (any Optuna storage) and never writes to it, so it works on a
finished study, on one a driver is still running, and on an empty one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpsearch import _attrs as A

__all__ = [
    "STATES",
    "export_tables",
    "grid_table",
    "intermediate_frame",
    "param_columns",
    "summary_facts",
    "trials_frame",
]

# Optuna state name -> the word the tables use, in the order reports list them.
STATES: dict[str, str] = {
    "COMPLETE": "complete",
    "PRUNED": "pruned",
    "FAIL": "failed",
    "RUNNING": "running",
    "WAITING": "waiting",
}

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
_INT_COLUMNS = ("number", "epochs_run", "seed", "pruned_at_epoch", "retry_of")
_STR_COLUMNS = ("state", "node", "dataset_fingerprint", "failure_reason")


def _trials(study: Any) -> list[Any]:
    return list(study.get_trials(deepcopy=False))


def _resolved(params: Mapping[str, Any], config: Any) -> dict[str, Any]:
    if config is None:
        return dict(params)
    from hpsearch.space import resolve_params

    return resolve_params(params, config.space)


def param_columns(frame: pd.DataFrame) -> list[str]:
    """The parameter columns of a ``trials_frame`` (everything between the fixed columns)."""
    return [c for c in frame.columns if c not in _LEADING and c not in _TRAILING]


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
        ``datetime_complete``. Missing values are NA.
    """
    rows = []
    param_names: dict[str, None] = {}  # ordered set: first appearance wins
    for trial in _trials(study):
        if trial.state.name == "WAITING":  # not sampled yet: only what was enqueued is known
            params = dict(trial.system_attrs.get("fixed_params", {}))
        else:
            params = _resolved(trial.params, config)
        param_names.update(dict.fromkeys(params))
        attrs = trial.user_attrs
        row = {"number": trial.number, "state": STATES.get(trial.state.name,
                                                           trial.state.name.lower()),
               "value": trial.value, **{f"\0{k}": v for k, v in params.items()}}
        row.update({col: attrs.get(key) for col, key in _ATTR_COLUMNS.items()})
        row["datetime_start"] = trial.datetime_start
        row["datetime_complete"] = trial.datetime_complete
        rows.append(row)
    # Parameter names are kept apart with a NUL prefix until the end, so a parameter can never
    # overwrite a fixed column (or the other way round).
    clash = {name for name in param_names if name in _LEADING or name in _TRAILING}
    rename = {f"\0{n}": (f"param_{n}" if n in clash else n) for n in param_names}
    columns = [*_LEADING, *(f"\0{n}" for n in param_names), *_TRAILING]
    # Object dtype first, so ints with gaps stay ints (Int64) instead of turning into floats.
    frame = pd.DataFrame(rows, columns=columns, dtype=object).rename(columns=rename)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    for col in ("duration_s", "started_at"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    for col in _INT_COLUMNS:
        frame[col] = pd.array(frame[col].to_list(), dtype="Int64")
    for col in _STR_COLUMNS:
        frame[col] = frame[col].astype("string")
    for col in ("datetime_start", "datetime_complete"):
        frame[col] = pd.to_datetime(frame[col])
    for name in param_names:
        col = rename[f"\0{name}"]
        frame[col] = _tidy_param(frame[col])
    return frame


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
    rows = [(t.number, STATES.get(t.state.name, t.state.name.lower()), int(step), float(v))
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
        durations), ``trials_per_minute`` (finished trials per wall minute), ``budget_epochs``
        (the full per-trial budget), ``epochs_run`` (all trials), ``epochs_saved`` (epochs pruned
        trials did not run) and ``pruning_saved_share`` (``epochs_saved`` as a share of the full
        budget of the complete and pruned trials). Values that cannot be known yet are None.
    """
    frame = trials_frame(study, config)
    budget = study.user_attrs.get(A.STUDY_BUDGET_EPOCHS)
    budget = int(budget) if budget is not None else None
    counts = frame["state"].value_counts()
    by_state = {state: int(counts.get(state, 0)) for state in STATES.values()}
    complete = frame[frame["state"] == "complete"]
    finished = frame[frame["state"].isin(["complete", "pruned", "failed"])]
    facts: dict[str, Any] = {
        "n_trials": len(frame),
        "by_state": by_state,
        "n_interrupted": int((frame["failure_reason"] == A.REASON_INTERRUPTED).sum()),
        "best_value": None,
        "best_trial": None,
        "wall_s": None,
        "cpu_s": float(frame["duration_s"].sum()),
        "trials_per_minute": None,
        "budget_epochs": budget,
        "epochs_run": int(frame["epochs_run"].sum()),
        "epochs_saved": None,
        "pruning_saved_share": None,
    }
    if not complete.empty:
        best = complete.sort_values(["value", "number"], ascending=[False, True]).iloc[0]
        facts["best_value"], facts["best_trial"] = float(best["value"]), int(best["number"])
    if not finished.empty:
        start, end = frame["datetime_start"].min(), finished["datetime_complete"].max()
        if not (pd.isna(start) or pd.isna(end)):
            facts["wall_s"] = float((end - start).total_seconds())
            if facts["wall_s"] > 0:
                facts["trials_per_minute"] = len(finished) / (facts["wall_s"] / 60.0)
    ran = frame[frame["state"].isin(["complete", "pruned"])]
    if budget is not None and not ran.empty:
        budgets = ran.apply(_trial_budget, axis=1, budget_epochs=budget).astype("float64")
        epochs = ran["epochs_run"].astype("float64").fillna(budgets)
        pruned = (ran["state"] == "pruned").to_numpy()
        saved = float(np.clip(budgets - epochs, 0, None)[pruned].sum())
        total = float(budgets.sum())
        facts["epochs_saved"] = int(saved)
        facts["pruning_saved_share"] = saved / total if total > 0 else None
    return facts


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
    from hpsearch.space import grid_search_space

    names = sorted(grid_search_space(config.space))
    frame = trials_frame(study, config)
    frame = frame[frame["failure_reason"].fillna("") != A.REASON_INTERRUPTED]
    for name in names:  # an empty or partly enqueued study may lack a column
        if name not in frame:
            frame = frame.assign(**{name: pd.NA})
    table = frame[[*names, "value", "state", "number"]]
    return table.sort_values(["value", "number"], ascending=[False, True], na_position="last",
                             ignore_index=True)


def export_tables(study: Any, out_dir: str | Path, config: Any = None) -> dict[str, Path]:
    """Write ``trials.csv``, ``trials.parquet`` and ``intermediate.csv`` under ``out_dir``.

    Returns:
        File kind -> path written (keys ``trials_csv``, ``trials_parquet``,
        ``intermediate_csv``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = trials_frame(study, config)
    paths = {"trials_csv": out / "trials.csv", "trials_parquet": out / "trials.parquet",
             "intermediate_csv": out / "intermediate.csv"}
    frame.to_csv(paths["trials_csv"], index=False)
    # Parquet needs one type per column: a mixed parameter ("he" or 0.01) is stored as text.
    mixed = [c for c in frame.columns if frame[c].dtype == object]
    frame.astype(dict.fromkeys(mixed, "string")).to_parquet(paths["trials_parquet"],
                                                             index=False)
    intermediate_frame(study).to_csv(paths["intermediate_csv"], index=False)
    return paths

