"""Live studies: running trials' curves reach the storage; a trial can be stopped from outside."""

from __future__ import annotations

import threading

import optuna
from _trial_hold import wait_for
from optuna.trial import TrialState

from hpsearch import _attrs as A
from hpsearch.search import run_study
from hpsearch.storage import default_storage

from ._studies import write_study

STUDY = """
n_trials = {n}
[space]
num_epochs = 40
learning_rate = {{ low = 1e-3, high = 1e-2, log = true }}
hidden_size = 64
[pruner]
name = "none"
[run]
max_in_flight = 1
"""


def _start(config, tmp_path):
    done = {}

    def run():
        done["summary"] = run_study(config, runs_dir=tmp_path / "runs", progress=False)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def _running(url, name):
    """Running trials as a stock Optuna reader sees them ([] until the study exists)."""
    try:
        study = optuna.load_study(study_name=name, storage=url)
    except Exception:  # the driver is still creating the file's tables or the study
        return [], None
    return [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING], study


def _stored_points(url, name, at_least):
    """The running trial once the storage shows ``at_least`` of its points (else None)."""
    running, study = _running(url, name)
    if running and len(running[0].intermediate_values) >= at_least:
        return running[0], study
    return None


def test_running_trials_curves_grow_in_the_storage(ray_local, hold, tmp_path):
    # The trial holds at epoch 5, then at 12, then goes on (tests/_trial_hold.py): each look at
    # the storage comes while it runs, however fast this machine trains.
    config = write_study(tmp_path, "live", STUDY.format(n=1), n_train=1000)
    url = default_storage(tmp_path / "runs", "live")
    hold.trial(0, from_step=5)
    thread, done = _start(config, tmp_path)
    seen: list[int] = []
    node = None
    for step, then in ((5, 12), (12, None)):
        hold.wait_held(0, at_step=step, alive=thread.is_alive)
        running, _ = wait_for(lambda n=step: _stored_points(url, "live", n),
                              f"{step} points of the running trial in the storage",
                              alive=thread.is_alive)
        seen.append(len(running.intermediate_values))
        node = node or running.user_attrs.get(A.TRIAL_NODE)
        if then is None:
            hold.release(0)
        else:
            hold.trial(0, from_step=then)  # on to epoch `then`, and hold there
    thread.join(120)
    assert done["summary"].n_complete == 1
    growing = [n for n in seen if n > 0]
    # Several looks at the running trial found points, and more of them each time.
    assert len(set(growing)) >= 2, seen
    assert growing == sorted(growing)
    assert node  # the worker's node is known while it runs


def test_a_trial_failed_from_outside_stops_and_the_study_goes_on(ray_local, hold, tmp_path):
    # Trial 0 holds at epoch 3 until it is told to stop (a held trial still hears a stop), so
    # the stop always finds it running; trial 1 runs freely.
    config = write_study(tmp_path, "stopme", STUDY.format(n=2), n_train=1000)
    url = default_storage(tmp_path / "runs", "stopme")
    hold.trial(0, from_step=3)
    thread, done = _start(config, tmp_path)
    hold.wait_held(0, at_step=3, alive=thread.is_alive)
    running, study = wait_for(lambda: _stored_points(url, "stopme", 3),
                              "3 points of the running trial in the storage",
                              alive=thread.is_alive)
    stopped = running.number
    # What optuna-dashboard's "Fail trial" does: the public API, on the storage.
    study.tell(stopped, state=TrialState.FAIL)
    thread.join(120)
    assert not thread.is_alive(), "the study did not end after its trial was failed from outside"
    summary = done["summary"]
    trials = {t.number: t for t in optuna.load_study(study_name="stopme",
                                                      storage=url).get_trials()}
    victim = trials[stopped]
    assert victim.state == TrialState.FAIL
    assert victim.user_attrs[A.TRIAL_FAILURE] == A.REASON_STOPPED_BY_USER
    assert victim.user_attrs[A.TRIAL_EPOCHS_RUN] < 40  # its worker stopped early:
    assert victim.user_attrs[A.TRIAL_EPOCHS_RUN] == 3  # where it was when told
    # ... and the study went on to its target: the stopped trial counts as finished.
    assert summary.n_failed == 1 and summary.n_complete == 1
    assert sum(t.state == TrialState.COMPLETE for t in trials.values()) == 1
