"""Ray glue: run trials as Ray tasks and carry reports between workers and the study's driver.

Workers never open the study's storage. A worker's per-epoch report goes to ``PruningChannel``, a
small async actor that answers it (go on, prune, or stop: a user stopped the trial) and keeps it
for the driver, which collects the running trials' points in batches and writes them to the
storage, so readers see live learning curves. The worker does not wait for an answer: it trains on
and looks at the answer one epoch later, so messaging stays off the training's critical path.
With Hyperband the driver decides (``poll`` / ``decide``); otherwise the channel decides itself,
from its in-memory copy of the curves.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ray

from hpsearch.execution import _hold as _hold
from hpsearch.execution._pruning import PruneMirror
from hpsearch.training import TrialResult, train_trial

__all__ = ["GO", "PRUNE", "STOP", "PruningChannel", "Report", "Started", "launch_trial",
           "open_channel", "release_channel", "warm_up_workers"]

# A report's answer: train on, stop as pruned, or stop because a user asked to.
GO, PRUNE, STOP = 0, 1, 2


@dataclass(frozen=True)
class Report:
    """One epoch's validation accuracy from a running trial."""

    trial: int
    epoch: int
    value: float


@dataclass(frozen=True)
class Started:
    """A trial began training on a node."""

    trial: int
    node: str
    node_ip: str
    started_at: float


@ray.remote(num_cpus=0, max_concurrency=10_000)
class PruningChannel:
    """Where running trials report each epoch, and learn whether to go on.

    With a ``PruneMirror`` the channel answers at once from its in-memory copy of the study's
    learning curves, one message from the worker, never waiting on the driver (which may be busy
    sampling the next trial). Without one, either nothing is pruned (``never_prune``) or reports
    queue up for the driver (Hyperband, whose brackets follow the stored trial numbers), which
    drains them with ``poll`` and answers with ``decide``. Every report is also kept for the
    driver's live view (``take_live``), and a trial the driver was asked to stop (``stop``) is
    answered ``STOP``. The channel only reads: the driver stays the study's only writer.
    """

    def __init__(self) -> None:
        self._key = 0  # which study's trials are heard (``reset``); older ones are told STOP
        self.reset()

    def reset(self) -> int:
        """Forget the last study (the actor serves one study at a time); returns the new key.

        Workers send the key with every message: one still running for an earlier study (a late
        report, a trial abandoned on Ctrl-C) is answered ``STOP`` and never heard here.
        """
        for future in getattr(self, "_waiting", {}).values():
            if not future.done():
                future.set_result(STOP)
        self._mirror: PruneMirror | None = None
        self._first_fold: PruneMirror | None = None
        self._first_fold_at_finish = False
        self._fold1: dict[int, float] = {}  # trial -> its first fold's value, not yet counted
        self._never = False
        self._inbox: list[Report] = []
        self._waiting: dict[tuple[int, int], asyncio.Future[int]] = {}
        self._event = asyncio.Event()
        self._live: list[Report | Started] = []
        self._stop: set[int] = set()
        self._key += 1
        return self._key

    def attach(self, mirror: PruneMirror) -> None:
        """Decide here from now on, on ``mirror`` (the driver calls this before any trial runs)."""
        self._mirror = mirror

    def attach_first_fold(self, mirror: PruneMirror, at_finish: bool = False) -> None:
        """Answer first-fold epoch reports (``report_epoch``) from ``mirror``'s pruner.

        Args:
            mirror: the first folds so far (``PruneMirror.of_first_folds``).
            at_finish: count a trial's first fold only when the driver says the trial finished
                (a reproducible study's driver does so in trial order, a generation at a time),
                not as soon as the fold ends, which depends on the workers' timing.
        """
        self._first_fold, self._first_fold_at_finish = mirror, at_finish

    def never_prune(self) -> None:
        """No pruner: answer every report at once (still kept for the live view)."""
        self._never = True

    def ping(self) -> bool:
        """Resolves once the actor is up."""
        return True

    def started(self, key: int, trial: int, node: str, node_ip: str, started_at: float) -> None:
        """A trial began training (kept for the live view)."""
        if key == self._key:
            self._live.append(Started(trial, node, node_ip, started_at))

    async def report(self, key: int, trial: int, epoch: int, value: float) -> int:
        """Record one epoch's validation accuracy; resolves to ``GO``, ``PRUNE`` or ``STOP``."""
        if key != self._key:
            return STOP
        self._live.append(Report(trial, epoch, value))
        if epoch == 1 and self._first_fold is not None:  # a fold's step: the first fold ended
            if self._first_fold_at_finish:
                self._fold1[trial] = value
            else:
                self._first_fold.finish(trial, "complete", value)
        if trial in self._stop:
            return STOP
        if self._mirror is not None:
            return PRUNE if self._mirror.report(trial, epoch, value) else GO
        if self._never:
            return GO
        future = asyncio.get_running_loop().create_future()
        self._waiting[(trial, epoch)] = future
        self._inbox.append(Report(trial, epoch, value))
        self._event.set()
        return await future

    def report_epoch(self, key: int, trial: int, epoch: int, value: float) -> int:
        """One epoch of a cross-validated trial's first fold: ``GO``, ``PRUNE`` or ``STOP``."""
        if key != self._key or trial in self._stop:
            return STOP
        if self._first_fold is None:
            return GO
        return PRUNE if self._first_fold.report(trial, epoch, value) else GO

    def report_many(self, key: int, trial: int, points: list[tuple[int, float]]) -> int:
        """Several epochs at once from a trial that nothing prunes: ``GO``, or ``STOP``."""
        if key != self._key:
            return STOP
        self._live.extend(Report(trial, epoch, value) for epoch, value in points)
        return STOP if trial in self._stop else GO

    def take_live(self) -> list[Report | Started]:
        """Everything reported since the last call, oldest first."""
        live, self._live = self._live, []
        return live

    def stop(self, trial: int) -> None:
        """Answer the trial's next report (and any waiting one) with ``STOP``."""
        self._stop.add(trial)
        for key in [k for k in self._waiting if k[0] == trial]:
            future = self._waiting.pop(key)
            if not future.done():
                future.set_result(STOP)

    async def poll(self, timeout_s: float = 1.0) -> list[Report]:
        """Wait until reports are queued (or ``timeout_s`` passes) and hand them all over."""
        if not self._inbox:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout_s)
        self._event.clear()
        reports, self._inbox = self._inbox, []
        return reports

    def decide(self, decisions: list[tuple[int, int, bool]]) -> None:
        """Answer waiting reports: (trial, epoch, prune) each."""
        for trial, epoch, prune in decisions:
            future = self._waiting.pop((trial, epoch), None)
            if future is not None and not future.done():
                future.set_result(PRUNE if prune else GO)

    def finish(self, trial: int, state: str, value: float | None) -> None:
        """A trial ended ("complete", "pruned" or "failed"): its curve now informs the pruner."""
        self._stop.discard(trial)
        if self._mirror is not None:
            self._mirror.finish(trial, state, value)
        if self._first_fold is not None:  # still open only when it ended inside fold 1
            if trial in self._fold1:
                self._first_fold.finish(trial, "complete", self._fold1.pop(trial))
            else:
                self._first_fold.finish(trial, "pruned" if state == "pruned" else "failed",
                                        None)
        for key in [k for k in self._waiting if k[0] == trial]:
            future = self._waiting.pop(key)
            if not future.done():
                future.set_result(GO)


