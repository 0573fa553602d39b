"""The report's data, computed before anything is drawn: tables, facts and arrays, no matplotlib."""

from __future__ import annotations

import math
import platform
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from hpsearch import _attrs as A
from hpsearch.report._front import CostFront, cost_front
from hpsearch.results import (
    STATES,
    Setting,
    best_trial,
    comparison_settings,
    gap_table,
    grid_table,
    intermediate_frame,
    summary_facts,
    trials_frame,
    varied_params,
)

__all__ = ["Comparison", "CostFront", "StudySummary", "build_summary", "comparison_data"]

TOP_K = 10
_MAX_TILES = 64


@dataclass
class Comparison:
    """A comparison study's settings side by side (see ``hpsearch.results.is_comparison``).

    Attributes:
        settings: one per distinct parameter combination, in trial order.
        gap: ``hpsearch.results.gap_table`` of the settings.
        train_test: per setting, train and test loss and accuracy of the retrained model, as
            ``evaluate_settings`` stored them; None when not stored or not applicable.
        boundaries: the stored decision boundaries (``zz`` indexed like ``settings``), or None.
        notes: sentences saying what is left out and which command computes it.
    """

    settings: list[Setting]
    gap: pd.DataFrame
    train_test: pd.DataFrame | None = None
    boundaries: dict[str, np.ndarray] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class StudySummary:
    """Everything the report shows, as plain data.

    Attributes:
        name: the stored study name.
        description: the study file's description.
        metric: the metric maximized.
        dataset: dataset name.
        fingerprint: dataset fingerprint the study ran on.
        sampler: sampler name.
        pruner: pruner name.
        config_text: the study file as run, passwords in URLs redacted.
        config_path: where it was read from.
        versions: "as run" and "report" version tables.
        trials: ``trials_frame`` plus ``best_so_far``.
        intermediate: ``intermediate_frame``.
        facts: ``summary_facts``.
        searched: the searched parameters (those a trial sampled), in space order.
        log_params: searched parameters on a log scale.
        top: the top-k complete trials (number, value, searched parameters, epochs, seconds).
        grid: the grid table for grid studies, else None.
        grid_pivot: value by the two grid parameters, when the grid has exactly two.
        importances: parameter -> importance, or None (``importance_note`` says why).
        importance_note: why importances are missing.
        best_history: per-epoch loss / train_acc / val_acc of the best model, or None.
        best_history_source: where ``best_history`` came from.
        evaluation: the stored test evaluation, or None.
        weight_tiles: a mosaic of first-layer weights, (H, W) or (H, W, 3) in [0, 1], or None.
        boundary: mesh, predictions and data for a 2-D decision boundary, or None.
        comparison: a comparison study's settings side by side, or None.
        front: accuracy against cost (the study optimizes or selects by a cost), or None.
        occupancy: one row per timed trial (``study``, ``start``, ``end``, Unix seconds) of this
            study and of the other studies in its storage whose trials ran at the same time:
            how the cluster was shared.
        notes: sentences saying what is missing and why.
        generated: when the summary was made (UTC, ISO).
    """

    name: str
    description: str
    metric: str
    dataset: str
    fingerprint: str
    sampler: str
    pruner: str
    config_text: str
    config_path: str
    versions: dict[str, dict[str, str]]
    trials: pd.DataFrame
    intermediate: pd.DataFrame
    facts: dict[str, Any]
    searched: list[str]
    log_params: set[str]
    top: pd.DataFrame
    grid: pd.DataFrame | None = None
    grid_pivot: pd.DataFrame | None = None
    importances: dict[str, float] | None = None
    importance_note: str = ""
    best_history: dict[str, list[float]] | None = None
    best_history_source: str = ""
    evaluation: Any = None
    weight_tiles: np.ndarray | None = None
    boundary: dict[str, np.ndarray] | None = None
    comparison: Comparison | None = None
    front: CostFront | None = None
    occupancy: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["study", "start", "end"]))
    notes: list[str] = field(default_factory=list)
    generated: str = ""

    @property
    def complete(self) -> pd.DataFrame:
        """The complete trials."""
        return self.trials[self.trials["state"] == "complete"]


def _searched(study: Any, config: Any, trials: pd.DataFrame) -> tuple[list[str], set[str]]:
    names: dict[str, None] = {}
    for t in study.get_trials(deepcopy=False):
        names.update(dict.fromkeys(t.params))
    order = list(config.space) if config is not None else []
    searched = sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))
    log_params = set()
    for t in study.get_trials(deepcopy=False):
        for name, dist in t.distributions.items():
            if getattr(dist, "log", False):
                log_params.add(name)
    return [n for n in searched if n in trials.columns], log_params


