"""Study files: TOML in, a frozen and validated ``StudyConfig`` out.

A study file is data, never code. Everything in it is checked before anything starts (no Ray, no
storage, no data loaded): unknown keys, wrong types, bad ranges, unknown sampler, pruner or dataset
names. Each error names the file, the key and what was expected.
"""

from __future__ import annotations

import inspect
import math
import re
import stat
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch.study._space import (
    Fixed,
    ParamSpec,
    SpaceError,
    estimate_trial_bytes,
    grid_search_space,
    grid_size,
    largest_configurations,
    parse_space,
    space_values,
)

__all__ = [
    "MAX_STUDY_FILE_BYTES",
    "MAX_TRIALS",
    "PRUNERS",
    "PRUNERS_DECIDING_BY_TRIAL_NUMBER",
    "SAMPLERS",
    "ConfigError",
    "RunSettings",
    "SelectionSettings",
    "StudyConfig",
    "check_memory",
    "check_space_against_data",
    "load_study_config",
    "parse_study_config",
]


class ConfigError(ValueError):
    """A study file that cannot be run; the message names the file, the key and the expectation."""


# Optuna class names by study-file name; imported lazily so `hpsearch --help` stays fast.
SAMPLERS: dict[str, str] = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "grid": "GridSampler",
    "cmaes": "CmaEsSampler",
    "qmc": "QMCSampler",
    "gp": "GPSampler",
}
PRUNERS: dict[str, str | None] = {
    "median": "MedianPruner",
    "percentile": "PercentilePruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
    # Compares a trial's per-fold values with the best trial's, fold by fold (a paired test):
    # for cross-validated studies ([selection] folds), where each fold's score is one step.
    "wilcoxon": "WilcoxonPruner",
    "none": None,
}
# Pruners whose steps must be folds, not epochs.
PRUNERS_NEEDING_FOLDS = frozenset({"wilcoxon"})
# Pruners that assign brackets by stored trial number (Hyperband): they must decide on the stored
# study, in the driver, not on the pruning channel's copy of the curves.
PRUNERS_DECIDING_BY_TRIAL_NUMBER = frozenset({"hyperband"})

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")  # used with fullmatch: no "\n" slips by

MAX_TRIALS = 1_000_000  # n_trials above this is a typo (docs/scaling.md measures 100,000)
MAX_STUDY_FILE_BYTES = 1 << 20  # study files are a few hundred bytes; 1 MiB is plenty
_MAX_CPUS_PER_TRIAL = 1024
_MAX_RETRIES = 100
_MAX_IN_FLIGHT = 1_000_000

