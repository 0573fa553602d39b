"""Study files: TOML in, a frozen and validated ``StudyConfig`` out.

A study file is data, never code. Everything in it is checked before anything starts (no Ray, no
storage, no data loaded): unknown keys, wrong types, bad ranges, unknown sampler, pruner or dataset
names. Each error names the file, the key and what was expected.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch.space import (
    Fixed,
    ParamSpec,
    SpaceError,
    grid_search_space,
    grid_size,
    parse_space,
)

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "ConfigError",
    "RunSettings",
    "StudyConfig",
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
    "none": None,
}

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_SECTIONS = {"study", "dataset", "space", "sampler", "pruner", "run"}
_STUDY_KEYS = {"name", "seed", "n_trials", "timeout_s", "metric", "description"}
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
    source: Path | None = None
    text: str = ""

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
        return getattr(optuna.pruners, cls_name)(**self.pruner_options)


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


def _positive(value: Any, where: str, what: str, integer: bool = False) -> Any:
    _typed(value, int if integer else (int, float), where, what)
    if value <= 0:
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
        kwargs["cpus_per_trial"] = float(_positive(raw["cpus_per_trial"], w("cpus_per_trial"),
                                                   "a positive number of CPUs"))
    if "max_in_flight" in raw:
        kwargs["max_in_flight"] = _positive(raw["max_in_flight"], w("max_in_flight"),
                                            "a positive integer", integer=True)
    if "max_retries" in raw:
        retries = _typed(raw["max_retries"], int, w("max_retries"), "an integer >= 0")
        if retries < 0:
            raise ConfigError(f"{w('max_retries')}: expected an integer >= 0, got {retries!r}")
        kwargs["max_retries"] = retries
    if "trial_timeout_s" in raw:
        kwargs["trial_timeout_s"] = float(_positive(raw["trial_timeout_s"], w("trial_timeout_s"),
                                                    "a positive number of seconds"))
    for key in ("evaluate_best", "report"):
        if key in raw:
            kwargs[key] = _typed(raw[key], bool, w(key), "true or false")
    return RunSettings(**kwargs)


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
    from hpsearch.datasets import DATASET_NAMES, dataset_options

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source or '<study>'}: not valid TOML: {exc}") from None
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
    if not _NAME_RE.match(name):
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
                                    "a positive number of seconds"))
    description = _typed(study.get("description", ""), str, _where(source, "study.description"),
                         "a string")

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
    if unknown := set(dataset) - set(dataset_options(ds_name)):
        raise ConfigError(f"{_where(source, 'dataset')}: unknown options {sorted(unknown)} for "
                          f"dataset {ds_name!r}; expected some of "
                          f"{sorted(set(dataset_options(ds_name)) - {'seed'})}")

    try:
        space = parse_space(_table(raw, "space", source), where=f"{source or '<study>'}: space.")
    except SpaceError as exc:
        raise ConfigError(str(exc)) from None
    if not any(not isinstance(s, Fixed) for s in space.values()):
        raise ConfigError(f"{_where(source, 'space')}: nothing to search; give at least one "
                          "parameter a range, choices or a grid")

    sampler, sampler_options = _parse_sampler(_table(raw, "sampler", source), source)
    pruner, pruner_options = _parse_pruner(_table(raw, "pruner", source), source)
    run = _parse_run(_table(raw, "run", source), source)

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
    n_trials = _positive(n_trials, _where(source, "study.n_trials"), "a positive integer",
                         integer=True)

    config = StudyConfig(
        name=name, seed=seed, n_trials=n_trials, timeout_s=timeout_s, metric=metric,
        description=description, dataset=ds_name, dataset_path=ds_path,
        dataset_options=dataset, space=space, sampler=sampler, sampler_options=sampler_options,
        pruner=pruner, pruner_options=pruner_options, run=run,
        source=Path(source) if source else None, text=text,
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
        ConfigError: the file is missing or unreadable, or its contents are invalid.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such study file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_study_config(text, source=path)
