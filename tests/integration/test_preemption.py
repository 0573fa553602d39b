"""Preemption on a real local Ray with the real arbiter: nothing lost, bit for bit.

A study joins the cluster (so it takes its slots from the arbiter); its trial 0 is held at its
second epoch; a higher-priority driver then asks the arbiter for the whole cluster. The study's
running trial gives its slot back at that epoch boundary (checkpointed), the study waits queued,
and once the urgent driver is done the trial resumes from its checkpoint and completes with the
same numbers, value for value, as ``hpsearch rerun`` trains straight through.
"""

from __future__ import annotations

import threading

import pytest
from _trial_hold import wait_for

from hpsearch.results import rerun_trial
from hpsearch.search import run_study
from hpsearch.service import ArbiterClient, Ask, arbiter_table, get_arbiter
from hpsearch.study import find_study, parse_study_config

STUDY = """# preemption test study
[study]
name = "low"
seed = 2
n_trials = 3

[dataset]
name = "digits"
n_train = 300

[space]
learning_rate = { low = 1e-3, high = 1e-1, log = true }
hidden_size = 32
num_epochs = 5
batch_size = 50
dropout = 0.2
update_rule = "adam"

[pruner]
name = "none"

[run]
max_in_flight = 1
priority = 0
"""


def _kill_arbiter(ray) -> None:
    handle = get_arbiter(create=False)
    if handle is not None:
        ray.kill(handle)
        wait_for(lambda: get_arbiter(create=False) is None, "the killed arbiter's name is free")


@pytest.fixture
def ray(ray_local):
    _kill_arbiter(ray_local)
    yield ray_local
    _kill_arbiter(ray_local)


def test_a_preempted_trial_resumes_and_ends_as_an_uninterrupted_run(ray, hold, tmp_path):
    config = parse_study_config(STUDY, tmp_path / "low.toml")
    hold.trial(0, from_step=2)
    done: dict = {}
    runner = threading.Thread(target=lambda: done.setdefault(
        "summary", run_study(config, runs_dir=tmp_path, address="auto", progress=False)))
    runner.start()
    try:
        wait_for(lambda: 0 in hold.held(), "trial 0 held at its second epoch",
                 alive=runner.is_alive)
        urgent, stop = ArbiterClient(), threading.Event()
        ask = Ask(driver="urgent-driver", study="urgent", priority=10, demand=2)

        def keep_asking() -> None:  # an urgent study that wants the whole cluster
            while not stop.is_set():
                urgent.ask(ask)
                stop.wait(0.2)

        asker = threading.Thread(target=keep_asking)
        asker.start()
        # held at step 2, trial 0 hears it must give its slot back and stops holding
        wait_for(lambda: 0 not in hold.held(), "trial 0 preempted", alive=runner.is_alive)
        rows = {row.ask.study: row for row in arbiter_table() or []}
        assert rows["urgent"].grant.slots == 2 and rows["low"].grant.slots == 0
        assert rows["low"].grant.queue_position == 1  # queued, not failed
        stop.set()
        asker.join()
        urgent.close()  # the urgent study is done: its CPUs go back to the study
        hold.release(0)
    finally:
        hold.release()
        runner.join(timeout=300)
    summary = done["summary"]
    assert summary.n_preempted == 1 and summary.n_complete == 3 and summary.n_failed == 0
    stored = find_study("low", tmp_path)
    trial = stored.study.trials[0]
    assert trial.state.name == "COMPLETE"
    rerun = rerun_trial(stored, 0, config.load_data())
    assert rerun.reproduced, rerun.differences()  # every epoch's loss and accuracies, exactly
    assert rerun.result.value == trial.value