def _with_best_so_far(trials: pd.DataFrame) -> pd.DataFrame:
    complete_values = trials["value"].where(trials["state"] == "complete")
    return trials.assign(best_so_far=complete_values.cummax())


def _top(trials: pd.DataFrame, searched: list[str]) -> pd.DataFrame:
    complete = trials[trials["state"] == "complete"]
    folds = ["fold_values"] if "fold_values" in trials else []
    columns = ["number", "value", *folds, *searched, "epochs_run", "duration_s"]
    return (complete.sort_values(["value", "number"], ascending=[False, True])
            .head(TOP_K)[columns].reset_index(drop=True))


def _grid_pivot(grid: pd.DataFrame | None, config: Any) -> pd.DataFrame | None:
    if grid is None:
        return None
    names = [c for c in grid.columns if c not in ("value", "state", "number")]
    if len(names) != 2:
        return None
    rows, cols = names
    return grid.pivot_table(index=rows, columns=cols, values="value", aggfunc="max")


def _importances(study: Any, trials: pd.DataFrame, searched: list[str]
                 ) -> tuple[dict[str, float] | None, str]:
    complete = trials[trials["state"] == "complete"]
    if len(complete) < 2:
        return None, (f"Parameter importances need at least 2 complete trials; this study has "
                      f"{len(complete)}.")
    varying = [n for n in searched if complete[n].astype(str).nunique() > 1]
    if not varying:
        return None, "Parameter importances need at least one parameter that varies."
    import optuna

    # Of accuracy, the first value (a multi-objective study's Optuna would refuse without it).
    target = (lambda t: t.values[0]) if len(study.directions) > 1 else None
    try:
        with warnings.catch_warnings():  # "few trials per regime": the figure's caption says so
            warnings.simplefilter("ignore", UserWarning)
            found = optuna.importance.get_param_importances(study, target=target)
    except (ValueError, RuntimeError) as exc:
        return None, f"Optuna could not compute parameter importances: {exc}"
    if not found:
        return None, "Optuna found no parameter shared by all complete trials to rank."
    return {k: float(v) for k, v in found.items()}, ""


def _occupancy(study: Any, trials: pd.DataFrame) -> pd.DataFrame:
    """This study's timed trials, and those of studies beside it that overlapped its run."""
    from hpsearch.storage import studies_beside

    timed = trials.dropna(subset=["started_at", "duration_s"])
    starts = timed["started_at"].to_numpy(dtype=float)
    ends = starts + timed["duration_s"].to_numpy(dtype=float)
    frames = [pd.DataFrame({"study": study.study_name, "start": starts, "end": ends})]
    if len(starts):
        first, last = float(starts.min()), float(ends.max())
        for other in studies_beside(study, started_before=last):
            spans = [(t.user_attrs.get(A.TRIAL_STARTED_AT), t.user_attrs.get(A.TRIAL_DURATION))
                     for t in other.get_trials(deepcopy=False)]
            spans = [(float(a), float(a) + float(d)) for a, d in spans
                     if a is not None and d is not None and a < last and a + d > first]
            if spans:
                frames.append(pd.DataFrame({"study": other.study_name,
                                            "start": [a for a, _ in spans],
                                            "end": [b for _, b in spans]}))
    return pd.concat(frames, ignore_index=True)


def _best_history(study: Any, evaluation: Any) -> tuple[dict[str, list[float]] | None, str]:
    if evaluation is not None and evaluation.retrained.history.get("loss"):
        return dict(evaluation.retrained.history), (
            f"the model retrained from trial {evaluation.trial.number} with seed "
            f"{evaluation.trial.seed}")
    trial = best_trial(study)
    if trial is None:
        return None, ""
    history = trial.user_attrs.get(A.TRIAL_HISTORY)
    if not history or not history.get("loss"):
        return None, ""
    return dict(history), f"trial {trial.number} as recorded during the search"


def _load_model(evaluation: Any) -> Any:
    if evaluation is None or evaluation.model_path is None:
        return None
    import netcore

    try:
        return netcore.load_model(evaluation.model_path)
    except (OSError, ValueError):
        return None


