"""The engine's loop on a fake launcher: no Ray, a real single-writer SQLite study.

The fake runs no training: a trial's result is made up from its number, and the test decides in
which order trials finish, so the loop's bookkeeping (window, order of tells, failures, stops)
is checked exactly.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch import _attrs as A
from hpsearch.execution import Events, Sees, TaskFailure, TaskOptions
from hpsearch.search import (
    Engine,
    FreeWindow,
    Generations,
    Lagged,
    Pruning,
    RunPlan,
    RunSummary,
    trial_seed,
)
from hpsearch.storage import enqueued_params, open_for_writing
from hpsearch.study import parse_study_config
from hpsearch.training import TrialResult

STUDY = """
[study]
name = "unit"
seed = 5
n_trials = 6
[space]
learning_rate = { low = 1e-3, high = 1e-1, log = true }
num_epochs = 2
[pruner]
name = "none"
"""


class FakeLauncher:
    """Trials finish when ``finish_order`` says (default: in launch order), one per ``wait``.

    ``outcome(number)`` may return a ``TaskFailure`` instead of a result.
    """

    def __init__(self, slots: int = 2, finish_order: Any = None, outcome: Any = None) -> None:
        self._slots = slots
        self._pick = finish_order or (lambda out: min(out))
        self._outcome = outcome or (lambda number: _result(number))
        self.out: dict[int, dict[str, Any]] = {}
        self.launched: list[int] = []
        self.seen_at_launch: list[tuple[int, list[int], int | None]] = []
        self.most_out = 0
        self.finished_order: list[tuple[int, str]] = []
        self.cancelled: list[int] = []
        self.stopped: list[int] = []
        self.closed = False

    def slots(self) -> int:
        return self._slots

    def launch(self, number: int, params: dict[str, Any], seed: int,
               visible: Sees | None = None) -> None:
        assert seed == trial_seed(5, number)
        self.out[number] = params
        self.launched.append(number)
        self.seen_at_launch.append((number, sorted(n for n, _ in self.finished_order), visible))
        self.most_out = max(self.most_out, len(self.out))

    def wait(self, timeout_s: float, *, live: bool = False, every: bool = False) -> Events:
        if not self.out or (every and timeout_s == 0):
            return Events()  # an abandoned run: nothing has finished
        number = self._pick(list(self.out))
        del self.out[number]
        return Events(results=[(number, self._outcome(number))])

    def decide(self, decisions: list[tuple[int, int, bool]]) -> None:
        raise AssertionError("nothing prunes in these studies")

    def stop_trial(self, number: int) -> None:
        self.stopped.append(number)

    def cancel(self, number: int) -> None:
        self.cancelled.append(number)

    def finished(self, number: int, state: str, value: float | None) -> None:
        self.finished_order.append((number, state))

    def sync(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _result(number: int) -> TrialResult:
    value = 0.5 + 0.01 * number
    return TrialResult(state="complete", value=value, epochs_run=2,
                       history={"val_acc": [value - 0.1, value]}, duration_s=1.0)


@pytest.fixture
def study(tmp_path):
    config = parse_study_config(STUDY)
    driver = open_for_writing(f"sqlite:///{tmp_path / 'study.db'}", "unit",
                              optuna.samplers.RandomSampler(seed=0), optuna.pruners.NopPruner())
    yield config, driver.study
    driver.close()


def _plan(config: Any, **changes: Any) -> RunPlan:
    plan = RunPlan(name="unit", seed=5, space=config.space, n_target=6, in_flight=None,
                   reproducible=False, lagged=False, lag=None, pruning=Pruning.NONE,
                   first_fold=False, timeout_s=None,
                   fingerprint="fp", progress="none", task=TaskOptions())
    return replace(plan, **changes)


def _run(study: Any, plan: RunPlan, launcher: FakeLauncher, scheduling: Any = None,
         stop: Any = lambda: False) -> RunSummary:
    summary = RunSummary(name="unit", storage="memory")
    Engine(study, plan, launcher, scheduling or FreeWindow(plan.in_flight), summary,
           stop=stop).run()
    return summary


def test_runs_to_the_target_keeping_the_window_full(study):
    config, optuna_study = study
    launcher = FakeLauncher(slots=2)
    summary = _run(optuna_study, _plan(config), launcher)
    trials = optuna_study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    assert [t.value for t in trials] == pytest.approx([0.5 + 0.01 * n for n in range(6)])
    assert all(t.user_attrs[A.TRIAL_FINGERPRINT] == "fp" for t in trials)
    assert [t.intermediate_values for t in trials][2] == pytest.approx({1: 0.42, 2: 0.52})
    # Two slots, one more queued behind them; reported as two in flight.
    assert launcher.most_out == 3 and summary.max_in_flight == 2
    assert summary.n_complete == 6 and summary.trial_s == pytest.approx(6.0)
    assert launcher.closed


def test_a_fixed_window_narrower_than_the_cluster_queues_nothing(study):
    config, optuna_study = study
    launcher = FakeLauncher(slots=4)
    _run(optuna_study, _plan(config, in_flight=2), launcher)
    assert launcher.most_out == 2


def test_the_driver_keeps_off_the_cpu_only_while_a_queued_trial_takes_the_freed_slot(
        study, monkeypatch):
    from hpsearch.search import _engine

    config, optuna_study = study
    launcher = FakeLauncher(slots=2)
    handed_off: list[int] = []  # trials out (the queued one included) at each pause
    monkeypatch.setattr(_engine.time, "sleep",
                        lambda s: handed_off.append(len(launcher.out)))
    _run(optuna_study, _plan(config), launcher)
    # 6 trials, 3 out: the first 4 results each leave a queued trial to take the slot (2 out
    # after it); the last 2 leave nothing queued, so the driver goes on at once.
    assert handed_off == [2, 2, 2, 2]


def test_free_window_tells_as_results_arrive(study):
    config, optuna_study = study
    launcher = FakeLauncher(slots=2, finish_order=max)  # the newest out finishes first
    _run(optuna_study, _plan(config, in_flight=3), launcher)
    told = [n for n, _ in launcher.finished_order]
    assert told != sorted(told)


def test_generations_tell_in_trial_order_and_wait_for_the_whole_generation(study):
    config, optuna_study = study
    launcher = FakeLauncher(slots=2, finish_order=max)
    plan = _plan(config, in_flight=3, reproducible=True)
    launches_when_told: list[int] = []
    original = launcher.finished

    def finished(number: int, state: str, value: float | None) -> None:
        launches_when_told.append(len(launcher.launched))
        original(number, state, value)

    launcher.finished = finished
    summary = _run(optuna_study, plan, launcher, Generations(plan.in_flight))
    assert [n for n, _ in launcher.finished_order] == list(range(6))
    # Generation 0-2 is told only once all three are back, before 3-5 launch.
    assert launches_when_told == [3, 3, 3, 6, 6, 6]
    assert launcher.most_out == 3 and summary.max_in_flight == 3


def test_a_lost_worker_fails_the_trial_and_runs_its_parameters_once_more(study):
    config, optuna_study = study
    lost = {0, 1}  # trial 0 is lost; so is its rerun (trial 1): that one is not run again

    def outcome(number: int) -> Any:
        return TaskFailure("worker lost: NodeDiedError", lost=True) if number in lost \
            else _result(number)

    launcher = FakeLauncher(slots=2, outcome=outcome)
    summary = _run(optuna_study, _plan(config, in_flight=1), launcher)  # one at a time
    trials = {t.number: t for t in optuna_study.get_trials()}
    assert trials[0].state == TrialState.FAIL
    assert trials[0].user_attrs[A.TRIAL_FAILURE] == "worker lost: NodeDiedError"
    assert trials[1].params == trials[0].params  # enqueued again, as trial 1
    assert trials[1].user_attrs[A.TRIAL_RETRY_OF] == 0
    assert trials[1].state == TrialState.FAIL
    assert trials[2].params != trials[0].params  # not a third time
    assert summary.n_failed == 2 and summary.n_complete == 4


def test_a_task_error_is_recorded_with_its_reason_and_the_study_goes_on(study):
    config, optuna_study = study
    launcher = FakeLauncher(outcome=lambda n: TaskFailure("task error: ImportError: x")
                            if n == 1 else _result(n))
    summary = _run(optuna_study, _plan(config), launcher)
    trials = optuna_study.get_trials()
    assert trials[1].user_attrs[A.TRIAL_FAILURE] == "task error: ImportError: x"
    assert summary.n_complete == 5 and summary.n_failed == 1
    assert len(trials) == 6  # not enqueued again: the parameters are not to blame


def test_a_stop_keeps_finished_trials_and_requeues_the_running_ones(study):
    config, optuna_study = study
    launcher = FakeLauncher(slots=2)
    summary = _run(optuna_study, _plan(config), launcher,
                   stop=lambda: len(launcher.finished_order) >= 1)
    trials = optuna_study.get_trials()
    assert summary.interrupted
    assert trials[0].state == TrialState.COMPLETE
    interrupted = [t for t in trials if t.user_attrs.get(A.TRIAL_FAILURE)
                   == A.REASON_INTERRUPTED]
    assert {t.number for t in interrupted} == {1, 2}
    assert sorted(launcher.cancelled) == [1, 2]
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert sorted(enqueued_params(t)["learning_rate"] for t in waiting) == sorted(
        t.params["learning_rate"] for t in interrupted)


@pytest.mark.parametrize("lag", [2, 4])
@pytest.mark.parametrize("finish_order", [min, max], ids=["oldest-first", "newest-first"])
def test_a_lagged_ask_sees_exactly_the_trials_asked_more_than_lag_before_it(study, finish_order,
                                                                             lag):
    config, optuna_study = study
    launcher = FakeLauncher(slots=2, finish_order=finish_order)
    plan = _plan(config, n_target=9, reproducible=True, lagged=True, lag=lag)
    summary = _run(optuna_study, plan, launcher, Lagged(None, lag=lag))
    for number, told, visible in launcher.seen_at_launch:
        assert told == list(range(max(0, number - lag)))  # whatever order they finished in
        # Decisions see the trials told; those from a second fold on, the trials asked more
        # than half the lag (rounded up) before; first-fold pruning, the first folds of those
        # asked more than a quarter of it (rounded up) before: with lag 4, all but the last.
        assert visible == Sees(seq=number, told=max(0, number - lag),
                               ended=max(0, number - -(-lag // 2)),
                               first_folds=max(0, number - -(-lag // 4)))
    assert [n for n, _ in launcher.finished_order] == list(range(9))  # told in ask order
    assert summary.n_complete == 9 and launcher.most_out <= 3


def test_a_lag_of_one_keeps_at_most_two_out(study):
    config, optuna_study = study
    launcher = FakeLauncher(slots=4)
    _run(optuna_study, _plan(config, reproducible=True, lagged=True, lag=1), launcher,
         Lagged(None, lag=1))
    assert launcher.most_out == 2
    assert len(optuna_study.get_trials()) == 6
