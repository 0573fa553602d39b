"""Study files: TOML in, a frozen and validated ``StudyConfig`` out.

A study file is data, never code. Everything in it is checked before anything starts (no Ray, no
storage, no data loaded) against the tables of ``_schema``, ``_space`` and ``_algorithms``:
unknown keys, wrong types, bad ranges, unknown sampler, pruner or dataset names. Each error is
one line naming the file, the key, what was expected and the value given::

    studies/x.toml: [run] max_retries: expected an integer in [0, 100], got 1000
"""

from __future__ import annotations

import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpsearch.study import _algorithms, _schema
from hpsearch.study._checks import check_space_against_source
from hpsearch.study._config import DATASET_KEYS, RunSettings, SelectionSettings, StudyConfig
from hpsearch.study._errors import ConfigError, key_where, refused
from hpsearch.study._objectives import (
    ACCURACY,
    COSTS,
    DEFAULT_OBJECTIVES,
    Objective,
    check_costs_vary,
    parse_objectives,
)
from hpsearch.study._rules import Constraint, Interval, Options, Text
from hpsearch.study._space import Fixed, ParamSpec, SpaceError, grid_search_space, grid_size
from hpsearch.study._space import parse_space as _parse_space_table

__all__ = ["load_study_config", "parse_study_config"]

Source = Path | str | None


# --- tables and keys ----------------------------------------------------------------------------


def _read(text: str, source: Source) -> dict[str, Any]:
    """The TOML document, its top-level keys checked against the known tables."""
    if len(text) > _schema.MAX_STUDY_FILE_BYTES:
        raise ConfigError(f"{source or '<study>'}: {len(text):,} characters; a study file is "
                          f"expected to be at most {_schema.MAX_STUDY_FILE_BYTES:,}")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source or '<study>'}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source or '<study>'}: not a usable study file: tables or arrays "
                          "nested too deeply to parse; a study file nests at most a few "
                          "levels") from None
    if unknown := set(raw) - set(_schema.SECTIONS):
        raise ConfigError(f"{source or '<study>'}: unknown keys {sorted(unknown)}; "
                          f"expected some of {sorted(_schema.SECTIONS)}")
    return raw


def _table(raw: Mapping[str, Any], section: str, source: Source) -> dict[str, Any]:
    """A copy of table ``[section]`` (empty when absent)."""
    value = raw.get(section, {})
    if not isinstance(value, Mapping):
        raise refused(source, section, f"a table [{section}]", value)
    return dict(value)


def _refuse_unknown(table: Mapping[str, Any], known: Any, section: str, source: Source) -> None:
    if unknown := set(table) - set(known):
        raise ConfigError(f"{key_where(source, section)}: unknown keys {sorted(unknown)}; "
                          f"expected some of {sorted(known)}")


def _value(table: Mapping[str, Any], key: str, rule: Constraint, section: str, source: Source,
           default: Any = None) -> Any:
    """``table[key]`` checked against ``rule`` (numbers of a float rule become floats)."""
    if key not in table:
        return default
    value = table[key]
    if not rule.is_satisfied_by(value):
        raise refused(source, f"{section}.{key}", rule, value)
    return float(value) if isinstance(rule, Interval) and rule.type is float else value


def _values(table: Mapping[str, Any], rules: Mapping[str, Constraint], section: str,
            source: Source) -> dict[str, Any]:
    """Every key of ``table`` checked against its rule; unknown keys refused."""
    _refuse_unknown(table, rules, section, source)
    return {key: _value(table, key, rule, section, source) for key, rule in rules.items()
            if key in table}


# --- sections -----------------------------------------------------------------------------------


def _parse_study(table: dict[str, Any], source: Source) -> dict[str, Any]:
    """``[study]``, all but ``n_trials`` (whose default depends on the sampler)."""
    _refuse_unknown(table, (*_schema.STUDY, *_schema.STUDY_TABLES), "study", source)
    if "name" not in table:
        raise ConfigError(f"{key_where(source, 'study.name')}: missing; expected a name such as "
                          "'digits'")
    values = _values({k: v for k, v in table.items() if k not in ("n_trials", "objectives")},
                     _schema.STUDY, "study", source)
    values["objectives"] = (parse_objectives(table["objectives"], source)
                            if "objectives" in table else DEFAULT_OBJECTIVES)
    if "reproducible_lag" in values and not values.get("reproducible"):
        raise ConfigError(f"{key_where(source, 'study.reproducible_lag')}: only means something "
                          "with reproducible = true; add that, or remove the lag")
    return {"seed": 0, "metric": "val_accuracy", "description": "", "reproducible": False,
            "reproducible_lag": None, "timeout_s": None, **values}


