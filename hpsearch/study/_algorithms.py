"""The samplers and pruners a study file may name: tables with their traits, and factories.

A study file's ``[sampler]`` and ``[pruner]`` name one entry of ``SAMPLER_KINDS`` /
``PRUNER_KINDS`` and may set the options in ``OPTION_RULES`` that the Optuna class takes. Optuna
is imported only inside the functions, so ``hpsearch --help`` stays fast.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hpsearch.study._errors import ConfigError, key_where, refused
from hpsearch.study._rules import AnyOf, Boolean, Constraint, Interval, Options
from hpsearch.study._schema import MAX_TRIALS

__all__ = [
    "FIRST_FOLD_PRUNER",
    "OPTION_RULES",
    "PRUNERS",
    "PRUNERS_DECIDING_BY_TRIAL_NUMBER",
    "PRUNERS_NEEDING_FOLDS",
    "PRUNER_KINDS",
    "SAMPLERS",
    "SAMPLER_KINDS",
    "PrunerKind",
    "SamplerKind",
    "check_pruner",
    "check_sampler",
    "make_first_fold_pruner",
    "make_pruner",
    "make_sampler",
    "percentile_rule",
]


@dataclass(frozen=True)
class SamplerKind:
    """A sampler a study file may name.

    Attributes:
        optuna_class: the class in ``optuna.samplers`` that ``make_sampler`` builds.
        takes_options: whether ``[sampler]`` may set options for it.
        needs: (module, what to install) when the class needs a package of its own.
        multi_objective: it can search several objectives (``[study] objectives``).
    """

    optuna_class: str
    takes_options: bool = True
    needs: tuple[str, str] | None = None
    multi_objective: bool = True


@dataclass(frozen=True)
class PrunerKind:
    """A pruner a study file may name.

    Attributes:
        optuna_class: the class in ``optuna.pruners``; None: nothing is pruned.
        needs_folds: its steps must be folds, not epochs (``[selection] folds``).
        decides_by_trial_number: it assigns brackets by stored trial number (Hyperband), so it
            must decide on the stored study, in the driver, not on the pruning channel's copy
            of the curves.
    """

    optuna_class: str | None
    needs_folds: bool = False
    decides_by_trial_number: bool = False


SAMPLER_KINDS: dict[str, SamplerKind] = {
    "tpe": SamplerKind("TPESampler"),
    "random": SamplerKind("RandomSampler"),
    # "grid" is not Optuna's GridSampler: the driver enqueues every combination of the grid when
    # it creates the study, so each runs exactly once whatever runs in parallel (GridSampler
    # stops the study from inside tell(), which an ask/tell driver cannot use). The sampler only
    # has to exist and be seeded: a RandomSampler, with no options to set.
    "grid": SamplerKind("RandomSampler", takes_options=False),
    "cmaes": SamplerKind("CmaEsSampler", needs=("cmaes", "the `cmaes` package (`pip install "
                                                "cmaes`)"), multi_objective=False),
    "qmc": SamplerKind("QMCSampler"),
    # genetic algorithms for several objectives (one works too): a population of trials at a time
    "nsga2": SamplerKind("NSGAIISampler"),
    "nsga3": SamplerKind("NSGAIIISampler"),
    "gp": SamplerKind("GPSampler", needs=("torch", "PyTorch (`pip install torch==2.13.0`)")),
}
PRUNER_KINDS: dict[str, PrunerKind] = {
    "median": PrunerKind("MedianPruner"),
    "percentile": PrunerKind("PercentilePruner"),
    "successive_halving": PrunerKind("SuccessiveHalvingPruner"),
    "hyperband": PrunerKind("HyperbandPruner", decides_by_trial_number=True),
    # Compares a trial's per-fold values with the best trial's, fold by fold (a paired test):
    # for cross-validated studies ([selection] folds), where each fold's score is one step.
    "wilcoxon": PrunerKind("WilcoxonPruner", needs_folds=True),
    "none": PrunerKind(None),
}

# The same tables as the plain mappings other packages read.
SAMPLERS: dict[str, str] = {name: kind.optuna_class for name, kind in SAMPLER_KINDS.items()}
PRUNERS: dict[str, str | None] = {name: kind.optuna_class for name, kind in PRUNER_KINDS.items()}
PRUNERS_NEEDING_FOLDS = frozenset(n for n, k in PRUNER_KINDS.items() if k.needs_folds)
PRUNERS_DECIDING_BY_TRIAL_NUMBER = frozenset(
    n for n, k in PRUNER_KINDS.items() if k.decides_by_trial_number)

_STEPS = Interval(int, 0, 10**9)
_RESOURCE = AnyOf(Interval(int, 1, 10**9), Options(str, ("auto",)))
# Sampler and pruner options a study file may set. Options Optuna takes that are Python objects
# (gamma, weights, constraints_func, independent_sampler, source_trials, x0) cannot come from
# TOML.
OPTION_RULES: dict[str, Constraint] = {
    "n_startup_trials": Interval(int, 0, MAX_TRIALS),
    "n_ei_candidates": Interval(int, 1, 100_000),
    "prior_weight": Interval(float, 0, None, closed="neither"),
    **dict.fromkeys(
        ("consider_prior", "consider_magic_clip", "consider_endpoints", "multivariate", "group",
         "constant_liar", "warn_independent_sampling", "warn_asynchronous_seeding",
         "deterministic_objective", "consider_pruned_trials", "use_separable_cma",
         "with_margin", "lr_adapt", "scramble"), Boolean()),
    "sigma0": Interval(float, 0, None, closed="neither"),
    "popsize": Interval(int, 1, 100_000),
    "inc_popsize": Interval(int, 1, 100),
    "restart_strategy": Options(str, ("ipop", "bipop")),
    "qmc_type": Options(str, ("sobol", "halton")),
    "n_warmup_steps": _STEPS,
    "interval_steps": Interval(int, 1, 10**9),
    "n_min_trials": Interval(int, 1, MAX_TRIALS),
    "percentile": Interval(float, 0, 100),
    "min_resource": _RESOURCE,
    "max_resource": _RESOURCE,
    "reduction_factor": Interval(int, 2, 1000),
    "min_early_stopping_rate": Interval(int, 0, 1000),
    "bootstrap_count": Interval(int, 0, MAX_TRIALS),
    "p_threshold": Interval(float, 0, 1),
    "n_startup_steps": _STEPS,
    "population_size": Interval(int, 2, 100_000),
    **dict.fromkeys(("mutation_prob", "crossover_prob", "swapping_prob"), Interval(float, 0, 1)),
    "dividing_parameter": Interval(int, 1, 1000),
}

# First-fold pruning (``[selection] first_fold_pruning``): PercentilePruner's options. A trial
# goes on past its first fold only while it is in the top third of earlier first folds at the
# same epoch (the median kept too many: the folds cost 2.9x a split's epochs, not 2.0x; see
# docs/benchmarks.md). Five trials' first folds before anything is pruned; no decision in a
# fold's first four epochs (steps below n_warmup_steps), whose accuracy says little about the last.
FIRST_FOLD_PRUNER = {"percentile": 33.0, "n_startup_trials": 5, "n_warmup_steps": 5}


# --- checking what a study file sets ------------------------------------------------------------


def _check_options(section: str, cls_name: str, options: Mapping[str, Any], source: Any) -> None:
    """Reject keyword arguments the Optuna class does not take, naming the accepted ones."""
    import optuna

    cls = getattr(optuna.samplers, cls_name, None) or getattr(optuna.pruners, cls_name)
    accepted = set(inspect.signature(cls).parameters) - {"seed", "search_space", "self"}
    if unknown := set(options) - accepted:
        raise ConfigError(f"{key_where(source, section)}: unknown options {sorted(unknown)} for "
                          f"{cls_name}; expected some of {sorted(accepted)}")
    settable = accepted & set(OPTION_RULES)
    if objects := set(options) - settable:
        raise ConfigError(f"{key_where(source, f'{section}.{sorted(objects)[0]}')}: {cls_name} "
                          "takes a Python object here, which a study file cannot give; options "
                          f"it can set: {sorted(settable)}")
    for key, value in options.items():
        if not OPTION_RULES[key].is_satisfied_by(value):
            raise refused(source, f"{section}.{key}", OPTION_RULES[key], value)


def check_sampler(name: Any, options: Mapping[str, Any], source: Any) -> None:
    """Refuse an unknown sampler, options it does not take or cannot get, a missing package.

    Raises:
        ConfigError: naming the file, the key and what was expected.
    """
    if not (names := Options(str, SAMPLER_KINDS)).is_satisfied_by(name):
        raise refused(source, "sampler.name", names, name)
    kind = SAMPLER_KINDS[name]
    if not kind.takes_options and options:
        raise ConfigError(f"{key_where(source, 'sampler')}: sampler {name!r} takes no options, "
                          f"got {sorted(options)}")
    if kind.takes_options:
        _check_options("sampler", kind.optuna_class, options, source)
    if kind.needs is not None:
        module, what = kind.needs
        try:
            __import__(module)
        except ImportError:
            raise ConfigError(f"{key_where(source, 'sampler.name')}: the {name!r} sampler needs "
                              f"{what}; install it or choose another sampler") from None


def check_pruner(name: Any, options: Mapping[str, Any], source: Any) -> None:
    """Refuse an unknown pruner, or options it does not take or cannot get.

    Raises:
        ConfigError: naming the file, the key and what was expected.
    """
    if not (names := Options(str, PRUNER_KINDS)).is_satisfied_by(name):
        raise refused(source, "pruner.name", names, name)
    cls_name = PRUNER_KINDS[name].optuna_class
    if cls_name is None:
        if options:
            raise ConfigError(f"{key_where(source, 'pruner')}: pruner {name!r} takes no "
                              f"options, got {sorted(options)}")
        return
    _check_options("pruner", cls_name, options, source)


# --- factories ----------------------------------------------------------------------------------


def make_sampler(name: str, seed: int, options: Mapping[str, Any]) -> Any:
    """A fresh Optuna sampler of kind ``name``, seeded with ``seed``."""
    import optuna

    cls = getattr(optuna.samplers, SAMPLER_KINDS[name].optuna_class)
    return cls(seed=seed, **dict(options))


def make_pruner(name: str, options: Mapping[str, Any]) -> Any:
    """A fresh Optuna pruner of kind ``name`` (``NopPruner`` for "none")."""
    import optuna

    cls_name = PRUNER_KINDS[name].optuna_class
    if cls_name is None:
        return optuna.pruners.NopPruner()
    with warnings.catch_warnings():  # WilcoxonPruner is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return getattr(optuna.pruners, cls_name)(**dict(options))


def make_first_fold_pruner() -> Any:
    """The pruner of first-fold pruning (``FIRST_FOLD_PRUNER``)."""
    return make_pruner("percentile", FIRST_FOLD_PRUNER)


def percentile_rule(name: str, options: Mapping[str, Any]) -> dict[str, Any] | None:
    """A median or percentile pruner's options, Optuna's defaults filled in, or None.

    For ``hpsearch.execution._pruning.PercentileRule``; None for any other pruner.
    """
    import optuna

    if name not in ("median", "percentile"):
        return None
    cls = getattr(optuna.pruners, PRUNER_KINDS[name].optuna_class or "")
    rule = {k: p.default for k, p in inspect.signature(cls).parameters.items()
            if p.default is not inspect.Parameter.empty}
    rule.update(options)
    if name == "median":
        rule["percentile"] = 50.0
    return rule
