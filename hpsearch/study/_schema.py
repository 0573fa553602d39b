"""The study file's schema, declared once as data: its tables, their keys and allowed values.

Each table maps a key to the values it allows (``hpsearch.study._rules``); ``_parse`` checks a
study file against these tables and adds the checks that span keys (a grid's size bounds
``n_trials``, first-fold pruning needs folds). The ``[space]`` table's keys are the parameters of
``_space.PARAMETERS``; ``[sampler]`` and ``[pruner]`` options are in ``_algorithms``;
``[dataset]`` options are each dataset's own (``hpsearch.datasets``).
"""

from __future__ import annotations

from hpsearch.study._objectives import COSTS
from hpsearch.study._rules import AnyOf, Boolean, Constraint, Interval, Options, Text

__all__ = [
    "MAX_ENSEMBLE",
    "MAX_SEED",
    "MAX_STUDY_FILE_BYTES",
    "MAX_TRIALS",
    "RUN",
    "SECTIONS",
    "STUDY",
    "STUDY_TABLES",
    "selection_rules",
]

MAX_TRIALS = 1_000_000  # n_trials above this is a typo (docs/scaling.md measures 100,000)
MAX_STUDY_FILE_BYTES = 1 << 20  # study files are a few hundred bytes; 1 MiB is plenty
MAX_ENSEMBLE = 50
MAX_SEED = 2**63 - 1  # what the data split takes (hpsearch.datasets)
_MAX_CPUS_PER_TRIAL = 1024
_MAX_RETRIES = 100
_MAX_IN_FLIGHT = 1_000_000

# [study] objectives, a table checked as a whole (study/_objectives.py: parse_objectives)
STUDY_TABLES = ("objectives",)

SECTIONS = ("study", "dataset", "space", "sampler", "pruner", "run", "selection")

_SECONDS = Interval(float, 0, None, closed="neither")

STUDY: dict[str, Constraint] = {
    # fullmatch: no "\n" slips by; the name becomes a folder under runs/
    "name": Text(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}",
                 "letters, digits, '_', '-' or '.' (it names a folder)"),
    "seed": Interval(int, 0, MAX_SEED),
    "n_trials": Interval(int, 1, MAX_TRIALS),
    "timeout_s": _SECONDS,
    "metric": Options(str, ("val_accuracy",)),
    "description": Text(),
    "reproducible": Boolean(),
    # how many trials back each ask of a reproducible study sees results (default: twice the
    # trials run at once on its first run; recorded on the study)
    "reproducible_lag": Interval(int, 1, MAX_TRIALS),
}

RUN: dict[str, Constraint] = {
    "storage": Text(),
    "address": Text(),
    "cpus_per_trial": Interval(float, 0, _MAX_CPUS_PER_TRIAL, closed="right"),
    "max_in_flight": Interval(int, 1, _MAX_IN_FLIGHT),
    "max_retries": Interval(int, 0, _MAX_RETRIES),
    "trial_timeout_s": _SECONDS,
    "evaluate_best": Boolean(),
    "report": Boolean(),
    # sharing a cluster with other studies (the arbiter): share by weight within a priority,
    # higher priorities first, at most max_cpus at once
    "weight": Interval(float, 0, 1e6, closed="right"),
    "priority": Interval(int, -1000, 1000),
    "max_cpus": Interval(float, 0, 1e9, closed="right"),
}


def selection_rules() -> dict[str, Constraint]:
    """``[selection]``'s keys (a function: the fold limit is the datasets package's)."""
    from hpsearch.datasets import MAX_FOLDS

    return {
        # 0: one validation split; k >= 2: stratified k-fold cross-validation
        "folds": AnyOf(Options(int, (0,)), Interval(int, 2, MAX_FOLDS)),
        "refit": Boolean(),
        "ensemble": Interval(int, 1, MAX_ENSEMBLE),  # 1: the best configuration alone
        "first_fold_pruning": Boolean(),
        # "best": the most accurate; "one_se": the cheapest within one standard error of it
        "rule": Options(str, ("best", "one_se")),
        "cost": Options(str, tuple(COSTS)),  # what "one_se" makes cheap
    }
