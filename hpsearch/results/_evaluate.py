"""Retrained models, scored once: the best configuration, and the settings of comparison studies.

``evaluate_best`` retrains the best complete trial's configuration with its recorded seed and
scores it on the test split; ``evaluate_settings`` retrains each setting of a comparison study
(see ``hpsearch.results.is_comparison``) and stores what the report shows of them: decision
boundaries on 2-D data, and, when ``augment`` is varied, train and test loss and accuracy. Both
run as explicit steps (at the end of a run, or by ``hpsearch best``) and store their results under
the run folder (``_evaluation`` holds the data classes and their files); reports only read them.

The search never sees the test split. This module is the only place that reads it, and
``_score_on_test`` is the only function here that does: once per ``evaluate_best`` call (the best
configuration, any extra seeds and the ensemble together) and once per ``evaluate_settings`` call
that varies ``augment`` (every setting together).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch import _attrs as A
from hpsearch.results._evaluation import (
    Choice,
    ClassScores,
    Ensemble,
    EvaluatedTrial,
    Evaluation,
    EvaluationError,
    Retrained,
    Score,
    SearchEstimate,
    SeedSpread,
    SettingsEvaluation,
    jsonable,
    write_evaluation,
    write_settings_evaluation,
)
from hpsearch.results._selection import SelectionError, choose
from hpsearch.results._statistics import best_estimate, bootstrap_ci, confusion_matrix
from hpsearch.results._trials import accuracy, ranked_trials

__all__ = ["boundary_mesh", "evaluate_best", "evaluate_settings", "extra_seed"]

_MESH = 150  # decision-boundary mesh points per axis


def _chosen_trial(study: Any, config: Any, dataset: Any) -> tuple[Any, Choice]:
    """The trial ``[selection] rule`` chooses, and how (``hpsearch.results._selection``)."""
    from hpsearch.training import count_params

    complete = {t.number: t for t in ranked_trials(study)}
    if not complete:
        raise EvaluationError(f"study {study.study_name!r} has no complete trial to evaluate; "
                              "run more trials (failed and pruned ones have no final result)")
    try:
        choice = choose(study, config, n_val=len(dataset.y_val), counter=lambda params:
                        count_params(params, tuple(dataset.input_shape), dataset.num_classes))
    except SelectionError as exc:
        raise EvaluationError(str(exc)) from None
    for number in {choice.trial, choice.most_accurate}:
        if A.TRIAL_SEED not in complete[number].user_attrs:
            raise EvaluationError(f"trial {number} has no recorded seed; cannot retrain it")
    return complete[choice.trial], choice


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
    """The next ``size - 1`` complete trials after ``best``, best first (``rank_key``).

    A trial whose parameters repeat one already taken is skipped.
    """
    if size <= 1:
        return []
    taken, members = [best.params], []
    for trial in ranked_trials(study):
        if len(members) == size - 1:
            break
        if trial.params in taken or A.TRIAL_SEED not in trial.user_attrs:
            continue
        taken.append(trial.params)
        members.append(trial)
    return members


def _score_on_test(models: Sequence[Any], dataset: Any,
                   measure: Callable[[Any, np.ndarray, np.ndarray], Any]) -> list[Any]:
    """The one place the test split is read: ``measure(model, X_test, y_test)`` for each model."""
    X_test, y_test = dataset.X_test, dataset.y_test
    return [measure(m, X_test, y_test) for m in models]


def _predictions_and_probabilities(model: Any, X: np.ndarray,
                                   y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, predicted classes, (N, num_classes) softmax probabilities), in test mode."""
    from hpsearch.training import predict_proba

    probs = predict_proba(model, X)
    return np.asarray(y), probs.argmax(axis=1), probs


