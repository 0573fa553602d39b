"""The arbiter's policy: how many trials each study sharing one Ray cluster may run now.

Pure Python (no Ray), so it is tested with a fake clock and an explicit capacity; the actor that
serves it to every driver of a cluster is ``_arbiter_actor.py``. Each driver asks about once a
second with what it wants (``Ask``) and gets what it may have (``Grant``). Capacity is counted in
CPUs; each trial takes its study's ``cpus_per_trial``.

1. Priority classes are served highest first (strict priority); a class shares what the classes
   above it leave: capacity less their slots, or their running trials where more.
2. Within a class, CPUs are water-filled in proportion to weight, each study capped by its demand
   and ``max_cpus``: what one cannot use flows to the others (work-conserving). This fluid
   share is what a study is entitled to.
3. Whole trials, one at a time while any fits, each to the study that would be owed the most
   CPU-seconds if the split so far held for ``catch_up_s``: its deficit (every CPU-second a
   driver reports is split among its class by fluid share; the deficit is that entitlement
   minus its own use) plus ``catch_up_s`` times the CPUs it is short of its fluid share. So
   3 CPUs between two equal studies alternate 2/1 and 1/2, and long-run use in CPU-seconds
   follows the weights even where shares are fractions of a trial.
4. A driver hears its grant only when it asks, so the asker may also have the CPUs of its
   class no other driver has been told are its own (else a trial moved to a driver that has
   not asked yet would leave a CPU idle until it does).
5. Preemption only across classes: where a class holds more CPUs than the classes above leave
   it, its studies running more than their slots give trials back (``Grant.preempt``). Within a
   class a study over its slots just starts nothing until it is under them.

A driver that does not ask for ``lease_s`` is forgotten and its CPUs go to the others. Nothing
here is study data: a new arbiter rebuilds all of it from the drivers' next asks.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CATCH_UP_S", "LEASE_S", "MEMORY_S", "ArbiterRow", "Ask", "FairShare", "Grant"]

#: Seconds a driver's entry lives without an ask.
LEASE_S = 10.0
#: Seconds over which a study owed CPU-seconds is paid back (a debt of x CPU-seconds counts
#: as x / CATCH_UP_S CPUs more share).
CATCH_UP_S = 10.0
#: Most CPU-seconds a study may be owed (or owe), in seconds of one of its trials.
MEMORY_S = 600.0
# Slack for float sums of CPUs (fractional weights, fractional cpus_per_trial).
_EPS = 1e-9


def _check(ok: bool, field: str, expected: str, value: object) -> None:
    if not ok:
        raise ValueError(f"Ask.{field} must be {expected}, got {value!r}")


@dataclass(frozen=True)
class Ask:
    """What a driver wants now; each ask also renews the driver's lease.

    Attributes:
        driver: who asks; unique per driver process (the Ray job id, or host and pid).
        study: the study's name, for the table.
        weight: its share relative to the other studies of its priority (> 0).
        priority: higher is served first; lower ones give running trials back to it.
        max_cpus: at most this many CPUs at once (None: no cap); at least ``cpus_per_trial``.
        cpus_per_trial: CPUs each of its trials takes.
        demand: trials it would have running now if allowed (running plus ready to start).
        running: its trials launched and not finished (executing or queued in Ray), counting
            those told to stop that have not stopped yet.
        cpu_s: CPU-seconds its trials used since the driver started: finished trials plus the
            elapsed part of running ones, times ``cpus_per_trial``. Never decreasing.
    """

    driver: str
    study: str
    weight: float = 1.0
    priority: int = 0
    max_cpus: float | None = None
    cpus_per_trial: float = 1.0
    demand: int = 0
    running: int = 0
    cpu_s: float = 0.0

    def __post_init__(self) -> None:
        _check(isinstance(self.driver, str) and bool(self.driver), "driver",
               "a non-empty string", self.driver)
        _check(math.isfinite(self.weight) and self.weight > 0, "weight",
               "a finite number > 0", self.weight)
        _check(math.isfinite(self.cpus_per_trial) and self.cpus_per_trial > 0,
               "cpus_per_trial", "a finite number > 0", self.cpus_per_trial)
        _check(self.max_cpus is None or self.max_cpus >= self.cpus_per_trial, "max_cpus",
               f"None or at least cpus_per_trial ({self.cpus_per_trial})", self.max_cpus)
        _check(self.demand >= 0, "demand", "an integer >= 0", self.demand)
        _check(self.running >= 0, "running", "an integer >= 0", self.running)
        _check(math.isfinite(self.cpu_s) and self.cpu_s >= 0, "cpu_s",
               "a finite number >= 0", self.cpu_s)

    @property
    def limit(self) -> int:
        """Trials it could use now: its demand (never below ``running``), within ``max_cpus``."""
        wanted = max(self.demand, self.running)
        if self.max_cpus is None:
            return wanted
        return min(wanted, math.floor(self.max_cpus / self.cpus_per_trial + _EPS))


@dataclass(frozen=True)
class Grant:
    """What a driver may have running now.

    Attributes:
        slots: trials it may have running; it starts new ones while ``running < slots`` and,
            above, starts none and lets its trials end.
        preempt: of the ``running`` trials it reported, how many to stop at their next epoch
            boundary (checkpointed, resumed later), counting those it already told to stop; so
            it stops ``preempt - stopping`` more. Only ever > 0 for a lower priority.
        share: its entitled fraction of the cluster now (weights, priorities and caps applied).
        queue_position: its 1-based place among the studies with demand and no slot (by
            priority, then arrival); None when it has a slot or wants none.
        cpus: the capacity this grant was computed for.
        lease_s: ask again within this many seconds, or the entry expires.
        stale: the arbiter could not be reached; this repeats the last grant (``preempt`` 0).
    """

    slots: int
    preempt: int = 0
    share: float = 0.0
    queue_position: int | None = None
    cpus: float = 0.0
    lease_s: float = LEASE_S
    stale: bool = False


@dataclass(frozen=True)
class ArbiterRow:
    """One driver as the arbiter sees it (``hpsearch jobs``)."""

    ask: Ask
    grant: Grant
    cpu_s_owed: float  # CPU-seconds below its entitled share (negative: above it)
    last_ask_s: float  # seconds since its last ask


@dataclass
class _Entry:
    ask: Ask
    arrival: int
    seen: float
    deficit: float = 0.0  # CPU-seconds owed: entitled share of its class's use, minus its own
    fluid: float = 0.0  # CPUs it is entitled to at the last allocation
    slots: int = 0
    preempt: int = 0
    told: int = 0  # slots in the last grant it was given


class FairShare:
    """Weighted fair shares with strict priorities, in whole trials (see the module docstring).

    Args:
        lease_s: a driver not heard from for this long is forgotten.
        catch_up_s: a study owed x CPU-seconds counts as owed x / catch_up_s CPUs now; lower
            evens out sooner, with more trials changing hands.
        memory_s: the most a study can be owed or owe, in seconds of one of its trials.
        clock: seconds, monotonic (a fake one in tests).
    """

    def __init__(self, lease_s: float = LEASE_S, *, catch_up_s: float = CATCH_UP_S,
                 memory_s: float = MEMORY_S, clock: Callable[[], float] = time.monotonic) -> None:
        if not (math.isfinite(lease_s) and lease_s > 0):
            raise ValueError(f"lease_s must be a finite number > 0, got {lease_s!r}")
        if not memory_s >= 0:
            raise ValueError(f"memory_s must be >= 0, got {memory_s!r}")
        if not catch_up_s > 0:
            raise ValueError(f"catch_up_s must be > 0, got {catch_up_s!r}")
        self.lease_s, self._memory_s, self._clock = lease_s, memory_s, clock
        self._catch_up_s = catch_up_s
        self._entries: dict[str, _Entry] = {}
        self._arrivals = itertools.count()
        self._capacity = 0.0

    def ask(self, ask: Ask, capacity: float) -> Grant:
        """Record ``ask``, share ``capacity`` CPUs again among all drivers, return its grant."""
        if not (math.isfinite(capacity) and capacity >= 0):
            raise ValueError(f"capacity must be a finite number of CPUs >= 0, got {capacity!r}")
        now = self._clock()
        self._expire(now, keep=ask.driver)
        entry = self._entries.get(ask.driver)
        if entry is None:
            entry = self._entries[ask.driver] = _Entry(ask, next(self._arrivals), now)
        else:
            self._charge(entry, ask.cpu_s - entry.ask.cpu_s)
            entry.ask, entry.seen = ask, now
            if ask.limit == 0:
                self._write_off(entry)
        self._capacity = capacity
        _allocate(list(self._entries.values()), capacity, self._catch_up_s, ask.driver)
        grant = self._grants()[ask.driver]
        entry.told = grant.slots
        return grant

    def forget(self, driver: str) -> None:
        """Drop ``driver`` (it finished); its CPUs go to the others at their next ask."""
        if self._entries.pop(driver, None) is not None:
            _allocate(list(self._entries.values()), self._capacity, self._catch_up_s)

    def table(self) -> list[ArbiterRow]:
        """Every live driver, by priority (highest first), then arrival."""
        now = self._clock()
        self._expire(now)
        grants = self._grants()
        order = sorted(self._entries.values(), key=lambda e: (-e.ask.priority, e.arrival))
        return [ArbiterRow(e.ask, grants[e.ask.driver], e.deficit, now - e.seen) for e in order]

    def _expire(self, now: float, keep: str | None = None) -> None:
        gone = [d for d, e in self._entries.items() if d != keep and now - e.seen > self.lease_s]
        for driver in gone:
            del self._entries[driver]
        if gone:
            _allocate(list(self._entries.values()), self._capacity, self._catch_up_s)

    def _charge(self, entry: _Entry, cpu_s: float) -> None:
        """Split ``cpu_s`` newly used by ``entry`` among its class by fluid share."""
        if cpu_s <= 0:  # nothing new, or a restarted driver counting from 0 again
            return
        peers = [e for e in self._entries.values()
                 if e.ask.priority == entry.ask.priority and e.fluid > _EPS]
        total = sum(e.fluid for e in peers)
        entry.deficit -= cpu_s
        for e in peers:
            e.deficit += cpu_s * e.fluid / total
        for e in [*peers, entry]:
            bound = self._memory_s * e.ask.cpus_per_trial
            e.deficit = min(bound, max(-bound, e.deficit))

    def _write_off(self, entry: _Entry) -> None:
        """Settle the debts of a study with nothing to run: fairness counts only shared time.

        What it was owed or owed goes back to the others of its class by fluid share, so the
        class's deficits still sum to 0.
        """
        peers = [e for e in self._entries.values() if e is not entry
                 and e.ask.priority == entry.ask.priority and e.fluid > _EPS]
        total = sum(e.fluid for e in peers)
        for e in peers:
            e.deficit += entry.deficit * e.fluid / total
        entry.deficit = 0.0

    def _grants(self) -> dict[str, Grant]:
        waiting = sorted((e for e in self._entries.values() if e.ask.limit > 0 and e.slots == 0),
                         key=lambda e: (-e.ask.priority, e.arrival))
        place = {e.ask.driver: i + 1 for i, e in enumerate(waiting)}
        cap = self._capacity
        return {d: Grant(slots=e.slots, preempt=e.preempt,
                         share=e.fluid / cap if cap > 0 else 0.0,
                         queue_position=place.get(d), cpus=cap, lease_s=self.lease_s)
                for d, e in self._entries.items()}


def _allocate(entries: list[_Entry], capacity: float, catch_up_s: float,
              asker: str | None = None) -> None:
    """Set every entry's fluid share, slots and trials to give back."""
    free = capacity  # what the classes above leave, running trials included
    for priority in sorted({e.ask.priority for e in entries}, reverse=True):
        group = sorted((e for e in entries if e.ask.priority == priority),
                       key=lambda e: e.arrival)
        fluid = _waterfill([e.ask.weight for e in group], [_fluid_cap(e, free) for e in group],
                           free)
        slots = _whole_trials(group, fluid, free, catch_up_s)
        me = next((i for i, e in enumerate(group) if e.ask.driver == asker), None)
        if me is not None:
            _fill_unheard(group, slots, free, me)
        preempt = _give_back(group, slots, free, capacity - free)
        occupied = 0.0
        for e, f, s, p in zip(group, fluid, slots, preempt, strict=True):
            e.fluid, e.slots, e.preempt = f, s, p
            # Its trials over its slots drain (no preemption within a class): until then
            # they hold CPUs the classes below cannot have.
            occupied += max(s, e.ask.running - p) * e.ask.cpus_per_trial
        free = max(0.0, free - occupied)


