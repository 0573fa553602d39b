"""What an evaluation stores, and its files: ``best/`` (metrics.json, models) and ``settings/``.

The data classes here are what ``hpsearch.results._evaluate`` computes and reports read. Layout
of ``best/``::

    best/metrics.json          Evaluation.to_json() (nested; "layout": 2)
    best/model.npz             the chosen configuration's model
    best/ensemble/trial-N.npz  the ensemble's other members (``[selection] ensemble``)

``metrics.json`` files written before the nested layout (flat keys such as ``test_accuracy``)
are still read: users keep old run folders. Files are written whole or not at all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch._files import atomic_path, atomic_write_text

__all__ = [
    "Choice",
    "ClassScores",
    "Ensemble",
    "EvaluatedTrial",
    "Evaluation",
    "EvaluationError",
    "Retrained",
    "Score",
    "SearchEstimate",
    "SeedSpread",
    "SettingsEvaluation",
    "jsonable",
    "load_ensemble",
    "load_evaluation",
    "load_settings_evaluation",
    "write_evaluation",
    "write_settings_evaluation",
]

_BEST_DIR = "best"
_MODEL_FILE = "model.npz"
_ENSEMBLE_DIR = "ensemble"  # best/ensemble/trial-<n>.npz: the other members of the ensemble
_METRICS_FILE = "metrics.json"
_LAYOUT = 2  # metrics.json layout this version writes; files without "layout" are flat (1)
_SETTINGS_DIR = "settings"
_SETTINGS_FILE = "settings.json"
_BOUNDARIES_FILE = "boundaries.npz"


class EvaluationError(ValueError):
    """The best configuration cannot be evaluated (no complete trial, different data, ...)."""


@dataclass
class EvaluatedTrial:
    """What identifies the evaluated configuration: the best trial of the search.

    Attributes:
        number: the trial's number.
        seed: its recorded seed (the model was retrained with it).
        params: the resolved parameters it trained with.
        val_accuracy: its validation accuracy during the search.
        dataset_fingerprint: fingerprint of the data it was trained and tested on.
    """

    number: int
    seed: int
    params: dict[str, Any]
    val_accuracy: float
    dataset_fingerprint: str


@dataclass
class Retrained:
    """How the evaluated model was retrained, and how its training went.

    Attributes:
        train_on_val: the retraining also used the validation split.
        refit: retrained on all non-test data and kept at its last epoch (``[selection]
            refit``), as scikit-learn's ``GridSearchCV`` refits.
        val_accuracy: best validation accuracy of the retrained model (the trial's own when the
            retraining reproduces it, on train alone).
        history: per-epoch ``loss``, ``train_acc``, ``val_acc``.
        input_shape: per-sample shape the model sees.
        image_shape: ``(C, H, W)`` for image data, else None.
    """

    train_on_val: bool
    refit: bool
    val_accuracy: float
    history: dict[str, list[float]]
    input_shape: list[int]
    image_shape: list[int] | None = None


@dataclass
class Score:
    """An accuracy over ``n`` examples with its 95% bootstrap interval.

    Attributes:
        accuracy: share of the examples predicted right.
        low: lower end of the 95% bootstrap interval.
        high: upper end.
        n: examples scored (None where an older evaluation did not record it).
        n_bootstrap: resamples behind the interval.
    """

    accuracy: float
    low: float
    high: float
    n: int | None
    n_bootstrap: int

    def __str__(self) -> str:
        n = "" if self.n is None else f", n={self.n}"
        return f"{self.accuracy:.4f} (95% CI {self.low:.4f}-{self.high:.4f}{n})"


@dataclass
class ClassScores:
    """Per class on the test split.

    Attributes:
        names: one name per class.
        accuracy: recall of each class (None for a class absent from the test split).
        confusion_matrix: ``[true][predicted]`` counts.
    """

    names: list[str]
    accuracy: list[float | None]
    confusion_matrix: list[list[int]]


@dataclass
class SearchEstimate:
    """What the search promised for its choice (``hpsearch.results.best_estimate``).

    Attributes:
        value: the chosen trial's value (its mean over folds with cross-validation).
        low: lower end of its 95% interval (None when it cannot be known).
        high: upper end.
        basis: what the estimate and its interval rest on, in words.
        fold_values: the chosen trial's per-fold validation accuracies (empty on one split).
        n_tied: complete trials statistically tied with the chosen one (itself excluded).
    """

    value: float
    low: float | None
    high: float | None
    basis: str
    fold_values: list[float] = field(default_factory=list)
    n_tied: int | None = None


@dataclass
class SeedSpread:
    """The test accuracy over further seeds (``hpsearch best --extra-seeds``).

    Attributes:
        runs: ``[{"seed", "test_accuracy"}, ...]``, one per further seed.
        mean: mean test accuracy over the trial's own seed and the further ones.
        std: their standard deviation (ddof=1).
    """

    runs: list[dict[str, Any]]
    mean: float
    std: float


@dataclass
class Ensemble:
    """The top configurations' averaged probabilities (``[selection] ensemble``).

    Attributes:
        trials: the members' trial numbers, the chosen one first.
        models: their model files relative to ``best/``, in the order of ``trials`` (the first
            is ``model.npz``); ``load_ensemble`` loads them.
        test: the averaged probabilities' score on the test split.
        estimate: what cross-validation promised for the ensemble: the members' averaged
            out-of-fold probabilities scored over all non-test rows (each row predicted by fold
            models that never trained on it). None without cross-validation, or when a member
            has no stored out-of-fold probabilities (trials of an older run).
    """

    trials: list[int]
    models: list[str]
    test: Score
    estimate: Score | None = None

    @property
    def gap(self) -> float | None:
        """``test.accuracy - estimate.accuracy`` (None without an estimate)."""
        return None if self.estimate is None else self.test.accuracy - self.estimate.accuracy


@dataclass
class Choice:
    """How the configuration to refit and test was chosen (``[selection] rule``).

    Attributes:
        rule: "best" or "one_se".
        trial: the chosen trial's number.
        most_accurate: the most accurate complete trial's number (the chosen one under "best").
        cost: the cost "one_se" made cheap (None under "best" without one).
        chosen_cost: the chosen trial's cost.
        most_accurate_cost: the most accurate trial's cost.
        standard_error: the most accurate trial's estimate's standard error ("one_se").
        threshold: its estimate less one standard error: the accuracy a candidate needs.
        n_within: complete trials at or above the threshold (the most accurate included).
        basis: what the standard error rests on, in words.
        most_accurate_test: under "one_se", the most accurate configuration's test score,
            taken in the same one read of the test split, beside the chosen one's (None when
            it is the chosen one).
    """

    rule: str
    trial: int
    most_accurate: int
    cost: str | None = None
    chosen_cost: float | None = None
    most_accurate_cost: float | None = None
    standard_error: float | None = None
    threshold: float | None = None
    n_within: int = 1
    basis: str = ""
    most_accurate_test: Score | None = None

    @property
    def saving(self) -> float | None:
        """The chosen cost as a share of the most accurate's (0.25: a quarter), or None."""
        if self.chosen_cost is None or not self.most_accurate_cost:
            return None
        return self.chosen_cost / self.most_accurate_cost


