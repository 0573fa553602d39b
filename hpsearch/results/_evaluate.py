"""Retrained models, scored once: the best configuration, and the settings of comparison studies.

``evaluate_best`` retrains the best complete trial's configuration with its recorded seed and
scores it on the test split; ``evaluate_settings`` retrains each setting of a comparison study
(see ``hpsearch.results._tables.is_comparison``) and stores what the report shows of them: decision
boundaries on 2-D data, and, when ``augment`` is varied, train and test loss and accuracy. Both
run as explicit steps (at the end of a run, or by ``hpsearch best``) and store their results under
the run folder; reports only read them.

The search never sees the test split. This module is the only place that reads it, and
``_score_on_test`` is the only function here that does: once per ``evaluate_best`` call (the best
configuration and any extra seeds together) and once per ``evaluate_settings`` call that varies
``augment`` (every setting together).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch import _attrs as A
from hpsearch._files import atomic_path, atomic_write_text

__all__ = [
    "Evaluation",
    "EvaluationError",
    "SettingsEvaluation",
    "boundary_mesh",
    "evaluate_best",
    "evaluate_settings",
    "extra_seed",
    "load_ensemble",
    "load_evaluation",
    "load_settings_evaluation",
]

_BEST_DIR = "best"
_MODEL_FILE = "model.npz"
_ENSEMBLE_DIR = "ensemble"  # best/ensemble/trial-<n>.npz: the other members of the ensemble
_METRICS_FILE = "metrics.json"
_SETTINGS_DIR = "settings"
_SETTINGS_FILE = "settings.json"
_BOUNDARIES_FILE = "boundaries.npz"
_MESH = 150  # decision-boundary mesh points per axis
_SCORE_CHUNK = 2000  # rows scored per forward pass (bounds activation memory on CIFAR-sized data)


class EvaluationError(ValueError):
    """The best configuration cannot be evaluated (no complete trial, different data, ...)."""


@dataclass
class Evaluation:
    """Test-set metrics of the best configuration, as stored in ``best/metrics.json``.

    Attributes:
        study: study name.
        trial_number: the best trial's number.
        val_accuracy: the best trial's validation accuracy during the search.
        retrained_val_accuracy: best validation accuracy of the retrained model (equal to
            ``val_accuracy`` when the retraining reproduces the trial, on train alone).
        seed: the seed the model was retrained with (the trial's own).
        params: the resolved parameters it trained with.
        train_on_val: whether the retraining also used the validation split.
        dataset_fingerprint: fingerprint of the data it was trained and tested on.
        n_test: test examples.
        test_accuracy: accuracy on the test split.
        ci_low: lower end of the 95% bootstrap confidence interval of ``test_accuracy``.
        ci_high: upper end.
        n_bootstrap: bootstrap resamples behind the interval.
        class_names: one name per class.
        per_class_accuracy: recall of each class on the test split (None for a class absent
            from it).
        confusion_matrix: ``[true][predicted]`` counts.
        history: the retrained model's per-epoch ``loss``, ``train_acc``, ``val_acc``.
        input_shape: per-sample shape the model sees.
        image_shape: ``(C, H, W)`` for image data, else None.
        extra_seeds: ``[{"seed", "test_accuracy"}, ...]`` for the further seeds.
        seed_mean: mean test accuracy over the trial's seed and the extra seeds (None without
            extra seeds).
        seed_std: their standard deviation (ddof=1).
        refit: the model was retrained on all non-test data and kept at its last epoch
            (``[selection] refit``), as scikit-learn's ``GridSearchCV`` refits.
        estimate: what the search promised: the chosen trial's value (its mean over folds
            with cross-validation).
        estimate_low: lower end of the estimate's 95% interval (``hpsearch.results._tables.selection``).
        estimate_high: upper end.
        estimate_from: what the estimate and its interval rest on, in words.
        fold_values: the chosen trial's per-fold validation accuracies (empty on one split).
        n_tied: complete trials statistically tied with the chosen one (itself excluded).
        gap: ``test_accuracy - estimate`` (negative: the search promised more than the test gave).
        ensemble_trials: the trials whose refit models were averaged (``[selection] ensemble``;
            empty without an ensemble).
        ensemble_test_accuracy: the averaged probabilities' accuracy on the test split.
        ensemble_ci_low: its 95% bootstrap interval.
        ensemble_ci_high: upper end.
        ensemble_estimate: what cross-validation promised for the ensemble: the accuracy of the
            members' averaged out-of-fold probabilities over all non-test rows (each row
            predicted by fold models that never trained on it). None without cross-validation,
            or when a member has no stored out-of-fold probabilities (trials of an older run).
        ensemble_estimate_low: its 95% bootstrap interval over those rows.
        ensemble_estimate_high: upper end.
        ensemble_gap: ``ensemble_test_accuracy - ensemble_estimate``.
        ensemble_models: the ensemble's model files, relative to ``best/``, in the order of
            ``ensemble_trials`` (the first is ``model.npz``); ``load_ensemble`` loads them.
        created: ISO time of the evaluation.
        model_path: where the model was saved (not stored in the JSON; set on load).
    """

    study: str
    trial_number: int
    val_accuracy: float
    retrained_val_accuracy: float
    seed: int
    params: dict[str, Any]
    train_on_val: bool
    dataset_fingerprint: str
    n_test: int
    test_accuracy: float
    ci_low: float
    ci_high: float
    n_bootstrap: int
    class_names: list[str]
    per_class_accuracy: list[float | None]
    confusion_matrix: list[list[int]]
    history: dict[str, list[float]]
    input_shape: list[int]
    image_shape: list[int] | None = None
    extra_seeds: list[dict[str, Any]] = field(default_factory=list)
    seed_mean: float | None = None
    seed_std: float | None = None
    refit: bool = False
    estimate: float | None = None
    estimate_low: float | None = None
    estimate_high: float | None = None
    estimate_from: str = ""
    fold_values: list[float] = field(default_factory=list)
    n_tied: int | None = None
    gap: float | None = None
    ensemble_trials: list[int] = field(default_factory=list)
    ensemble_test_accuracy: float | None = None
    ensemble_ci_low: float | None = None
    ensemble_ci_high: float | None = None
    ensemble_estimate: float | None = None
    ensemble_estimate_low: float | None = None
    ensemble_estimate_high: float | None = None
    ensemble_gap: float | None = None
    ensemble_models: list[str] = field(default_factory=list)
    created: str = ""
    model_path: Path | None = None

    def summary(self) -> str:
        """One line: test accuracy with its interval, and the spread over seeds when known."""
        text = (f"{self.test_accuracy:.4f} (95% CI {self.ci_low:.4f}-{self.ci_high:.4f}, "
                f"n={self.n_test}) for trial {self.trial_number} "
                f"(val acc {self.val_accuracy:.4f}, seed {self.seed})")
        if self.seed_mean is not None:
            text += (f"; over {len(self.extra_seeds) + 1} seeds {self.seed_mean:.4f} "
                     f"± {self.seed_std:.4f}")
        if self.estimate is not None and self.gap is not None:
            text += (f"; estimated {self.estimate:.4f} ({self.estimate_low:.4f}-"
                     f"{self.estimate_high:.4f}), gap {self.gap:+.4f}")
        if self.ensemble_test_accuracy is not None:
            text += (f"; ensemble of {len(self.ensemble_trials)}: "
                     f"{self.ensemble_test_accuracy:.4f}")
            if self.ensemble_estimate is not None and self.ensemble_gap is not None:
                text += (f" (estimated {self.ensemble_estimate:.4f} out of fold, "
                         f"gap {self.ensemble_gap:+.4f})")
        return text

    def to_json(self) -> dict[str, Any]:
        """The JSON-able content of ``metrics.json``."""
        data = asdict(self)
        data.pop("model_path")
        return data


def _best_trial(study: Any) -> Any:
    from hpsearch.results._tables import best_trial

    best = best_trial(study)
    if best is None:
        raise EvaluationError(f"study {study.study_name!r} has no complete trial to evaluate; "
                              "run more trials (failed and pruned ones have no final result)")
    return best


def extra_seed(seed: int, k: int) -> int:
    """The k-th further seed (k = 1, 2, ...) derived from a trial seed."""
    return int(np.random.SeedSequence([seed, k]).generate_state(1)[0])


def _training_data(dataset: Any, train_on_val: bool) -> dict[str, np.ndarray]:
    if not train_on_val:
        return dataset.as_solver_data()
    # The validation rows join the training rows; the Solver still reports on them (no longer a
    # held-out measure), and the test split stays untouched until the one scoring call.
    return {"X_train": np.concatenate([dataset.X_train, dataset.X_val]),
            "y_train": np.concatenate([dataset.y_train, dataset.y_val]),
            "X_val": dataset.X_val, "y_val": dataset.y_val}


def _fit(params: Mapping[str, Any], dataset: Any, seed: int,
         data: Mapping[str, np.ndarray] | None = None, keep: str = "best") -> tuple[Any, Any]:
    """(model, solver) trained exactly as the search's worker trains ``params`` with ``seed``."""
    from hpsearch.training import fit

    return fit(params, data if data is not None else dataset.as_solver_data(),
               tuple(dataset.input_shape), dataset.num_classes, seed,
               image_shape=dataset.image_shape, keep=keep)


