"""The pruning channel: where running trials report each epoch and learn whether to go on.

Workers never open the study's storage. A worker's per-epoch report goes to ``PruningChannel``, a
small async actor that answers it (go on, prune, or stop: a user stopped the trial) and keeps it
for the driver, which collects the running trials' points in batches and writes them to the
storage, so readers see live learning curves. With Hyperband the driver decides (``poll`` /
``decide``); otherwise the channel decides itself, from its in-memory copy of the curves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import ray

from hpsearch.execution._messages import GO, PREEMPT, PRUNE, STOP, Report, Sees, Started
from hpsearch.execution._pruning import PruneMirror

__all__ = ["PruningChannel", "open_channel", "release_channel"]


class _Preempting(set[int]):
    """Trials asked to give their slot back (``PruningChannel.preempt``)."""

    def answer(self, trial: int, answer: int) -> int:
        """``PREEMPT`` instead of ``GO`` for such a trial, once (it stops at that boundary)."""
        preempted = answer == GO and trial in self
        self.difference_update((trial,) if preempted else ())
        return PREEMPT if preempted else answer


class _Count:
    """A count that callers can wait on (``at_least``): trials told, first folds learned."""

    def __init__(self) -> None:
        self.n = 0
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []

    async def at_least(self, n: int) -> None:
        """Return once the count reached ``n``."""
        if self.n < n:
            future = asyncio.get_running_loop().create_future()
            self._waiting.append((n, future))
            await future

    def add(self) -> None:
        self.n += 1
        self.release(lambda n: self.n >= n)

    def release(self, due: Any = lambda n: True) -> None:
        """Wake the waiters whose count is ``due`` (default: all: the study is over)."""
        waiting, self._waiting = self._waiting, []
        for n, future in waiting:
            if not due(n):
                self._waiting.append((n, future))
            elif not future.done():
                future.set_result(None)


class _InOrder:
    """Items numbered from 0 that may come in any order, handed on in their order."""

    def __init__(self) -> None:
        self._next = 0
        self._early: dict[int, Any] = {}

    def put(self, seq: int, item: Any) -> list[Any]:
        """Keep ``item``; the items now due, in order (a number seen before is ignored)."""
        if seq >= self._next:
            self._early.setdefault(seq, item)
        due = []
        while self._next in self._early:
            due.append(self._early.pop(self._next))
            self._next += 1
        return due


class _Turns:
    """A reproducible study's decisions on a trial's epochs, taken in epoch order per stream.

    An async actor may run one caller's messages out of order; a reproducible study's decision
    at an epoch must see the trial's values up to it, whatever order they came in.
    """

    def __init__(self) -> None:
        self._decided: dict[tuple[str, int], int] = {}  # (stream, trial) -> last epoch decided
        self._waiting: dict[tuple[str, int], list[asyncio.Future[None]]] = {}

    @contextlib.asynccontextmanager
    async def of(self, stream: str, trial: int, epoch: int,
                 still: Callable[[], bool]) -> AsyncIterator[None]:
        """The epoch's turn: once the trial's earlier epochs were decided (or not ``still``)."""
        k = (stream, trial)
        while self._decided.get(k, 0) < epoch - 1 and still():
            future = asyncio.get_running_loop().create_future()
            self._waiting.setdefault(k, []).append(future)
            await future
        try:
            yield
        finally:
            self._decided[k] = max(epoch, self._decided.get(k, 0))
            self.wake(k)

    def wake(self, *keys: tuple[str, int]) -> None:
        """Let the waiting turns of these (stream, trial)s look again (default: all)."""
        for k in keys or list(self._waiting):
            for future in self._waiting.pop(k, []):
                if not future.done():
                    future.set_result(None)


class _AskOrder:
    """What ended (trials, first folds), learned by a mirror in the order the trials were asked.

    ``count``: how many the mirror has learned, for reports that must wait for them.
    """

    def __init__(self) -> None:
        self.count = _Count()
        self._order = _InOrder()

    def put(self, mirror: PruneMirror, seq: int, *finish: Any) -> None:
        """The ``seq``-th ask ended (``PruneMirror.finish``'s arguments); each seq counts once."""
        for args in self._order.put(seq, finish):
            mirror.finish(*args)
            self.count.add()


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
        for count in getattr(self, "_counts", ()):  # their reports see the new key: STOP
            count.release()
        if hasattr(self, "_turns"):
            self._turns.wake()
        self._mirror: PruneMirror | None = None
        self._first_fold: PruneMirror | None = None
        self._first_counted = "ended"  # when a first fold counts: see ``attach_first_fold``
        self._in_ask_order = False  # when the main mirror learns a trial: see ``attach``
        self._fold1: dict[int, float] = {}  # trial -> its first fold's value, not yet counted
        self._never = False
        self._inbox: list[Report] = []
        self._waiting: dict[tuple[int, int], asyncio.Future[int]] = {}
        self._event = asyncio.Event()
        self._live: list[Report | Started] = []
        # trials to stop (user), and to give their slot back (a higher priority; answered once)
        self._stop, self._preempt = set[int](), _Preempting()
        # Reproducible studies: a trial's decisions use the first trials the driver told, by
        # count (``Sees.told``), or the first trials (or first folds) asked, learned as they
        # end (``Sees.ended``); a report waits until the channel has learned that many.
        self._base = self._base_first_fold = 0
        self._told = _Count()  # trials the driver said finished, since the study began
        self._finishing = _InOrder()  # the driver's finishes, by the order it told them
        self._ended, self._first_folds = _AskOrder(), _AskOrder()  # this run's, in ask order
        self._counts = (self._told, self._ended.count, self._first_folds.count)
        self._turns = _Turns()
        self._key += 1
        return self._key

    def attach(self, mirror: PruneMirror, counted: str = "told") -> None:
        """Decide here from now on, on ``mirror`` (the driver calls this before any trial runs).

        ``counted``: when a finished trial counts: "told" when the driver says so, or "asked"
        as it ends but in ask order (``trial_ended``; a lagged reproducible study with folds).
        """
        self._mirror, self._base = mirror, mirror.learned
        self._in_ask_order = counted == "asked"

    def attach_first_fold(self, mirror: PruneMirror, counted: str = "ended") -> None:
        """Answer first-fold epoch reports (``report_epoch``) from ``mirror``'s pruner.

        ``mirror``: the first folds so far (``PruneMirror.of_first_folds``). ``counted``: when
        a trial's first fold counts: "ended" as it ends (the workers' timing), "told" when
        the driver says the trial finished (generations, in trial order), "asked" as it ends
        but in the order the trials were asked (``Sees.seq``; a lagged reproducible study).
        """
        self._first_fold, self._first_counted = mirror, counted
        self._base_first_fold = mirror.learned

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

    async def report(self, key: int, trial: int, epoch: int, value: float,
                     visible: Sees | None = None, curve: list[float] | None = None) -> int:
        """Record one epoch's validation accuracy; resolves to GO, PRUNE, STOP or PREEMPT.

        ``visible``: decide on the study's first trials only, up to ``visible.told`` told in
        this run (a reproducible study's deterministic set), once the driver has told them.
        ``curve``: with folds, the first fold's curve, sent with the fold's report.
        """
        if key != self._key:
            return STOP
        self._live.append(Report(trial, epoch, value))
        if epoch == 1 and self._first_fold is not None:  # a fold's step: the first fold ended
            if self._first_counted == "asked" and visible is not None:
                self.first_fold_ended(key, visible.seq, trial, "complete", value, curve)
            elif self._first_counted == "told":
                self._fold1[trial] = value
            else:
                self._first_fold.finish(trial, "complete", value)
        return self._preempt.answer(trial, await self._decide(key, trial, epoch, value, visible))

    def first_fold_ended(self, key: int, seq: int, trial: int, state: str,
                         value: float | None = None, curve: list[float] | None = None) -> None:
        """Trial ``trial``, the run's ``seq``-th ask, ended its first fold (counted "asked").

        As "complete" from its fold report; as "pruned" or "failed" from the driver when the
        trial ended inside it. Learned in ask order, each once (the first word counts).
        """
        if key == self._key and self._first_fold is not None:
            self._first_folds.put(self._first_fold, seq, trial, state, value, curve)

    def trial_ended(self, key: int, seq: int, trial: int, state: str, value: float | None,
                    curve: list[float]) -> None:
        """Trial ``trial``, the run's ``seq``-th ask, ended (the main mirror counts "asked").

        ``curve``: its values by step as the trial recorded them. Learned in ask order.
        """
        if key == self._key and self._mirror is not None and self._in_ask_order:
            self._ended.put(self._mirror, seq, trial, state, value, curve)

    def _hears(self, key: int, trial: int) -> bool:
        """Whether the trial's reports still count (its study is this one, nobody stopped it)."""
        return key == self._key and trial not in self._stop

    async def _decide(self, key: int, trial: int, epoch: int, value: float,
                      visible: Sees | None) -> int:
        if trial in self._stop:
            return STOP
        if self._mirror is not None:
            if visible is None:
                return PRUNE if self._mirror.report(trial, epoch, value) else GO
            async with self._turns.of("main", trial, epoch, lambda: self._hears(key, trial)):
                # A fold's decision is needed only once the next fold is trained: by then the
                # trials a short lag back have nearly always ended. The first comes too soon.
                if not self._in_ask_order:
                    seen = visible.told
                    await self._told.at_least(seen)
                else:
                    seen = visible.told if epoch == 1 else visible.ended
                    await self._ended.count.at_least(seen)
                if not self._hears(key, trial):
                    return STOP
                decided = self._mirror.report(trial, epoch, value, limit=self._base + seen)
                return PRUNE if decided else GO
        if self._never:
            return GO
        future = asyncio.get_running_loop().create_future()
        self._waiting[(trial, epoch)] = future
        self._inbox.append(Report(trial, epoch, value))
        self._event.set()
        return await future

    async def report_epoch(self, key: int, trial: int, epoch: int, value: float,
                           visible: Sees | None = None) -> int:
        """One epoch of a cross-validated trial's first fold: GO, PRUNE, STOP or PREEMPT."""
        if key != self._key or trial in self._stop:
            return STOP
        if self._first_fold is None or visible is None:
            decided = self._first_fold is not None and self._first_fold.report(trial, epoch, value)
            return self._preempt.answer(trial, PRUNE if decided else GO)
        async with self._turns.of("first", trial, epoch, lambda: self._hears(key, trial)):
            await self._first_folds.count.at_least(visible.first_folds)  # counted "asked"
            if not self._hears(key, trial):
                return STOP
            decided = self._first_fold.report(trial, epoch, value,
                                              limit=self._base_first_fold + visible.first_folds)
            return self._preempt.answer(trial, PRUNE if decided else GO)

    def report_many(self, key: int, trial: int, points: list[tuple[int, float]]) -> int:
        """Several epochs at once from a trial that nothing prunes: ``GO``, or ``STOP``."""
        if key != self._key:
            return STOP
        self._live.extend(Report(trial, epoch, value) for epoch, value in points)
        return STOP if trial in self._stop else self._preempt.answer(trial, GO)

    def preempt(self, trial: int) -> None:
        """Answer the trial's next report ``PREEMPT``: it gives its slot back at that boundary."""
        self._preempt.add(trial)

    def take_live(self) -> list[Report | Started]:
        """Everything reported since the last call, oldest first."""
        live, self._live = self._live, []
        return live

    def stop(self, trial: int) -> None:
        """Answer the trial's next report (and any waiting one) with ``STOP``."""
        self._stop.add(trial)
        self._turns.wake(("main", trial), ("first", trial))
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

    def finish(self, key: int, trial: int, state: str, value: float | None, seq: int) -> None:
        """A trial ended ("complete", "pruned" or "failed"): its curve now informs the pruner.

        ``seq`` numbers the driver's tells from 0: an async actor may run messages out of the
        order they were sent, and the pruners must learn the trials in the order told (a
        reproducible study's decisions use the first ones told), so a finish that comes early
        waits here for the ones before it.
        """
        if key != self._key:  # the last study's, run after this one's reset
            return
        for args in self._finishing.put(seq, (trial, state, value)):
            self._learn(*args)
            self._told.add()

    def _learn(self, trial: int, state: str, value: float | None) -> None:
        self._stop.discard(trial)
        if self._mirror is not None and not self._in_ask_order:
            self._mirror.finish(trial, state, value)
        if self._first_fold is not None and self._first_counted != "asked":  # "ended": if
            if trial in self._fold1:  # it ended inside fold 1; "told": always
                self._first_fold.finish(trial, "complete", self._fold1.pop(trial))
            else:
                self._first_fold.finish(trial, "pruned" if state == "pruned" else "failed", None)
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