@dataclass
class Evaluation:
    """Test-set metrics of the best configuration, as stored in ``best/metrics.json``.

    Attributes:
        study: study name.
        trial: what identifies the configuration (the best trial, its seed and parameters).
        retrained: how the model was retrained and its training history.
        test: its score on the test split.
        classes: per-class accuracy and the confusion matrix on the test split.
        estimate: what the search promised (None in evaluations that predate it).
        seeds: the test accuracy over further seeds (None without them).
        ensemble: the ensemble of the top configurations (None without one).
        choice: how the configuration was chosen (``[selection] rule``; None in evaluations
            that predate it: the most accurate).
        created: ISO time of the evaluation.
        model_path: where the model was saved (not stored in the JSON; set on load).
    """

    study: str
    trial: EvaluatedTrial
    retrained: Retrained
    test: Score
    classes: ClassScores
    estimate: SearchEstimate | None = None
    seeds: SeedSpread | None = None
    ensemble: Ensemble | None = None
    choice: Choice | None = None
    created: str = ""
    model_path: Path | None = None

    @property
    def gap(self) -> float | None:
        """``test.accuracy - estimate.value`` (negative: the search promised more)."""
        return None if self.estimate is None else self.test.accuracy - self.estimate.value

    def summary(self) -> str:
        """One line: test accuracy with its interval, and the spread over seeds when known."""
        text = (f"{self.test} for trial {self.trial.number} "
                f"(val acc {self.trial.val_accuracy:.4f}, seed {self.trial.seed})")
        if self.seeds is not None:
            text += (f"; over {len(self.seeds.runs) + 1} seeds {self.seeds.mean:.4f} "
                     f"± {self.seeds.std:.4f}")
        if (est := self.estimate) is not None:
            interval = "" if est.low is None else f" ({est.low:.4f}-{est.high:.4f})"
            text += f"; estimated {est.value:.4f}{interval}, gap {self.gap:+.4f}"
        if (c := self.choice) is not None and c.trial != c.most_accurate:
            text += (f"; chosen by one standard error for its {c.cost} ({c.chosen_cost:.4g} "
                     f"against {c.most_accurate_cost:.4g} for the most accurate, trial "
                     f"{c.most_accurate}")
            if c.most_accurate_test is not None:
                text += f", test {c.most_accurate_test.accuracy:.4f}"
            text += ")"
        if (ens := self.ensemble) is not None:
            text += f"; ensemble of {len(ens.trials)}: {ens.test.accuracy:.4f}"
            if ens.estimate is not None:
                text += (f" (estimated {ens.estimate.accuracy:.4f} out of fold, "
                         f"gap {ens.gap:+.4f})")
        return text

    def to_json(self) -> dict[str, Any]:
        """The JSON-able content of ``metrics.json``."""
        data = asdict(self)
        data.pop("model_path")
        return {"layout": _LAYOUT, **data}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Evaluation:
        """The evaluation ``to_json`` wrote, or one of the flat layout before it.

        Raises:
            KeyError, TypeError, ValueError: not an evaluation this version reads.
        """
        if "layout" not in data:
            data = _from_flat(data)
        elif data["layout"] != _LAYOUT:
            raise ValueError(f"layout {data['layout']!r}; this version reads layout {_LAYOUT}")
        ensemble = data.get("ensemble")
        choice = data.get("choice")
        return cls(
            study=data["study"],
            trial=EvaluatedTrial(**data["trial"]),
            retrained=Retrained(**data["retrained"]),
            test=Score(**data["test"]),
            classes=ClassScores(**data["classes"]),
            estimate=_maybe(SearchEstimate, data.get("estimate")),
            seeds=_maybe(SeedSpread, data.get("seeds")),
            ensemble=None if ensemble is None else Ensemble(
                trials=ensemble["trials"], models=ensemble["models"],
                test=Score(**ensemble["test"]), estimate=_maybe(Score, ensemble.get("estimate"))),
            choice=None if choice is None else Choice(**{
                **choice, "most_accurate_test": _maybe(Score, choice.get("most_accurate_test"))}),
            created=data.get("created", ""),
        )


