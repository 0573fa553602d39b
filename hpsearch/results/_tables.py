"""A stored study as pandas tables: one row per trial, learning curves, summary facts, exports.

Everything here reads the study (any Optuna storage) and never writes to it, so it works on a
finished study, on one a driver is still running, and on an empty one. ``best_trial`` is the one
definition of "the best trial" that the engine, the CLI, evaluation and reports share; comparison
studies (a few explicit settings side by side) are described here as data too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hpsearch import _attrs as A
from hpsearch._files import atomic_path

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

__all__ = [
    "MAX_SETTINGS",
    "STATES",
    "TRIAL_FOLD_VALUES",
    "Selection",
    "Setting",
    "best_trial",
    "comparison_settings",
    "export_tables",
    "fold_values",
    "gap_table",
    "grid_table",
    "intermediate_frame",
    "is_comparison",
    "param_columns",
    "selection",
    "summary_facts",
    "trials_frame",
    "varied_params",
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
# A cross-validated trial's per-fold validation accuracies (trial user attribute, a list).
TRIAL_FOLD_VALUES = A.TRIAL_FOLD_VALUES  # kept here too: readers of the trials table use it
_FOLD_COLUMN = "fold_values"  # trials table column: "0.9800 0.9733 ..." (cross-validated studies)
_INT_COLUMNS = ("number", "epochs_run", "seed", "pruned_at_epoch", "retry_of")
_STR_COLUMNS = ("state", "node", "dataset_fingerprint", "failure_reason")


#: Most combinations a study may have and still be shown as a side-by-side comparison.
MAX_SETTINGS = 8


def _trials(study: Any) -> list[Any]:
    return list(study.get_trials(deepcopy=False))


def best_trial(study: Any) -> FrozenTrial | None:
    """The best complete trial: highest value, ties broken by the lowest trial number.

    The one definition every part of hpsearch uses (engine, CLI, evaluation, reports).

    Args:
        study: an ``optuna.Study`` (any storage, maximizing its metric).

    Returns:
        The ``optuna.trial.FrozenTrial``, or None when no trial has completed.
    """
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return min(complete, key=lambda t: (-t.value, t.number), default=None)


def _resolved(params: Mapping[str, Any], config: Any) -> dict[str, Any]:
    if config is None:
        return dict(params)
    from hpsearch.study import resolve_params

    return resolve_params(params, config.space)


def param_columns(frame: pd.DataFrame) -> list[str]:
    """The parameter columns of a ``trials_frame`` (everything between the fixed columns)."""
    return [c for c in frame.columns
            if c not in _LEADING and c not in _TRAILING and c != _FOLD_COLUMN]


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
        fold's validation accuracy, space-separated, in fold order.
    """
    from hpsearch.storage import enqueued_params

    rows = []
    param_names: dict[str, None] = {}  # ordered set: first appearance wins
    for trial in _trials(study):
        if trial.state.name == "WAITING":  # not sampled yet: only what was enqueued is known
            params = enqueued_params(trial)
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
        folds = fold_values(trial, config)
        row[_FOLD_COLUMN] = (" ".join(f"{v:.4f}" for v in folds) if folds
                             else None)
        rows.append(row)
    # Parameter names are kept apart with a NUL prefix until the end, so a parameter can never
    # overwrite a fixed column (or the other way round).
    clash = {name for name in param_names if name in _LEADING or name in _TRAILING}
    rename = {f"\0{n}": (f"param_{n}" if n in clash else n) for n in param_names}
    has_folds = any(row[_FOLD_COLUMN] is not None for row in rows) or _cross_validated(config)
    leading = [*_LEADING, _FOLD_COLUMN] if has_folds else _LEADING
    columns = [*leading, *(f"\0{n}" for n in param_names), *_TRAILING]
    # Object dtype first, so ints with gaps stay ints (Int64) instead of turning into floats.
    frame = pd.DataFrame(rows, columns=columns, dtype=object).rename(columns=rename)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    for col in ("duration_s", "started_at"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    for col in _INT_COLUMNS:
        frame[col] = pd.array(frame[col].to_list(), dtype="Int64")
    for col in (*_STR_COLUMNS, *([_FOLD_COLUMN] if has_folds else [])):
        frame[col] = frame[col].astype("string")
    for col in ("datetime_start", "datetime_complete"):
        frame[col] = pd.to_datetime(frame[col])
    for name in param_names:
        col = rename[f"\0{name}"]
        frame[col] = _tidy_param(frame[col])
    return frame


def _cross_validated(config: Any) -> bool:
    selection_ = getattr(config, "selection", None)
    return bool(selection_ is not None and selection_.cross_validated)


def fold_values(trial: Any, config: Any = None) -> list[float] | None:
    """A trial's per-fold validation accuracies, in fold order, or None on a single split.

    Read from the trial's ``fold_values`` attribute, or, for a cross-validated study (``config``
    given), from its reported steps (fold k is step k).
    """
    stored = trial.user_attrs.get(TRIAL_FOLD_VALUES)
    if stored is not None:
        return [float(v) for v in stored]
    if _cross_validated(config) and trial.intermediate_values:
        return [float(v) for _, v in sorted(trial.intermediate_values.items())]
    return None


@dataclass(frozen=True)
class Selection:
    """The chosen configuration's estimate, its uncertainty, and the trials tied with it.

    Attributes:
        trial: the chosen (best) trial's number.
        estimate: its value: the mean over folds, or the one validation split's accuracy.
        low: lower end of a 95% interval for the estimate (None when it cannot be known).
        high: upper end.
        basis: what the interval rests on, in words.
        fold_values: its per-fold values (empty on one split).
        tied: numbers of the complete trials not significantly worse than it (one-sided 5%
            test: paired over folds with cross-validation, two proportions on one split), best
            first, the chosen trial excluded.
    """

    trial: int
    estimate: float
    low: float | None
    high: float | None
    basis: str
    fold_values: tuple[float, ...] = ()
    tied: tuple[int, ...] = ()


def selection(study: Any, config: Any = None, n_val: int | None = None) -> Selection | None:
    """How sure the search is of its choice: the estimate's interval and the statistical ties.

    With cross-validation the interval is the fold mean ± t(k-1) x the standard error of the
    folds' spread, and a trial is tied when a one-sided paired t-test over the folds does not
    find it worse (p >= 0.05). On one validation split of ``n_val`` examples the interval is the
    binomial normal approximation and a trial is tied when a one-sided two-proportion z-test
    does not find it worse; without ``n_val`` neither is known.

    Returns:
        None when no trial has completed.
    """
    from optuna.trial import TrialState
    from scipy import stats

    best = best_trial(study)
    if best is None:
        return None
    complete = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)),
                      key=lambda t: (-t.value, t.number))
    folds = fold_values(best, config)
    p = float(best.value)
    tied: list[int] = []
    if folds and len(folds) >= 2:
        k = len(folds)
        se = float(np.std(folds, ddof=1) / math.sqrt(k))
        half = float(stats.t.ppf(0.975, k - 1)) * se
        low, high = p - half, min(1.0, p + half)
        basis = f"mean of {k} folds ± t({k - 1}) x SE of their spread"
        crit = float(stats.t.ppf(0.95, k - 1))
        for t in complete:
            other = fold_values(t, config)
            if t.number == best.number or not other or len(other) != k:
                continue
            d = np.asarray(folds) - np.asarray(other)
            se_d = float(np.std(d, ddof=1) / math.sqrt(k))
            if d.mean() <= 0 or (se_d > 0 and d.mean() < crit * se_d):
                tied.append(t.number)
    elif n_val:
        half = 1.96 * math.sqrt(p * (1 - p) / n_val)
        low, high = max(0.0, p - half), min(1.0, p + half)
        basis = f"one validation split of {n_val} examples (binomial)"
        for t in complete:
            if t.number == best.number:
                continue
            q = float(t.value)
            se_d = math.sqrt((p * (1 - p) + q * (1 - q)) / n_val)
            if p - q <= 0 or (se_d > 0 and p - q < 1.645 * se_d):
                tied.append(t.number)
    else:
        low = high = None
        basis = "one validation split (size unknown)"
    return Selection(best.number, p, low, high, basis, tuple(folds or ()), tuple(tied))


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
        (the full per-trial budget; with k folds, k times one training), ``epochs_run`` (all
        trials), ``epochs_saved`` (epochs pruned trials did not run) and
        ``pruning_saved_share`` (``epochs_saved`` as a share of the full budget of the complete
        and pruned trials). Values that cannot be known yet are None.
    """
    frame = trials_frame(study, config)
    budget = study.user_attrs.get(A.STUDY_BUDGET_EPOCHS)
    budget = int(budget) if budget is not None else None
    folds = config.selection.folds if _cross_validated(config) else 1  # a full trial: every fold
    counts = frame["state"].value_counts()
    by_state = {state: int(counts.get(state, 0)) for state in STATES.values()}
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
        "budget_epochs": None if budget is None else budget * folds,
        "epochs_run": int(frame["epochs_run"].sum()),
        "epochs_saved": None,
        "pruning_saved_share": None,
    }
    best = best_trial(study)
    if best is not None:
        facts["best_value"], facts["best_trial"] = float(best.value), best.number
    if not finished.empty:
        start, end = frame["datetime_start"].min(), finished["datetime_complete"].max()
        if not (pd.isna(start) or pd.isna(end)):
            facts["wall_s"] = float((end - start).total_seconds())
            if facts["wall_s"] > 0:
                facts["trials_per_minute"] = len(finished) / (facts["wall_s"] / 60.0)
    ran = frame[frame["state"].isin(["complete", "pruned"])]
    if budget is not None and not ran.empty:
        budgets = folds * ran.apply(_trial_budget, axis=1,
                                    budget_epochs=budget).astype("float64")
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


# --- comparison studies ---------------------------------------------------------------------------


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
        params = _resolved(t.params, config)
        key = tuple(params[n] for n in varied)
        label = ", ".join(f"{n}={_fmt(params[n])}" for n in varied)
        latest[key] = Setting(label, t.number, float(t.value), int(t.user_attrs[A.TRIAL_SEED]),
                              params, {k: list(v) for k, v in history.items()})
    return sorted(latest.values(), key=lambda s: s.number)


def gap_table(settings: list[Setting]) -> pd.DataFrame:
    """Per setting: train and validation accuracy at its best validation epoch, and the gap."""
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


def export_tables(study: Any, out_dir: str | Path, config: Any = None) -> dict[str, Path]:
    """Write ``trials.csv``, ``trials.parquet`` and ``intermediate.csv`` under ``out_dir``.

    Each file is written whole or not at all (a temporary name renamed into place).

    Returns:
        File kind -> path written (keys ``trials_csv``, ``trials_parquet``,
        ``intermediate_csv``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = trials_frame(study, config)
    paths = {"trials_csv": out / "trials.csv", "trials_parquet": out / "trials.parquet",
             "intermediate_csv": out / "intermediate.csv"}
    # Parquet needs one type per column: a mixed parameter ("he" or 0.01) is stored as text.
    mixed = [c for c in frame.columns if frame[c].dtype == object]
    writes = {"trials_csv": lambda p: frame.to_csv(p, index=False),
              "trials_parquet": lambda p: frame.astype(dict.fromkeys(mixed, "string"))
              .to_parquet(p, index=False),
              "intermediate_csv": lambda p: intermediate_frame(study).to_csv(p, index=False)}
    for kind, write in writes.items():
        with atomic_path(paths[kind]) as tmp:
            write(tmp)
    return paths