def _tiles(model: Any, image_shape: tuple[int, ...] | None) -> np.ndarray | None:
    """First-layer weights as one mosaic image: each unit's weights shown as an image tile."""
    if model is None or image_shape is None or "W1" not in model.params:
        return None
    w = np.asarray(model.params["W1"], dtype=np.float64)
    c, h, wd = (int(v) for v in image_shape)
    if w.ndim == 2 and w.shape[0] == c * h * wd:  # fully connected: (D, hidden)
        tiles = w.T[:_MAX_TILES].reshape(-1, c, h, wd)
    elif w.ndim == 4 and w.shape[1] == c:  # convolution: (F, C, k, k)
        tiles = w[:_MAX_TILES]
    else:
        return None
    tiles = tiles.transpose(0, 2, 3, 1)  # (n, h, w, C)
    low = tiles.min(axis=(1, 2, 3), keepdims=True)
    span = tiles.max(axis=(1, 2, 3), keepdims=True) - low
    tiles = (tiles - low) / np.where(span > 0, span, 1.0)
    n, th, tw, ch = tiles.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    pad = 1
    mosaic = np.ones((rows * (th + pad) + pad, cols * (tw + pad) + pad, ch))
    for i in range(n):
        r, k = divmod(i, cols)
        y0, x0 = pad + r * (th + pad), pad + k * (tw + pad)
        mosaic[y0:y0 + th, x0:x0 + tw] = tiles[i]
    return mosaic[..., 0] if ch == 1 else mosaic if ch == 3 else mosaic.mean(axis=2)


def _boundary(model: Any, dataset: Any) -> dict[str, np.ndarray] | None:
    """The stored best model's predicted class over the training and validation data's plane."""
    if model is None or dataset is None or tuple(dataset.input_shape) != (2,):
        return None
    from hpsearch.results import boundary_mesh

    return boundary_mesh([model], dataset)


_RUN_BEST = "run `hpsearch best` to compute them"


def comparison_data(study: Any, config: Any, stored: Any = None,
                    input_shape: tuple[int, ...] | None = None) -> Comparison | None:
    """The side-by-side data of a comparison study, or None for other studies.

    Args:
        study: the ``optuna.Study``.
        config: its ``StudyConfig``.
        stored: what ``evaluate_settings`` stored (``load_settings_evaluation``), or None.
        input_shape: the data's per-sample shape when known (says whether boundaries apply).

    Returns:
        The settings and their gap table from the stored trials, with the stored retrained
        results when they describe the same settings; notes say what is left out and why.
    """
    if config is None:
        return None
    settings = comparison_settings(study, config)
    if not settings:
        return None
    c = Comparison(settings, gap_table(settings))
    numbers = [s.number for s in settings]
    wanted = [what for what, applies in (
        ("decision boundaries", input_shape == (2,)),
        ("train and test scores", "augment" in varied_params(config.space))) if applies]
    if stored is None:
        if wanted:
            c.notes.append(f"The retrained settings' {' and '.join(wanted)} are not stored: "
                           f"{_RUN_BEST}.")
        return c
    fingerprint = study.user_attrs.get(A.STUDY_FINGERPRINT)
    if stored.trials != numbers or fingerprint not in (None, stored.dataset_fingerprint):
        c.notes.append(f"The stored retrained settings (trials {stored.trials}) are not this "
                       f"study's settings now (trials {numbers}) or its data; {_RUN_BEST} again.")
        return c
    c.boundaries = stored.boundaries
    if stored.train_test is not None:
        c.train_test = pd.DataFrame(stored.train_test)
    return c


def _versions(study: Any) -> dict[str, dict[str, str]]:
    import matplotlib
    import optuna

    import hpsearch

    as_run = {str(k): str(v) for k, v in (study.user_attrs.get(A.STUDY_VERSIONS) or {}).items()}
    now = {"hpsearch": hpsearch.__version__, "python": platform.python_version(),
           "numpy": np.__version__, "pandas": pd.__version__, "optuna": optuna.__version__,
           "matplotlib": matplotlib.__version__}
    return {"as run": as_run, "report": now}


def _state_notes(facts: dict[str, Any]) -> list[str]:
    """What the trials' states leave out of the report: none yet, none complete, still running."""
    notes = []
    by_state = facts["by_state"]
    if facts["n_trials"] == 0:
        notes.append("This study has no trials yet.")
    elif by_state["complete"] == 0:
        notes.append("No trial has completed yet"
                     + (f" ({by_state['failed']} failed, {by_state['pruned']} pruned)."
                        if by_state["failed"] or by_state["pruned"] else "."))
    if by_state["running"]:
        notes.append(f"The study is still running ({by_state['running']} trials in flight): "
                     "this report shows it as it was when the report was made.")
    return notes


