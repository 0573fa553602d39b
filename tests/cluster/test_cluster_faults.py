"""A study on a multi-node Ray cluster on loopback: spread, lost nodes, lost drivers, new nodes.

The driver is `hpsearch run --address HOST:PORT` in a subprocess, joining a cluster started with
`ray start` (token authentication on) and holding the study's SQLite storage; the nodes share
this machine's cores, each offering one CPU.
"""

from __future__ import annotations

import pytest
from _trial_hold import wait_for
from optuna.trial import TrialState

from hpsearch import _attrs as A
from hpsearch.search import counts_toward_budget

from .conftest import node_id

pytestmark = pytest.mark.cluster

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def _complete(trials) -> dict[int, tuple]:
    return {t.number: (t.value, t.params, t.user_attrs.get(A.TRIAL_NODE)) for t in trials
            if t.state == TrialState.COMPLETE}


def _assert_budget_met(trials, n_trials: int) -> None:
    assert sum(counts_toward_budget(t) for t in trials) == n_trials
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]


def _assert_kept(before: dict[int, tuple], trials) -> None:
    """Every trial complete in ``before`` is still complete with the same value, params, node."""
    after = _complete(trials)
    assert {n: after.get(n) for n in before} == before
    # A re-run only ever repeats a trial that did not complete: nothing completed runs twice.
    for t in trials:
        if (origin := t.user_attrs.get(A.TRIAL_RETRY_OF)) is not None:
            assert origin not in after, f"trial {t.number} re-ran complete trial {origin}"


def _running(driver):
    return lambda: driver.proc.poll() is None


@pytest.mark.timeout(150)
def test_trials_spread_over_nodes_and_record_them(cluster, drivers, hold):
    # The first two trials hold until both run: one on each node's only CPU, however fast a
    # trial ends on this machine.
    hold.trial(0, 1)
    driver = drivers("spread", n_trials=8).start()
    held = hold.wait_held(0, 1, alive=_running(driver), explain=lambda: driver.output()[-3000:])
    assert {h.node for h in held.values()} == {node_id(cluster, "head"), node_id(cluster, "w1")}
    hold.release()
    assert driver.wait() == 0, driver.output()[-3000:]
    trials = driver.trials()
    _assert_budget_met(trials, 8)
    assert all(t.state == TrialState.COMPLETE for t in trials)
    nodes = {t.user_attrs[A.TRIAL_NODE] for t in trials}
    assert nodes == {node_id(cluster, "head"), node_id(cluster, "w1")}
    ip = cluster.address.rsplit(":", 1)[0]
    assert {t.user_attrs[A.TRIAL_NODE_IP] for t in trials} == {ip}


@pytest.mark.timeout(150)
def test_worker_node_killed_mid_study(cluster, drivers, hold):
    cluster.add_worker("w2", num_cpus=1)
    w2 = node_id(cluster, "w2")
    # Every trial holds at its first epoch (tests/_trial_hold.py). Those on w2 are let go until
    # w2 has completed two; those on head and w1 stay held meanwhile, so the study waits for w2
    # however fast (or slowly) each node runs. The next trial w2 holds is running there, for
    # sure, when w2 is killed.
    hold.trial(*range(14))
    driver = drivers("nodekill", n_trials=14).start()

    def w2_holds_a_third():
        trials = driver.trials()
        done_on_w2 = sum(t.state == TrialState.COMPLETE and t.user_attrs.get(A.TRIAL_NODE) == w2
                         for t in trials)
        for n, held in hold.held().items():
            if held.node == w2:
                if done_on_w2 >= 2:
                    return trials
                hold.release(n)
        return None

    try:
        trials = wait_for(w2_holds_a_third, "w2 completed two trials and is running a third",
                          timeout_s=120, alive=_running(driver))
        running_before = {t.number for t in trials if t.state == TrialState.RUNNING}
        cluster.kill_node("w2")
    finally:
        if "w2" in cluster.nodes:
            cluster.kill_node("w2")
        hold.release()  # the rest of the study runs freely
    trials = driver.trials()
    # Read after the kill: still RUNNING means no result came back from w2 before it died.
    cut_off = {t.number for t in trials if t.state == TrialState.RUNNING} & running_before
    complete_before = _complete(trials)
    assert cut_off

    assert driver.wait() == 0, driver.output()[-3000:]
    trials = driver.trials()
    _assert_budget_met(trials, 14)
    _assert_kept(complete_before, trials)
    by_number = {t.number: t for t in trials}
    for number in cut_off:
        t = by_number[number]
        if t.state == TrialState.FAIL:  # Ray's retries ran out: failed and run again
            assert t.user_attrs[A.TRIAL_FAILURE].startswith("worker lost")
            reruns = [r for r in trials if r.user_attrs.get(A.TRIAL_RETRY_OF) == number]
            assert len(reruns) == 1 and reruns[0].params == t.params
            t = reruns[0]
        assert t.state == TrialState.COMPLETE
        # Cut off on w2 or queued elsewhere: either way it finished on a node still alive.
        assert t.user_attrs[A.TRIAL_NODE] != w2
    # A trial cut off on w2 and failed "worker lost" keeps w2 as the node it ran on (the live
    # view records it when training starts); a result recorded on w2 after the kill would be
    # a COMPLETE one.
    late = [t.number for t in trials if t.number not in complete_before
            and t.state == TrialState.COMPLETE and t.user_attrs.get(A.TRIAL_NODE) == w2]
    assert not late, f"trials recorded on the dead node after it died: {late}"