def _fluid_cap(entry: _Entry, free: float) -> float:
    """CPUs ``entry`` could use: whole trials within its limit and the CPUs there are."""
    cpt = entry.ask.cpus_per_trial
    return min(entry.ask.limit, math.floor(free / cpt + _EPS)) * cpt


def _waterfill(weights: list[float], caps: list[float], free: float) -> list[float]:
    """Weighted max-min fair split of ``free``: shares in proportion to weight, none over cap."""
    share = [0.0] * len(weights)
    open_ = {i for i, c in enumerate(caps) if c > _EPS}
    while open_ and free > _EPS:
        rate = free / sum(weights[i] for i in open_)
        capped = {i for i in open_ if caps[i] <= weights[i] * rate + _EPS}
        if not capped:
            for i in open_:
                share[i] = weights[i] * rate
            break
        for i in capped:
            share[i] = caps[i]
            free -= caps[i]
        open_ -= capped
    return share


def _whole_trials(group: list[_Entry], fluid: list[float], free: float,
                  catch_up_s: float) -> list[int]:
    """Fluid shares as whole trials, given one at a time while any fits (work-conserving).

    Each goes to the study that would be owed the most CPU-seconds if the split so far held
    for ``catch_up_s``: its deficit plus ``catch_up_s`` times its CPUs short of its fluid
    share. A study owed CPU-seconds thus gets a trial more than its share until it is paid,
    which evens out fractional shares (3 CPUs between equals: 2/1, then 1/2) and trials
    wider than what is left of a share (a 2-CPU trial beside 1-CPU ones).
    """
    slots = [0] * len(group)
    left = free

    def owed(i: int) -> float:
        return group[i].deficit + catch_up_s * (fluid[i] - slots[i] * group[i].ask.cpus_per_trial)

    heap = [(-owed(i), e.arrival, i) for i, e in enumerate(group)]
    heapq.heapify(heap)
    while heap:
        _, _, i = heapq.heappop(heap)
        cpt = group[i].ask.cpus_per_trial
        if slots[i] >= group[i].ask.limit or cpt > left + _EPS:
            continue  # it will not fit later either: what is left only shrinks
        slots[i] += 1
        left -= cpt
        heapq.heappush(heap, (-owed(i), group[i].arrival, i))
    return slots