# Sampler and pruner options a study file may set, declared as data: (kind, low, high). Kinds:
# "int" (TOML integer), "float" (finite number), "bool", "resource" (positive int or "auto"),
# "choice" (low holds the allowed strings). Options Optuna takes that are Python objects
# (gamma, weights, constraints_func, independent_sampler, source_trials, x0) cannot come from
# TOML.
_OPTION_RULES: dict[str, tuple[str, Any, Any]] = {
    "n_startup_trials": ("int", 0, MAX_TRIALS),
    "n_ei_candidates": ("int", 1, 100_000),
    "prior_weight": ("float", 0.0, math.inf),
    "consider_prior": ("bool", None, None),
    "consider_magic_clip": ("bool", None, None),
    "consider_endpoints": ("bool", None, None),
    "multivariate": ("bool", None, None),
    "group": ("bool", None, None),
    "constant_liar": ("bool", None, None),
    "warn_independent_sampling": ("bool", None, None),
    "warn_asynchronous_seeding": ("bool", None, None),
    "deterministic_objective": ("bool", None, None),
    "consider_pruned_trials": ("bool", None, None),
    "use_separable_cma": ("bool", None, None),
    "with_margin": ("bool", None, None),
    "lr_adapt": ("bool", None, None),
    "scramble": ("bool", None, None),
    "sigma0": ("float", 0.0, math.inf),
    "popsize": ("int", 1, 100_000),
    "inc_popsize": ("int", 1, 100),
    "restart_strategy": ("choice", ("ipop", "bipop"), None),
    "qmc_type": ("choice", ("sobol", "halton"), None),
    "n_warmup_steps": ("int", 0, 10**9),
    "interval_steps": ("int", 1, 10**9),
    "n_min_trials": ("int", 1, MAX_TRIALS),
    "percentile": ("float", 0.0, 100.0),
    "min_resource": ("resource", 1, 10**9),
    "max_resource": ("resource", 1, 10**9),
    "reduction_factor": ("int", 2, 1000),
    "min_early_stopping_rate": ("int", 0, 1000),
    "bootstrap_count": ("int", 0, MAX_TRIALS),
    "p_threshold": ("float", 0.0, 1.0),
    "n_startup_steps": ("int", 0, 10**9),
}
_SECTIONS = {"study", "dataset", "space", "sampler", "pruner", "run", "selection"}
_STUDY_KEYS = {"name", "seed", "n_trials", "timeout_s", "metric", "description", "reproducible"}
_SELECTION_KEYS = {"folds", "refit", "ensemble", "first_fold_pruning"}
# First-fold pruning (``[selection] first_fold_pruning``): PercentilePruner's options. A trial
# goes on past its first fold only while it is in the top third of earlier first folds at the
# same epoch (the median kept too many: the folds cost 2.9x a split's epochs, not 2.0x; see
# docs/benchmarks.md). Five trials' first folds before anything is pruned; no decision in a
# fold's first four epochs (steps below n_warmup_steps), whose accuracy says little about the last.
FIRST_FOLD_PRUNER = {"percentile": 33.0, "n_startup_trials": 5, "n_warmup_steps": 5}
MAX_ENSEMBLE = 50
_RUN_KEYS = {
    "storage",
    "address",
    "cpus_per_trial",
    "max_in_flight",
    "max_retries",
    "trial_timeout_s",
    "evaluate_best",
    "report",
}


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
    """

    storage: str | None = None
    address: str | None = None
    cpus_per_trial: float = 1.0
    max_in_flight: int | None = None
    max_retries: int = 2
    trial_timeout_s: float | None = None
    evaluate_best: bool = True
    report: bool = True


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
    """

    folds: int = 0
    refit: bool = False
    ensemble: int = 1
    first_fold_pruning: bool = False

    @property
    def cross_validated(self) -> bool:
        """Whether trials are scored by k-fold cross-validation."""
        return self.folds >= 2


# The study file's key of a dataset option that lives outside [dataset].
_DATASET_KEYS = {"seed": "study.seed", "folds": "selection.folds"}