@pytest.mark.timeout(200)
def test_driver_sigkilled_then_resumed(cluster, drivers, hold):
    # Trials 0-2 run freely; every later one holds at its first epoch: the kill finds three
    # complete and the next ones running, however fast this machine is.
    hold.trial(*range(3, 12))
    driver = drivers("driverkill", n_trials=12, extra=("--max-in-flight", "2")).start()
    hold.wait_held(alive=_running(driver), what="a trial held after trial 2",
                   explain=lambda: driver.output()[-3000:])
    driver.wait_until(
        lambda ts: sum(t.state == TrialState.COMPLETE for t in ts) >= 3
        and any(t.state == TrialState.RUNNING for t in ts),
        "three complete trials and one running")
    driver.sigkill()
    hold.release()  # the dead driver's workers, should any outlive it, and the next run
    trials = driver.trials()
    complete_before = _complete(trials)
    interrupted = {t.number: t.params for t in trials if t.state == TrialState.RUNNING}
    assert interrupted

    again = drivers("driverkill", n_trials=12, extra=("--max-in-flight", "2")).start()
    assert again.wait() == 0, again.output()[-3000:]
    assert f"{len(interrupted)} interrupted trials re-enqueued" in again.output()
    trials = again.trials()
    _assert_budget_met(trials, 12)
    _assert_kept(complete_before, trials)
    by_number = {t.number: t for t in trials}
    for number, params in interrupted.items():
        assert by_number[number].state == TrialState.FAIL
        assert by_number[number].user_attrs[A.TRIAL_FAILURE] == A.REASON_INTERRUPTED
        reruns = [t for t in trials if t.user_attrs.get(A.TRIAL_RETRY_OF) == number]
        assert len(reruns) == 1
        assert reruns[0].params == params and reruns[0].state == TrialState.COMPLETE


@pytest.mark.timeout(150)
def test_worker_joining_mid_study_receives_trials(cluster, drivers, hold):
    # No --max-in-flight: the driver sizes its window from the cluster's CPUs as they change.
    # Trials 0 and 1 run freely; every later one holds at its first epoch, so the study outlasts
    # a node's start-up however fast its trials are: head and w1 hold one each, the next one
    # waits queued for a CPU, the one that w3 brings.
    hold.trial(*range(2, 20))
    driver = drivers("join", n_trials=20).start()
    try:
        trials = driver.wait_until(
            lambda ts: sum(t.state == TrialState.COMPLETE for t in ts) >= 2,
            "two complete trials")
        known = {t.user_attrs.get(A.TRIAL_NODE) for t in trials} - {None}
        cluster.add_worker("w3", num_cpus=1)
        w3 = node_id(cluster, "w3")
        assert w3 not in known
        hold.wait_held(on_node=w3, alive=_running(driver), what="a trial held on w3",
                       explain=lambda: driver.output()[-3000:])
        # The driver re-read the cluster's CPUs and widened its window: one more trial out.
        driver.wait_until(lambda ts: sum(t.state == TrialState.RUNNING for t in ts) >= 4,
                          "the window widened to the third node")
        hold.release()
        assert driver.wait() == 0, driver.output()[-3000:]
    finally:
        hold.release()
        if "w3" in cluster.nodes:
            cluster.kill_node("w3")
    trials = driver.trials()
    _assert_budget_met(trials, 20)
    on_w3 = [t.number for t in trials if t.user_attrs.get(A.TRIAL_NODE) == w3]
    assert on_w3, "the node that joined mid-study ran no trial"
    # The driver re-read the cluster's CPUs and widened its window to the third node.
    assert "at 3 in flight" in driver.output()
