"""The engine: the ask -> launch -> collect -> tell loop that runs a study's trials on Ray.

The driver (``hpsearch.search._driver``) opens the study and hands it here. The engine asks Optuna for
trials, launches each as a Ray task (at most ``max_in_flight`` at once, one more queued when the
window spans the cluster), tells results as they arrive in whatever order, and answers pruning
reports. A trial is written before it launches and its record when it is told, so nothing
completed is lost; a trial whose worker died is failed and run once more.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hpsearch import _attrs as A
from hpsearch.results import best_trial
from hpsearch.search._progress import Progress
from hpsearch.storage import (
    MAX_OOF_VALUES,
    changed_outside,
    fail_and_requeue,
    persist_launch,
    set_oof_probs,
    stop_requested,
    stored_value,
    write_live,
)
from hpsearch.study import (
    PRUNERS,
    PRUNERS_DECIDING_BY_TRIAL_NUMBER,
    StudyConfig,
    resolve_params,
    suggest_params,
)

if TYPE_CHECKING:
    from optuna.trial import TrialState

__all__ = ["LIVE_EVERY_S", "Engine", "RunSummary", "cluster_slots", "counts_toward_budget",
           "trial_seed"]

log = logging.getLogger("hpsearch")

# Keep one extra trial queued beyond the CPUs, so a worker never waits on the driver's tell+ask.
_QUEUE_AHEAD = 1
# How often the driver re-reads the cluster's CPUs (a node may join or leave mid-study).
_RESIZE_EVERY_S = 2.0
# How often running trials' new points reach the storage (one transaction for all of them), and
# how often the driver looks there for trials stopped from outside and a request to stop.
LIVE_EVERY_S = 1.0


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


def counts_toward_budget(trial: Any) -> bool:
    """Whether a stored trial uses up one of ``n_trials``: finished, and not re-enqueued."""
    from optuna.trial import TrialState

    return (trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
            and trial.user_attrs.get(A.TRIAL_FAILURE) != A.REASON_INTERRUPTED)


def cluster_slots(cpus_per_trial: float) -> int:
    """Trials the cluster can run at once: its CPUs divided by the CPUs each trial takes."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1.0) // cpus_per_trial))


@dataclass(frozen=True)
class _Best:
    value: float
    number: int


@dataclass
class _Running:
    trial: Any  # optuna.Trial
    params: dict[str, Any]  # sampled (searched) parameters, for re-enqueueing
    submitted: float
    reported: set[int] = field(default_factory=set)  # epochs already told to Optuna
    outside: TrialState | None = None  # a state set from outside (dashboard, `hpsearch stop`)


