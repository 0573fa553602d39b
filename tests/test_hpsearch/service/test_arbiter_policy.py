"""The arbiter's policy (``FairShare``) with a fake clock and an explicit capacity: no Ray."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import pytest

from hpsearch.service._arbiter import Ask, FairShare, Grant


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def arbiter(clock) -> FairShare:
    return FairShare(lease_s=10.0, clock=clock)


def settle(arbiter: FairShare, asks: list[Ask], capacity: float) -> dict[str, Grant]:
    """Every driver asks twice (so each grant sees everyone's last ask); their last grants."""
    for ask in asks:
        arbiter.ask(ask, capacity)
    return {a.driver: arbiter.ask(a, capacity) for a in asks}


def test_alone_a_study_gets_the_whole_cluster(arbiter):
    grant = arbiter.ask(Ask("a", "s", demand=20), 8)
    assert grant.slots == 8 and grant.share == 1.0 and grant.cpus == 8
    assert grant.preempt == 0 and grant.queue_position is None and not grant.stale


def test_equal_weights_split_evenly(arbiter):
    g = settle(arbiter, [Ask("a", "s", demand=9), Ask("b", "t", demand=9)], 4)
    assert (g["a"].slots, g["b"].slots) == (2, 2)
    assert g["a"].share == g["b"].share == 0.5


def test_weights_three_to_one(arbiter):
    g = settle(arbiter, [Ask("a", "s", weight=3, demand=9), Ask("b", "t", demand=9)], 4)
    assert (g["a"].slots, g["b"].slots) == (3, 1)
    assert g["a"].share == pytest.approx(0.75)


def test_what_one_cannot_use_goes_to_the_other(arbiter):
    g = settle(arbiter, [Ask("a", "s", demand=1, running=1), Ask("b", "t", demand=9)], 6)
    assert (g["a"].slots, g["b"].slots) == (1, 5)
    # and a study with nothing to run gets nothing and is not queued
    g = settle(arbiter, [Ask("a", "s", demand=0), Ask("b", "t", demand=9)], 6)
    assert (g["a"].slots, g["b"].slots) == (0, 6)
    assert g["a"].queue_position is None and g["a"].share == 0


def test_max_cpus_caps_a_study_and_the_rest_flows_on(arbiter):
    g = settle(arbiter, [Ask("a", "s", weight=5, max_cpus=2, demand=9), Ask("b", "t", demand=9)], 8)
    assert (g["a"].slots, g["b"].slots) == (2, 6)
    alone = FairShare().ask(Ask("c", "u", max_cpus=3.5, cpus_per_trial=2, demand=9), 8)
    assert alone.slots == 1  # whole trials only: 3.5 CPUs hold one trial of 2


def test_higher_priority_first_and_lower_ones_give_back(arbiter):
    low = Ask("low", "s", demand=4, running=4)
    assert arbiter.ask(low, 4).slots == 4
    high = arbiter.ask(Ask("high", "t", priority=1, demand=3), 4)
    assert high.slots == 3 and high.preempt == 0
    g = arbiter.ask(low, 4)
    assert g.slots == 1 and g.preempt == 3
    # Told again before they stopped: the same count (it counts those already stopping).
    assert arbiter.ask(low, 4).preempt == 3
    g = arbiter.ask(Ask("low", "s", demand=4, running=1), 4)
    assert (g.slots, g.preempt) == (1, 0)
    arbiter.forget("high")  # it finished: the low one has the cluster again
    assert arbiter.ask(Ask("low", "s", demand=4, running=1), 4).slots == 4


def test_preemption_takes_only_what_the_higher_class_needs(arbiter):
    settle(arbiter, [Ask("l1", "s", demand=3, running=3), Ask("l2", "t", demand=3, running=3)], 6)
    arbiter.ask(Ask("high", "u", priority=2, demand=2), 6)
    g = settle(arbiter, [Ask("l1", "s", demand=3, running=3),
                         Ask("l2", "t", demand=3, running=3)], 6)
    assert g["l1"].preempt + g["l2"].preempt == 2
    assert g["l1"].slots + g["l2"].slots == 4


def test_no_preemption_within_a_priority(arbiter):
    assert arbiter.ask(Ask("a", "s", demand=4, running=4), 4).slots == 4
    b = arbiter.ask(Ask("b", "t", demand=4), 4)
    a = arbiter.ask(Ask("a", "s", demand=4, running=4), 4)
    assert (a.slots, b.slots) == (2, 2) and a.preempt == 0
    # a is over its slots: it starts nothing; b's trials wait in Ray for a's to end


def test_queue_positions_by_priority_then_arrival(arbiter):
    asks = [Ask("big", "s", priority=1, demand=4), Ask("x", "t", demand=2),
            Ask("y", "u", priority=1, max_cpus=1, demand=2), Ask("z", "v", demand=2)]
    g = settle(arbiter, asks, 4)
    assert g["big"].slots == 3 and g["y"].slots == 1
    assert (g["x"].queue_position, g["z"].queue_position) == (1, 2)
    assert g["x"].slots == g["z"].slots == 0 and g["big"].queue_position is None
    table = arbiter.table()
    assert [r.ask.driver for r in table] == ["big", "y", "x", "z"]
    assert [r.grant.queue_position for r in table] == [None, None, 1, 2]


def test_the_grants_told_never_leave_a_cpu_idle(arbiter, clock):
    """Whatever the deficits do, the slots the two drivers last heard cover the cluster."""
    told, cpu_s = {}, {"a": 0.0, "b": 0.0}
    for step in range(200):
        clock.now = step * 0.5
        driver = "ab"[step % 2]
        cpu_s[driver] += 0.5 * told.get(driver, 0)
        grant = arbiter.ask(Ask(driver, driver, demand=9, running=told.get(driver, 0),
                                cpu_s=cpu_s[driver]), 3)
        told[driver] = grant.slots
        if len(told) == 2:
            assert sum(told.values()) >= 3, (step, told)
    assert abs(cpu_s["a"] - cpu_s["b"]) < 0.1 * max(cpu_s.values())


def test_a_study_with_nothing_to_run_is_owed_nothing(arbiter):
    settle(arbiter, [Ask("a", "s", demand=9), Ask("b", "t", demand=9)], 3)
    arbiter.ask(Ask("a", "s", demand=9, cpu_s=30.0), 3)
    owed = {r.ask.driver: r.cpu_s_owed for r in arbiter.table()}
    assert owed["a"] == pytest.approx(-15.0) and owed["b"] == pytest.approx(15.0)
    arbiter.ask(Ask("b", "t", demand=0), 3)  # b is idle: what it was owed is written off
    assert [r.cpu_s_owed for r in arbiter.table()] == [0.0, 0.0]


def test_a_lapsed_lease_returns_its_slots(arbiter, clock):
    settle(arbiter, [Ask("a", "s", demand=4), Ask("b", "t", demand=4)], 4)
    clock.now = 5.0
    assert arbiter.ask(Ask("b", "t", demand=4), 4).slots == 2  # a's lease still runs
    clock.now = 10.5
    assert arbiter.ask(Ask("b", "t", demand=4), 4).slots == 4
    assert [r.ask.driver for r in arbiter.table()] == ["b"]
    arbiter.forget("b")
    assert arbiter.table() == []


def test_cpus_per_trial_counts_cpus_not_trials(arbiter):
    g = settle(arbiter, [Ask("a", "s", cpus_per_trial=2, demand=9), Ask("b", "t", demand=9)], 8)
    assert (g["a"].slots, g["b"].slots) == (2, 4)  # 4 CPUs each
    # A trial wider than what is left: the rest goes to whoever it fits.
    g = settle(arbiter, [Ask("a", "s", cpus_per_trial=2, demand=9), Ask("b", "t", demand=9)], 3)
    assert g["a"].slots * 2 + g["b"].slots == 3


def test_bad_asks_are_refused_with_the_value():
    with pytest.raises(ValueError, match=r"weight must be a finite number > 0, got -1"):
        Ask("a", "s", weight=-1)
    with pytest.raises(ValueError, match=r"max_cpus must be None or at least cpus_per_trial"):
        Ask("a", "s", cpus_per_trial=2, max_cpus=1)
    with pytest.raises(ValueError, match=r"capacity"):
        FairShare().ask(Ask("a", "s"), math.nan)


# ---------------------------------------------------------------------------------------------
# long-run fairness: a discrete-time cluster where drivers run fixed-length trials


@dataclass
class Driver:
    ask: Ask
    trial_s: float
    grant: Grant | None = None
    launched: int = 0  # running + queued in the cluster
    done_cpu_s: float = 0.0
    executing: dict[int, float] = field(default_factory=dict)  # trial id -> start time
    used_in_window: float = 0.0

    def cpu_s(self, now: float) -> float:
        elapsed = sum(now - t0 for t0 in self.executing.values())
        return self.done_cpu_s + elapsed * self.ask.cpus_per_trial


def simulate(drivers: list[Driver], capacity: float, *, seconds: float = 600.0,
             warmup_s: float = 30.0, dt: float = 0.01, ask_every_s: float = 1.0) -> list[float]:
    """CPU-seconds each driver's trials used after ``warmup_s``; all always have work.

    Like the engine's loop: a driver asks every ``ask_every_s`` and when a trial ends, and
    launches while it has fewer trials out than its slots; the cluster starts queued trials in
    order as CPUs free up (as Ray does).
    """
    clock = Clock()
    arbiter = FairShare(lease_s=10.0, clock=clock)
    queue: deque[tuple[Driver, int]] = deque()
    ids = iter(range(10**9))
    free, next_ask = capacity, 0.0
    while clock.now < seconds:
        ended = []
        for d in drivers:
            for tid, t0 in list(d.executing.items()):
                if clock.now - t0 >= d.trial_s - 1e-12:
                    del d.executing[tid]
                    d.launched -= 1
                    d.done_cpu_s += d.trial_s * d.ask.cpus_per_trial
                    free += d.ask.cpus_per_trial
                    ended.append(d)
        due = clock.now >= next_ask
        for d in drivers:
            if due or d in ended:
                ask = Ask(d.ask.driver, d.ask.study, weight=d.ask.weight,
                          cpus_per_trial=d.ask.cpus_per_trial, demand=d.launched + 64,
                          running=d.launched, cpu_s=d.cpu_s(clock.now))
                d.grant = arbiter.ask(ask, capacity)
            while d.launched < d.grant.slots:
                queue.append((d, next(ids)))
                d.launched += 1
        next_ask = clock.now + ask_every_s if due else next_ask
        while queue and queue[0][0].ask.cpus_per_trial <= free + 1e-9:
            d, tid = queue.popleft()
            d.executing[tid] = clock.now
            free -= d.ask.cpus_per_trial
        if clock.now >= warmup_s:
            for d in drivers:
                d.used_in_window += len(d.executing) * d.ask.cpus_per_trial * dt
        clock.now = round(clock.now + dt, 6)
    return [d.used_in_window for d in drivers]


def drivers(*specs: tuple[float, float, float]) -> list[Driver]:
    """(weight, trial seconds, cpus per trial) per driver."""
    return [Driver(Ask(f"d{i}", f"s{i}", weight=w, cpus_per_trial=c), trial_s=t)
            for i, (w, t, c) in enumerate(specs)]


@pytest.mark.parametrize(("capacity", "trials_s"), [(3, (0.3, 0.3)), (3, (0.25, 0.9)),
                                                     (5, (0.1, 1.0)), (4, (0.5, 0.5))])
def test_equal_weights_get_cpu_seconds_within_ten_percent(capacity, trials_s):
    a, b = simulate(drivers((1, trials_s[0], 1), (1, trials_s[1], 1)), capacity)
    assert abs(a - b) / max(a, b) < 0.10, (a, b)
    assert a + b > 0.9 * capacity * (600 - 30)  # work-conserving: the cluster stays busy


@pytest.mark.parametrize(("capacity", "trials_s"), [(3, (0.3, 0.3)), (4, (0.2, 0.7)),
                                                     (5, (0.9, 0.15))])
def test_weights_three_to_one_get_75_25_within_seven_points(capacity, trials_s):
    a, b = simulate(drivers((3, trials_s[0], 1), (1, trials_s[1], 1)), capacity)
    assert abs(a / (a + b) - 0.75) < 0.07, (a, b)


def test_fair_in_cpus_with_different_trial_widths():
    a, b = simulate(drivers((1, 0.4, 2), (1, 0.3, 1)), 3)
    assert abs(a - b) / max(a, b) < 0.10, (a, b)