def _loss_and_accuracy(model: Any, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean softmax data loss (no L2 term) and accuracy, in test mode (no dropout)."""
    from hpsearch.training import SCORE_CHUNK
    from netcore.losses import softmax_loss

    total_loss, correct = 0.0, 0
    for start in range(0, len(X), SCORE_CHUNK):
        xb, yb = X[start:start + SCORE_CHUNK], y[start:start + SCORE_CHUNK]
        scores = np.asarray(model.loss(xb), dtype=np.float64)  # (n, num_classes)
        loss, _ = softmax_loss(scores, yb)
        total_loss += float(loss) * len(xb)
        correct += int((scores.argmax(axis=1) == yb).sum())
    return total_loss / len(X), correct / len(X)


def _score(y: np.ndarray, predicted: np.ndarray, n_bootstrap: int, seed: int) -> Score:
    correct = (predicted == y).astype(np.float64)
    low, high = bootstrap_ci(correct, n_bootstrap, seed)
    return Score(float(np.mean(predicted == y)), low, high, len(y), n_bootstrap)


def _check_dataset(study: Any, dataset: Any) -> None:
    stored = study.user_attrs.get(A.STUDY_FINGERPRINT)
    if stored is not None and stored != dataset.fingerprint:
        raise EvaluationError(
            f"study {study.study_name!r} was searched on dataset {stored} but the data now loads "
            f"as {dataset.fingerprint}; a test score on other data would not describe this "
            "search. Restore the data or options the study ran with")


@dataclass
class _Retraining:
    """The models ``evaluate_best`` trains before its one read of the test split."""

    params: dict[str, Any]  # the chosen configuration's resolved parameters
    model: Any
    solver: Any
    seeds: list[int]  # the further seeds, in the order of ``others``
    others: list[Any]
    members: list[Any]  # the ensemble's other trials, in the order of ``member_models``
    member_models: list[Any]
    compared: list[Any]  # "one_se": the most accurate configuration's model, tested beside

    @property
    def models(self) -> list[Any]:
        return [self.model, *self.others, *self.member_models, *self.compared]


def _retrain(study: Any, config: Any, dataset: Any, best: Any, extra_seeds: int,
             ensemble_size: int, data: Mapping[str, np.ndarray], keep: str,
             compared: Any = None) -> _Retraining:
    """Every model the one read of the test split scores.

    ``best`` (the chosen trial) with its seed and ``extra_seeds`` more, the ensemble's members,
    and ``compared`` (a trial tested beside the chosen one).
    """
    from hpsearch.study import resolve_params

    seed = int(best.user_attrs[A.TRIAL_SEED])
    params = resolve_params(best.params, config.space)
    model, solver = _fit(params, dataset, seed, data, keep=keep)
    seeds = [extra_seed(seed, k) for k in range(1, extra_seeds + 1)]
    others = [_fit(params, dataset, s, data, keep=keep)[0] for s in seeds]
    members = _ensemble_members(study, best, ensemble_size)
    member_models = [_fit(resolve_params(t.params, config.space), dataset,
                          int(t.user_attrs[A.TRIAL_SEED]), data, keep=keep)[0] for t in members]
    compared_models = [] if compared is None else [
        _fit(resolve_params(compared.params, config.space), dataset,
             int(compared.user_attrs[A.TRIAL_SEED]), data, keep=keep)[0]]
    return _Retraining(params, model, solver, seeds, others, members, member_models,
                       compared_models)


def evaluate_best(study: Any, config: Any, dataset: Any, out_dir: str | Path, *,
                  extra_seeds: int = 0, train_on_val: bool = False,
                  n_bootstrap: int = 1000) -> Evaluation:
    """Retrain the chosen configuration and score it on the test split once.

    The chosen one is the most accurate complete trial, or, under ``[selection] rule =
    "one_se"``, the cheapest within one standard error of it (then the most accurate is
    retrained and tested beside it, in the same read of the test split).

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
    if extra_seeds < 0:
        raise ValueError(f"extra_seeds = {extra_seeds!r}; expected an integer >= 0")
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap = {n_bootstrap!r}; expected a positive integer")
    _check_dataset(study, dataset)
    best, choice = _chosen_trial(study, config, dataset)
    compared = None if choice.most_accurate == best.number else next(
        t for t in ranked_trials(study) if t.number == choice.most_accurate)
    selection_ = getattr(config, "selection", None)
    refit = bool(getattr(selection_, "refit", False))
    train_on_val = train_on_val or refit
    fits = _retrain(study, config, dataset, best, extra_seeds, getattr(selection_, "ensemble", 1),
                    _training_data(dataset, train_on_val), "last" if refit else "best", compared)
    scored = _score_on_test(fits.models, dataset, _predictions_and_probabilities)
    seed = int(best.user_attrs[A.TRIAL_SEED])
    y_test, predicted, _ = scored[0]
    if compared is not None:
        choice.most_accurate_test = _score(y_test, scored.pop()[1], n_bootstrap,
                                           int(compared.user_attrs[A.TRIAL_SEED]))
    evaluation = Evaluation(
        study=study.study_name,
        trial=EvaluatedTrial(best.number, seed, jsonable(fits.params), accuracy(best),
                             dataset.fingerprint),
        retrained=_retrained(fits.solver, dataset, train_on_val, refit),
        test=_score(y_test, predicted, n_bootstrap, seed),
        classes=_class_scores(y_test, predicted, dataset),
        estimate=_search_estimate(study, config, len(dataset.y_val), best),
        seeds=_seed_spread(fits.seeds, [float(np.mean(p == y_test))
                                        for _, p, _ in scored[:1 + len(fits.seeds)]]),
        ensemble=_ensemble(dataset, best, fits.members, scored, len(fits.seeds), n_bootstrap,
                           seed),
        choice=choice,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    members = [(t.number, m) for t, m in zip(fits.members, fits.member_models, strict=True)]
    return write_evaluation(evaluation, out_dir, fits.model, members)


def _retrained(solver: Any, dataset: Any, train_on_val: bool, refit: bool) -> Retrained:
    return Retrained(
        train_on_val=train_on_val, refit=refit, val_accuracy=float(solver.best_val_acc),
        history={"loss": [float(v) for v in solver.epoch_loss_history],
                 "train_acc": [float(v) for v in solver.train_acc_history],
                 "val_acc": [float(v) for v in solver.val_acc_history]},
        input_shape=list(dataset.input_shape),
        image_shape=list(dataset.image_shape) if dataset.image_shape is not None else None)


def _class_scores(y: np.ndarray, predicted: np.ndarray, dataset: Any) -> ClassScores:
    confusion = confusion_matrix(y, predicted, dataset.num_classes)
    support = confusion.sum(axis=1)
    recall = [float(confusion[c, c] / support[c]) if support[c] else None
              for c in range(dataset.num_classes)]
    return ClassScores([str(c) for c in dataset.class_names], recall, confusion.tolist())


def _search_estimate(study: Any, config: Any, n_val: int, trial: Any) -> SearchEstimate:
    chosen = best_estimate(study, config, n_val=n_val, trial=trial)
    return SearchEstimate(chosen.value, chosen.low, chosen.high, chosen.basis,
                          list(chosen.fold_values), len(chosen.tied))


def _seed_spread(seeds: Sequence[int], accuracies: Sequence[float]) -> SeedSpread | None:
    """The spread over the trial's seed (``accuracies[0]``) and the further ``seeds``."""
    if not seeds:
        return None
    runs = [{"seed": s, "test_accuracy": a} for s, a in zip(seeds, accuracies[1:], strict=True)]
    return SeedSpread(runs, float(np.mean(accuracies)), float(np.std(accuracies, ddof=1)))


def _ensemble(dataset: Any, best: Any, members: Sequence[Any], scored: Sequence[Any],
              n_others: int, n_bootstrap: int, seed: int) -> Ensemble | None:
    """The ensemble's test score and its out-of-fold estimate (None without members).

    ``scored`` holds the chosen model's test predictions, then ``n_others`` further seeds',
    then the members'.
    """
    if not members:
        return None
    y_test = scored[0][0]
    mean_probs = np.mean([scored[0][2]] + [probs for _, _, probs in scored[1 + n_others:]],
                         axis=0)
    test = _score(y_test, mean_probs.argmax(axis=1), n_bootstrap, seed)
    return Ensemble(trials=[best.number, *[t.number for t in members]], models=[], test=test,
                    estimate=_ensemble_estimate(dataset, [best, *members], n_bootstrap, seed))


def _ensemble_estimate(dataset: Any, trials: Sequence[Any], n_bootstrap: int,
                       seed: int) -> Score | None:
    """The trials' averaged out-of-fold probabilities scored over the non-test rows, or None.

    The rows are train + validation, in the order the folds index them; the test split is not
    read. None when a trial kept no probabilities or they do not match the data.
    """
    from hpsearch.storage import oof_probs

    y = np.concatenate([dataset.y_train, dataset.y_val])
    probs = [oof_probs(t) for t in trials]
    if any(p is None or p.shape != (len(y), dataset.num_classes) for p in probs):
        return None
    return _score(y, np.mean(probs, axis=0).argmax(axis=1), n_bootstrap, seed)


# --- the settings of comparison studies -----------------------------------------------------------


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

    Each setting (``hpsearch.results.comparison_settings``) is retrained from its recorded seed
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
    from hpsearch.results._comparisons import comparison_settings, varied_params

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
    if two_d:
        result.boundaries = boundary_mesh(models, dataset)
    write_settings_evaluation(result, out_dir)
    return result
