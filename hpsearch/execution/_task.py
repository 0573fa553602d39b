"""The trial task: one trial run as a Ray task, reporting to the pruning channel as it trains.

The worker does not wait for a report's answer: it trains on and looks at the answer one epoch
later, so messaging stays off the training's critical path.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import ray

from hpsearch.execution import _hold
from hpsearch.execution._messages import GO, PREEMPT, STOP, Sees, TaskOptions
from hpsearch.training import TrialResult, train_trial

__all__ = ["launch_trial", "warm_up_workers"]


class _AsyncReporter:
    """The worker's side of the channel: send each epoch's report and keep training.

    Answers are read when they have arrived (one message away: typically well within the next
    epoch); the worker never waits for one, so messaging stays off the training path. Only in
    tests (``hpsearch.execution._hold``, ``hold``) does a report wait: while a test holds the trial.
    """

    def __init__(self, channel: Any, key: int, trial: int, wait: bool = False,
                 batch_s: float = 0.0, method: str = "report",
                 started: tuple[str, str, float] | None = None,
                 hold: _hold.Hold | None = None, behind: bool = False,
                 visible: Sees | None = None, first_fold: _AsyncReporter | None = None,
                 curve: list[float] | None = None) -> None:
        self._channel = channel
        # (node, node ip, start time) for the live view, sent with the first message: a trial
        # shorter than one batch sends nothing at all.
        self._started = started
        self._send = getattr(channel, method)  # "report", or "report_epoch" (first fold)
        self._key = key
        self._trial = trial
        self._wait = wait  # one report per fold: each answer is worth a fold's training
        # With nothing to prune, epochs go out in batches at most every batch_s seconds (for
        # the live view and stop requests): a message per epoch costs the worker milliseconds.
        self._batch_s = batch_s
        self._batch: list[tuple[int, float]] = []
        self._sent = time.monotonic()
        self._pending: list[tuple[int, Any]] = []  # (epoch, answer ref), oldest first
        self.decided_at: int | None = None  # the epoch whose report the pruner stopped
        self.stopped_by_user = False
        # asked to give its slot back (a higher-priority study): the trial checkpoints at the
        # epoch boundary where it learns so, and ends as "preempted" (``train_trial(preempt=)``)
        self.preempted = False
        self._behind = behind  # act on each answer exactly one report later
        self._visible = visible  # the deterministic set the decisions use (reproducible)
        # A reproducible study's first fold is learned from the curve its fold report carries
        # (``first_fold``: the first-fold stream, which keeps ``curve``): that stream's answers
        # may still be on their way then.
        self._first_fold = first_fold
        self.curve = curve  # the values reported so far, a resumed part's included; or None
        self._previous: tuple[int, Any] | None = None  # behind: (epoch, answer ref)
        self._hold = hold  # test support only (hpsearch.execution._hold): None in every real study
        self._asked: Any = None  # while held: the channel's answer to "stop?", on its way
        self._asked_at = -math.inf

    def _say_started(self) -> None:
        if self._started is not None:
            self._channel.started.remote(self._key, self._trial, *self._started)
            self._started = None

    def __call__(self, epoch: int, value: float) -> bool:
        if self._hold is None:
            return self._report(epoch, value)
        if self._report(epoch, value):
            return True
        self._hold.wait(epoch, lambda: self._held(epoch))  # ends early on a stop or preemption
        return self.decided_at is not None  # stopped (a preempted trial ends at this boundary)

    def _held(self, epoch: int) -> bool:
        """While a test holds the trial (``hpsearch.execution._hold``): whether it was told to stop.

        Every ``_HELD_ASK_S`` the points not yet sent go out, as an empty batch would, and the
        answer says whether the trial is to stop: a held trial is stopped from outside, or by
        the end of its study, as a running one is, and the live view shows it where it waits.
        """
        if self._asked is not None:
            ready, _ = ray.wait([self._asked], timeout=0)
            if not ready:
                return False
            try:
                answer = ray.get(self._asked)
            except Exception:  # the channel is gone: hold on until released
                answer = GO
            self._asked = None
            self.preempted = self.preempted or answer == PREEMPT
            if answer == STOP:
                self.decided_at, self.stopped_by_user = epoch, True
                return True
            if answer == PREEMPT:  # held or not, it gives its slot back at this boundary
                return True
        now = time.monotonic()
        if now - self._asked_at >= _HELD_ASK_S:
            self._say_started()
            points, self._batch = self._batch, []
            self._asked = self._channel.report_many.remote(self._key, self._trial, points)
            self._asked_at = self._sent = now
        return False

    def _report(self, epoch: int, value: float) -> bool:
        if self._batch_s > 0:
            return self._batched(epoch, value)
        self._say_started()
        if self.curve is not None:
            self.curve.append(value)
        if self._first_fold is not None and epoch == 1:  # the first fold ended
            sent = self._send.remote(self._key, self._trial, epoch, value, self._visible,
                                     self._first_fold.curve)
        else:
            sent = self._send.remote(self._key, self._trial, epoch, value, self._visible)
        if self._wait:
            return self._decided(epoch, ray.get(sent))
        if self._behind:
            previous, self._previous = self._previous, (epoch, sent)
            return previous is not None and self._decided(previous[0], ray.get(previous[1]))
        if self._pending:
            refs = [ref for _, ref in self._pending]
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            if ready:
                answers = dict(zip(ready, ray.get(ready), strict=True))
                self.preempted = self.preempted or PREEMPT in answers.values()
                stop = [e for e, ref in self._pending if answers.get(ref, GO) not in (GO, PREEMPT)]
                if stop:
                    self.decided_at = min(stop)
                    self.stopped_by_user = STOP in answers.values()
                    return True
                self._pending = [(e, ref) for e, ref in self._pending if ref not in answers]
        self._pending.append((epoch, sent))
        return False

    def stops_here(self) -> bool:
        """Whether the trial gives its slot back at this epoch boundary (it was asked to).

        Acting one report behind (a reproducible study), the last report's answer is awaited
        first: a "prune" or "stop" there is acted on at the next report, exactly as without
        preemption, so the trial keeps going until then; a resumed trial's first report reads
        no earlier answer, which is what "go on" would have done.
        """
        if not self.preempted:
            return False
        if self._behind and self._previous is not None:
            return ray.get(self._previous[1]) in (GO, PREEMPT)
        return True

    def _decided(self, epoch: int, answer: int) -> bool:
        """Whether ``answer`` (to the report of ``epoch``) stops the trial; records it if so."""
        if answer in (GO, PREEMPT):
            self.preempted = self.preempted or answer == PREEMPT
            return False
        self.decided_at, self.stopped_by_user = epoch, answer == STOP
        return True


    def _batched(self, epoch: int, value: float) -> bool:
        self._batch.append((epoch, value))
        now = time.monotonic()
        if now - self._sent < self._batch_s:
            return False
        if self._pending:  # the last batch's answer: STOP, or go on
            (_, ref), = self._pending
            ready, _ = ray.wait([ref], timeout=0)
            answer = ray.get(ref) if ready else GO
            self.preempted = self.preempted or answer == PREEMPT
            if answer == STOP:
                self.decided_at, self.stopped_by_user = epoch, True
                return True
        self._say_started()
        self._pending = [(epoch, self._channel.report_many.remote(self._key, self._trial,
                                                                  self._batch))]
        self._batch, self._sent = [], now
        return False


# How often a trial held by a test (``hpsearch.execution._hold``) asks its channel whether to stop.
_HELD_ASK_S = 0.25

_BLAS_LIMITED: int | None = None


def _limit_blas_threads(n: int) -> None:
    # Once per worker process: Ray reuses workers, and threadpoolctl's probe costs milliseconds.
    global _BLAS_LIMITED
    if n != _BLAS_LIMITED:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
        _BLAS_LIMITED = n


# (object id, dataset) of the study this worker process served last. Ray reuses a worker for
# trial after trial, and deserializing the dataset from the object store each time is measurable
# (docs/benchmarks.md, "Costs the code cites").
_DATASET: tuple[str, Any] | None = None


def _dataset(wrapped: list[Any]) -> Any:
    """The dataset behind ``wrapped[0]`` (an ObjectRef), fetched once per worker process.

    The ref comes wrapped in a list so that Ray passes it as is instead of fetching the dataset
    for every task.
    """
    global _DATASET
    ref = wrapped[0]
    key = ref.hex()
    if _DATASET is None or _DATASET[0] != key:
        _DATASET = None  # let go of the last study's data first
        _DATASET = (key, ray.get(ref))
    return _DATASET[1]


@ray.remote
def _warm_up() -> None:
    """Start a worker process and import what trials need, while the driver prepares the study."""
    import netcore  # noqa: F401


def warm_up_workers(n: int, cpus: float) -> list[Any]:
    """Start ``n`` worker processes ahead of the first trials (nobody waits on the refs)."""
    return [_warm_up.options(num_cpus=cpus).remote() for _ in range(n)]


@ray.remote
def _run_trial(params: Mapping[str, Any], dataset_ref: list[Any], seed: int, trial: int,
               channel: Any | None, key: int, options: TaskOptions,
               visible: Sees | None, resume: Any = None) -> TrialResult:
    _limit_blas_threads(max(1, int(options.cpus)))
    node, node_ip = ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()
    dataset = _dataset(dataset_ref)
    report = epoch_report = None
    if channel is not None:
        report, epoch_report = _reporters(channel, key, trial, options, dataset, node, node_ip,
                                          visible, resume)
    deadline = None if options.timeout_s is None else time.monotonic() + options.timeout_s
    reporters = [r for r in (report, epoch_report) if r is not None]
    result = train_trial(params, dataset, seed, report=report, deadline=deadline,
                         epoch_report=epoch_report, keep_oof=options.keep_oof,
                         measure_inference=options.measure_inference, resume=resume,
                         preempt=(lambda: any(r.stops_here() for r in reporters)) if reporters
                         else None)
    for reporter in (report, epoch_report):
        if reporter is not None and reporter.decided_at is not None:
            result.prune_decided_at = reporter.decided_at
            result.stopped_by_user = reporter.stopped_by_user
    result.node, result.node_ip = node, node_ip
    return result


def _reporters(channel: Any, key: int, trial: int, options: TaskOptions, dataset: Any,
               node: str, node_ip: str,
               visible: Sees | None,
               resume: Any = None) -> tuple[_AsyncReporter, _AsyncReporter | None]:
    """The trial's reporter, and its first fold's (first-fold pruning on folds), or None."""
    folds = getattr(dataset, "folds", None) is not None
    # A cross-validated trial reports once per fold: it waits for each answer, since a late
    # "prune" would cost a whole fold; so does a reproducible study's, whose trials must stop
    # at the same epoch whatever the messaging's timing.
    wait = options.wait_answers or folds
    started: tuple[str, str, float] | None = (node, node_ip, time.time())
    if wait:  # a first report may be a whole fold away: say where it runs now (live view)
        channel.started.remote(key, trial, *started)
        started = None
    hold = _hold.for_trial(trial, node)  # None unless a test holds trials
    epoch_report = None
    in_ask_order = visible is not None  # a lagged reproducible study: see ``_first_fold``
    if options.first_fold and folds:
        # The first fold's epochs: answers acted on when they arrive, as on one split.
        epoch_report = _AsyncReporter(channel, key, trial, wait=options.wait_answers,
                                      method="report_epoch", hold=hold,
                                      behind=options.answers_behind, visible=visible,
                                      curve=list(getattr(resume, "first_fold_curve", None) or [])
                                      if in_ask_order else None)
    report = _AsyncReporter(channel, key, trial, wait=wait,
                            batch_s=0.0 if wait else options.batch_s, started=started, hold=hold,
                            behind=options.answers_behind, visible=visible,
                            first_fold=epoch_report if in_ask_order else None)
    return report, epoch_report


def launch_trial(params: Mapping[str, Any], dataset_ref: Any, seed: int, trial: int, *,
                 channel: Any | None, options: TaskOptions, key: int = 0,
                 visible: Sees | None = None, resume: Any = None) -> Any:
    """Submit one trial as a Ray task and return its ObjectRef.

    Args:
        params: resolved parameters.
        dataset_ref: the dataset's ObjectRef (put in the object store once per study).
        seed: the trial seed.
        trial: the Optuna trial number (the channel's key).
        channel: a ``PruningChannel`` handle, or None (no pruning, no live view, no stop).
        options: how the run's trials are launched and report.
        key: the channel's key for this study (``PruningChannel.reset``).
        visible: what a reproducible study's pruning decisions for this trial see (None:
            every finished trial).
        resume: a preempted trial's ``TrialCheckpoint``: it goes on from there, on any node.
    """
    return _run_trial.options(num_cpus=options.cpus, max_retries=options.max_retries,
                              retry_exceptions=False).remote(
        dict(params), [dataset_ref], seed, trial, channel, key, options, visible, resume)
