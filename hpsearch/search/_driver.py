"""run_study(): create or resume a study and drive it to its target on Ray, one writer throughout.

The driver checks and opens everything before it starts anything: the cluster it joins, when it
joins one (the address resolved and reached, the versions its nodes run), the storage (taking
the study's lease, so one driver runs a study wherever it runs), the study's recorded search
space and data fingerprint. It decides the run's plan once (``make_plan``). Only then does it
write its log, start the embedded Ray (when it joins none), fail the trials a dead driver left
RUNNING (as "interrupted", their parameters enqueued again), and hand the study, the plan, a
launcher and a scheduling strategy to the engine. A refusal writes nothing, is one line naming
the study file and key the refused value came from, and leaves Ray shut down.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from hpsearch import _attrs as A
from hpsearch._versions import VersionMismatch
from hpsearch.execution import PruneMirror, RayStartError, init_ray, join_cluster, joins_cluster
from hpsearch.results import accuracy, best_trial, charge
from hpsearch.search._engine import Engine, RunSummary
from hpsearch.search._plan import Pruning, RunPlan, make_plan
from hpsearch.search._scheduling import FreeWindow, Generations, Lagged, Scheduling
from hpsearch.search._sharing import Share
from hpsearch.search._signals import StopSignals
from hpsearch.storage import (
    DriverStudy,
    StorageError,
    open_for_writing,
    recover,
    redact,
    resolve_url,
)
from hpsearch.study import (
    StudyConfig,
    budget_epochs,
    check_space_against_data,
    grid_combinations,
    grid_search_space,
    space_to_json,
)

__all__ = ["StudyError", "run_study"]

log = logging.getLogger("hpsearch")


class StudyError(RuntimeError):
    """The study cannot run as asked (its data or search space changed, ...)."""


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    import optuna

    import hpsearch

    # Ray's version from its metadata: importing ray before init_ray would change how it binds.
    return {"hpsearch": hpsearch.__version__, "numpy": np.__version__,
            "optuna": optuna.__version__, "ray": version("ray")}


def _record_study_attrs(study: Any, config: StudyConfig, dataset: Any) -> None:
    space = space_to_json(config.space)
    stored = study.user_attrs
    if A.STUDY_SPACE in stored:
        if stored[A.STUDY_SPACE] != json.loads(json.dumps(space)):
            raise StudyError(f"study {config.name!r} already exists with a different search "
                             "space; give the changed study a new [study] name")
        if stored.get(A.STUDY_FINGERPRINT) != dataset.fingerprint:
            raise StudyError(
                f"study {config.name!r} was run on dataset {stored.get(A.STUDY_FINGERPRINT)} "
                f"but the data now loads as {dataset.fingerprint}; its results would not compare. "
                "Restore the data or options, or give the study a new name")
        return
    attrs = {
        A.STUDY_CONFIG_TEXT: redact(config.text),  # a [run] storage URL may hold a password
        A.STUDY_CONFIG_PATH: str(config.source or ""),
        A.STUDY_METRIC: config.metric,
        A.STUDY_DATASET: config.dataset,
        A.STUDY_FINGERPRINT: dataset.fingerprint,
        A.STUDY_BUDGET_EPOCHS: budget_epochs(config.space, len(dataset.y_train)),
        A.STUDY_SPACE: space,
        A.STUDY_SAMPLER: config.sampler,
        A.STUDY_PRUNER: config.pruner,
        A.STUDY_VERSIONS: _versions(),
    }
    for key, value in attrs.items():
        study.set_user_attr(key, value)


def _run(config: StudyConfig, plan: RunPlan, driver: DriverStudy, url: str, dataset: Any,
         t_call: float, signals: StopSignals) -> RunSummary:
    from hpsearch.execution import RayLauncher

    # The channel carries every trial's reports (live curves, stops from outside, pruning).
    launcher = RayLauncher(dataset, plan.task, driver_decides=plan.pruning is Pruning.DRIVER,
                           channel_learns=plan.channel_learns, warm=plan.in_flight)
    study = driver.study
    if config.sampler == "grid" and not study.get_trials(deepcopy=False):
        for params in grid_combinations(grid_search_space(config.space)):
            study.enqueue_trial(params)
    summary = RunSummary(name=config.name, storage=redact(url))
    recovered = recover(study)
    for number in recovered:
        log.warning("trial %d was left running by a driver that stopped: failed as "
                    "'interrupted', parameters enqueued again", number)
    summary.n_recovered = len(recovered)
    _prepare_pruning(launcher, plan, config, study)
    log.info("study %s in %s: dataset %s (%s), target %d trials", config.name,
             redact(url), config.dataset, dataset.fingerprint, plan.n_target)
    share = _share(plan)
    try:
        Engine(study, plan, launcher, _scheduling(plan, launcher, study), summary,
               stop=lambda: driver.lost or signals.requested, t_call=t_call, share=share).run()
    finally:
        if share is not None:
            share.close()
        charge(study, "trials", summary.trial_s * plan.task.cpus)
    best = best_trial(study)
    if best is not None:
        summary.best_value, summary.best_params, summary.best_trial = (
            accuracy(best), dict(best.params), best.number)
    return summary


def _share(plan: RunPlan) -> Share | None:
    """The arbiter's grant for a run on a cluster (other studies may share it); else None."""
    if not plan.shared:
        return None
    import os
    import socket

    import ray

    from hpsearch.service import ArbiterClient

    job = ray.get_runtime_context().get_job_id()
    driver = f"{plan.name}@{socket.gethostname()}:{os.getpid()}/{job}"
    return Share(ArbiterClient(), driver, plan.name, plan.sharing, plan.task.cpus)


