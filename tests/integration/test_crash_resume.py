"""The driver killed with SIGKILL mid-study, then run again: nothing completed is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from _trial_hold import environ_with, wait_for
from optuna.trial import TrialState

from hpsearch import _attrs as A
from hpsearch.storage import default_storage

from ._studies import write_study

pytestmark = pytest.mark.slow


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _hpsearch(*args: str) -> list[str]:
    return [sys.executable, "-m", "hpsearch", *args]


def _trials(storage: str, name: str) -> list:
    """The study's trials, [] until its driver has made it."""
    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials()
    except Exception:  # not created yet
        return []


@pytest.mark.timeout(300)
def test_sigkilled_driver_resumes_with_nothing_lost(tmp_path, hold):
    config = write_study(tmp_path, "crash", """
n_trials = 12
[space]
num_epochs = 30
learning_rate = { low = 1e-3, high = 1e-1, log = true }
hidden_size = { low = 256, high = 512 }
[pruner]
name = "none"
""", n_train=1000)
    runs = tmp_path / "runs"
    args = ["run", str(config.source), "--runs-dir", str(runs), "--no-evaluate", "--no-report",
            "--no-progress", "--max-in-flight", "2"]
    # Trials 0-2 run freely; every later one holds at its first epoch (tests/_trial_hold.py):
    # the kill finds 3 complete and the next ones running, however fast this machine is.
    hold.trial(*range(3, 12))
    driver = subprocess.Popen(_hpsearch(*args), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True,
                              env=environ_with(hold))
    storage = default_storage(runs, "crash")
    complete_before: dict[int, tuple] = {}
    try:
        hold.wait_held(alive=lambda: driver.poll() is None, what="a trial held after trial 2")
        wait_for(lambda: sum(t.state == TrialState.COMPLETE for t in _trials(storage, "crash"))
                 >= 3, "3 complete trials", alive=lambda: driver.poll() is None)
        family = _descendants(driver.pid)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
        hold.release()
    study = optuna.load_study(study_name="crash", storage=storage)
    trials = study.get_trials()
    complete_before = {t.number: (t.value, t.params) for t in trials
                       if t.state == TrialState.COMPLETE}
    interrupted = {t.number: t.params for t in trials if t.state == TrialState.RUNNING}
    assert interrupted

    result = subprocess.run(_hpsearch(*args), capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]

    # The embedded Ray instance shares the driver's fate. Ray's agents notice their raylet's death
    # at once but give up reporting it to the dead GCS only after about 60 s.
    end = time.monotonic() + 120
    while time.monotonic() < end and any(_alive(p) for p in family):
        time.sleep(0.5)
    left = [p for p in family if _alive(p)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind by the killed driver: {left}"

    trials = optuna.load_study(study_name="crash", storage=storage).get_trials()
    by_number = {t.number: t for t in trials}
    for number, (value, params) in complete_before.items():
        assert by_number[number].state == TrialState.COMPLETE
        assert (by_number[number].value, by_number[number].params) == (value, params)
    for number, params in interrupted.items():
        old = by_number[number]
        assert old.state == TrialState.FAIL
        assert old.user_attrs[A.TRIAL_FAILURE] == A.REASON_INTERRUPTED
        reruns = [t for t in trials if t.user_attrs.get(A.TRIAL_RETRY_OF) == number]
        assert len(reruns) == 1 and reruns[0].params == params
        assert reruns[0].state == TrialState.COMPLETE
    counted = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               or (t.state == TrialState.FAIL
                   and t.user_attrs.get(A.TRIAL_FAILURE) != A.REASON_INTERRUPTED)]
    assert len(counted) == 12


@pytest.mark.timeout(300)
def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(tmp_path, hold):
    config = write_study(tmp_path, "sigint", """
n_trials = 8
[space]
num_epochs = 30
hidden_size = 512
learning_rate = { low = 1e-3, high = 1e-1, log = true }
[pruner]
name = "none"
""", n_train=1000)
    runs = tmp_path / "runs"
    args = ["run", str(config.source), "--runs-dir", str(runs), "--no-evaluate", "--no-report",
            "--no-progress", "--max-in-flight", "2"]
    # Trial 0 runs freely, every later one holds at its first epoch: Ctrl-C finds one complete
    # and others running, however fast this machine is.
    hold.trial(*range(1, 8))
    driver = subprocess.Popen(_hpsearch(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=environ_with(hold))
    storage = default_storage(runs, "sigint")
    try:
        hold.wait_held(alive=lambda: driver.poll() is None, what="a trial held after trial 0")
        wait_for(lambda: any(t.state == TrialState.COMPLETE for t in _trials(storage, "sigint")),
                 "a complete trial", alive=lambda: driver.poll() is None)
        driver.send_signal(signal.SIGINT)
        out, _ = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        hold.release()
    assert driver.returncode == 130
    assert "interrupted: run the same command again to resume" in out
    trials = optuna.load_study(study_name="sigint", storage=storage).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    interrupted = [t for t in trials if t.user_attrs.get(A.TRIAL_FAILURE) == A.REASON_INTERRUPTED]
    assert interrupted
    result = subprocess.run(_hpsearch(*args), capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    trials = optuna.load_study(study_name="sigint", storage=storage).get_trials()
    for old in interrupted:
        rerun = [t for t in trials if t.user_attrs.get(A.TRIAL_RETRY_OF) == old.number]
        assert len(rerun) == 1 and rerun[0].params == old.params