# Channels of finished studies, kept for the next study this driver process runs (a notebook,
# a benchmark): a new actor costs a worker process, about a second of a core here. Keyed by the
# Ray job and the driver's node (a node id is new with every Ray start; job ids restart at 1), so
# a handle never outlives its Ray session.
_IDLE: dict[tuple[str, str], list[Any]] = {}


def open_channel() -> tuple[Any, int]:
    """A pruning channel for a new study, and its key: an idle one reset, or a new actor.

    The actor lives on this driver's node, so a lost worker node never takes it (and with it
    the study's reports) down.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    context = ray.get_runtime_context()
    session = (context.get_job_id(), context.get_node_id())
    for stale in [k for k in _IDLE if k != session]:  # handles of an earlier Ray session
        del _IDLE[stale]
    idle = _IDLE.get(session, [])
    while idle:
        channel = idle.pop()
        # Gone (its node lost, killed): Ray says so at submission or in the reply; a new one.
        with contextlib.suppress(Exception):
            return channel, ray.get(channel.reset.remote(), timeout=30)
    channel = PruningChannel.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
        node_id=context.get_node_id(), soft=False)).remote()
    return channel, 1


def release_channel(channel: Any) -> None:
    """The study is over: keep its channel for this process's next study."""
    context = ray.get_runtime_context()
    _IDLE.setdefault((context.get_job_id(), context.get_node_id()), []).append(channel)