def _prepare_pruning(launcher: Any, plan: RunPlan, config: StudyConfig, study: Any) -> None:
    """Give the channel its copies of the curves, before any trial runs.

    Hyperband assigns brackets by stored trial number: it decides on the stored study, via the
    driver. Every other pruner decides in the channel, on a copy of the curves.
    """
    first_fold = None
    if plan.first_fold:
        first_fold = PruneMirror.of_first_folds(study, config.make_first_fold_pruner(),
                                                rule=config.percentile_rule(first_fold=True))
    mirror = None
    if plan.pruning is Pruning.CHANNEL:
        mirror = PruneMirror(study, config.make_pruner(), rule=config.percentile_rule())
    # With folds, a lagged study's decisions from a trial's second fold on see the trials
    # asked a short lag before, learned as they end (``Sees.ended``).
    launcher.prepare(prunes=plan.pruning is not Pruning.NONE, mirror=mirror,
                     first_fold=first_fold, counted=_first_folds_counted(plan),
                     trials_counted="asked" if plan.lagged and plan.folds else "told")


def _first_folds_counted(plan: RunPlan) -> str:
    """When a first fold counts for first-fold pruning (``PruningChannel.attach_first_fold``)."""
    if not plan.reproducible:
        return "ended"
    return "asked" if plan.lagged else "told"


def _scheduling(plan: RunPlan, launcher: Any, study: Any) -> Scheduling:
    if not plan.reproducible:
        return FreeWindow(plan.in_flight)
    if not plan.lagged:
        return Generations(plan.in_flight, told=launcher.sync)
    recorded = study.user_attrs.get(A.STUDY_LAG)
    lag = plan.lag or recorded or 2 * (plan.in_flight or launcher.slots())
    if recorded is not None and lag != recorded:
        log.warning("reproducible study %s ran with a lag of %d, now %d: its new trials will "
                    "not be those an unchanged study would have run", plan.name, recorded, lag)
    # Recorded: the lag, not the number of workers, fixes what each trial sees, so a later run
    # on another cluster keeps the study's sequence.
    study.set_user_attr(A.STUDY_LAG, lag)
    if recorded is not None and study.get_trials(deepcopy=False):
        # The trials this run asks see every trial the earlier runs finished, the last lag of
        # them included: what an uninterrupted run would have hidden from them.
        log.warning("resuming reproducible study %s: its new trials see all %d stored trials, "
                    "so they may differ from those of one uninterrupted run", plan.name,
                    len(study.get_trials(deepcopy=False)))
    log.info("reproducible: each trial sees the results of the trials asked more than %d "
             "before it (pruning from a trial's second fold on: more than %d before, as they "
             "end; first-fold pruning: the first folds of those more than %d before)",
             lag, math.ceil(lag / 2), math.ceil(lag / 4))
    return Lagged(plan.in_flight, lag)


