"""The pruning channel outlives a study in its driver process, and never mixes two studies."""

from __future__ import annotations

import subprocess
import sys

import pytest
import ray

from hpsearch.execution import GO, STOP, Report, Sees, Started, open_channel, release_channel


@pytest.mark.usefixtures("ray_local")
def test_a_released_channel_serves_the_next_study_and_stops_the_last_ones_workers():
    channel, key = open_channel()
    ray.get(channel.never_prune.remote())
    channel.started.remote(key, 3, "node", "10.0.0.1", 1.0)
    assert ray.get(channel.report.remote(key, 3, 1, 0.5)) == GO
    assert ray.get(channel.report_many.remote(key, 3, [(2, 0.6)])) == GO
    # An async actor may run one caller's messages out of order: the live view is a set.
    assert set(ray.get(channel.take_live.remote())) == {
        Started(3, "node", "10.0.0.1", 1.0), Report(3, 1, 0.5), Report(3, 2, 0.6)}
    release_channel(channel)

    again, key2 = open_channel()  # the same actor, reset: no second process started
    assert again == channel and key2 == key + 1
    # A worker still running for the last study is told to stop and is not heard.
    assert ray.get(again.report.remote(key, 3, 3, 0.7)) == STOP
    assert ray.get(again.report_many.remote(key, 3, [(4, 0.8)])) == STOP
    assert ray.get(again.report_epoch.remote(key, 3, 1, 0.8)) == STOP
    again.started.remote(key, 4, "node", "10.0.0.1", 2.0)
    ray.get(again.never_prune.remote())  # the new study's settings, after the reset
    assert ray.get(again.report.remote(key2, 3, 1, 0.9)) == GO
    assert ray.get(again.take_live.remote()) == [Report(3, 1, 0.9)]

    # Two studies at once in one process get two channels.
    other, _ = open_channel()
    assert other != again
    release_channel(again)
    release_channel(other)


