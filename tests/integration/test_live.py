"""Live studies: running trials' curves reach the storage; a trial can be stopped from outside."""

from __future__ import annotations

import threading
import time

import optuna
from optuna.trial import TrialState

from hpsearch import _attrs as A
from hpsearch.driver import run_study
from hpsearch.storage import default_storage

from ._studies import write_study

LONG = """
n_trials = {n}
[space]
num_epochs = 3000
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


def test_running_trials_curves_grow_in_the_storage(ray_local, tmp_path):
    config = write_study(tmp_path, "live", LONG.format(n=1), n_train=1000)
    url = default_storage(tmp_path / "runs", "live")
    thread, done = _start(config, tmp_path)
    seen: list[int] = []
    node = None
    deadline = time.monotonic() + 120
    while thread.is_alive() and time.monotonic() < deadline:
        if (tmp_path / "runs" / "live" / "study.db").exists():
            running, _ = _running(url, "live")
            if running:
                seen.append(len(running[0].intermediate_values))
                node = node or running[0].user_attrs.get(A.TRIAL_NODE)
        time.sleep(0.25)
    thread.join(60)
    assert done["summary"].n_complete == 1
    growing = [n for n in seen if n > 0]
    # Several looks at the running trial found points, and more of them each time.
    assert len(set(growing)) >= 2, seen
    assert growing == sorted(growing)
    assert node  # the worker's node is known while it runs


def test_a_trial_failed_from_outside_stops_and_the_study_goes_on(ray_local, tmp_path):
    config = write_study(tmp_path, "stopme", LONG.format(n=2), n_train=1000)
    url = default_storage(tmp_path / "runs", "stopme")
    thread, done = _start(config, tmp_path)
    deadline = time.monotonic() + 120
    stopped = None
    while stopped is None and time.monotonic() < deadline:
        if (tmp_path / "runs" / "stopme" / "study.db").exists():
            running, study = _running(url, "stopme")
            if running and len(running[0].intermediate_values) >= 3:
                stopped = running[0].number
                # What optuna-dashboard's "Fail trial" does: the public API, on the storage.
                study.tell(stopped, state=TrialState.FAIL)
        time.sleep(0.1)
    assert stopped is not None
    thread.join(120)
    summary = done["summary"]
    trials = {t.number: t for t in optuna.load_study(study_name="stopme",
                                                      storage=url).get_trials()}
    victim = trials[stopped]
    assert victim.state == TrialState.FAIL
    assert victim.user_attrs[A.TRIAL_FAILURE] == A.REASON_STOPPED_BY_USER
    assert victim.user_attrs[A.TRIAL_EPOCHS_RUN] < 3000  # its worker stopped early
    # ... and the study went on to its target: the stopped trial counts as finished.
    assert summary.n_failed == 1 and summary.n_complete == 1
    assert sum(t.state == TrialState.COMPLETE for t in trials.values()) == 1
