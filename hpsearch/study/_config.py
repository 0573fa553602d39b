"""The frozen, validated description of a study: ``StudyConfig`` and its settings.

A ``StudyConfig`` comes from a study file (``load_study_config`` in ``_parse``) or is built in
code; it makes its own sampler and pruners (``_algorithms``) and loads its own data. Messages
about one of its keys name the file and the key the same way parse errors do (``where``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch.study import _algorithms
from hpsearch.study._errors import ConfigError, key_where
from hpsearch.study._objectives import DEFAULT_OBJECTIVES, Objective
from hpsearch.study._space import ParamSpec

__all__ = ["DATASET_KEYS", "ConfigError", "RunSettings", "SelectionSettings", "StudyConfig"]


@dataclass(frozen=True)
class RunSettings:
    """Where and how trials run (``[run]``).

    Attributes:
        storage: an Optuna storage URL; None means ``sqlite:///runs/<name>/study.db``.
        address: None for an embedded local Ray instance, "auto" or "HOST:PORT" for a cluster.
        cpus_per_trial: CPUs (and BLAS threads) each trial gets.
        max_in_flight: most trials running at once; None means cluster CPUs // cpus_per_trial.
        max_retries: how often Ray re-runs a trial whose worker or node died.
        trial_timeout_s: a trial running longer is cancelled and recorded as FAIL.
        evaluate_best: retrain the best configuration and score the test split after the run.
        report: write the report after the run.
        weight: on a cluster shared with other studies, its share relative to the studies of
            its priority (docs/service.md, "Sharing a cluster").
        priority: higher is served first; a lower study's running trials give way (stopped at
            an epoch boundary, resumed later, nothing lost).
        max_cpus: at most this many CPUs at once on a shared cluster (None: no cap).
    """

    storage: str | None = None
    address: str | None = None
    cpus_per_trial: float = 1.0
    max_in_flight: int | None = None
    max_retries: int = 2
    trial_timeout_s: float | None = None
    evaluate_best: bool = True
    report: bool = True
    weight: float = 1.0
    priority: int = 0
    max_cpus: float | None = None


@dataclass(frozen=True)
class SelectionSettings:
    """How the best configuration is chosen and what is tested (``[selection]``).

    Attributes:
        folds: 0 for selection on the one validation split; k >= 2 for stratified k-fold
            cross-validation over train + validation (seeded by the study seed): each trial's
            value is the mean over folds, its per-fold values are stored (``fold_values``).
        refit: retrain the chosen configuration on all non-test data (train + validation) before
            the one test scoring, as scikit-learn's ``GridSearchCV`` refits. Default: on with
            folds, off without (the model is then the trial's own, trained on train alone).
        ensemble: also test the average of the predicted probabilities of the top ``ensemble``
            configurations (each refit like the best); 1: the best configuration alone.
        first_fold_pruning: with folds, also stop a trial inside its first fold when, after the
            warm-up epochs, its validation accuracy falls out of the top third of earlier
            trials' first folds at the same epoch (Optuna's ``PercentilePruner``:
            ``FIRST_FOLD_PRUNER``). Most hopeless configurations then cost part of one fold
            instead of two or more, which a pruner across folds (Wilcoxon) needs before it can
            tell.
        rule: "best" refits and tests the most accurate configuration; "one_se" the cheapest
            (by ``cost``) whose estimate is within one standard error of the most accurate's
            (the classic one-standard-error rule), the most accurate tested beside it.
        cost: what "one_se" makes cheap (a key of ``COSTS``); by default the study's first
            cost objective.
    """

    folds: int = 0
    refit: bool = False
    ensemble: int = 1
    first_fold_pruning: bool = False
    rule: str = "best"
    cost: str | None = None

    @property
    def cross_validated(self) -> bool:
        """Whether trials are scored by k-fold cross-validation."""
        return self.folds >= 2


# The study file's key of a dataset option that lives outside [dataset].
DATASET_KEYS = {"seed": "study.seed", "folds": "selection.folds"}


@dataclass(frozen=True)
class StudyConfig:
    """A validated study file.

    Attributes:
        name: study name (also the folder under ``runs/``).
        seed: seeds the sampler, the data split and (with the trial number) every trial.
        n_trials: finished trials to reach (grid: defaults to the grid's size).
        timeout_s: stop asking for new trials after this many seconds (None: no limit).
        metric: the value maximized; only "val_accuracy" for now.
        objectives: what the study optimizes, accuracy first (``[study] objectives``); with
            more than one, the stored study is multi-objective: its values are accuracy and
            the costs in this order.
        dataset: dataset name.
        dataset_path: where the dataset lives on disk, when it needs files.
        dataset_options: further options passed to ``load_dataset``.
        space: parameter name -> spec.
        sampler: sampler name (a key of ``SAMPLERS``).
        sampler_options: keyword arguments for the sampler.
        pruner: pruner name (a key of ``PRUNERS``).
        pruner_options: keyword arguments for the pruner.
        run: where and how trials run.
        selection: how the best configuration is chosen and tested (``[selection]``).
        reproducible: the same study file gives the same trials, values and best
            configuration on every run, whatever the timing of parallel trials (the engine asks
            for a trial only once its parameters cannot depend on a result still to come).
        reproducible_lag: in a reproducible study, trial ``n`` is asked for (and its pruning
            decided) with the results of the trials asked at least this many before it, never
            newer; None: twice the trials run at once on the study's first run. Recorded on
            the study, so later runs, on any number of workers, keep it.
        source: the file it came from (None when parsed from a string).
        text: the TOML text, stored on the study so a run can be traced and re-run.
    """

    name: str
    seed: int
    n_trials: int
    dataset: str
    space: Mapping[str, ParamSpec]
    timeout_s: float | None = None
    metric: str = "val_accuracy"
    description: str = ""
    dataset_path: str | None = None
    dataset_options: Mapping[str, Any] = field(default_factory=dict)
    sampler: str = "tpe"
    sampler_options: Mapping[str, Any] = field(default_factory=dict)
    pruner: str = "median"
    pruner_options: Mapping[str, Any] = field(default_factory=dict)
    run: RunSettings = field(default_factory=RunSettings)
    selection: SelectionSettings = field(default_factory=SelectionSettings)
    reproducible: bool = False
    reproducible_lag: int | None = None
    objectives: tuple[Objective, ...] = DEFAULT_OBJECTIVES
    source: Path | None = None
    text: str = ""

    @property
    def multi_objective(self) -> bool:
        """Whether the study optimizes a cost beside accuracy (several Optuna directions)."""
        return len(self.objectives) > 1

    @property
    def directions(self) -> list[str]:
        """The Optuna study's directions, one per objective ("maximize", "minimize")."""
        return [o.direction for o in self.objectives]

    @property
    def cost_objectives(self) -> list[str]:
        """The costs optimized beside accuracy, in the stored values' order."""
        return [o.name for o in self.objectives[1:]]

    def where(self, key: str) -> str:
        """Where ``key`` ("run.storage") is, for a message: ``studies/x.toml: [run] storage``."""
        return key_where(self.source, key)

    def load_data(self) -> Any:
        """The study's dataset, loaded (``hpsearch.datasets.load_dataset``).

        Raises:
            hpsearch.datasets.DatasetError: it cannot be loaded; an error about one key of the
                study file (a path given to a dataset that takes none, too many folds) names
                this file and that key.
        """
        from hpsearch.datasets import DatasetError, load_dataset

        try:
            return load_dataset(self.dataset, self.dataset_path, seed=self.seed,
                                **dict(self.dataset_options))
        except DatasetError as exc:
            if exc.key is None:
                raise
            key = DATASET_KEYS.get(exc.key, f"dataset.{exc.key}")
            raise DatasetError(f"{self.where(key)}: {exc}", key=exc.key) from None

    def make_sampler(self) -> Any:
        """A fresh Optuna sampler for this study, seeded with the study seed."""
        return _algorithms.make_sampler(self.sampler, self.seed, self.sampler_options)

    def make_pruner(self) -> Any:
        """A fresh Optuna pruner for this study."""
        return _algorithms.make_pruner(self.pruner, self.pruner_options)

    def make_first_fold_pruner(self) -> Any:
        """The pruner of first-fold pruning (``[selection] first_fold_pruning``)."""
        return _algorithms.make_first_fold_pruner()

    def percentile_rule(self, first_fold: bool = False) -> dict[str, Any] | None:
        """A median or percentile pruner's options, Optuna's defaults filled in, or None.

        For ``hpsearch.execution._pruning.PercentileRule``; None for any other pruner.

        Args:
            first_fold: the first-fold pruner's (``FIRST_FOLD_PRUNER``) instead of the study's.
        """
        if first_fold:
            return _algorithms.percentile_rule("percentile", _algorithms.FIRST_FOLD_PRUNER)
        return _algorithms.percentile_rule(self.pruner, self.pruner_options)