class _AsyncReporter:
    """The worker's side of the channel: send each epoch's report and keep training.

    Answers are read when they have arrived (one message away: typically well within the next
    epoch); the worker never waits for one, so messaging stays off the training path. Only in
    tests (``hpsearch.execution._hold``, ``hold``) does a report wait: while a test holds the trial.
    """

    def __init__(self, channel: Any, key: int, trial: int, wait: bool = False,
                 batch_s: float = 0.0, method: str = "report",
                 started: tuple[str, str, float] | None = None,
                 hold: _hold.Hold | None = None) -> None:
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
        return self._report(epoch, value) or self._hold.wait(epoch, lambda: self._held(epoch))

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
            if answer == STOP:
                self.decided_at, self.stopped_by_user = epoch, True
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
        if self._wait:
            answer = ray.get(self._send.remote(self._key, self._trial, epoch, value))
            if answer != GO:
                self.decided_at, self.stopped_by_user = epoch, answer == STOP
                return True
            return False
        if self._pending:
            refs = [ref for _, ref in self._pending]
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            if ready:
                answers = dict(zip(ready, ray.get(ready), strict=True))
                stop = [e for e, ref in self._pending if answers.get(ref, GO) != GO]
                if stop:
                    self.decided_at = min(stop)
                    self.stopped_by_user = STOP in answers.values()
                    return True
                self._pending = [(e, ref) for e, ref in self._pending if ref not in answers]
        self._pending.append((epoch, self._send.remote(self._key, self._trial, epoch, value)))
        return False


    def _batched(self, epoch: int, value: float) -> bool:
        self._batch.append((epoch, value))
        now = time.monotonic()
        if now - self._sent < self._batch_s:
            return False
        if self._pending:  # the last batch's answer: STOP, or go on
            (_, ref), = self._pending
            ready, _ = ray.wait([ref], timeout=0)
            if ready and ray.get(ref) == STOP:
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
# trial after trial; deserializing the dataset from the object store costs about 1.4 ms a time.
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
               channel: Any | None, key: int, timeout_s: float | None, blas_threads: int,
               wait_answers: bool, batch_s: float, first_fold: bool,
               keep_oof: bool) -> TrialResult:
    _limit_blas_threads(blas_threads)
    node, node_ip = ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()
    dataset = _dataset(dataset_ref)
    report = epoch_report = None
    if channel is not None:
        # A cross-validated trial reports once per fold: it waits for each answer, since a
        # late "prune" would cost a whole fold; so does a reproducible study's, whose trials must
        # stop at the same epoch whatever the messaging's timing.
        wait = wait_answers or getattr(dataset, "folds", None) is not None
        started: tuple[str, str, float] | None = (node, node_ip, time.time())
        if wait:  # a first report may be a whole fold away: say where it runs now (live view)
            channel.started.remote(key, trial, *started)
            started = None
        hold = _hold.for_trial(trial, node)  # None unless a test holds trials
        report = _AsyncReporter(channel, key, trial, wait=wait,
                                batch_s=0.0 if wait else batch_s, started=started, hold=hold)
        if first_fold and getattr(dataset, "folds", None) is not None:
            # The first fold's epochs: answers acted on when they arrive, as on one split.
            epoch_report = _AsyncReporter(channel, key, trial, wait=wait_answers,
                                          method="report_epoch", hold=hold)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    result = train_trial(params, dataset, seed, report=report, deadline=deadline,
                         epoch_report=epoch_report, keep_oof=keep_oof)
    for reporter in (report, epoch_report):
        if reporter is not None and reporter.decided_at is not None:
            result.prune_decided_at = reporter.decided_at
            result.stopped_by_user = reporter.stopped_by_user
    result.node, result.node_ip = node, node_ip
    return result


def launch_trial(params: Mapping[str, Any], dataset_ref: Any, seed: int, trial: int, *,
                 channel: Any | None, cpus: float, max_retries: int, key: int = 0,
                 timeout_s: float | None, wait_answers: bool = False,
                 batch_s: float = 0.0, first_fold: bool = False, keep_oof: bool = False) -> Any:
    """Submit one trial as a Ray task and return its ObjectRef.

    Args:
        params: resolved parameters.
        dataset_ref: the dataset's ObjectRef (put in the object store once per study).
        seed: the trial seed.
        trial: the Optuna trial number (the channel's key).
        channel: a ``PruningChannel`` handle, or None (no pruning, no live view, no stop).
        key: the channel's key for this study (``PruningChannel.reset``).
        cpus: CPUs the task reserves; also its BLAS thread count.
        max_retries: re-runs when its worker or node dies (trials are idempotent: seeded).
        timeout_s: the trial stops itself after this long, measured from when it starts.
        wait_answers: the worker waits for each report's answer (reproducible studies) instead
            of acting on it when it arrives.
        batch_s: with nothing to prune, send epochs in batches at most this often (live view,
            stop requests) instead of one message per epoch; 0 sends every epoch.
        first_fold: on a dataset with folds, report every epoch of the first fold as well
            (``PruningChannel.report_epoch``: first-fold pruning).
        keep_oof: on a dataset with folds, a complete trial returns its out-of-fold
            probabilities (for the ensemble's estimate).
    """
    return _run_trial.options(num_cpus=cpus, max_retries=max_retries,
                              retry_exceptions=False).remote(
        dict(params), [dataset_ref], seed, trial, channel, key, timeout_s, max(1, int(cpus)),
        wait_answers, batch_s, first_fold, keep_oof)
