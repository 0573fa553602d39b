"""``RayLauncher``: a study's trials as Ray tasks, with its pruning channel (the real ``Launcher``).

It owns everything the engine must not know about Ray: the dataset put in the object store once,
the task refs, the channel actor and the two messages the driver keeps outstanding on it (the
reports waiting for the driver's decision, and the live view's batch of points).
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any

from hpsearch.execution._channel import open_channel, release_channel
from hpsearch.execution._messages import Events, Sees, TaskFailure
from hpsearch.execution._pruning import PruneMirror
from hpsearch.execution._task import TaskOptions, launch_trial, warm_up_workers

__all__ = ["RayLauncher", "cluster_slots"]

# How often the cluster's CPUs are re-read (a node may join or leave mid-study).
_RESIZE_EVERY_S = 2.0


def cluster_slots(cpus_per_trial: float) -> int:
    """Trials the cluster can run at once: its CPUs divided by the CPUs each trial takes."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1.0) // cpus_per_trial))


class RayLauncher:
    """Runs trials as Ray tasks and carries their reports through a ``PruningChannel``.

    Args:
        dataset: the loaded dataset, put in Ray's object store once, here.
        options: how every trial task is launched and reports.
        driver_decides: reports wait for the driver's decision (``Events.reports``).
        channel_learns: the channel's pruners learn from finished trials (``finished``).
        warm: worker processes to start ahead of the first trials (default: the slots).
    """

    def __init__(self, dataset: Any, options: TaskOptions, *, driver_decides: bool = False,
                 channel_learns: bool = False, warm: int | None = None) -> None:
        import ray

        self._options = options
        self._driver_decides, self._learns = driver_decides, channel_learns
        self._slots, self._resized = 1, -math.inf
        warm_up_workers(warm or self.slots(), options.cpus)
        # The channel's actor starts meanwhile too (a worker process: docs/benchmarks.md); a
        # later study of this process reuses it.
        self.channel, self._key = open_channel()
        self._dataset_ref = ray.put(dataset)  # once per study; tasks get zero-copy views
        self._refs: dict[int, Any] = {}  # trial number -> its task's ref
        self._numbers: dict[Any, int] = {}
        self._poll: Any = None
        self._live: Any = None
        self._told = 0  # finishes sent: each carries its number, the channel learns in order
        self._sees: dict[int, Sees] = {}  # what ends counts in ask order: each trial's place
        self._first_in_ask_order = self._trials_in_ask_order = False

    def prepare(self, *, prunes: bool, mirror: PruneMirror | None = None,
                first_fold: PruneMirror | None = None, counted: str = "ended",
                trials_counted: str = "told") -> None:
        """Set the channel up before any trial runs.

        Args:
            prunes: a pruner decides (else every report is answered at once).
            mirror: the channel decides on this copy of the curves (else the driver decides).
            first_fold: first-fold pruning's copy of the first folds so far.
            counted: when a first fold counts (``PruningChannel.attach_first_fold``): as it
                ends, when the driver tells its trial, or as it ends in ask order.
            trials_counted: when ``mirror`` learns a trial (``PruningChannel.attach``): when
                the driver tells it ("told"), or as it ends, in ask order ("asked").
        """
        import ray

        if first_fold is not None:
            ray.get(self.channel.attach_first_fold.remote(first_fold, counted=counted))
            self._first_in_ask_order = counted == "asked"
        if not prunes:
            # Nothing waits on the channel (points go out in batches): trials start at once.
            self.channel.never_prune.remote()
            return
        if mirror is not None:
            ray.get(self.channel.attach.remote(mirror, counted=trials_counted))
            self._trials_in_ask_order = trials_counted == "asked"
        ray.get(self.channel.ping.remote())  # no report waits on an actor being born

    def slots(self) -> int:
        """Trials the cluster can run at once, re-read every ``_RESIZE_EVERY_S``."""
        now = time.monotonic()
        if now - self._resized > _RESIZE_EVERY_S:
            self._slots, self._resized = cluster_slots(self._options.cpus), now
        return self._slots

    def launch(self, number: int, params: dict[str, Any], seed: int,
               visible: Sees | None = None, resume: Any = None) -> None:
        """Submit trial ``number`` as a Ray task (``resume``: from a preempted one's checkpoint)."""
        ref = launch_trial(params, self._dataset_ref, seed, number, channel=self.channel,
                           key=self._key, options=self._options, visible=visible,
                           resume=resume)
        self._refs[number], self._numbers[ref] = ref, number
        if visible is not None and (self._first_in_ask_order or self._trials_in_ask_order):
            self._sees[number] = visible

    def wait(self, timeout_s: float, *, live: bool = False, every: bool = False) -> Events:
        """The next ready result, batch of reports or live points (``every``: all ready now)."""
        import ray

        if self._driver_decides and self._poll is None:
            self._poll = self.channel.poll.remote()
        if live and self._live is None:
            self._live = self.channel.take_live.remote()
        refs = [*self._numbers, *(r for r in (self._poll, self._live) if r is not None)]
        events = Events()
        if not refs:
            return events
        ready, _ = ray.wait(refs, num_returns=len(refs) if every else 1, timeout=timeout_s)
        for ref in ready:
            if ref is self._poll:
                events.reports, self._poll = ray.get(ref), None
            elif ref is self._live:
                events.live, self._live = ray.get(ref), None
            else:
                number = self._numbers.pop(ref)
                del self._refs[number]
                events.results.append((number, _outcome(ref)))
                self._ended_in_ask_order(number, events.results[-1][1])
        return events

    def _ended_in_ask_order(self, number: int, outcome: Any) -> None:
        """A reproducible trial ended: the channel counts it now, in ask order, as need be.

        Its first fold, if it ended inside it (one that finished the fold said so with the
        fold's report; a lost worker's may have); the whole trial, if the channel's pruner
        learns trials as they end.
        """
        sees = self._sees.pop(number, None)
        if sees is None:
            return
        state = getattr(outcome, "state", "failed")
        if state == "preempted":  # it resumes, and ends later
            self._sees[number] = sees
            return
        if self._first_in_ask_order and not getattr(outcome, "fold_values", None):
            self.channel.first_fold_ended.remote(self._key, sees.seq, number, state, None,
                                                 getattr(outcome, "first_fold_curve", None))
        if self._trials_in_ask_order:  # its values as the trial recorded them, as told
            curve = list(getattr(outcome, "history", {}).get("val_acc", []))
            value = outcome.value if state == "complete" else None
            self.channel.trial_ended.remote(self._key, sees.seq, number, state, value, curve)

    def decide(self, decisions: list[tuple[int, int, bool]]) -> None:
        """Answer the reports the driver decided."""
        self.channel.decide.remote(decisions)

    def stop_trial(self, number: int) -> None:
        """Answer the trial's next report ``STOP``."""
        self.channel.stop.remote(number)

    def preempt_trial(self, number: int) -> None:
        """Answer the trial's next report ``PREEMPT`` (unless it is to be pruned or stopped)."""
        self.channel.preempt.remote(number)

    def cancel(self, number: int) -> None:
        """Cancel the trial's task (force: it may be stuck inside an epoch)."""
        import ray

        ref = self._refs.get(number)
        if ref is not None:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)

    def finished(self, number: int, state: str, value: float | None) -> None:
        """Tell the channel's pruners (only a pruner's mirror learns: without one, no message)."""
        if self._learns:
            self.channel.finish.remote(self._key, number, state, value, self._told)
            self._told += 1

    def sync(self) -> None:
        """Wait until the channel has handled every message sent so far.

        The driver's messages and the workers' come by different roads: a reproducible study's
        next generation must not report before the channel learned the last one.
        """
        import ray

        if self._learns:
            ray.get(self.channel.ping.remote())

    def close(self) -> None:
        """Keep the channel for this process's next study."""
        release_channel(self.channel)


def _outcome(ref: Any) -> Any:
    """The task's ``TrialResult``, or a ``TaskFailure`` saying why there is none."""
    import ray

    try:
        return ray.get(ref)
    except ray.exceptions.TaskCancelledError:
        return TaskFailure("cancelled: trial timed out")
    except ray.exceptions.RayTaskError as exc:
        # Raised in the task but outside the trial's own code (e.g. the worker cannot import
        # the project): the trial's parameters are not to blame, the environment is.
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        return TaskFailure(f"task error: {type(cause).__name__}: {cause}")
    except ray.exceptions.RayError as exc:
        # The worker or its node died, and Ray's retries ran out: fail it, run it again once.
        return TaskFailure(f"worker lost: {type(exc).__name__}", lost=True)