def _fill_unheard(group: list[_Entry], slots: list[int], free: float, me: int) -> None:
    """Let the asker also use CPUs of its class that no other driver has been told are its.

    A driver learns its grant only when it asks: a trial moved to a study that has not asked
    since would leave a CPU idle until it does. The asker keeps such CPUs instead; when the
    other asks and takes them, the asker is over its slots and lets its trials end.
    """
    cpt = group[me].ask.cpus_per_trial
    told = sum(max(e.told, e.ask.running) * e.ask.cpus_per_trial
               for i, e in enumerate(group) if i != me)
    room = min(group[me].ask.limit, math.floor((free - told) / cpt + _EPS))
    slots[me] = max(slots[me], room)


def _give_back(group: list[_Entry], slots: list[int], free: float, above: float) -> list[int]:
    """Trials each study of a class stops so that the class fits in what ``free`` leaves it.

    Only what the classes above occupy (``above`` CPUs) is taken back: a class over
    ``capacity`` on its own (the cluster shrank) is not preempted.
    """
    held = sum(e.ask.running * e.ask.cpus_per_trial for e in group)
    over = min(held - free, above)
    preempt = [0] * len(group)
    excess = [max(0, e.ask.running - s) for e, s in zip(group, slots, strict=True)]
    while over > _EPS:
        candidates = [i for i in range(len(group)) if excess[i] > preempt[i]]
        if not candidates:
            break
        # Most CPUs over its slots first; among equals the latest to arrive.
        i = max(candidates, key=lambda i: ((excess[i] - preempt[i]) * group[i].ask.cpus_per_trial,
                                           group[i].arrival))
        preempt[i] += 1
        over -= group[i].ask.cpus_per_trial
    return preempt