def _maybe(cls: type, data: Mapping[str, Any] | None) -> Any:
    return None if data is None else cls(**data)


def _from_flat(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The nested layout of a flat ``metrics.json`` (written before layout 2)."""
    f = dict(flat)
    unknown = f.keys() - _FLAT_KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    n, n_boot = f["n_test"], f["n_bootstrap"]
    data: dict[str, Any] = {
        "study": f["study"],
        "trial": {"number": f["trial_number"], "seed": f["seed"], "params": f["params"],
                  "val_accuracy": f["val_accuracy"],
                  "dataset_fingerprint": f["dataset_fingerprint"]},
        "retrained": {"train_on_val": f["train_on_val"], "refit": f.get("refit", False),
                      "val_accuracy": f["retrained_val_accuracy"], "history": f["history"],
                      "input_shape": f["input_shape"], "image_shape": f.get("image_shape")},
        "test": {"accuracy": f["test_accuracy"], "low": f["ci_low"], "high": f["ci_high"],
                 "n": n, "n_bootstrap": n_boot},
        "classes": {"names": f["class_names"], "accuracy": f["per_class_accuracy"],
                    "confusion_matrix": f["confusion_matrix"]},
        "created": f.get("created", ""),
    }
    if f.get("estimate") is not None:
        data["estimate"] = {"value": f["estimate"], "low": f.get("estimate_low"),
                            "high": f.get("estimate_high"), "basis": f.get("estimate_from", ""),
                            "fold_values": f.get("fold_values", []), "n_tied": f.get("n_tied")}
    if f.get("seed_mean") is not None:
        data["seeds"] = {"runs": f["extra_seeds"], "mean": f["seed_mean"], "std": f["seed_std"]}
    if f.get("ensemble_test_accuracy") is not None:
        estimate = None
        if f.get("ensemble_estimate") is not None:
            # The flat layout did not record how many rows were scored out of fold.
            estimate = {"accuracy": f["ensemble_estimate"], "low": f["ensemble_estimate_low"],
                        "high": f["ensemble_estimate_high"], "n": None, "n_bootstrap": n_boot}
        data["ensemble"] = {
            "trials": f["ensemble_trials"], "models": f.get("ensemble_models", []),
            "test": {"accuracy": f["ensemble_test_accuracy"], "low": f["ensemble_ci_low"],
                     "high": f["ensemble_ci_high"], "n": n, "n_bootstrap": n_boot},
            "estimate": estimate}
    return data


# Every key a flat metrics.json held; gap and ensemble_gap are recomputed from the others.
_FLAT_KEYS = frozenset({
    "study", "trial_number", "val_accuracy", "retrained_val_accuracy", "seed", "params",
    "train_on_val", "dataset_fingerprint", "n_test", "test_accuracy", "ci_low", "ci_high",
    "n_bootstrap", "class_names", "per_class_accuracy", "confusion_matrix", "history",
    "input_shape", "image_shape", "extra_seeds", "seed_mean", "seed_std", "refit", "estimate",
    "estimate_low", "estimate_high", "estimate_from", "fold_values", "n_tied", "gap",
    "ensemble_trials", "ensemble_test_accuracy", "ensemble_ci_low", "ensemble_ci_high",
    "ensemble_estimate", "ensemble_estimate_low", "ensemble_estimate_high", "ensemble_gap",
    "ensemble_models", "created"})


def write_evaluation(evaluation: Evaluation, out_dir: str | Path, model: Any,
                     members: Sequence[tuple[int, Any]] = ()) -> Evaluation:
    """Store the evaluation under ``out_dir/best/``: its model, the ensemble's, metrics.json.

    Sets ``evaluation.model_path`` and ``evaluation.ensemble.models``; an earlier evaluation's
    ensemble members are removed. ``members`` are the ensemble's other (trial number, model).
    """
    import netcore

    best_dir = Path(out_dir) / _BEST_DIR
    best_dir.mkdir(parents=True, exist_ok=True)
    evaluation.model_path = netcore.save_model(best_dir / _MODEL_FILE, model)
    members_dir = best_dir / _ENSEMBLE_DIR
    for stale in members_dir.glob("trial-*.npz"):  # an earlier evaluation's members
        stale.unlink()
    if members:
        members_dir.mkdir(exist_ok=True)
        saved = [netcore.save_model(members_dir / f"trial-{number}.npz", m)
                 for number, m in members]
        if evaluation.ensemble is not None:
            evaluation.ensemble.models = [_MODEL_FILE, *(
                p.relative_to(best_dir).as_posix() for p in saved)]
    _write_json(best_dir / _METRICS_FILE, evaluation.to_json())
    return evaluation


def load_evaluation(out_dir: str | Path) -> Evaluation | None:
    """The evaluation stored under ``out_dir/best/``, or None when there is none.

    Reads the nested layout and the flat one written by earlier versions.

    Raises:
        EvaluationError: ``metrics.json`` exists but is not an evaluation this version reads.
    """
    best_dir = Path(out_dir) / _BEST_DIR
    path = best_dir / _METRICS_FILE
    if not path.exists():
        return None
    evaluation = _from_json(Evaluation.from_json, path)
    model = best_dir / _MODEL_FILE
    evaluation.model_path = model if model.exists() else None
    return evaluation


def load_ensemble(out_dir: str | Path) -> list[Any]:
    """The stored ensemble's models (the best first), ready for ``predict_proba``.

    Average their probabilities to predict as the evaluation did::

        models = load_ensemble("runs/digits")
        probs = np.mean([hpsearch.training.predict_proba(m, X) for m in models], axis=0)

    Raises:
        EvaluationError: no evaluation with an ensemble under ``out_dir``, or a member's file
            is missing.
    """
    import netcore

    evaluation = load_evaluation(out_dir)
    best_dir = Path(out_dir) / _BEST_DIR
    if evaluation is None or evaluation.ensemble is None or not evaluation.ensemble.models:
        raise EvaluationError(f"{best_dir}: no evaluated ensemble; set "
                              "[selection] ensemble > 1 and run `hpsearch best`")
    names = evaluation.ensemble.models
    missing = [name for name in names if not (best_dir / name).is_file()]
    if missing:
        raise EvaluationError(f"{best_dir}: ensemble member files missing: "
                              f"{', '.join(missing)}; run `hpsearch best "
                              f"{evaluation.study}` again")
    return [netcore.load_model(best_dir / name) for name in names]


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Whole or not at all: a reader never sees half a file."""
    atomic_write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as JSON can hold them: NumPy scalars as Python ones, non-finite as text."""
    out = {}
    for k, v in params.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            v = str(v)
        out[k] = v
    return out


def _from_json(build: Callable[[Any], Any], path: Path) -> Any:
    """``build(the file's JSON)``; anything unreadable is one line that says what to run."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise EvaluationError(f"{path}: not a readable evaluation ({exc}); run "
                              f"`hpsearch best {_study_of(path)}` again") from None
    try:
        return build(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        name = data.get("study") if isinstance(data, dict) else None
        raise EvaluationError(f"{path}: not a readable evaluation ({detail}); run "
                              f"`hpsearch best {name or _study_of(path)}` again") from None


def _study_of(path: Path) -> str:
    """The study a run folder's file belongs to, by the folder's name (``runs/<study>/...``)."""
    return path.parent.parent.name


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


def write_settings_evaluation(result: SettingsEvaluation, out_dir: str | Path) -> None:
    """Store it under ``out_dir/settings/``: ``boundaries.npz`` (or none), then the JSON."""
    out = Path(out_dir) / _SETTINGS_DIR
    out.mkdir(parents=True, exist_ok=True)
    if result.boundaries is not None:
        with atomic_path(out / _BOUNDARIES_FILE) as tmp, open(tmp, "xb") as f:
            np.savez_compressed(f, trials=np.asarray(result.trials), **result.boundaries)
    else:
        (out / _BOUNDARIES_FILE).unlink(missing_ok=True)
    _write_json(out / _SETTINGS_FILE, result.to_json())


def load_settings_evaluation(out_dir: str | Path) -> SettingsEvaluation | None:
    """What ``evaluate_settings`` stored under ``out_dir/settings/``, or None when nothing is.

    Raises:
        EvaluationError: ``settings.json`` exists but is not one this version wrote.
    """
    path = Path(out_dir) / _SETTINGS_DIR / _SETTINGS_FILE
    if not path.exists():
        return None
    result = _from_json(lambda data: SettingsEvaluation(**data), path)
    arrays = path.with_name(_BOUNDARIES_FILE)
    if arrays.exists():
        with np.load(arrays) as stored:
            boundaries = {k: stored[k] for k in stored.files}
        # Written just before the JSON: one from an earlier evaluation describes other trials.
        if boundaries.pop("trials").tolist() == result.trials:
            result.boundaries = boundaries
    return result
