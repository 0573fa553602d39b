"""The best configuration, tested once: retrain it with its recorded seed, score the test split.

The search never sees the test split. Apart from the side-by-side table of comparison studies that
vary ``augment`` (hpsearch.compare, which scores each fixed setting once and says so), this module
is the only place that reads it, and ``_score_on_test`` is the only function here that does: it
runs once per ``evaluate_best`` call, for the best configuration and any extra seeds together.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch import _attrs as A

__all__ = ["Evaluation", "EvaluationError", "evaluate_best", "extra_seed", "load_evaluation"]

_BEST_DIR = "best"
_MODEL_FILE = "model.npz"
_METRICS_FILE = "metrics.json"


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
        return text

    def to_json(self) -> dict[str, Any]:
        """The JSON-able content of ``metrics.json``."""
        data = asdict(self)
        data.pop("model_path")
        return data


def _best_trial(study: Any) -> Any:
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise EvaluationError(f"study {study.study_name!r} has no complete trial to evaluate; "
                              "run more trials (failed and pruned ones have no final result)")
    return min(complete, key=lambda t: (-t.value, t.number))  # ties: the earliest trial


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


def _score_on_test(models: Sequence[Any], dataset: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    """The one place the test split is read: predictions of every model on it, and its labels."""
    X_test, y_test = dataset.X_test, dataset.y_test
    return np.asarray(y_test), [np.asarray(m.predict(X_test)) for m in models]


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
        train_on_val: retrain on train + validation instead of train alone.
        n_bootstrap: resamples for the 95% confidence interval (seeded by the trial seed).

    Returns:
        The evaluation, also written to ``out_dir/best/metrics.json``.

    Raises:
        EvaluationError: no complete trial, a trial without a recorded seed, or data that differ
            from the data the study was searched on.
        ValueError: ``extra_seeds`` < 0 or ``n_bootstrap`` < 1.
    """
    import netcore
    from hpsearch.space import resolve_params
    from hpsearch.worker import fit

    if extra_seeds < 0:
        raise ValueError(f"extra_seeds = {extra_seeds!r}; expected an integer >= 0")
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap = {n_bootstrap!r}; expected a positive integer")
    best = _best_trial(study)
    if A.TRIAL_SEED not in best.user_attrs:
        raise EvaluationError(f"trial {best.number} has no recorded seed; cannot retrain it")
    _check_dataset(study, dataset)
    seed = int(best.user_attrs[A.TRIAL_SEED])
    params = resolve_params(best.params, config.space)
    data = _training_data(dataset, train_on_val)
    shape = tuple(dataset.input_shape)

    def train(s: int) -> tuple[Any, Any]:
        return fit(params, data, shape, dataset.num_classes, s, image_shape=dataset.image_shape)

    model, solver = train(seed)
    seeds = [extra_seed(seed, k) for k in range(1, extra_seeds + 1)]
    others = [train(s)[0] for s in seeds]
    y_test, predictions = _score_on_test([model, *others], dataset)

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
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    best_dir = Path(out_dir) / _BEST_DIR
    best_dir.mkdir(parents=True, exist_ok=True)
    evaluation.model_path = netcore.save_model(best_dir / _MODEL_FILE, model)
    tmp = best_dir / (_METRICS_FILE + ".tmp")
    tmp.write_text(json.dumps(evaluation.to_json(), indent=2, allow_nan=False) + "\n")
    tmp.replace(best_dir / _METRICS_FILE)  # a reader never sees half a file
    return evaluation


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
    try:
        data = json.loads(path.read_text())
        evaluation = Evaluation(**data)
    except (json.JSONDecodeError, TypeError) as exc:
        raise EvaluationError(f"{path}: not a readable evaluation ({exc}); run "
                              "`hpsearch best` again") from None
    model = best_dir / _MODEL_FILE
    evaluation.model_path = model if model.exists() else None
    return evaluation
