"""Studies sharing one loopback cluster through the arbiter: weights, priority, faults.

The module's cluster has two nodes of one CPU each (tests/cluster/conftest.py). Each study's
driver is ``hpsearch run --address`` in its own process, as on a real cluster. A study's
CPU-seconds are measured from its stored trials (each trial's start and training time), over
the window in which both studies had trials running, the window the shares are promised for.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from optuna.trial import TrialState

from hpsearch import _attrs as A

pytestmark = pytest.mark.cluster

N_TRIALS = 40
N_SHARED = 200  # the weight tests' studies: their overlap must be long against the accounting
EPOCHS = 100  # about half a second per trial here: the studies overlap for tens of seconds


def _intervals(trials):
    return [(t.user_attrs[A.TRIAL_STARTED_AT],
             t.user_attrs[A.TRIAL_STARTED_AT] + t.user_attrs[A.TRIAL_DURATION])
            for t in trials if A.TRIAL_STARTED_AT in t.user_attrs]


def _shares(*studies):
    """Each study's CPU-seconds within the window where all had trials running, and the window."""
    spans = [_intervals(trials) for trials in studies]
    start = max(min(s for s, _ in span) for span in spans)
    end = min(max(e for _, e in span) for span in spans)
    used = [sum(max(0.0, min(e, end) - max(s, start)) for s, e in span) for span in spans]
    return used, end - start


def _complete(driver, n_trials=N_TRIALS):
    trials = driver.trials()
    assert [t.state for t in trials].count(TrialState.COMPLETE) == n_trials, driver.output()[-3000:]
    assert not [t for t in trials if t.state == TrialState.FAIL]
    return trials


def _run_two(drivers, weights, name):
    a = drivers(f"{name}_a", n_trials=N_SHARED, epochs=EPOCHS,
                extra=("--weight", str(weights[0]))).start()
    b = drivers(f"{name}_b", n_trials=N_SHARED, epochs=EPOCHS,
                extra=("--weight", str(weights[1]))).start()
    for d in (a, b):
        assert d.wait(timeout_s=300) == 0, d.output()[-3000:]
    (used_a, used_b), window = _shares(_complete(a, N_SHARED), _complete(b, N_SHARED))
    print(f"\nweights {weights}: CPU-seconds {used_a:.1f} / {used_b:.1f} over {window:.1f} s "
          f"both ran: {used_a / (used_a + used_b):.1%} / {used_b / (used_a + used_b):.1%}")
    assert window > 10, "the studies barely overlapped: nothing to compare"
    return used_a, used_b, window


@pytest.mark.timeout(400)
def test_equal_weights_get_equal_cpu_seconds(cluster, drivers):
    used_a, used_b, window = _run_two(drivers, (1, 1), "eq")
    assert abs(used_a - used_b) <= 0.10 * max(used_a, used_b)
    assert used_a + used_b >= 0.6 * 2 * window  # the CPUs were busy while both had work


@pytest.mark.timeout(400)
def test_weights_three_to_one_share_seventy_five_to_twenty_five(cluster, drivers):
    used_a, used_b, _ = _run_two(drivers, (3, 1), "w31")
    assert abs(used_a / (used_a + used_b) - 0.75) <= 0.07


def _log(driver) -> str:
    path = driver.runs / driver.name / "run.log"
    return path.read_text(errors="replace") if path.exists() else ""


def _kill_arbiter(cluster) -> None:
    code = ("import ray; from hpsearch.service import get_arbiter; "
            f"ray.init(address={cluster.address!r}, include_dashboard=False, log_to_driver=False);"
            " h = get_arbiter(create=False); print('killed' if h is not None else 'none'); "
            "h is not None and ray.kill(h, no_restart=True)")
    done = subprocess.run([sys.executable, "-c", code], env=cluster.env("killer"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "killed" in done.stdout, done.stderr[-3000:]


@pytest.mark.timeout(400)
def test_priority_preempts_and_a_killed_arbiter_loses_nothing(cluster, drivers, hold):
    # The low study's trials 10 and 11 hold the cluster's two CPUs (at their next epoch) for as
    # long as the test looks: the urgent study can only start by taking them back. (Holds go by
    # trial number; the urgent study's four trials are numbered 0-3.)
    hold.trial(10, 11)
    low = drivers("prio_low", n_trials=N_TRIALS, epochs=EPOCHS).start()
    hold.wait_held(10, 11, alive=lambda: low.proc.poll() is None,
                   explain=lambda: low.output()[-3000:])
    urgent = drivers("prio_high", n_trials=4, epochs=EPOCHS,
                     extra=("--priority", "5")).start()
    # its first trial starts: the held trials gave their slots back at that epoch boundary
    urgent.wait_until(lambda ts: any(A.TRIAL_STARTED_AT in t.user_attrs for t in ts),
                      "the urgent study's first trial starts on a CPU the low study held")
    # the low driver records the preempted trial when its result comes back (maybe just after)
    low.wait_until(lambda ts: "gave its slot to a higher-priority study" in _log(low),
                   "the low study records the preempted trials")
    _kill_arbiter(cluster)  # both drivers go on with their last grants; a new one rebuilds
    assert urgent.wait(timeout_s=300) == 0, urgent.output()[-3000:]
    hold.release()  # the resumed trials hold again at their next epoch: let them finish
    assert low.wait(timeout_s=300) == 0, low.output()[-3000:]
    trials = _complete(low)
    assert len(trials) == N_TRIALS  # no trial lost or run twice: the preempted ones resumed
    assert all(t.state == TrialState.COMPLETE for t in urgent.trials())