def _parse_selection(table: dict[str, Any], objectives: tuple[Objective, ...],
                     source: Source) -> SelectionSettings:
    values = _values(table, _schema.selection_rules(), "selection", source)
    folds = values.get("folds", 0)
    if values.get("first_fold_pruning") and folds < 2:
        raise ConfigError(f"{key_where(source, 'selection.first_fold_pruning')}: needs "
                          "cross-validation (folds >= 2); on one validation split the [pruner] "
                          "sees every epoch already")
    rule = values.get("rule", "best")
    if "cost" in values and rule != "one_se":
        raise ConfigError(f"{key_where(source, 'selection.cost')}: only means something with "
                          "rule = \"one_se\" (the cheapest within one standard error of the "
                          "best); add that, or remove the cost")
    cost = values.get("cost")
    if rule == "one_se" and cost is None:
        cost = next((o.name for o in objectives[1:]), None)
        if cost is None:
            raise ConfigError(f"{key_where(source, 'selection.rule')}: \"one_se\" picks the "
                              "cheapest configuration within one standard error of the best; "
                              "name what makes it cheap: [selection] cost = \"n_params\" (or "
                              f"one of {sorted(COSTS)}), or add a cost to [study] objectives")
    return SelectionSettings(folds=folds, refit=values.get("refit", folds >= 2),
                             ensemble=values.get("ensemble", 1),
                             first_fold_pruning=values.get("first_fold_pruning", False),
                             rule=rule, cost=cost)


def _parse_dataset(table: dict[str, Any], seed: int, selection: SelectionSettings,
                   source: Source) -> tuple[str, str | None, dict[str, Any], dict[str, Any]]:
    """``[dataset]``: (name, path, options as given, options resolved with their defaults)."""
    from hpsearch.datasets import (
        DATASET_NAMES,
        DatasetError,
        check_dataset_options,
        dataset_options,
    )

    name = _value(table, "name", Options(str, sorted(DATASET_NAMES)), "dataset", source,
                  "digits")
    path = _value(table, "path", Text(description="a path string"), "dataset", source)
    options = {k: v for k, v in table.items() if k not in ("name", "path")}
    if "seed" in options:
        raise ConfigError(f"{key_where(source, 'dataset.seed')}: the split is seeded by "
                          "[study] seed; remove it from [dataset]")
    if "folds" in options:
        raise ConfigError(f"{key_where(source, 'dataset.folds')}: cross-validation is a way of "
                          "selecting; move it to [selection] folds")
    if selection.cross_validated:  # the loaded dataset carries the folds to every worker
        options["folds"] = selection.folds
    accepted = set(dataset_options(name))
    if unknown := set(options) - accepted:
        raise ConfigError(f"{key_where(source, 'dataset')}: unknown options {sorted(unknown)} "
                          f"for dataset {name!r}; expected some of "
                          f"{sorted(accepted - {'seed', 'folds'})}")

    def where(key: str) -> str:
        return key_where(source, DATASET_KEYS.get(key, f"dataset.{key}"))

    try:
        resolved = check_dataset_options(name, {**options, "seed": seed}, where=where)
    except DatasetError as exc:
        located = where(exc.key) if exc.key else key_where(source, "dataset")
        message = str(exc)  # one option's value already names its key; a cross-check does not
        raise ConfigError(message if message.startswith(located) else f"{located}: {message}"
                          ) from None
    return name, path, options, resolved


def _parse_space(table: dict[str, Any], dataset: str, options: Mapping[str, Any],
                 source: Source) -> dict[str, ParamSpec]:
    try:
        space = _parse_space_table(table, where=f"{key_where(source, 'space')} ")
    except SpaceError as exc:
        raise ConfigError(str(exc)) from None
    if all(isinstance(s, Fixed) for s in space.values()):
        raise ConfigError(f"{key_where(source, 'space')}: nothing to search; give at least one "
                          "parameter a range, choices or a grid")
    check_space_against_source(space, dataset, options, source)
    return space


def _parse_algorithm(table: dict[str, Any], section: str, default: str,
                     source: Source) -> tuple[str, dict[str, Any]]:
    """``[sampler]`` or ``[pruner]``: its name and its options, checked."""
    name = table.pop("name", default)
    if section == "pruner" and (on := table.pop("objective", ACCURACY)) != ACCURACY:
        raise ConfigError(f"{key_where(source, 'pruner.objective')}: pruners act on "
                          f"{ACCURACY}, the one objective with a learning curve (costs are "
                          "known from the configuration or when a trial ends); expected "
                          f"{ACCURACY!r}, got {on!r}")
    check = _algorithms.check_sampler if section == "sampler" else _algorithms.check_pruner
    check(name, table, source)
    return name, table