def _ensemble_members(study: Any, best: Any, size: int) -> list[Any]:
    """The next ``size - 1`` complete trials after ``best``, highest value first.

    Ties go to the lower trial number; a trial whose parameters repeat one already taken is
    skipped.
    """
    from optuna.trial import TrialState

    if size <= 1:
        return []
    ranked = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)),
                    key=lambda t: (-t.value, t.number))
    taken, members = [best.params], []
    for trial in ranked:
        if len(members) == size - 1:
            break
        if trial.params in taken or A.TRIAL_SEED not in trial.user_attrs:
            continue
        taken.append(trial.params)
        members.append(trial)
    return members


def _ensemble_estimate(dataset: Any, trials: Sequence[Any], n_bootstrap: int,
                       seed: int) -> tuple[float, float, float] | None:
    """(accuracy, low, high) of the trials' averaged out-of-fold probabilities, or None.

    The rows are train + validation, in the order the folds index them; the test split is not
    read. None when a trial kept no probabilities or they do not match the data.
    """
    from hpsearch.storage import oof_probs

    y = np.concatenate([dataset.y_train, dataset.y_val])
    probs = [oof_probs(t) for t in trials]
    if any(p is None or p.shape != (len(y), dataset.num_classes) for p in probs):
        return None
    correct = (np.mean(probs, axis=0).argmax(axis=1) == y).astype(np.float64)
    low, high = _bootstrap_ci(correct, n_bootstrap, seed)
    return float(correct.mean()), low, high