def test_a_channel_never_outlives_its_ray_session():
    """Ray restarted in one process (job ids start at 1 again): a new channel, no error.

    In a process of its own, since this one's Ray (the session fixture) must stay up.
    """
    code = """
import ray
from hpsearch.execution import open_channel, release_channel
for _ in range(2):
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    channel, key = open_channel()
    assert key == 1, key  # a new actor: the last session's is gone with it
    assert ray.get(channel.ping.remote())
    release_channel(channel)
    ray.shutdown()
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]


def _median_mirror():
    """A median rule that decides from one complete trial on, on an empty stored study."""
    import optuna

    from hpsearch.execution import PruneMirror

    rule = {"percentile": 50.0, "n_startup_trials": 1, "n_warmup_steps": 0,
            "interval_steps": 1, "n_min_trials": 1}
    return PruneMirror(optuna.create_study(direction="maximize"), optuna.pruners.MedianPruner(),
                       rule=rule)


def _sees(told: int) -> Sees:
    return Sees(seq=told + 2, told=told, ended=told + 1, first_folds=told + 1)


def _median_channel():
    channel, key = open_channel()
    ray.get(channel.attach.remote(_median_mirror()))
    return channel, key


@pytest.mark.usefixtures("ray_local")
def test_finishes_are_learned_in_the_order_told_whatever_order_they_run_in():
    from hpsearch.execution import PRUNE

    channel, key = _median_channel()
    ray.get(channel.report.remote(key, 0, 1, 0.9))  # trial 0: high
    ray.get(channel.report.remote(key, 1, 1, 0.1))  # trial 1: low
    # Told 0 then 1; the second finish runs first (as an async actor may run them).
    ray.get(channel.finish.remote(key, 1, "complete", 0.1, 1))
    ray.get(channel.finish.remote(key, 0, "complete", 0.9, 0))
    # Trial 2 decides on the first trial told, trial 0: 0.5 is below its 0.9.
    assert ray.get(channel.report.remote(key, 2, 1, 0.5, _sees(told=1))) == PRUNE
    # A finish of the last study, run after the reset, is not learned.
    release_channel(channel)
    again, key2 = open_channel()
    ray.get(again.finish.remote(key, 7, "complete", 0.9, 0))
    ray.get(again.attach.remote(_median_mirror()))
    assert ray.get(again.report.remote(key2, 3, 1, 0.5, _sees(told=0))) != PRUNE  # nothing told yet
    release_channel(again)


@pytest.mark.usefixtures("ray_local")
def test_a_reproducible_decision_waits_for_the_trials_earlier_epochs():
    channel, key = _median_channel()
    for epoch in (1, 2):
        ray.get(channel.report.remote(key, 0, epoch, 0.5))
    ray.get(channel.finish.remote(key, 0, "complete", 0.5, 0))
    # Trial 1's epoch 2 arrives first: it is decided only with epoch 1's 0.9 in its curve.
    second = channel.report.remote(key, 1, 2, 0.1, _sees(told=1))
    ready, _ = ray.wait([second], timeout=1.0)
    assert not ready
    assert ray.get(channel.report.remote(key, 1, 1, 0.9, _sees(told=1))) == GO
    assert ray.get(second) == GO  # best so far 0.9 >= the median 0.5 (0.1 alone: pruned)
    release_channel(channel)


@pytest.mark.usefixtures("ray_local")
def test_first_folds_count_in_ask_order_from_the_curves_the_trials_sent():
    from hpsearch.execution import PRUNE

    channel, key = open_channel()
    ray.get(channel.never_prune.remote())  # nothing prunes across folds here
    ray.get(channel.attach_first_fold.remote(_median_mirror(), counted="asked"))
    # The run's third ask (trial 12) decides on the first folds of the first two asks (what
    # it sees across folds, ``ended``, plays no part in first-fold decisions).
    third = channel.report_epoch.remote(key, 12, 1, 0.5,
                                        Sees(seq=2, told=0, ended=0, first_folds=2))
    # The second ask (trial 11) ended inside its first fold, pruned: the driver says so.
    ray.get(channel.first_fold_ended.remote(key, 1, 11, "pruned", None, [0.1]))
    ready, _ = ray.wait([third], timeout=1.0)
    assert not ready  # the first ask's first fold has not ended yet
    # The first ask (trial 10) ends its fold; its curve comes with the fold's report, though
    # none of its epochs was heard on the first-fold stream.
    first = Sees(seq=0, told=0, ended=0, first_folds=0)
    assert ray.get(channel.report.remote(key, 10, 1, 0.9, first, [0.8, 0.9])) == GO
    assert ray.get(third) == PRUNE  # 0.5 at epoch 1, below trial 10's 0.8 there
    # A second word on a first fold already counted changes nothing.
    ray.get(channel.first_fold_ended.remote(key, 0, 10, "failed", None, None))
    fourth = Sees(seq=3, told=0, ended=0, first_folds=2)
    assert ray.get(channel.report_epoch.remote(key, 13, 1, 0.85, fourth)) == GO
    release_channel(channel)


@pytest.mark.usefixtures("ray_local")
def test_with_folds_later_decisions_see_trials_asked_a_short_lag_before_as_they_end():
    from hpsearch.execution import PRUNE

    channel, key = open_channel()
    ray.get(channel.attach.remote(_median_mirror(), counted="asked"))
    # The third ask (trial 22): its first fold's decision sees the trials told (none), at once.
    sees = Sees(seq=2, told=0, ended=2, first_folds=0)  # first_folds: first-fold pruning only
    assert ray.get(channel.report.remote(key, 22, 1, 0.5, sees)) == GO
    # Its second fold's decision sees the first two asks, learned as they end, in ask order.
    second = channel.report.remote(key, 22, 2, 0.5, sees)
    ray.get(channel.trial_ended.remote(key, 1, 21, "pruned", None, [0.1]))
    ready, _ = ray.wait([second], timeout=1.0)
    assert not ready  # the first ask has not ended
    # The first ask ends complete, with the values it recorded (none of them was reported).
    ray.get(channel.trial_ended.remote(key, 0, 20, "complete", 0.85, [0.8, 0.9]))
    assert ray.get(second) == PRUNE  # 0.5 by fold 2, below trial 20's 0.9 there
    # The driver's word on a trial, later, teaches the mirror nothing more.
    ray.get(channel.finish.remote(key, 20, "complete", 0.1, 0))
    fourth = Sees(seq=3, told=0, ended=1, first_folds=1)
    assert ray.get(channel.report.remote(key, 23, 1, 0.85, fourth)) == GO
    assert ray.get(channel.report.remote(key, 23, 2, 0.85, fourth)) == PRUNE
    release_channel(channel)
