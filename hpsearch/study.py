"""run_study(): create or resume an Optuna study and run its trials on Ray, one writer throughout.

The driver is the study's only writer: it asks, hands each trial to a Ray task, tells results as
they arrive (in whatever order), and answers pruning reports. Anything completed is in the
storage the moment it is known; trials a dead driver left RUNNING are failed as "interrupted" and
their parameters enqueued again when the study is next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch import _attrs as A
from hpsearch._pruning import PruneMirror
from hpsearch.config import StudyConfig
from hpsearch.space import (
    FloatRange,
    IntRange,
    grid_combinations,
    grid_search_space,
    resolve_params,
    space_to_json,
    suggest_params,
)

__all__ = [
    "RunSummary",
    "StudyError",
    "counts_toward_budget",
    "default_storage",
    "open_study",
    "redact",
    "run_study",
    "trial_seed",
]

log = logging.getLogger("hpsearch")

# Keep one extra trial queued beyond the CPUs, so a worker never waits on the driver's tell+ask.
_QUEUE_AHEAD = 1
# How often the driver re-reads the cluster's CPUs (a node may join or leave mid-study).
_RESIZE_EVERY_S = 2.0


class StudyError(RuntimeError):
    """The study cannot run as asked (locked, data changed, search space changed, ...)."""


@dataclass
class RunSummary:
    """What one ``run_study`` call did.

    Attributes:
        name: study name.
        storage: the storage URL, passwords redacted.
        n_complete: trials told COMPLETE in this run.
        n_pruned: trials told PRUNED in this run.
        n_failed: trials told FAIL in this run.
        n_recovered: RUNNING trials of a dead driver failed and re-enqueued at start.
        best_value: the study's best value after this run (None when nothing completed).
        best_params: its parameters.
        best_trial: its number.
        wall_s: seconds from the first submission to the last result.
        trial_s: summed worker training seconds of this run's trials.
        max_in_flight: trials run at once.
        interrupted: the run stopped on Ctrl-C / SIGTERM.
        first_result_s: seconds from the call to the first result.
        engine: driver costs in seconds (ask, tell, report handling) and counts.
    """

    name: str
    storage: str
    n_complete: int = 0
    n_pruned: int = 0
    n_failed: int = 0
    n_recovered: int = 0
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_trial: int | None = None
    wall_s: float = 0.0
    trial_s: float = 0.0
    max_in_flight: int = 0
    interrupted: bool = False
    first_result_s: float | None = None
    engine: dict[str, float] = field(default_factory=dict)

    @property
    def efficiency(self) -> float:
        """Summed trial time / (wall time x trials in flight): 1.0 means no worker ever idled."""
        denom = self.wall_s * self.max_in_flight
        return self.trial_s / denom if denom > 0 else 0.0


def trial_seed(study_seed: int, number: int) -> int:
    """The seed of trial ``number``: derived from the study seed, stable across runs."""
    return int(np.random.SeedSequence([study_seed, number]).generate_state(1)[0])


def default_storage(runs_dir: Path, name: str) -> str:
    """The embedded default: a SQLite file under ``runs/<name>/``."""
    return f"sqlite:///{(runs_dir / name / 'study.db').resolve()}"


# scheme://user:password@host -> the password part.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s\"']*:)[^\s\"']*(?=@)")


def redact(text: str) -> str:
    """A storage URL (or any text holding URLs) fit to print or store: passwords become ``***``."""
    return _URL_PASSWORD.sub(r"\g<head>***", text)


def _make_storage(url: str) -> Any:
    import optuna

    if url.startswith("sqlite:///"):
        # WAL lets readers (hpsearch status, reports) look while the driver writes; one file.
        import sqlite3

        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
        storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 30}})
        # In WAL mode, synchronous=NORMAL survives a crash of any process (a power cut may lose
        # the last commits) and saves an fsync per write: the driver writes on every result.
        from sqlalchemy import event

        event.listen(storage.engine, "connect",
                     lambda conn, _record: conn.execute("PRAGMA synchronous=NORMAL"))
        storage.engine.dispose()
        return storage
    return url


def open_study(config: StudyConfig, storage: str) -> Any:
    """Create or load the Optuna study for ``config`` in ``storage``, for its only writer.

    The study reads from memory and writes through to ``storage`` (see ``SingleWriterStorage``):
    only the driver, holding the study's lock, may open a study this way.
    """
    import optuna

    from hpsearch._storage import SingleWriterStorage

    backend = _make_storage(storage)
    if isinstance(backend, str):
        backend = optuna.storages.RDBStorage(backend)
    return optuna.create_study(
        storage=SingleWriterStorage(backend), sampler=config.make_sampler(),
        pruner=config.make_pruner(), study_name=config.name, direction="maximize",
        load_if_exists=True,
    )


@contextlib.contextmanager
def _driver_lock(run_dir: Path) -> Iterator[None]:
    """One driver per study on this machine: a second would fail the first one's running trials."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "driver.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StudyError(f"{run_dir}: another `hpsearch run` of this study is running "
                             "(driver.lock is held)") from None
        yield