@dataclass(frozen=True)
class StudyConfig:
    """A validated study file.

    Attributes:
        name: study name (also the folder under ``runs/``).
        seed: seeds the sampler, the data split and (with the trial number) every trial.
        n_trials: finished trials to reach (grid: defaults to the grid's size).
        timeout_s: stop asking for new trials after this many seconds (None: no limit).
        metric: the value maximized; only "val_accuracy" for now.
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
    source: Path | None = None
    text: str = ""

    def where(self, key: str) -> str:
        """Where ``key`` ("run.storage") is, for a message: ``studies/x.toml: [run] storage``."""
        table, _, name = key.rpartition(".")
        return f"{self.source or '<study>'}: [{table}] {name}" if table else (
            f"{self.source or '<study>'}: {name}")

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
            key = _DATASET_KEYS.get(exc.key, f"dataset.{exc.key}")
            raise DatasetError(f"{self.where(key)}: {exc}", key=exc.key) from None

    def make_sampler(self) -> Any:
        """A fresh Optuna sampler for this study, seeded with the study seed."""
        import optuna

        if self.sampler == "grid":
            # The grid is enqueued whole when the study is created (study.py), so every
            # combination runs exactly once whatever runs in parallel; Optuna's GridSampler
            # stops the study from inside tell(), which an ask/tell driver cannot use.
            return optuna.samplers.RandomSampler(seed=self.seed)
        cls = getattr(optuna.samplers, SAMPLERS[self.sampler])
        return cls(seed=self.seed, **dict(self.sampler_options))

    def make_pruner(self) -> Any:
        """A fresh Optuna pruner for this study."""
        import optuna

        cls_name = PRUNERS[self.pruner]
        if cls_name is None:
            return optuna.pruners.NopPruner()
        with warnings.catch_warnings():  # WilcoxonPruner is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return getattr(optuna.pruners, cls_name)(**self.pruner_options)

    def make_first_fold_pruner(self) -> Any:
        """The pruner of first-fold pruning (``[selection] first_fold_pruning``)."""
        import optuna

        return optuna.pruners.PercentilePruner(**FIRST_FOLD_PRUNER)

    def percentile_rule(self, first_fold: bool = False) -> dict[str, Any] | None:
        """A median or percentile pruner's options, Optuna's defaults filled in, or None.

        For ``hpsearch.execution._pruning.PercentileRule``; None for any other pruner.

        Args:
            first_fold: the first-fold pruner's (``FIRST_FOLD_PRUNER``) instead of the study's.
        """
        import inspect

        import optuna

        name, options = ("percentile", FIRST_FOLD_PRUNER) if first_fold else (
            self.pruner, self.pruner_options)
        if name not in ("median", "percentile"):
            return None
        cls = getattr(optuna.pruners, PRUNERS[name])
        rule = {k: p.default for k, p in inspect.signature(cls).parameters.items()
                if p.default is not inspect.Parameter.empty}
        rule.update(options)
        if name == "median":
            rule["percentile"] = 50.0
        return rule


def _where(source: Path | str | None, key: str) -> str:
    return f"{source or '<study>'}: {key}"


def _table(raw: Mapping[str, Any], key: str, source: Any) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{_where(source, key)}: expected a table [{key}], got {value!r}")
    return dict(value)


def _typed(value: Any, types: type | tuple[type, ...], where: str, what: str) -> Any:
    # bool is an int in Python; a study file saying `n_trials = true` is a mistake.
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ConfigError(f"{where}: expected {what}, got {value!r}")
    if not isinstance(value, types):
        raise ConfigError(f"{where}: expected {what}, got {value!r}")
    return value


def _positive(value: Any, where: str, what: str, integer: bool = False,
              high: float = math.inf) -> Any:
    """A number > 0, finite and at most ``high`` (NaN and inf are refused: TOML has both)."""
    _typed(value, int if integer else (int, float), where, what)
    if not (0 < value <= high and math.isfinite(value)):
        raise ConfigError(f"{where}: expected {what}, got {value!r}")
    return value


def _check_options(cls_name: str, options: Mapping[str, Any], where: str) -> None:
    """Reject keyword arguments the Optuna class does not take, naming the accepted ones."""
    import optuna

    cls = getattr(optuna.samplers, cls_name, None) or getattr(optuna.pruners, cls_name)
    accepted = set(inspect.signature(cls).parameters) - {"seed", "search_space", "self"}
    if unknown := set(options) - accepted:
        raise ConfigError(f"{where}: unknown options {sorted(unknown)} for {cls_name}; "
                          f"expected some of {sorted(accepted)}")
    settable = accepted & set(_OPTION_RULES)
    if objects := set(options) - settable:
        raise ConfigError(f"{where}: {sorted(objects)[0]}: {cls_name} takes a Python object here, "
                          f"which a study file cannot give; options it can set: "
                          f"{sorted(settable)}")
    for key, value in options.items():
        _check_option(value, _OPTION_RULES[key], f"{where}: {key}")


def _check_option(value: Any, rule: tuple[str, Any, Any], where: str) -> None:
    kind, low, high = rule
    if kind == "bool":
        _typed(value, bool, where, "true or false")
        return
    if kind == "choice":
        if value not in low:
            raise ConfigError(f"{where}: expected one of {list(low)}, got {value!r}")
        return
    if kind == "resource" and value == "auto":
        return
    integer = kind in ("int", "resource")
    if integer:
        what = f"an integer in [{low}, {high:,}]" + (' or "auto"' if kind == "resource" else "")
    else:
        what = (f"a finite number in [{low}, {high}]" if math.isfinite(high)
                else f"a finite number > {low}")
    _typed(value, int if integer else (int, float), where, what)
    ok = low <= value <= high if math.isfinite(high) else low < value < high
    if not ok:
        raise ConfigError(f"{where}: expected {what}, got {value!r}")


def _parse_sampler(raw: dict[str, Any], source: Any) -> tuple[str, dict[str, Any]]:
    name = raw.pop("name", "tpe")
    if name not in SAMPLERS:
        raise ConfigError(f"{_where(source, 'sampler.name')}: unknown sampler {name!r}; "
                          f"expected one of {sorted(SAMPLERS)}")
    _check_options(SAMPLERS[name], raw, _where(source, "sampler"))
    if name == "gp":
        try:
            import torch  # noqa: F401  (Optuna's GPSampler needs it)
        except ImportError:
            raise ConfigError(f"{_where(source, 'sampler.name')}: the 'gp' sampler needs PyTorch; "
                              "install it with `pip install torch==2.13.0` or choose another "
                              "sampler") from None
    if name == "cmaes":
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ConfigError(f"{_where(source, 'sampler.name')}: the 'cmaes' sampler needs the "
                              "`cmaes` package (`pip install cmaes`)") from None
    return name, raw


def _parse_pruner(raw: dict[str, Any], source: Any) -> tuple[str, dict[str, Any]]:
    name = raw.pop("name", "median")
    if name not in PRUNERS:
        raise ConfigError(f"{_where(source, 'pruner.name')}: unknown pruner {name!r}; "
                          f"expected one of {sorted(PRUNERS)}")
    cls_name = PRUNERS[name]
    if cls_name is None:
        if raw:
            raise ConfigError(f"{_where(source, 'pruner')}: pruner 'none' takes no options, "
                              f"got {sorted(raw)}")
    else:
        _check_options(cls_name, raw, _where(source, "pruner"))
    return name, raw


def _parse_run(raw: dict[str, Any], source: Any) -> RunSettings:
    if unknown := set(raw) - _RUN_KEYS:
        raise ConfigError(f"{_where(source, 'run')}: unknown keys {sorted(unknown)}; "
                          f"expected some of {sorted(_RUN_KEYS)}")
    w = lambda key: _where(source, f"run.{key}")  # noqa: E731
    kwargs: dict[str, Any] = {}
    for key in ("storage", "address"):
        if key in raw:
            kwargs[key] = _typed(raw[key], str, w(key), "a string")
    if "cpus_per_trial" in raw:
        kwargs["cpus_per_trial"] = float(_positive(
            raw["cpus_per_trial"], w("cpus_per_trial"),
            f"a positive finite number of CPUs, at most {_MAX_CPUS_PER_TRIAL}",
            high=_MAX_CPUS_PER_TRIAL))
    if "max_in_flight" in raw:
        kwargs["max_in_flight"] = _positive(raw["max_in_flight"], w("max_in_flight"),
                                            f"a positive integer, at most {_MAX_IN_FLIGHT:,}",
                                            integer=True, high=_MAX_IN_FLIGHT)
    if "max_retries" in raw:
        what = f"an integer in [0, {_MAX_RETRIES}]"
        retries = _typed(raw["max_retries"], int, w("max_retries"), what)
        if not 0 <= retries <= _MAX_RETRIES:
            raise ConfigError(f"{w('max_retries')}: expected {what}, got {retries!r}")
        kwargs["max_retries"] = retries
    if "trial_timeout_s" in raw:
        kwargs["trial_timeout_s"] = float(_positive(raw["trial_timeout_s"], w("trial_timeout_s"),
                                                    "a positive finite number of seconds"))
    for key in ("evaluate_best", "report"):
        if key in raw:
            kwargs[key] = _typed(raw[key], bool, w(key), "true or false")
    return RunSettings(**kwargs)


def _parse_selection(raw: dict[str, Any], source: Any) -> SelectionSettings:
    from hpsearch.datasets import MAX_FOLDS

    if unknown := set(raw) - _SELECTION_KEYS:
        raise ConfigError(f"{_where(source, 'selection')}: unknown keys {sorted(unknown)}; "
                          f"expected some of {sorted(_SELECTION_KEYS)}")
    w = lambda key: _where(source, f"selection.{key}")  # noqa: E731
    folds = raw.get("folds", 0)
    what = f"0 (one validation split) or an integer in [2, {MAX_FOLDS}] (k-fold)"
    _typed(folds, int, w("folds"), what)
    if folds != 0 and not 2 <= folds <= MAX_FOLDS:
        raise ConfigError(f"{w('folds')}: expected {what}, got {folds!r}")
    refit = _typed(raw.get("refit", folds >= 2), bool, w("refit"), "true or false")
    ensemble = raw.get("ensemble", 1)
    what = f"an integer in [1, {MAX_ENSEMBLE}] (1: the best configuration alone)"
    _typed(ensemble, int, w("ensemble"), what)
    if not 1 <= ensemble <= MAX_ENSEMBLE:
        raise ConfigError(f"{w('ensemble')}: expected {what}, got {ensemble!r}")
    first = _typed(raw.get("first_fold_pruning", False), bool, w("first_fold_pruning"),
                   "true or false")
    if first and folds < 2:
        raise ConfigError(f"{w('first_fold_pruning')}: needs cross-validation (folds >= 2); "
                          "on one validation split the [pruner] sees every epoch already")
    return SelectionSettings(folds=folds, refit=refit, ensemble=ensemble,
                             first_fold_pruning=first)


def parse_study_config(text: str, source: Path | str | None = None) -> StudyConfig:
    """Validate a study file's text.

    Args:
        text: TOML text.
        source: the file it came from, for error messages.

    Returns:
        The frozen config.

    Raises:
        ConfigError: anything that would make the study fail or do something other than meant.
    """
    from hpsearch.datasets import (
        DATASET_NAMES,
        DatasetError,
        check_dataset_options,
        dataset_options,
    )

    if len(text) > MAX_STUDY_FILE_BYTES:
        raise ConfigError(f"{source or '<study>'}: {len(text):,} characters; a study file is "
                          f"expected to be at most {MAX_STUDY_FILE_BYTES:,}")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source or '<study>'}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source or '<study>'}: not a usable study file: tables or arrays "
                          "nested too deeply to parse; a study file nests at most a few "
                          "levels") from None
    if unknown := set(raw) - _SECTIONS:
        raise ConfigError(f"{source or '<study>'}: unknown keys {sorted(unknown)}; "
                          f"expected some of {sorted(_SECTIONS)}")

    study = _table(raw, "study", source)
    if unknown := set(study) - _STUDY_KEYS:
        raise ConfigError(f"{_where(source, 'study')}: unknown keys {sorted(unknown)}; "
                          f"expected some of {sorted(_STUDY_KEYS)}")
    if "name" not in study:
        raise ConfigError(f"{_where(source, 'study.name')}: missing; expected a name such as "
                          "'digits'")
    name = _typed(study["name"], str, _where(source, "study.name"), "a string")
    if not _NAME_RE.fullmatch(name):
        raise ConfigError(f"{_where(source, 'study.name')}: expected letters, digits, '_', '-' "
                          f"or '.' (it names a folder), got {name!r}")
    seed = _typed(study.get("seed", 0), int, _where(source, "study.seed"), "an integer")
    if seed < 0:
        raise ConfigError(f"{_where(source, 'study.seed')}: expected an integer >= 0, got {seed}")
    metric = study.get("metric", "val_accuracy")
    if metric != "val_accuracy":
        raise ConfigError(f"{_where(source, 'study.metric')}: expected 'val_accuracy', "
                          f"got {metric!r}")
    timeout_s = study.get("timeout_s")
    if timeout_s is not None:
        timeout_s = float(_positive(timeout_s, _where(source, "study.timeout_s"),
                                    "a positive finite number of seconds"))
    description = _typed(study.get("description", ""), str, _where(source, "study.description"),
                         "a string")
    reproducible = _typed(study.get("reproducible", False), bool,
                          _where(source, "study.reproducible"), "true or false")

    dataset = _table(raw, "dataset", source)
    ds_name = dataset.pop("name", "digits")
    if ds_name not in DATASET_NAMES:
        raise ConfigError(f"{_where(source, 'dataset.name')}: unknown dataset {ds_name!r}; "
                          f"expected one of {sorted(DATASET_NAMES)}")
    ds_path = dataset.pop("path", None)
    if ds_path is not None:
        _typed(ds_path, str, _where(source, "dataset.path"), "a path string")
    if "seed" in dataset:
        raise ConfigError(f"{_where(source, 'dataset.seed')}: the split is seeded by study.seed; "
                          "remove dataset.seed")
    if "folds" in dataset:
        raise ConfigError(f"{_where(source, 'dataset.folds')}: cross-validation is a way of "
                          "selecting; move it to [selection] folds")
    selection = _parse_selection(_table(raw, "selection", source), source)
    if selection.cross_validated:  # the loaded dataset carries the folds to every worker
        dataset["folds"] = selection.folds
    if unknown := set(dataset) - set(dataset_options(ds_name)):
        raise ConfigError(f"{_where(source, 'dataset')}: unknown options {sorted(unknown)} for "
                          f"dataset {ds_name!r}; expected some of "
                          f"{sorted(set(dataset_options(ds_name)) - {'seed', 'folds'})}")
    try:
        resolved = check_dataset_options(ds_name, {**dataset, "seed": seed})
    except DatasetError as exc:
        key = ("study.seed" if exc.key == "seed" else f"dataset.{exc.key}" if exc.key
               else "dataset")
        raise ConfigError(f"{_where(source, key)}: {exc}") from None

    try:
        space = parse_space(_table(raw, "space", source), where=f"{source or '<study>'}: space.")
    except SpaceError as exc:
        raise ConfigError(str(exc)) from None
    if not any(not isinstance(s, Fixed) for s in space.values()):
        raise ConfigError(f"{_where(source, 'space')}: nothing to search; give at least one "
                          "parameter a range, choices or a grid")
    _check_space_against_source(space, ds_name, resolved, source)

    sampler, sampler_options = _parse_sampler(_table(raw, "sampler", source), source)
    pruner, pruner_options = _parse_pruner(_table(raw, "pruner", source), source)
    run = _parse_run(_table(raw, "run", source), source)
    if pruner in PRUNERS_NEEDING_FOLDS and not selection.cross_validated:
        raise ConfigError(f"{_where(source, 'pruner.name')}: {pruner!r} compares a trial's "
                          "per-fold values with the best trial's; it needs cross-validation: add "
                          "[selection] folds = 5 (or use 'median' on a single split)")

    if sampler == "grid":
        try:
            n_grid = grid_size(grid_search_space(space, where=f"{source or '<study>'}: space."))
        except SpaceError as exc:
            raise ConfigError(str(exc)) from None
        n_trials = study.get("n_trials", n_grid)
        if isinstance(n_trials, int) and not isinstance(n_trials, bool) and n_trials > n_grid:
            raise ConfigError(f"{_where(source, 'study.n_trials')}: the grid has {n_grid} "
                              f"combinations, so at most {n_grid} trials; got {n_trials}")
    else:
        if "n_trials" not in study:
            raise ConfigError(f"{_where(source, 'study.n_trials')}: missing; expected a positive "
                              "integer")
        n_trials = study["n_trials"]
    n_trials = _positive(n_trials, _where(source, "study.n_trials"),
                         f"a positive integer, at most {MAX_TRIALS:,}", integer=True,
                         high=MAX_TRIALS)

    config = StudyConfig(
        name=name, seed=seed, n_trials=n_trials, timeout_s=timeout_s, metric=metric,
        description=description, dataset=ds_name, dataset_path=ds_path,
        dataset_options=dataset, space=space, sampler=sampler, sampler_options=sampler_options,
        pruner=pruner, pruner_options=pruner_options, run=run, selection=selection,
        reproducible=reproducible, source=Path(source) if source else None, text=text,
    )
    # Build once now so that bad option values (Optuna's own checks) fail before anything starts.
    for what, make in (("sampler", config.make_sampler), ("pruner", config.make_pruner)):
        try:
            make()
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{_where(source, what)}: {exc}") from None
    return config


def load_study_config(path: Path | str) -> StudyConfig:
    """Read and validate a study file.

    Raises:
        ConfigError: the file is missing, unreadable, not a regular file, larger than
            ``MAX_STUDY_FILE_BYTES``, or its contents are invalid.
    """
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
            raise ConfigError(f"{path}: not a regular file; expected a TOML study file")
        if info.st_size > MAX_STUDY_FILE_BYTES:
            raise ConfigError(f"{path}: {info.st_size:,} bytes; a study file is expected to be "
                              f"at most {MAX_STUDY_FILE_BYTES:,}")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such study file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_study_config(text, source=path)


# --- checks that need the dataset's kind or shape -----------------------------------------------


def _may_be(space: Mapping[str, ParamSpec], name: str, value: Any) -> bool:
    """Whether some trial of ``space`` can give ``name`` the (string) ``value``."""
    from hpsearch.study._space import PARAMETERS

    spec = space.get(name)
    values = space_values(spec) if spec is not None else (PARAMETERS[name].default,)
    return value in (values or ())


def _check_space_against_source(space: Mapping[str, ParamSpec], dataset: str,
                                options: Mapping[str, Any], source: Any) -> None:
    """Refuse, from the study file alone, models and augmentations the dataset cannot feed."""
    from hpsearch.datasets import TABULAR_DATASETS

    if _may_be(space, "model", "cnn"):
        if dataset in TABULAR_DATASETS:
            raise ConfigError(f"{_where(source, 'space.model')}: 'cnn' needs image data, but "
                              f"dataset {dataset!r} holds feature vectors; use model = 'fc'")
        if options.get("flatten", True):
            raise ConfigError(f"{_where(source, 'space.model')}: 'cnn' needs images kept as "
                              "(C, H, W); add flatten = false to [dataset]")
    if _may_be(space, "augment", "flip") and dataset in TABULAR_DATASETS:
        raise ConfigError(f"{_where(source, 'space.augment')}: 'flip' mirrors images, but "
                          f"dataset {dataset!r} holds feature vectors; use augment = 'none'")


def _describe(params: Mapping[str, Any]) -> str:
    from hpsearch.study._space import hidden_dims

    keys = ["model", "batch_size", "update_rule", "normalization"]
    if params.get("model") == "cnn":
        keys += ["num_filters", "filter_size", "num_conv_stages"]
    shown = ", ".join(f"{k} = {params[k]!r}" for k in keys)
    return f"hidden layers {list(hidden_dims(params))}, {shown}"


def check_memory(config: StudyConfig, input_shape: tuple[int, ...], num_classes: int,
                 available_bytes: int | None = None) -> int:
    """Refuse a space whose largest trial cannot fit in the memory one trial has.

    Args:
        config: the study.
        input_shape: per-sample shape the model sees (``Dataset.input_shape``).
        num_classes: ``Dataset.num_classes``.
        available_bytes: memory one trial may use (a worker's memory divided by the trials it
            runs at once); None: this machine's available memory.

    Returns:
        The estimate for the largest trial, in bytes (``hpsearch.study._space.estimate_trial_bytes``).

    Raises:
        ConfigError: naming the file, the largest configuration's values, the estimate and the
            memory available.
    """
    worst, worst_params = 0, None
    for params in largest_configurations(config.space):
        if params["model"] == "cnn" and len(input_shape) != 3:
            continue  # refused by check_space_against_data
        estimate = estimate_trial_bytes(params, input_shape, num_classes)
        if estimate > worst:
            worst, worst_params = estimate, params
    if available_bytes is None:
        from hpsearch.datasets import available_memory

        available_bytes = available_memory()
    if worst_params is not None and available_bytes is not None and worst > available_bytes:
        raise ConfigError(
            f"{_where(config.source, 'space')}: the largest trial this space allows "
            f"({_describe(worst_params)}; inputs {tuple(input_shape)}, {num_classes} classes) "
            f"needs about {worst / 2**30:.3g} GiB (parameters, activations for one batch, "
            f"im2col buffers), but a trial has {available_bytes / 2**30:.3g} GiB; lower the "
            "largest hidden_size, num_layers, batch_size or num_filters")
    return worst


def check_space_against_data(config: StudyConfig, dataset: Any,
                             available_bytes: int | None = None) -> int:
    """Everything about the space that needs the loaded dataset, checked before any trial runs.

    A CNN needs (C, H, W) inputs large enough for its pooling stages, ``augment = 'flip'`` needs
    images, and the largest trial must fit in memory (``check_memory``).

    Args:
        config: the study.
        dataset: the loaded ``hpsearch.datasets.Dataset``.
        available_bytes: memory one trial may use; None: this machine's available memory.

    Returns:
        The memory estimate of the largest trial, in bytes.

    Raises:
        ConfigError: naming the file, the key and what the data allow.
    """
    from hpsearch.study._space import _highest

    space, source = config.space, config.source
    shape = tuple(dataset.input_shape)
    if _may_be(space, "model", "cnn"):
        if len(shape) != 3:
            raise ConfigError(
                f"{_where(source, 'space.model')}: 'cnn' needs images kept as (C, H, W), but "
                f"dataset {dataset.name!r} gives per-sample shape {shape}"
                + ("; add flatten = false to [dataset]" if dataset.image_shape else ""))
        stages = int(_highest(space, "num_conv_stages"))
        fits = min(shape[1:]).bit_length() - 1  # halvings that leave at least 2 pixels
        if stages > fits:
            raise ConfigError(
                f"{_where(source, 'space.num_conv_stages')}: up to {stages} stages each halve "
                f"the image, but {shape[1]}x{shape[2]} images allow at most {fits}")
    folds = config.selection.folds
    if folds and folds > (n_pool := len(dataset.y_train) + len(dataset.y_val)):
        raise ConfigError(f"{_where(source, 'selection.folds')}: {folds} folds but only {n_pool} "
                          "training and validation examples; lower folds")
    if _may_be(space, "augment", "flip") and dataset.image_shape is None:
        raise ConfigError(f"{_where(source, 'space.augment')}: 'flip' mirrors images, but "
                          f"dataset {dataset.name!r} has no image shape (per-sample shape "
                          f"{shape}); use augment = 'none'")
    return check_memory(config, shape, int(dataset.num_classes), available_bytes)