class _RedactingFormatter(logging.Formatter):
    """run.log's lines, with every secret a URL in them holds (an error's text) redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _attach_log_file(run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = (run_dir / "run.log").resolve()
    if not any(getattr(h, "baseFilename", None) == str(path) for h in log.handlers):
        handler = logging.FileHandler(path)
        handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


_E = TypeVar("_E", StorageError, RayStartError, VersionMismatch)


def _from_file(exc: _E, config: StudyConfig, key: str) -> _E:
    """``exc``, about the value of the study file's ``key``, with a message naming file and key.

    ``studies/x.toml: [run] storage: postgresql://...: connection failed``: a storage error's
    own "storage " goes, the key says it.
    """
    return type(exc)(f"{config.where(key)}: {str(exc).removeprefix('storage ')}")


def _join(config: StudyConfig, address: str, from_file: bool) -> bool:
    """``join_cluster(address)``; a refusal of the study file's address names file and key."""
    try:
        return join_cluster(address)
    except (RayStartError, VersionMismatch) as exc:
        if not from_file:
            raise
        raise _from_file(exc, config, "run.address") from None


def _open(config: StudyConfig, url: str, from_file: bool) -> DriverStudy:
    """``open_for_writing``; a refusal of the study file's storage names file and key."""
    try:
        names = [o.name for o in config.objectives] if config.multi_objective else None
        return open_for_writing(url, config.name, config.make_sampler(), config.make_pruner(),
                                directions=config.directions, metric_names=names)
    except StorageError as exc:
        if not from_file:
            raise
        raise _from_file(exc, config, "run.storage") from None


def run_study(config: StudyConfig, *, runs_dir: Path = Path("runs"), n_trials: int | None = None,
              storage: str | None = None, address: str | None = None,
              max_in_flight: int | None = None, progress: str | bool = True,
              dataset: Any = None) -> RunSummary:
    """Run (or resume) a study until it has ``n_trials`` finished trials.

    Args:
        config: the validated study file.
        runs_dir: where ``<name>/`` (storage, logs, tables, report) lives.
        n_trials: overrides ``config.n_trials``.
        storage: overrides the storage URL.
        address: overrides the Ray address ("auto", "HOST:PORT"); default an embedded instance.
        max_in_flight: overrides the number of trials run at once.
        progress: "bar" (on stderr; also True), "lines" (JSON lines on stdout, for a job's
            log) or "none" (also False).
        dataset: an already loaded dataset (otherwise loaded from the config).

    Returns:
        What this run did, and the study's best trial.

    Raises:
        StudyError: the study's data or search space changed.
        hpsearch.storage.StudyLockedError: another live driver runs the study.
        hpsearch.storage.StorageError: the storage cannot be opened or written.
        hpsearch.datasets.DatasetError: the dataset cannot be loaded.
        hpsearch.execution._ray.RayStartError: the cluster address is malformed, unresolvable or
            unreachable, or the cluster refused the driver; nothing was written.
        hpsearch._versions.VersionMismatch: the cluster runs other versions; nothing was
            written.
    """
    t_call = time.perf_counter()
    url = resolve_url(config.name, runs_dir, storage, config.run.storage)
    ray_address = address or config.run.address
    if dataset is None:
        dataset = config.load_data()
    # Everything that can be refused is refused before a file is written or Ray starts: the
    # space against the data (a CNN needs images; the largest trial must fit in memory), the
    # cluster joined (reached, its versions), the storage and the study's lease, the recorded
    # space and data.
    check_space_against_data(config, dataset)
    plan = make_plan(config, dataset, n_trials=n_trials, max_in_flight=max_in_flight,
                     progress=progress)
    joining = joins_cluster(ray_address)
    plan = replace(plan, shared=joining)  # on a cluster, slots come from its arbiter
    joined = _join(config, ray_address, from_file=address is None) if joining else False
    try:
        return _open_and_run(config, plan, url, runs_dir, dataset, t_call, embedded=not joining,
                             storage_from_file=storage is None and bool(config.run.storage))
    except BaseException:
        if joined:  # a refusal (or a failure) leaves no connection to the cluster behind
            import ray

            ray.shutdown()
        raise


def _open_and_run(config: StudyConfig, plan: RunPlan, url: str, runs_dir: Path, dataset: Any,
                  t_call: float, *, storage_from_file: bool, embedded: bool) -> RunSummary:
    """Open the storage, check the study against it, start the embedded Ray if asked, and run."""
    driver = _open(config, url, from_file=storage_from_file)
    try:
        _record_study_attrs(driver.study, config, dataset)
        driver.study.set_user_attr(A.STUDY_TARGET, plan.n_target)  # what `status` counts to
        _attach_log_file(runs_dir / config.name)
        started_ray = init_ray(None) if embedded else False  # else joined already
        try:
            # After ray.init, whose SIGTERM handler would abort the driver outright.
            with StopSignals() as signals:
                return _run(config, plan, driver, url, dataset, t_call, signals)
        finally:
            if started_ray:
                import ray

                ray.shutdown()
    finally:
        driver.close()