class Engine:
    """The ask -> launch -> collect -> tell loop, with the pruning channel and a progress bar.

    Args:
        config: the study file.
        study: the driver's study (``hpsearch.storage.open_for_writing``).
        dataset: the loaded dataset (put in Ray's object store once, here).
        summary: filled in as trials finish.
        n_target: finished trials to reach.
        max_in_flight: trials at once (default: the cluster's slots, re-read as nodes come and go).
        progress: "bar", "lines" (JSON lines for a log) or "none" (True/False: bar/none).
        t_call: when the run was asked for (``time.perf_counter``), for the first-result time.
        channel: the pruning channel actor, None without pruning.
        stop: polled every step; True asks the engine to stop as on Ctrl-C (a lost lease).
        reproducible: run trials in generations of a fixed size (``max_in_flight``, else the
            cluster's slots at start) and tell each generation's results in trial-number order
            once all have arrived, so sampler and pruner see the same history on every run,
            whatever the workers' timing. Costs the idle slots at each generation's end.
        channel_key: the channel's key for this study (``hpsearch.execution._dispatch.open_channel``).
    """

    def __init__(self, config: StudyConfig, study: Any, dataset: Any, summary: RunSummary,
                 n_target: int, max_in_flight: int | None, progress: str | bool, t_call: float,
                 channel: Any, stop: Callable[[], bool] = lambda: False,
                 reproducible: bool = False, channel_key: int = 0) -> None:
        import ray

        self.config, self.study, self.dataset, self.summary = config, study, dataset, summary
        self.n_target = n_target
        self.fixed_in_flight = max_in_flight or config.run.max_in_flight
        self.cpus = config.run.cpus_per_trial
        self.t_call = t_call
        self.dataset_ref = ray.put(dataset)  # once per study; tasks get zero-copy views
        self.channel, self.channel_key = channel, channel_key
        self.decides_here = config.pruner in PRUNERS_DECIDING_BY_TRIAL_NUMBER
        self.prunes = PRUNERS[config.pruner] is not None
        self.stop = stop
        # Reproducible mode: results held until their generation is complete, then told in order.
        self.held: list[tuple[int, Callable[[], None]]] | None = [] if reproducible else None
        self.generation = 0
        self.running: dict[Any, _Running] = {}
        self.by_number: dict[int, Any] = {}
        self.n_done = sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False))
        self.engine = {"ask_s": 0.0, "tell_s": 0.0, "report_s": 0.0, "live_s": 0.0, "n_ask": 0,
                       "n_tell": 0, "n_report": 0, "n_live": 0}
        self.started_wall = time.time()
        self.progress = Progress(n_target, self.n_done, progress)
        best = best_trial(study)
        self.best = None if best is None else _Best(best.value, best.number)
        self.slots = 1  # trials the cluster can run at once, re-read every _RESIZE_EVERY_S
        self._resized = -math.inf
        self.stop_requested = False
        self.keep_oof = self._keep_oof()

    def _keep_oof(self) -> bool:
        """Whether complete trials return their out-of-fold probabilities for keeping.

        Only the ensemble's estimate reads them, and only up to ``MAX_OOF_VALUES`` per trial.
        """
        folds = getattr(self.dataset, "folds", None)
        if folds is None or self.config.selection.ensemble <= 1:
            return False
        size = len(folds) * self.dataset.num_classes
        if size > MAX_OOF_VALUES:
            log.info("out-of-fold probabilities (%d per trial) not kept: too many to store; "
                     "the ensemble is tested without an estimate of its own", size)
            return False
        return True

    # -- sizing ------------------------------------------------------------------------------
    def _window(self) -> tuple[int, int]:
        """Trials to run at once, and how many more to keep queued behind them.

        Ray starts any task it has CPUs for, so a queued trial waits for a running one to end
        only when the window is as wide as the cluster. A narrower window (``max_in_flight``) is
        kept exactly, with nothing queued.
        """
        now = time.monotonic()
        if now - self._resized > _RESIZE_EVERY_S:
            self.slots = cluster_slots(self.cpus)
            self._resized = now
        capacity = self.fixed_in_flight or self.slots
        return capacity, _QUEUE_AHEAD if capacity >= self.slots else 0

    def _generation_window(self) -> int:
        """Reproducible mode's fixed generation size, decided once."""
        if self.generation == 0:
            self.generation = self.fixed_in_flight or cluster_slots(self.cpus)
        return self.generation

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> None:
        """Run trials until the target is reached, the timeout passes, or a stop is asked."""
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
        live, live_due = None, time.monotonic() + LIVE_EVERY_S
        try:
            while not self.stop_requested:
                if self.held is not None:
                    capacity, ahead = self._generation_window(), 0
                    if self.running:  # a generation is out: launch nothing until it is back
                        capacity = 0
                    else:
                        self._tell_held()
                else:
                    capacity, ahead = self._window()
                self.summary.max_in_flight = max(self.summary.max_in_flight, capacity)
                while (len(self.running) < capacity + ahead
                       and self.n_done + len(self.running) < self.n_target
                       and (deadline is None or time.monotonic() < deadline)):
                    self._launch()
                    t_first = t_first or time.perf_counter()
                if not self.running:
                    break
                if live is None and self.channel is not None and time.monotonic() >= live_due:
                    live = self.channel.take_live.remote()
                extra = [r for r in (poll, live) if r is not None]
                ready, _ = ray.wait(list(self.running) + extra, num_returns=1, timeout=1.0)
                for ref in ready:
                    if ref is poll:
                        self._answer(ray.get(poll))
                        poll = self.channel.poll.remote()
                    elif ref is live:
                        # Results first (they were ready with it), then the batch of points.
                        for other in [r for r in ready if r in self.running]:
                            self._collect(other)
                        self._live(ray.get(live))
                        live, live_due = None, time.monotonic() + LIVE_EVERY_S
                    elif ref in self.running:
                        self._collect(ref)
                self._enforce_timeouts()
                self.progress.update(len(self.running), self.best)
                if self.stop():
                    self.stop_requested = True
            if self.stop_requested:
                self._abandon_running()
            if self.held:
                self._tell_held()
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
                from hpsearch.execution import release_channel

                release_channel(self.channel)

    def _live(self, items: list[Any]) -> None:
        """Write running trials' new points in one transaction; honour changes from outside."""
        from hpsearch.execution import Started

        t0 = time.perf_counter()
        touched: dict[int, Any] = {}
        for item in items:
            ref = self.by_number.get(item.trial)
            if ref is None:  # finished meanwhile: its whole record is written already
                continue
            entry = self.running[ref]
            if isinstance(item, Started):
                entry.trial.set_user_attr(A.TRIAL_NODE, item.node)
                entry.trial.set_user_attr(A.TRIAL_NODE_IP, item.node_ip)
                entry.trial.set_user_attr(A.TRIAL_STARTED_AT, item.started_at)
            elif item.epoch not in entry.reported:
                entry.trial.report(item.value, item.epoch)
                entry.reported.add(item.epoch)
            touched[entry.trial.number] = entry.trial
        write_live(self.study, list(touched.values()))
        watched = {e.trial.number: e for e in self.running.values() if e.outside is None}
        for number, state in changed_outside(self.study, [e.trial for e in watched.values()]
                                             ).items():
            watched[number].outside = state
            self.channel.stop.remote(number)
            log.warning("trial %d was marked %s from outside: stopping it", number,
                        state.name)
        if stop_requested(self.study, since=self.started_wall):
            log.warning("a stop was requested (hpsearch stop): stopping after the current step")
            self.stop_requested = True
        self.engine["live_s"] += time.perf_counter() - t0
        self.engine["n_live"] += 1

    def _on_signal(self, signum: int, frame: Any) -> None:
        # First Ctrl-C / SIGTERM: finish the current step, then stop cleanly. Second: stop now.
        if self.stop_requested:
            raise KeyboardInterrupt
        self.stop_requested = True
        log.warning("received %s: stopping after the current step", signal.Signals(signum).name)

    def _launch(self) -> None:
        from hpsearch.execution import launch_trial

        t0 = time.perf_counter()
        trial = self.study.ask()
        sampled = suggest_params(trial, self.config.space)
        seed = trial_seed(self.config.seed, trial.number)
        trial.set_user_attr(A.TRIAL_SEED, seed)
        params = resolve_params(sampled, self.config.space)
        # Stored before it runs: a driver that dies now leaves it RUNNING, with its parameters.
        persist_launch(self.study, trial)
        self.engine["ask_s"] += time.perf_counter() - t0
        self.engine["n_ask"] += 1
        ref = launch_trial(params, self.dataset_ref, seed, trial.number, channel=self.channel,
                           key=self.channel_key,
                           cpus=self.cpus, max_retries=self.config.run.max_retries,
                           timeout_s=self.config.run.trial_timeout_s,
                           wait_answers=self.held is not None and (
                               self.prunes or self.config.selection.first_fold_pruning),
                           batch_s=0.0 if self.prunes else LIVE_EVERY_S / 2,
                           first_fold=self.config.selection.first_fold_pruning,
                           keep_oof=self.keep_oof)
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
            self._settle(number, lambda: self._finish_failed(entry, "cancelled: trial timed out"))
            return
        except ray.exceptions.RayTaskError as exc:
            # Raised in the task but outside the trial's own code (e.g. the worker cannot import
            # the project): the trial's parameters are not to blame, the environment is.
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            reason = f"task error: {type(cause).__name__}: {cause}"
            self._settle(number, lambda: self._finish_failed(entry, reason))
            return
        except ray.exceptions.RayError as exc:
            # The worker or its node died, and Ray's retries ran out: fail it, run it again once.
            reason = f"worker lost: {type(exc).__name__}"
            again = entry.trial.user_attrs.get(A.TRIAL_RETRY_OF) is None
            self._settle(number, lambda: self._finish_failed(entry, reason, requeue=again))
            return
        self._settle(number, lambda: self._tell(entry, result))

    def _settle(self, number: int, tell: Callable[[], None]) -> None:
        """Tell a result now, or (reproducible mode) hold it until its generation is complete."""
        if self.held is None:
            tell()
        else:
            self.held.append((number, tell))

    def _tell_held(self) -> None:
        """Tell a generation's results in trial-number order, whatever order they arrived in."""
        if self.held:
            held, self.held = sorted(self.held, key=lambda item: item[0]), []
            for _, tell in held:
                tell()
            if self.channel is not None and (self.prunes
                                             or self.config.selection.first_fold_pruning):
                import ray

                # The channel's pruners must have learned this generation before the next one
                # reports: the driver's messages and the workers' come by different roads.
                ray.get(self.channel.ping.remote())

    def _tell(self, entry: _Running, result: Any) -> None:
        from optuna.trial import TrialState

        t0 = time.perf_counter()
        trial = entry.trial
        attrs = {A.TRIAL_NODE: result.node, A.TRIAL_NODE_IP: result.node_ip,
                 A.TRIAL_DURATION: result.duration_s, A.TRIAL_STARTED_AT: result.started_at,
                 A.TRIAL_EPOCHS_RUN: result.epochs_run,
                 A.TRIAL_FINGERPRINT: self.dataset.fingerprint, A.TRIAL_HISTORY: result.history}
        if result.fold_values is not None:
            attrs[A.TRIAL_FOLD_VALUES] = result.fold_values
        if result.first_fold_curve is not None:
            attrs[A.TRIAL_FIRST_FOLD_CURVE] = result.first_fold_curve
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
        state = result.state
        if entry.outside is not None:  # stopped from outside: that state is kept, not ours
            state, attrs = self._outside_outcome(entry, attrs)
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        if state == "complete" and result.oof_probs is not None:  # asked for by keep_oof
            set_oof_probs(self.study, trial, result.oof_probs)
        if state == "complete":
            value = result.value if entry.outside is None else stored_value(self.study, trial)
            self.study.tell(trial, value)
            self.summary.n_complete += 1
            if self.best is None or (value, -trial.number) > (self.best.value, -self.best.number):
                self.best = _Best(value, trial.number)
        elif state == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
            self.summary.n_pruned += 1
        else:
            self.study.tell(trial, state=TrialState.FAIL)
            self.summary.n_failed += 1
            log.warning("trial %d failed: %s", trial.number, attrs[A.TRIAL_FAILURE])
        self.summary.trial_s += result.duration_s
        if self.summary.first_result_s is None:
            self.summary.first_result_s = time.perf_counter() - self.t_call
        self.n_done += 1
        self.progress.done(state)
        self._forget(trial.number, state, result.value)
        self.engine["tell_s"] += time.perf_counter() - t0
        self.engine["n_tell"] += 1

    @staticmethod
    def _outside_outcome(entry: _Running, attrs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """How a trial stopped from outside is recorded: the state set there, with our record."""
        from optuna.trial import TrialState

        attrs = {k: v for k, v in attrs.items()
                 if k not in (A.TRIAL_PRUNED_AT, A.TRIAL_PRUNE_DECIDED_AT)}
        if entry.outside == TrialState.COMPLETE:
            return "complete", attrs
        if entry.outside == TrialState.PRUNED:
            return "pruned", attrs
        attrs[A.TRIAL_FAILURE] = A.REASON_STOPPED_BY_USER
        return "failed", attrs

    def _finish_failed(self, entry: _Running, reason: str, requeue: bool = False) -> None:
        from optuna.trial import TrialState

        trial = entry.trial
        if requeue:
            fail_and_requeue(self.study, trial, entry.params, reason)
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
        # Only a pruner's mirror learns from finished trials: without one, no message.
        if self.channel is not None and (self.prunes
                                         or self.config.selection.first_fold_pruning):
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
        self._tell_held()  # finished trials are kept, in order
        for ref, entry in list(self.running.items()):
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
            fail_and_requeue(self.study, entry.trial, entry.params, A.REASON_INTERRUPTED)
            self._forget(entry.trial.number)
            del self.running[ref]
        log.warning("interrupted: running trials recorded as 'interrupted' and enqueued again")


