"""The engine on a shared cluster, with a fake launcher and a scripted arbiter (no Ray).

The arbiter's grant bounds the window (no trial queued beyond it), a study given no slot waits
queued instead of ending, and a trial the arbiter asks back is preempted and resumed from its
checkpoint, told once, its parts' CPU-seconds counted once.
"""

from __future__ import annotations

from typing import Any

from optuna.trial import TrialState
from test_engine_unit import FakeLauncher, _plan, study  # noqa: F401

from hpsearch.search import Engine, FreeWindow, RunSummary
from hpsearch.search._sharing import Share, SharingSettings, preempt_newest
from hpsearch.service import Ask, Grant
from hpsearch.training import TrialResult


class ScriptedArbiter:
    """``offer`` answers from ``script(ask, n_asks)``; every ask is kept."""

    def __init__(self, script: Any) -> None:
        self.script, self.asks, self.closed = script, [], False

    def offer(self, ask: Ask) -> Grant:
        self.asks.append(ask)
        return self.script(ask, len(self.asks))

    def close(self) -> None:
        self.closed = True


class PreemptingLauncher(FakeLauncher):
    """A preempted trial's next result is "preempted" with a checkpoint; resumed, it completes."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.preempted: list[int] = []
        self.resumed: list[tuple[int, Any]] = []

    def launch(self, number: int, params: dict[str, Any], seed: int,
               visible: Any = None, resume: Any = None) -> None:
        super().launch(number, params, seed, visible)
        if resume is not None:
            self.resumed.append((number, resume))

    def preempt_trial(self, number: int) -> None:
        self.preempted.append(number)

    def wait(self, timeout_s: float, *, live: bool = False, every: bool = False) -> Any:
        events = super().wait(timeout_s, live=live, every=every)
        for i, (number, _) in enumerate(events.results):
            if number in self.preempted and not any(n == number for n, _ in self.resumed):
                events.results[i] = (number, TrialResult(
                    "preempted", None, 1, duration_s=0.5, checkpoint=f"ckpt-{number}"))
        return events


def _share(arbiter: ScriptedArbiter, **settings: Any) -> Share:
    return Share(arbiter, "driver-1", "unit", SharingSettings(**settings), cpus_per_trial=1.0)


def _run(optuna_study: Any, config: Any, launcher: Any, share: Share) -> RunSummary:
    summary = RunSummary(name="unit", storage="memory")
    plan = _plan(config, shared=True)
    Engine(optuna_study, plan, launcher, FreeWindow(None), summary, share=share).run()
    return summary


def test_the_grant_bounds_the_window_and_nothing_queues_beyond_it(study):  # noqa: F811
    config, optuna_study = study
    arbiter = ScriptedArbiter(lambda ask, n: Grant(slots=1, share=0.25))
    launcher = FakeLauncher(slots=4)
    summary = _run(optuna_study, config, launcher, _share(arbiter, weight=3, priority=2))
    assert summary.n_complete == 6 and launcher.most_out == 1
    first = arbiter.asks[0]
    assert (first.weight, first.priority, first.study, first.driver) == (3, 2, "unit", "driver-1")
    assert first.demand == 4 and first.running == 0  # six to run, four slots on the cluster
    assert [a.cpu_s for a in arbiter.asks] == sorted(a.cpu_s for a in arbiter.asks)
    assert arbiter.asks[-1].cpu_s >= 5.0  # the finished trials' seconds, one CPU each


def test_alone_on_the_cluster_the_window_keeps_its_queued_trial(study):  # noqa: F811
    config, optuna_study = study
    arbiter = ScriptedArbiter(lambda ask, n: Grant(slots=ask.limit, share=1.0))
    launcher = FakeLauncher(slots=2)
    _run(optuna_study, config, launcher, _share(arbiter))
    assert launcher.most_out == 3  # as without an arbiter: two slots and one queued


def test_a_study_with_no_slot_waits_queued_and_then_runs(study):  # noqa: F811
    config, optuna_study = study
    # queued for the first five asks, then one slot
    arbiter = ScriptedArbiter(lambda ask, n: Grant(slots=0, queue_position=1) if n <= 5
                              else Grant(slots=1, share=0.5))
    launcher = FakeLauncher(slots=2)
    summary = _run(optuna_study, config, launcher, _share(arbiter))
    assert summary.n_complete == 6 and len(arbiter.asks) > 5
    assert launcher.launched == list(range(6))


def test_a_preempted_trial_resumes_from_its_checkpoint_and_is_told_once(study):  # noqa: F811
    config, optuna_study = study
    # Asks 3 and 4 ask one running trial back (a higher priority arrived); later, room again.
    arbiter = ScriptedArbiter(lambda ask, n: Grant(slots=1, preempt=1) if n in (3, 4)
                              else Grant(slots=2, share=1.0))
    launcher = PreemptingLauncher(slots=2)
    summary = _run(optuna_study, config, launcher, _share(arbiter))
    assert len(launcher.preempted) == 1  # asked twice, preempted once
    (number,) = launcher.preempted
    assert launcher.resumed == [(number, f"ckpt-{number}")]
    assert summary.n_preempted == 1 and summary.n_complete == 6
    trials = optuna_study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    assert [n for n, state in launcher.finished_order].count(number) == 1
    # its parts' seconds counted once: the resumed result's duration sums them (0.5 + 0.5)
    assert arbiter.asks[-1].cpu_s <= 6.0 + 1e-9


def test_preempt_newest_takes_the_newest_not_already_stopping():
    class E:
        def __init__(self, preempting: bool = False) -> None:
            self.preempting = preempting

    running = {1: E(), 4: E(True), 7: E(), 9: E()}
    assert preempt_newest(running, 3) == [9, 7]  # one of three is stopping already
    assert preempt_newest(running, 1) == []
    assert preempt_newest(running, 0) == []