def _score_on_test(models: Sequence[Any], dataset: Any,
                   measure: Callable[[Any, np.ndarray, np.ndarray], Any]) -> list[Any]:
    """The one place the test split is read: ``measure(model, X_test, y_test)`` for each model."""
    X_test, y_test = dataset.X_test, dataset.y_test
    return [measure(m, X_test, y_test) for m in models]


def _predictions(model: Any, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, predicted classes)."""
    return np.asarray(y), np.asarray(model.predict(X))


def _predictions_and_probabilities(model: Any, X: np.ndarray,
                                   y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, predicted classes, (N, num_classes) softmax probabilities), in test mode."""
    from hpsearch.training import predict_proba

    probs = predict_proba(model, X)
    return np.asarray(y), probs.argmax(axis=1), probs


def _loss_and_accuracy(model: Any, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean softmax data loss (no L2 term) and accuracy, in test mode (no dropout)."""
    from netcore.losses import softmax_loss

    total_loss, correct = 0.0, 0
    for start in range(0, len(X), _SCORE_CHUNK):
        xb, yb = X[start:start + _SCORE_CHUNK], y[start:start + _SCORE_CHUNK]
        scores = np.asarray(model.loss(xb), dtype=np.float64)  # (n, num_classes)
        loss, _ = softmax_loss(scores, yb)
        total_loss += float(loss) * len(xb)
        correct += int((scores.argmax(axis=1) == yb).sum())
    return total_loss / len(X), correct / len(X)


def _bootstrap_ci(correct: np.ndarray, n_bootstrap: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of the mean of ``correct`` over seeded resamples."""
    rng = np.random.default_rng(seed)
    n = len(correct)
    means = np.empty(n_bootstrap)
    per_block = max(1, (4 << 20) // max(n, 1))  # bound memory: ~4M indices at once
    for start in range(0, n_bootstrap, per_block):
        k = min(per_block, n_bootstrap - start)
        means[start:start + k] = correct[rng.integers(0, n, size=(k, n))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def _check_dataset(study: Any, dataset: Any) -> None:
    stored = study.user_attrs.get(A.STUDY_FINGERPRINT)
    if stored is not None and stored != dataset.fingerprint:
        raise EvaluationError(
            f"study {study.study_name!r} was searched on dataset {stored} but the data now loads "
            f"as {dataset.fingerprint}; a test score on other data would not describe this "
            "search. Restore the data or options the study ran with")


def evaluate_best(study: Any, config: Any, dataset: Any, out_dir: str | Path, *,
                  extra_seeds: int = 0, train_on_val: bool = False,
                  n_bootstrap: int = 1000) -> Evaluation:
    """Retrain the best complete trial's configuration and score it on the test split once.

    Args:
        study: the ``optuna.Study``.
        config: its ``StudyConfig`` (fixed parameters come from its space).
        dataset: the ``Dataset`` the study searched on (same fingerprint).
        out_dir: the study's run folder; ``best/model.npz`` and ``best/metrics.json`` go there.
        extra_seeds: retrain with this many further seeds and report the mean and standard
            deviation of their test accuracy (with the trial's own seed).
        train_on_val: retrain on train + validation instead of train alone (as
            ``[selection] refit = true`` does, which also keeps the last epoch's model).
        n_bootstrap: resamples for the 95% confidence interval (seeded by the trial seed).

    Returns:
        The evaluation, also written to ``out_dir/best/metrics.json``.

    Raises:
        EvaluationError: no complete trial, a trial without a recorded seed, or data that differ
            from the data the study was searched on.
        ValueError: ``extra_seeds`` < 0 or ``n_bootstrap`` < 1.
    """
    import netcore
    from hpsearch.study import resolve_params

    if extra_seeds < 0:
        raise ValueError(f"extra_seeds = {extra_seeds!r}; expected an integer >= 0")
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap = {n_bootstrap!r}; expected a positive integer")
    best = _best_trial(study)
    if A.TRIAL_SEED not in best.user_attrs:
        raise EvaluationError(f"trial {best.number} has no recorded seed; cannot retrain it")
    _check_dataset(study, dataset)
    from hpsearch.results._tables import selection

    selection_ = getattr(config, "selection", None)
    refit = bool(selection_ is not None and selection_.refit)
    train_on_val = train_on_val or refit
    keep = "last" if refit else "best"
    seed = int(best.user_attrs[A.TRIAL_SEED])
    params = resolve_params(best.params, config.space)
    data = _training_data(dataset, train_on_val)
    shape = tuple(dataset.input_shape)
    chosen = selection(study, config, n_val=len(dataset.y_val))

    model, solver = _fit(params, dataset, seed, data, keep=keep)
    seeds = [extra_seed(seed, k) for k in range(1, extra_seeds + 1)]
    others = [_fit(params, dataset, s, data, keep=keep)[0] for s in seeds]
    members = _ensemble_members(study, best, getattr(selection_, "ensemble", 1))
    ensemble = [_fit(resolve_params(t.params, config.space), dataset,
                     int(t.user_attrs[A.TRIAL_SEED]), data, keep=keep)[0] for t in members]
    scored = _score_on_test([model, *others, *ensemble], dataset, _predictions_and_probabilities)
    y_test = scored[0][0]
    predictions = [p for _, p, _ in scored[:1 + len(others)]]
    ensemble_acc = ensemble_ci = None
    if members:
        mean_probs = np.mean([scored[0][2]] + [pr for _, _, pr in scored[1 + len(others):]],
                             axis=0)
        ensemble_correct = (mean_probs.argmax(axis=1) == y_test).astype(np.float64)
        ensemble_acc = float(ensemble_correct.mean())
        ensemble_ci = _bootstrap_ci(ensemble_correct, n_bootstrap, seed)
    promised = _ensemble_estimate(dataset, [best, *members], n_bootstrap, seed) if members else None

    correct = (predictions[0] == y_test).astype(np.float64)
    confusion = _confusion(y_test, predictions[0], dataset.num_classes)
    support = confusion.sum(axis=1)
    per_class = [float(confusion[c, c] / support[c]) if support[c] else None
                 for c in range(dataset.num_classes)]
    ci_low, ci_high = _bootstrap_ci(correct, n_bootstrap, seed)
    accuracies = [float(np.mean(p == y_test)) for p in predictions]
    evaluation = Evaluation(
        study=study.study_name, trial_number=best.number, val_accuracy=float(best.value),
        retrained_val_accuracy=float(solver.best_val_acc),
        seed=seed, params=_jsonable(params), train_on_val=train_on_val,
        dataset_fingerprint=dataset.fingerprint, n_test=len(y_test),
        test_accuracy=accuracies[0], ci_low=ci_low, ci_high=ci_high, n_bootstrap=n_bootstrap,
        class_names=[str(c) for c in dataset.class_names],
        per_class_accuracy=per_class, confusion_matrix=confusion.tolist(),
        history={"loss": [float(v) for v in solver.epoch_loss_history],
                 "train_acc": [float(v) for v in solver.train_acc_history],
                 "val_acc": [float(v) for v in solver.val_acc_history]},
        input_shape=list(shape),
        image_shape=list(dataset.image_shape) if dataset.image_shape is not None else None,
        extra_seeds=[{"seed": s, "test_accuracy": a}
                     for s, a in zip(seeds, accuracies[1:], strict=True)],
        seed_mean=float(np.mean(accuracies)) if seeds else None,
        seed_std=float(np.std(accuracies, ddof=1)) if seeds else None,
        refit=refit, estimate=chosen.estimate, estimate_low=chosen.low,
        estimate_high=chosen.high, estimate_from=chosen.basis,
        fold_values=list(chosen.fold_values), n_tied=len(chosen.tied),
        gap=accuracies[0] - chosen.estimate,
        ensemble_trials=[best.number, *[t.number for t in members]] if members else [],
        ensemble_test_accuracy=ensemble_acc,
        ensemble_ci_low=ensemble_ci[0] if ensemble_ci else None,
        ensemble_ci_high=ensemble_ci[1] if ensemble_ci else None,
        ensemble_estimate=promised[0] if promised else None,
        ensemble_estimate_low=promised[1] if promised else None,
        ensemble_estimate_high=promised[2] if promised else None,
        ensemble_gap=ensemble_acc - promised[0] if promised and ensemble_acc is not None else None,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    best_dir = Path(out_dir) / _BEST_DIR
    best_dir.mkdir(parents=True, exist_ok=True)
    evaluation.model_path = netcore.save_model(best_dir / _MODEL_FILE, model)
    members_dir = best_dir / _ENSEMBLE_DIR
    for stale in members_dir.glob("trial-*.npz"):  # an earlier evaluation's members
        stale.unlink()
    if members:
        members_dir.mkdir(exist_ok=True)
        evaluation.ensemble_models = [_MODEL_FILE] + [
            netcore.save_model(members_dir / f"trial-{t.number}.npz", m).relative_to(
                best_dir).as_posix() for t, m in zip(members, ensemble, strict=True)]
    _write_json(best_dir / _METRICS_FILE, evaluation.to_json())
    return evaluation


def load_ensemble(out_dir: str | Path) -> list[Any]:
    """The stored ensemble's models (the best first), ready for ``predict_proba``.

    Average their probabilities to predict as the evaluation did::

        models = load_ensemble("runs/digits")
        probs = np.mean([hpsearch.training._trial.predict_proba(m, X) for m in models], axis=0)

    Raises:
        EvaluationError: no evaluation with an ensemble under ``out_dir``, or a member's file
            is missing.
    """
    import netcore

    evaluation = load_evaluation(out_dir)
    if evaluation is None or not evaluation.ensemble_models:
        raise EvaluationError(f"{Path(out_dir) / _BEST_DIR}: no evaluated ensemble; set "
                              "[selection] ensemble > 1 and run `hpsearch best`")
    best_dir = Path(out_dir) / _BEST_DIR
    missing = [name for name in evaluation.ensemble_models if not (best_dir / name).is_file()]
    if missing:
        raise EvaluationError(f"{best_dir}: ensemble member files missing: "
                              f"{', '.join(missing)}; run `hpsearch best` again")
    return [netcore.load_model(best_dir / name) for name in evaluation.ensemble_models]


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Whole or not at all: a reader never sees half a file."""
    atomic_write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            v = str(v)
        out[k] = v
    return out


def load_evaluation(out_dir: str | Path) -> Evaluation | None:
    """The evaluation stored under ``out_dir/best/``, or None when there is none.

    Raises:
        EvaluationError: ``metrics.json`` exists but is not an evaluation this version wrote.
    """
    best_dir = Path(out_dir) / _BEST_DIR
    path = best_dir / _METRICS_FILE
    if not path.exists():
        return None
    evaluation = _from_json(Evaluation, path)
    model = best_dir / _MODEL_FILE
    evaluation.model_path = model if model.exists() else None
    return evaluation


def _from_json(cls: type, path: Path) -> Any:
    try:
        return cls(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise EvaluationError(f"{path}: not a readable evaluation ({exc}); run "
                              "`hpsearch best` again") from None


# --- the settings of comparison studies -----------------------------------------------------------


@dataclass
class SettingsEvaluation:
    """A comparison study's settings, each retrained from its recorded seed, as stored.

    Stored under ``settings/``: ``settings.json``, and ``boundaries.npz`` on 2-D data.

    Attributes:
        study: study name.
        dataset_fingerprint: fingerprint of the data the settings were retrained on.
        trials: the settings' trial numbers (one per setting, in trial order).
        labels: each setting's varied parameters, e.g. ``"augment=flip"``.
        seeds: each setting's recorded seed.
        train_test: when ``augment`` is varied, one row per setting with ``setting``, ``trial``,
            ``seed``, ``train_loss``, ``train_acc`` (on the un-augmented training split),
            ``test_loss``, ``test_acc`` and ``gap`` (train - test accuracy); else None (the test
            split was not read).
        created: ISO time of the evaluation.
        boundaries: on 2-D data, ``xx``, ``yy`` (M, M) mesh coordinates, ``zz``
            (n_settings, M, M) each setting's predicted class, ``X`` (N, 2) and ``y`` (N,) the
            training and validation points, ``num_classes`` (0-d); else None. Not in the JSON.
    """

    study: str
    dataset_fingerprint: str
    trials: list[int]
    labels: list[str]
    seeds: list[int]
    train_test: list[dict[str, Any]] | None = None
    created: str = ""
    boundaries: dict[str, np.ndarray] | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON-able content of ``settings.json``."""
        data = asdict(self)
        data.pop("boundaries")
        return data


def boundary_mesh(models: Sequence[Any], dataset: Any) -> dict[str, np.ndarray]:
    """Each model's predicted class over one mesh covering the training and validation points.

    The test split is not read. Returns ``xx``, ``yy``: (M, M) mesh coordinates; ``zz``:
    (n_models, M, M) predicted classes; ``X``: (N, 2) and ``y``: (N,) the training and
    validation points; ``num_classes``: a 0-d array.
    """
    X = np.concatenate([dataset.X_train, dataset.X_val])
    y = np.concatenate([dataset.y_train, dataset.y_val])
    lo, hi = X.min(axis=0), X.max(axis=0)
    margin = 0.1 * (hi - lo) + 1e-6
    xx, yy = np.meshgrid(np.linspace(lo[0] - margin[0], hi[0] + margin[0], _MESH),
                         np.linspace(lo[1] - margin[1], hi[1] + margin[1], _MESH))
    mesh = np.column_stack([xx.ravel(), yy.ravel()]).astype(dataset.X_train.dtype)  # (M*M, 2)
    zz = np.stack([np.asarray(m.predict(mesh)).reshape(xx.shape) for m in models])
    return {"xx": xx, "yy": yy, "zz": zz, "X": X, "y": y,
            "num_classes": np.asarray(dataset.num_classes)}


def evaluate_settings(study: Any, config: Any, dataset: Any,
                      out_dir: str | Path) -> SettingsEvaluation | None:
    """Retrain each setting of a comparison study and store what the report shows of them.

    Each setting (``hpsearch.results._tables.comparison_settings``) is retrained from its recorded seed
    exactly as the search trained it. On 2-D data its decision boundary is computed over a mesh
    of the training and validation points; when ``augment`` is among the varied parameters, it
    is scored once on the un-augmented training split and once on the test split (all settings
    in one read of the test split). Call it after the search, beside ``evaluate_best``.

    Args:
        study: the ``optuna.Study``.
        config: its ``StudyConfig``.
        dataset: the ``Dataset`` the study searched on (same fingerprint).
        out_dir: the study's run folder; ``settings/settings.json`` (and on 2-D data
            ``settings/boundaries.npz``) go there, where ``write_report`` reads them.

    Returns:
        What was stored, or None (nothing written) when the study is not a comparison, has no
        complete trial with a history, or neither part applies (data not 2-D and ``augment``
        not varied).

    Raises:
        EvaluationError: data that differ from the data the study was searched on.
    """
    from hpsearch.results._tables import comparison_settings, varied_params

    settings = comparison_settings(study, config)
    two_d = tuple(dataset.input_shape) == (2,)
    scored = "augment" in varied_params(config.space)
    if not settings or not (two_d or scored):
        return None
    _check_dataset(study, dataset)
    models = [_fit(s.params, dataset, s.seed)[0] for s in settings]
    result = SettingsEvaluation(
        study=study.study_name, dataset_fingerprint=dataset.fingerprint,
        trials=[s.number for s in settings], labels=[s.label for s in settings],
        seeds=[s.seed for s in settings],
        created=datetime.now(UTC).isoformat(timespec="seconds"))
    if scored:
        train = [_loss_and_accuracy(m, dataset.X_train, dataset.y_train) for m in models]
        test = _score_on_test(models, dataset, _loss_and_accuracy)
        result.train_test = [
            {"setting": s.label, "trial": s.number, "seed": s.seed,
             "train_loss": train_loss, "train_acc": train_acc,
             "test_loss": test_loss, "test_acc": test_acc, "gap": train_acc - test_acc}
            for s, (train_loss, train_acc), (test_loss, test_acc)
            in zip(settings, train, test, strict=True)]
    out = Path(out_dir) / _SETTINGS_DIR
    out.mkdir(parents=True, exist_ok=True)
    if two_d:
        result.boundaries = boundary_mesh(models, dataset)
        with atomic_path(out / _BOUNDARIES_FILE) as tmp, open(tmp, "xb") as f:
            np.savez_compressed(f, trials=np.asarray(result.trials), **result.boundaries)
    else:
        (out / _BOUNDARIES_FILE).unlink(missing_ok=True)
    _write_json(out / _SETTINGS_FILE, result.to_json())
    return result


def load_settings_evaluation(out_dir: str | Path) -> SettingsEvaluation | None:
    """What ``evaluate_settings`` stored under ``out_dir/settings/``, or None when nothing is.

    Raises:
        EvaluationError: ``settings.json`` exists but is not one this version wrote.
    """
    path = Path(out_dir) / _SETTINGS_DIR / _SETTINGS_FILE
    if not path.exists():
        return None
    result = _from_json(SettingsEvaluation, path)
    arrays = path.with_name(_BOUNDARIES_FILE)
    if arrays.exists():
        with np.load(arrays) as stored:
            boundaries = {k: stored[k] for k in stored.files}
        # Written just before the JSON: one from an earlier evaluation describes other trials.
        if boundaries.pop("trials").tolist() == result.trials:
            result.boundaries = boundaries
    return result