def _shapes(evaluation: Any, dataset: Any) -> tuple[tuple[int, ...] | None,
                                                     tuple[int, ...] | None]:
    """(image_shape, input_shape) of the data, from the evaluation, else from the dataset."""
    retrained = evaluation.retrained if evaluation is not None else None
    image = retrained.image_shape if retrained is not None else None
    if not image and dataset is not None:
        image = dataset.image_shape
    shape = (retrained.input_shape if retrained is not None else
             dataset.input_shape if dataset is not None else None)
    return (tuple(image) if image else None), (tuple(shape) if shape is not None else None)


def _model_notes(evaluation: Any, model: Any, n_complete: int, input_shape: Any,
                 dataset: Any) -> list[str]:
    """What the figures drawn from the best model leave out, and why."""
    notes = []
    if evaluation is None and n_complete:
        notes.append("No test evaluation stored: run `hpsearch best` for the test accuracy, the "
                     "confusion matrix and the figures drawn from the best model.")
    elif evaluation is not None and model is None:
        notes.append("The best model's file could not be read; figures drawn from it are left "
                     "out.")
    if model is not None and input_shape == (2,) and dataset is None:
        notes.append("The data were not loaded, so the decision boundary is left out.")
    return notes


def _study_meta(study: Any, config: Any) -> dict[str, Any]:
    """The ``StudySummary`` fields that describe the study: as stored, else from its file."""
    from hpsearch.storage import redact

    attrs = study.user_attrs
    return {
        "name": study.study_name,
        "description": getattr(config, "description", "") or "",
        "metric": attrs.get(A.STUDY_METRIC, getattr(config, "metric", "val_accuracy")),
        "dataset": attrs.get(A.STUDY_DATASET, getattr(config, "dataset", "")),
        "fingerprint": attrs.get(A.STUDY_FINGERPRINT, ""),
        "sampler": attrs.get(A.STUDY_SAMPLER, getattr(config, "sampler", "")),
        "pruner": attrs.get(A.STUDY_PRUNER, getattr(config, "pruner", "")),
        "config_text": redact(attrs.get(A.STUDY_CONFIG_TEXT) or getattr(config, "text", "")),
        "config_path": redact(str(attrs.get(A.STUDY_CONFIG_PATH)
                                  or getattr(config, "source", "") or "")),
        "versions": _versions(study),
    }


def build_summary(study: Any, config: Any, *, dataset: Any = None, evaluation: Any = None,
                  settings: Any = None) -> StudySummary:
    """Compute everything the report shows.

    Args:
        study: the ``optuna.Study`` (finished, running, failed or empty).
        config: its ``StudyConfig``.
        dataset: the loaded dataset, for the decision boundary of 2-D data (optional).
        evaluation: the stored test evaluation (optional; model figures need it).
        settings: a comparison study's stored retrained settings (``load_settings_evaluation``;
            optional).

    Returns:
        The summary; ``notes`` says what could not be shown and why.
    """
    trials = _with_best_so_far(trials_frame(study, config))
    facts = summary_facts(study, config)
    searched, log_params = _searched(study, config, trials)
    notes = _state_notes(facts)
    importances, importance_note = _importances(study, trials, searched)
    if importance_note and facts["n_trials"]:
        notes.append(importance_note)
    best_history, source = _best_history(study, evaluation)
    model = _load_model(evaluation)
    image_shape, input_shape = _shapes(evaluation, dataset)
    notes += _model_notes(evaluation, model, facts["by_state"]["complete"], input_shape, dataset)
    grid = grid_table(study, config)
    front = cost_front(study, config, trials, searched, evaluation=evaluation, dataset=dataset)
    notes += front.notes if front is not None else []
    return StudySummary(
        **_study_meta(study, config),
        trials=trials,
        intermediate=intermediate_frame(study),
        facts=facts,
        searched=searched,
        log_params=log_params,
        top=_top(trials, searched),
        grid=grid,
        grid_pivot=_grid_pivot(grid, config),
        importances=importances,
        importance_note=importance_note,
        best_history=best_history,
        best_history_source=source,
        evaluation=evaluation,
        weight_tiles=_tiles(model, image_shape),
        boundary=_boundary(model, dataset),
        comparison=comparison_data(study, config, settings, input_shape),
        front=front,
        occupancy=_occupancy(study, trials),
        notes=notes,
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def state_order() -> list[str]:
    """Trial states in the order reports list them."""
    return list(STATES.values())
