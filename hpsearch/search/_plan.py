"""One frozen plan per run: every decision the driver takes once, passed down instead of flags.

``make_plan`` resolves the study file, the caller's overrides and the loaded data into a
``RunPlan``: how many trials, how many at once, who decides pruning, whether first folds prune,
whether the worker waits for answers or sends points in batches, whether out-of-fold
probabilities are kept. The engine, the launcher and the tasks read the plan; none recomputes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from hpsearch import _attrs as A
from hpsearch.execution import TaskOptions
from hpsearch.search._sharing import SharingSettings
from hpsearch.storage import MAX_OOF_VALUES
from hpsearch.study import PRUNERS, PRUNERS_DECIDING_BY_TRIAL_NUMBER, StudyConfig

__all__ = ["LIVE_EVERY_S", "Pruning", "RunPlan", "counts_toward_budget", "make_plan",
           "trial_seed"]

log = logging.getLogger("hpsearch")

# How often running trials' new points reach the storage (one transaction for all of them), and
# how often the driver looks there for trials stopped from outside and a request to stop.
LIVE_EVERY_S = 1.0


class Pruning(Enum):
    """Who decides whether a running trial is pruned."""

    NONE = "none"  # nothing prunes: points go out in batches, for the live view only
    CHANNEL = "channel"  # the channel actor, on its in-memory copy of the curves
    DRIVER = "driver"  # the driver, on the stored study (Hyperband's brackets follow numbers)


@dataclass(frozen=True)
class RunPlan:
    """What one run does, decided once by the driver.

    Attributes:
        name: the study's name.
        seed: the study seed (each trial's seed derives from it and the trial number).
        space: the search space (``hpsearch.study``'s parameter specs).
        n_target: finished trials to reach.
        in_flight: trials at once; None follows the cluster's slots as nodes come and go.
        reproducible: the same trials, values and decisions whatever the workers' timing.
        lagged: reproducible by a fixed lag (``Lagged``: trial ``n`` sees the results of the
            trials asked ``lag`` or more before it); False with a reproducible study whose
            pruner decides on the stored study (Hyperband: it runs in ``Generations``).
        lag: the lag (None until the driver decides it: the study's recorded one, else twice
            the trials run at once).
        pruning: who decides pruning.
        first_fold: first-fold pruning on a cross-validated dataset.
        timeout_s: stop asking for new trials after this long (None: no limit).
        fingerprint: the dataset's fingerprint, stored on every trial.
        progress: "bar", "lines" or "none".
        task: how every trial task is launched and reports.
        sharing: the study's weight, priority and CPU cap on a shared cluster.
        shared: the run joined a cluster: its slots come from the cluster's arbiter.
        costs: the costs told beside accuracy (a multi-objective study's other values, in
            order); empty for a study of accuracy alone.
        folds: the dataset has folds (cross-validation): a trial reports once per fold.
    """

    name: str
    seed: int
    space: Any
    n_target: int
    in_flight: int | None
    reproducible: bool
    lagged: bool
    lag: int | None
    pruning: Pruning
    first_fold: bool
    timeout_s: float | None
    fingerprint: str
    progress: str
    task: TaskOptions
    costs: tuple[str, ...] = ()
    sharing: SharingSettings = field(default_factory=SharingSettings)
    shared: bool = False
    folds: bool = False

    @property
    def channel_learns(self) -> bool:
        """The channel's pruners learn from finished trials (a pruner, or first folds)."""
        return self.pruning is not Pruning.NONE or self.first_fold


def make_plan(config: StudyConfig, dataset: Any, *, n_trials: int | None = None,
              max_in_flight: int | None = None, progress: str | bool = True) -> RunPlan:
    """The run's plan: the study file, the caller's overrides (they win) and the data.

    Args:
        config: the validated study file.
        dataset: the loaded dataset.
        n_trials: overrides ``[study] n_trials``.
        max_in_flight: overrides ``[run] max_in_flight``.
        progress: "bar" (also True), "lines", or "none" (also False).
    """
    if PRUNERS[config.pruner] is None:
        pruning = Pruning.NONE
    elif config.pruner in PRUNERS_DECIDING_BY_TRIAL_NUMBER:
        pruning = Pruning.DRIVER
    else:
        pruning = Pruning.CHANNEL
    first_fold = config.selection.first_fold_pruning
    # A lag needs decisions on "the trials told before this one": the channel takes them on a
    # prefix of what it learned. Hyperband decides on the stored study (its brackets follow
    # trial numbers), which holds whatever has finished: it runs in generations.
    lagged = config.reproducible and pruning is not Pruning.DRIVER
    # A reproducible study's trials must stop at the same epoch whatever the messaging's
    # timing: in generations they wait for each answer; with a lag they act on each answer
    # one report later. Without a pruner, points go out in batches.
    decides = pruning is not Pruning.NONE or first_fold
    task = TaskOptions(cpus=config.run.cpus_per_trial, max_retries=config.run.max_retries,
                       timeout_s=config.run.trial_timeout_s,
                       wait_answers=config.reproducible and not lagged and decides,
                       answers_behind=lagged and decides,
                       batch_s=LIVE_EVERY_S / 2 if pruning is Pruning.NONE else 0.0,
                       first_fold=first_fold, keep_oof=_keeps_oof(config, dataset),
                       measure_inference="inference_ms" in (*config.cost_objectives,
                                                            config.selection.cost))
    if isinstance(progress, bool):
        progress = "bar" if progress else "none"
    return RunPlan(name=config.name, seed=config.seed, space=config.space,
                   n_target=n_trials or config.n_trials,
                   in_flight=max_in_flight or config.run.max_in_flight,
                   reproducible=config.reproducible, lagged=lagged,
                   lag=config.reproducible_lag if lagged else None,
                   pruning=pruning, first_fold=first_fold,
                   timeout_s=config.timeout_s, fingerprint=dataset.fingerprint,
                   progress=progress, task=task, costs=tuple(config.cost_objectives),
                   sharing=SharingSettings(config.run.weight, config.run.priority,
                                           config.run.max_cpus),
                   folds=getattr(dataset, "folds", None) is not None)


def _keeps_oof(config: StudyConfig, dataset: Any) -> bool:
    """Whether complete trials return their out-of-fold probabilities for keeping.

    Only the ensemble's estimate reads them, and only up to ``MAX_OOF_VALUES`` per trial.
    """
    folds = getattr(dataset, "folds", None)
    if folds is None or config.selection.ensemble <= 1:
        return False
    size = len(folds) * dataset.num_classes
    if size > MAX_OOF_VALUES:
        log.info("out-of-fold probabilities (%d per trial) not kept: too many to store; "
                 "the ensemble is tested without an estimate of its own", size)
        return False
    return True


def trial_seed(study_seed: int, number: int) -> int:
    """The seed of trial ``number``: derived from the study seed, stable across runs."""
    return int(np.random.SeedSequence([study_seed, number]).generate_state(1)[0])


def counts_toward_budget(trial: Any) -> bool:
    """Whether a stored trial uses up one of ``n_trials``: finished, and not re-enqueued."""
    from optuna.trial import TrialState

    return (trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
            and trial.user_attrs.get(A.TRIAL_FAILURE) != A.REASON_INTERRUPTED)