def _budget_epochs(config: StudyConfig, n_train: int) -> int:
    """The full per-trial budget in epochs: the largest a trial of this space can train."""
    def high(name: str) -> Any:
        spec = config.space.get(name)
        if isinstance(spec, FloatRange | IntRange):
            return spec.high
        if spec is None:
            return resolve_params({}, {})[name]
        values = getattr(spec, "choices", None) or getattr(spec, "values", None)
        return max(values) if values is not None else spec.value

    iterations = high("num_iterations")
    if iterations is None:
        return int(high("num_epochs"))
    spec = config.space.get("batch_size")
    smallest_batch = (spec.low if isinstance(spec, IntRange) else
                      min(getattr(spec, "choices", None) or getattr(spec, "values", None)
                          or [spec.value]) if spec is not None else 100)
    return math.ceil(iterations / max(n_train // int(smallest_batch), 1))


def _versions() -> dict[str, str]:
    import optuna
    import ray

    import hpsearch

    return {"hpsearch": hpsearch.__version__, "numpy": np.__version__,
            "optuna": optuna.__version__, "ray": ray.__version__}


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
        A.STUDY_BUDGET_EPOCHS: _budget_epochs(config, len(dataset.y_train)),
        A.STUDY_SPACE: space,
        A.STUDY_SAMPLER: config.sampler,
        A.STUDY_PRUNER: config.pruner,
        A.STUDY_VERSIONS: _versions(),
    }
    for key, value in attrs.items():
        study.set_user_attr(key, value)


def counts_toward_budget(trial: Any) -> bool:
    """Whether a stored trial uses up one of ``n_trials``: finished, and not re-enqueued."""
    from optuna.trial import TrialState

    return (trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
            and trial.user_attrs.get(A.TRIAL_FAILURE) != A.REASON_INTERRUPTED)


def _fail_and_requeue(study: Any, trial: Any, params: dict[str, Any], reason: str) -> None:
    """Record ``trial`` (an ``optuna.Trial``) as FAIL for ``reason`` and enqueue its parameters."""
    from optuna.trial import TrialState

    trial.set_user_attr(A.TRIAL_FAILURE, reason)
    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
    study.enqueue_trial(params, user_attrs={A.TRIAL_RETRY_OF: trial.number})


def _recover(study: Any) -> int:
    """Fail the trials a dead driver left RUNNING and enqueue their parameters again."""
    import optuna
    from optuna.trial import TrialState

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        live = optuna.trial.Trial(study, trial._trial_id)
        _fail_and_requeue(study, live, dict(trial.params), A.REASON_INTERRUPTED)
        log.warning("trial %d was left running by a driver that stopped: failed as "
                    "'interrupted', parameters enqueued again", trial.number)
    return len(stale)


def _init_ray(address: str | None) -> bool:
    """Start or join Ray; True when this call started it (and so must shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    # A bare ray.init() would join any cluster already running here: the embedded default
    # starts its own instance unless the user names a cluster.
    ray.init(address=address or "local", include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    return True


def run_study(config: StudyConfig, *, runs_dir: Path = Path("runs"), n_trials: int | None = None,
              storage: str | None = None, address: str | None = None,
              max_in_flight: int | None = None, progress: bool = True,
              dataset: Any = None) -> RunSummary:
    """Run (or resume) a study until it has ``n_trials`` finished trials.

    Args:
        config: the validated study file.
        runs_dir: where ``<name>/`` (storage, logs, tables, report) lives.
        n_trials: overrides ``config.n_trials``.
        storage: overrides the storage URL.
        address: overrides the Ray address ("auto", "HOST:PORT"); default an embedded instance.
        max_in_flight: overrides the number of trials run at once.
        progress: show a progress bar on stderr.
        dataset: an already loaded dataset (otherwise loaded from the config).

    Returns:
        What this run did, and the study's best trial.

    Raises:
        StudyError: the study is locked by another driver, or its data or space changed.
        hpsearch.datasets.DatasetError: the dataset cannot be loaded.
    """
    t_call = time.perf_counter()
    run_dir = runs_dir / config.name
    url = storage or config.run.storage or default_storage(runs_dir, config.name)
    n_target = n_trials or config.n_trials
    with _driver_lock(run_dir):
        _attach_log_file(run_dir)
        # Ray first: its worker processes start while the data loads and the study opens.
        started_ray = _init_ray(address or config.run.address)
        try:
            return _run(config, url, n_target, max_in_flight, progress, dataset, t_call)
        finally:
            if started_ray:
                import ray

                ray.shutdown()


def _cluster_slots(cpus_per_trial: float) -> int:
    """Trials the cluster can run at once: its CPUs divided by the CPUs each trial takes."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1.0) // cpus_per_trial))


def _run(config: StudyConfig, url: str, n_target: int, max_in_flight: int | None,
         progress: bool, dataset: Any, t_call: float) -> RunSummary:
    import ray

    from hpsearch.datasets import load_dataset
    from hpsearch.dispatch import PruningChannel, warm_up_workers

    warm_up_workers(max_in_flight or config.run.max_in_flight
                    or _cluster_slots(config.run.cpus_per_trial), config.run.cpus_per_trial)
    # The pruning channel's actor process starts meanwhile too (about a second here).
    channel = None if config.pruner == "none" else PruningChannel.remote()
    if dataset is None:
        dataset = load_dataset(config.dataset, config.dataset_path, seed=config.seed,
                               **dict(config.dataset_options))
    study = open_study(config, url)
    if config.sampler == "grid" and not study.get_trials(deepcopy=False):
        for params in grid_combinations(grid_search_space(config.space)):
            study.enqueue_trial(params)
    _record_study_attrs(study, config, dataset)
    summary = RunSummary(name=config.name, storage=redact(url))
    summary.n_recovered = _recover(study)
    if channel is not None:
        # Hyperband assigns brackets by stored trial number: it decides on the stored study, via
        # the driver. Every other pruner decides in the channel, on a copy of the curves. Trials
        # start only once the channel is up, so no report waits on an actor being born.
        if config.pruner != "hyperband":
            ray.get(channel.attach.remote(PruneMirror(study, config.make_pruner())))
        ray.get(channel.ping.remote())
    log.info("study %s in %s: dataset %s (%s), target %d trials", config.name,
             redact(url), config.dataset, dataset.fingerprint, n_target)
    _Loop(config, study, dataset, summary, n_target, max_in_flight, progress, t_call,
          channel).run()
    best = _best(study)
    if best is not None:
        summary.best_value, summary.best_params, summary.best_trial = (
            best.value, dict(best.params), best.number)
    return summary


def _best(study: Any) -> Any:
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(complete, key=lambda t: t.value) if complete else None


def _attach_log_file(run_dir: Path) -> None:
    path = (run_dir / "run.log").resolve()
    if not any(getattr(h, "baseFilename", None) == str(path) for h in log.handlers):
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


@dataclass
class _Running:
    trial: Any  # optuna.Trial
    params: dict[str, Any]  # sampled (searched) parameters, for re-enqueueing
    submitted: float
    reported: set[int] = field(default_factory=set)  # epochs already told to Optuna


class _Loop:
    """The ask -> launch -> collect -> tell loop, with the pruning channel and a progress bar."""

    def __init__(self, config: StudyConfig, study: Any, dataset: Any, summary: RunSummary,
                 n_target: int, max_in_flight: int | None, progress: bool, t_call: float,
                 channel: Any) -> None:
        import ray

        self.config, self.study, self.dataset, self.summary = config, study, dataset, summary
        self.n_target = n_target
        self.fixed_in_flight = max_in_flight or config.run.max_in_flight
        self.cpus = config.run.cpus_per_trial
        self.t_call = t_call
        self.dataset_ref = ray.put(dataset)  # once per study; tasks get zero-copy views
        self.channel = channel
        self.decides_here = config.pruner == "hyperband"
        self.running: dict[Any, _Running] = {}
        self.by_number: dict[int, Any] = {}
        self.n_done = sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False))
        self.engine = {"ask_s": 0.0, "tell_s": 0.0, "report_s": 0.0, "n_ask": 0, "n_tell": 0,
                       "n_report": 0}
        self.progress = _Progress(n_target, self.n_done, enabled=progress)
        self.best = _best(study)
        self.slots = 1  # trials the cluster can run at once, re-read every _RESIZE_EVERY_S
        self._resized = -math.inf
        self.stop_requested = False

    # -- sizing ------------------------------------------------------------------------------
    def _window(self) -> tuple[int, int]:
        """Trials to run at once, and how many more to keep queued behind them.

        Ray starts any task it has CPUs for, so a queued trial waits for a running one to end
        only when the window is as wide as the cluster. A narrower window (``max_in_flight``) is
        kept exactly, with nothing queued.
        """
        now = time.monotonic()
        if now - self._resized > _RESIZE_EVERY_S:
            self.slots = _cluster_slots(self.cpus)
            self._resized = now
        capacity = self.fixed_in_flight or self.slots
        return capacity, _QUEUE_AHEAD if capacity >= self.slots else 0

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> None:
        import ray

        # Signal handlers can only be set from the main thread (a driver may run in another).
        old = ({s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
               if threading.current_thread() is threading.main_thread() else {})
        for s in old:
            signal.signal(s, self._on_signal)
        deadline = (None if self.config.timeout_s is None
                    else time.monotonic() + self.config.timeout_s)
        t_first = None
        poll = self.channel.poll.remote() if self.decides_here else None
        try:
            while not self.stop_requested:
                capacity, ahead = self._window()
                self.summary.max_in_flight = max(self.summary.max_in_flight, capacity)
                while (len(self.running) < capacity + ahead
                       and self.n_done + len(self.running) < self.n_target
                       and (deadline is None or time.monotonic() < deadline)):
                    self._launch()
                    t_first = t_first or time.perf_counter()
                if not self.running:
                    break
                waitables = list(self.running) + ([poll] if poll is not None else [])
                ready, _ = ray.wait(waitables, num_returns=1, timeout=1.0)
                for ref in ready:
                    if ref is poll:
                        self._answer(ray.get(poll))
                        poll = self.channel.poll.remote()
                    else:
                        self._collect(ref)
                self._enforce_timeouts()
                self.progress.update(len(self.running), self.best)
            if self.stop_requested:
                self._abandon_running()
        except KeyboardInterrupt:
            self._abandon_running()
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
            self.progress.close()
            if t_first is not None:
                self.summary.wall_s = time.perf_counter() - t_first
            self.summary.engine = dict(self.engine)
            if self.channel is not None:
                ray.kill(self.channel)

    def _on_signal(self, signum: int, frame: Any) -> None:
        # First Ctrl-C / SIGTERM: finish the current step, then stop cleanly. Second: stop now.
        if self.stop_requested:
            raise KeyboardInterrupt
        self.stop_requested = True
        log.warning("received %s: stopping after the current step", signal.Signals(signum).name)

    def _launch(self) -> None:
        from hpsearch.dispatch import launch_trial

        t0 = time.perf_counter()
        trial = self.study.ask()
        sampled = suggest_params(trial, self.config.space)
        seed = trial_seed(self.config.seed, trial.number)
        trial.set_user_attr(A.TRIAL_SEED, seed)
        params = resolve_params(sampled, self.config.space)
        # Stored before it runs: a driver that dies now leaves it RUNNING, with its parameters.
        self.study._storage.sync(trial._trial_id)
        self.engine["ask_s"] += time.perf_counter() - t0
        self.engine["n_ask"] += 1
        ref = launch_trial(params, self.dataset_ref, seed, trial.number, channel=self.channel,
                           cpus=self.cpus, max_retries=self.config.run.max_retries,
                           timeout_s=self.config.run.trial_timeout_s)
        self.running[ref] = _Running(trial, dict(trial.params), time.monotonic())
        self.by_number[trial.number] = ref

    def _answer(self, reports: list[Any]) -> None:
        t0 = time.perf_counter()
        decisions = []
        for r in reports:
            ref = self.by_number.get(r.trial)
            if ref is None:  # the trial already finished; its answer no longer matters
                decisions.append((r.trial, r.epoch, False))
                continue
            entry = self.running[ref]
            entry.trial.report(r.value, r.epoch)
            entry.reported.add(r.epoch)
            decisions.append((r.trial, r.epoch, bool(entry.trial.should_prune())))
        self.channel.decide.remote(decisions)
        self.engine["report_s"] += time.perf_counter() - t0
        self.engine["n_report"] += len(reports)

    def _collect(self, ref: Any) -> None:
        import ray

        entry = self.running.pop(ref)
        number = entry.trial.number
        del self.by_number[number]
        try:
            result = ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            self._finish_failed(entry, "cancelled: trial timed out")
            return
        except ray.exceptions.RayTaskError as exc:
            # Raised in the task but outside the trial's own code (e.g. the worker cannot import
            # the project): the trial's parameters are not to blame, the environment is.
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            self._finish_failed(entry, f"task error: {type(cause).__name__}: {cause}")
            return
        except ray.exceptions.RayError as exc:
            # The worker or its node died, and Ray's retries ran out: fail it, run it again once.
            reason = f"worker lost: {type(exc).__name__}"
            self._finish_failed(entry, reason, requeue=entry.trial.user_attrs.get(
                A.TRIAL_RETRY_OF) is None)
            return
        self._tell(entry, result)

    def _tell(self, entry: _Running, result: Any) -> None:
        from optuna.trial import TrialState

        t0 = time.perf_counter()
        trial = entry.trial
        attrs = {A.TRIAL_NODE: result.node, A.TRIAL_NODE_IP: result.node_ip,
                 A.TRIAL_DURATION: result.duration_s, A.TRIAL_STARTED_AT: result.started_at,
                 A.TRIAL_EPOCHS_RUN: result.epochs_run,
                 A.TRIAL_FINGERPRINT: self.dataset.fingerprint, A.TRIAL_HISTORY: result.history}
        if result.state == "failed":
            attrs[A.TRIAL_FAILURE] = result.failure_reason
        if result.state == "pruned":
            attrs[A.TRIAL_PRUNED_AT] = result.pruned_at_epoch
            attrs[A.TRIAL_PRUNE_DECIDED_AT] = result.prune_decided_at
        # The learning curve not already reported by the driver (all of it, unless Hyperband).
        # It stays in memory with the attributes; `tell` writes it all in one transaction.
        for epoch, value in enumerate(result.history.get("val_acc", []), start=1):
            if epoch not in entry.reported:
                trial.report(value, epoch)
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        if result.state == "complete":
            self.study.tell(trial, result.value)
            self.summary.n_complete += 1
            if self.best is None or result.value > self.best.value:
                self.best = self.study.best_trial
        elif result.state == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
            self.summary.n_pruned += 1
        else:
            self.study.tell(trial, state=TrialState.FAIL)
            self.summary.n_failed += 1
            log.warning("trial %d failed: %s", trial.number, result.failure_reason)
        self.summary.trial_s += result.duration_s
        if self.summary.first_result_s is None:
            self.summary.first_result_s = time.perf_counter() - self.t_call
        self.n_done += 1
        self.progress.done(result.state)
        self._forget(trial.number, result.state, result.value)
        self.engine["tell_s"] += time.perf_counter() - t0
        self.engine["n_tell"] += 1

    def _finish_failed(self, entry: _Running, reason: str, requeue: bool = False) -> None:
        from optuna.trial import TrialState

        trial = entry.trial
        if requeue:
            _fail_and_requeue(self.study, trial, entry.params, reason)
        else:
            trial.set_user_attr(A.TRIAL_FAILURE, reason)
            self.study.tell(trial, state=TrialState.FAIL)
        log.warning("trial %d failed: %s%s", trial.number, reason,
                    " (parameters enqueued again)" if requeue else "")
        self.summary.n_failed += 1
        self.n_done += 1
        self.progress.done("failed")
        self._forget(trial.number)

    def _forget(self, number: int, state: str = "failed", value: float | None = None) -> None:
        if self.channel is not None:
            self.channel.finish.remote(number, state, value)

    def _enforce_timeouts(self) -> None:
        """Hard stop for a trial that ignores its own deadline (stuck inside an epoch)."""
        import ray

        limit = self.config.run.trial_timeout_s
        if limit is None:
            return
        now = time.monotonic()
        # Measured from submission, so allow for time queued behind a running trial.
        for ref, entry in list(self.running.items()):
            if now - entry.submitted > 2 * limit + 10:
                ray.cancel(ref, force=True)
                entry.submitted = math.inf  # cancel once; the result arrives as cancelled

    def _abandon_running(self) -> None:
        """Ctrl-C: keep what finished; stop the rest, recorded as interrupted and enqueued again."""
        import ray

        self.summary.interrupted = True
        if self.running:
            ready, _ = ray.wait(list(self.running), num_returns=len(self.running), timeout=0)
            for ref in ready:
                self._collect(ref)
        for ref, entry in list(self.running.items()):
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
            _fail_and_requeue(self.study, entry.trial, entry.params, A.REASON_INTERRUPTED)
            self._forget(entry.trial.number)
            del self.running[ref]
        log.warning("interrupted: running trials recorded as 'interrupted' and enqueued again")


class _Progress:
    """A tqdm bar: trials done of total, running, pruned, failed, best so far, elapsed, ETA."""

    def __init__(self, total: int, initial: int, enabled: bool) -> None:
        self.counts = {"complete": 0, "pruned": 0, "failed": 0}
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=min(initial, total), unit="trial",
                            dynamic_ncols=True, desc="trials", mininterval=0.5)
        self._last = 0.0

    def done(self, state: str) -> None:
        self.counts[state] += 1
        if self.bar is not None:
            self.bar.update(1)

    def update(self, running: int, best: Any) -> None:
        now = time.monotonic()
        if self.bar is None or now - self._last < 0.5:
            return
        self._last = now
        best_text = "-" if best is None else f"{best.value:.4f}"
        self.bar.set_postfix_str(f"in flight={running} pruned={self.counts['pruned']} "
                                 f"failed={self.counts['failed']} best={best_text}",
                                 refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
