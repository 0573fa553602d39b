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
    return [sys.executable, "-m", "hpsearch.cli", *args]


@pytest.mark.timeout(300)
def test_sigkilled_driver_resumes_with_nothing_lost(tmp_path):
    config = write_study(tmp_path, "crash", """
n_trials = 12
[space]
num_epochs = 300
learning_rate = { low = 1e-3, high = 1e-1, log = true }
hidden_size = { low = 256, high = 512 }
[pruner]
name = "none"
""", n_train=1000)
    runs = tmp_path / "runs"
    args = ["run", str(config.source), "--runs-dir", str(runs), "--no-evaluate", "--no-report",
            "--no-progress", "--max-in-flight", "2"]
    driver = subprocess.Popen(_hpsearch(*args), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    storage = default_storage(runs, "crash")
    complete_before: dict[int, tuple] = {}
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if driver.poll() is not None:
                pytest.fail("the driver finished before it could be killed")
            try:
                study = optuna.load_study(study_name="crash", storage=storage)
            except Exception:  # not created yet
                continue
            trials = study.get_trials()
            running = [t for t in trials if t.state == TrialState.RUNNING]
            done = [t for t in trials if t.state == TrialState.COMPLETE]
            if len(done) >= 3 and running:
                break
        else:
            pytest.fail("the study never had 3 complete trials and one running")
        family = _descendants(driver.pid)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
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
def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(tmp_path):
    config = write_study(tmp_path, "sigint", """
n_trials = 8
[space]
num_epochs = 300
hidden_size = 512
learning_rate = { low = 1e-3, high = 1e-1, log = true }
[pruner]
name = "none"
""", n_train=1000)
    runs = tmp_path / "runs"
    args = ["run", str(config.source), "--runs-dir", str(runs), "--no-evaluate", "--no-report",
            "--no-progress", "--max-in-flight", "2"]
    driver = subprocess.Popen(_hpsearch(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    storage = default_storage(runs, "sigint")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        time.sleep(0.3)
        try:
            trials = optuna.load_study(study_name="sigint", storage=storage).get_trials()
        except Exception:
            continue
        if any(t.state == TrialState.COMPLETE for t in trials) and any(
                t.state == TrialState.RUNNING for t in trials):
            break
    driver.send_signal(signal.SIGINT)
    out, _ = driver.communicate(timeout=60)
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