def _parse_run(table: dict[str, Any], source: Source) -> RunSettings:
    run = RunSettings(**_values(table, _schema.RUN, "run", source))
    if run.max_cpus is not None and run.max_cpus < run.cpus_per_trial:
        raise ConfigError(f"{key_where(source, 'run.max_cpus')}: expected at least "
                          f"cpus_per_trial ({run.cpus_per_trial:g}), or no trial could run; "
                          f"got {run.max_cpus:g}")
    return run


def _n_trials(study: Mapping[str, Any], sampler: str, space: Mapping[str, ParamSpec],
              source: Source) -> int:
    """``[study] n_trials``: required, except with the grid sampler (the grid's size)."""
    rule = _schema.STUDY["n_trials"]
    if sampler != "grid":
        if "n_trials" not in study:
            raise ConfigError(f"{key_where(source, 'study.n_trials')}: missing; expected {rule}")
        return _value(study, "n_trials", rule, "study", source)
    try:
        n_grid = grid_size(grid_search_space(space, where=f"{key_where(source, 'space')} "))
    except SpaceError as exc:
        raise ConfigError(str(exc)) from None
    # the grid's size by default; refused like a given value when it is past MAX_TRIALS
    n_trials = _value({"n_trials": study.get("n_trials", n_grid)}, "n_trials", rule, "study",
                      source)
    if n_trials > n_grid:
        raise ConfigError(f"{key_where(source, 'study.n_trials')}: the grid has {n_grid} "
                          f"combinations, so at most {n_grid} trials; got {n_trials}")
    return n_trials


def _check_objectives(objectives: tuple[Objective, ...], selection: SelectionSettings,
                      sampler: str, pruner: str, space: Mapping[str, ParamSpec],
                      source: Source) -> None:
    """What several objectives (or a cost to select by) ask of the sampler, pruner and space."""
    costs = [o.name for o in objectives[1:]]
    check_costs_vary(costs, space, source, "study.objectives")
    if selection.cost is not None and selection.cost not in costs:
        check_costs_vary([selection.cost], space, source, "selection.cost")
    if not costs:
        return
    if not _algorithms.SAMPLER_KINDS[sampler].multi_objective:
        capable = sorted(n for n, k in _algorithms.SAMPLER_KINDS.items() if k.multi_objective)
        raise ConfigError(f"{key_where(source, 'sampler.name')}: {sampler!r} searches one "
                          f"objective; [study] objectives names {len(objectives)}: expected one "
                          f"of {capable}")
    if pruner in _algorithms.PRUNERS_DECIDING_BY_TRIAL_NUMBER:
        raise ConfigError(f"{key_where(source, 'pruner.name')}: {pruner!r} decides on the stored "
                          "study, and Optuna's pruners take no multi-objective study; expected a "
                          "pruner that decides on accuracy across workers ('median', "
                          "'percentile', 'successive_halving', 'wilcoxon') or 'none'")


# --- the file -----------------------------------------------------------------------------------


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
    raw = _read(text, source)
    study_table = _table(raw, "study", source)
    study = _parse_study(study_table, source)
    selection = _parse_selection(_table(raw, "selection", source), study["objectives"], source)
    dataset, path, options, resolved = _parse_dataset(_table(raw, "dataset", source),
                                                      study["seed"], selection, source)
    space = _parse_space(_table(raw, "space", source), dataset, resolved, source)
    sampler, sampler_options = _parse_algorithm(_table(raw, "sampler", source), "sampler",
                                                "tpe", source)
    pruner, pruner_options = _parse_algorithm(_table(raw, "pruner", source), "pruner",
                                              "median", source)
    run = _parse_run(_table(raw, "run", source), source)
    if pruner in _algorithms.PRUNERS_NEEDING_FOLDS and not selection.cross_validated:
        raise ConfigError(f"{key_where(source, 'pruner.name')}: {pruner!r} compares a trial's "
                          "per-fold values with the best trial's; it needs cross-validation: add "
                          "[selection] folds = 5 (or use 'median' on a single split)")
    _check_objectives(study["objectives"], selection, sampler, pruner, space, source)
    config = StudyConfig(
        **study, n_trials=_n_trials(study_table, sampler, space, source), dataset=dataset,
        dataset_path=path, dataset_options=options, space=space, sampler=sampler,
        sampler_options=sampler_options, pruner=pruner, pruner_options=pruner_options, run=run,
        selection=selection, source=Path(source) if source else None, text=text)
    # Build once now so that bad option values (Optuna's own checks) fail before anything starts.
    for what, make in (("sampler", config.make_sampler), ("pruner", config.make_pruner)):
        try:
            make()
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{key_where(source, what)}: {exc}") from None
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
        if info.st_size > _schema.MAX_STUDY_FILE_BYTES:
            raise ConfigError(f"{path}: {info.st_size:,} bytes; a study file is expected to be "
                              f"at most {_schema.MAX_STUDY_FILE_BYTES:,}")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such study file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_study_config(text, source=path)
