"""Studies end to end on PostgreSQL: run, resume, a SIGKILLed driver, and no password anywhere.

Each test gets a database of its own on the test server (``tests/_postgres.py``: the one named by
``HPSEARCH_TEST_POSTGRES_URL``, else a throwaway server; skipped where there is none).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from _trial_hold import environ_with, wait_for
from integration._studies import write_study
from integration.test_crash_resume import _alive, _descendants, _hpsearch
from optuna.trial import TrialState

from hpsearch import _attrs as A
from hpsearch.search import run_study, trial_seed

pytestmark = pytest.mark.slow
# The server and per-test database fixtures (pg_server, pg_url).
pytest_plugins = ["_postgres"]


def _trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    from hpsearch.storage import open_for_reading

    return open_for_reading(name, url).get_trials()


def test_a_study_runs_and_resumes_on_postgres(ray_local, tmp_path, pg_url):
    config = write_study(tmp_path, "pg", """
n_trials = 4
[space]
num_epochs = 4
learning_rate = { low = 1e-3, high = 1e-1, log = true }
hidden_size = { low = 16, high = 64 }
update_rule = "adam"
[pruner]
name = "none"
""")
    runs = tmp_path / "runs"
    summary = run_study(config, runs_dir=runs, storage=pg_url, progress=False)
    assert summary.n_complete == 4 and summary.n_failed == 0
    assert "***" in summary.storage and "postgresql://" in summary.storage
    assert not (runs / "pg" / "study.db").exists()  # nothing fell back to SQLite

    more = run_study(config, runs_dir=runs, storage=pg_url, n_trials=6, progress=False)
    assert more.n_complete == 2  # this run's share: two more
    study = optuna.load_study(study_name="pg", storage=pg_url)
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(6))
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    for t in trials:
        attrs = t.user_attrs
        assert attrs[A.TRIAL_SEED] == trial_seed(3, t.number)
        assert attrs[A.TRIAL_EPOCHS_RUN] == 4
        assert attrs[A.TRIAL_FINGERPRINT] == study.user_attrs[A.STUDY_FINGERPRINT]
        # the stored curve is the worker's, epoch for epoch, through the bulk writes
        assert [t.intermediate_values[e] for e in (1, 2, 3, 4)] == attrs[A.TRIAL_HISTORY][
            "val_acc"]
        assert t.value == max(attrs[A.TRIAL_HISTORY]["val_acc"])
        assert t.datetime_start <= t.datetime_complete
    assert more.best_value == max(t.value for t in trials) > 0.5


@pytest.mark.timeout(400)
def test_a_sigkilled_driver_resumes_on_postgres_with_nothing_lost(tmp_path, pg_url, hold):
    config = write_study(tmp_path, "crash", """
n_trials = 8
[space]
num_epochs = 30
learning_rate = { low = 1e-3, high = 1e-1, log = true }
hidden_size = { low = 256, high = 512 }
[pruner]
name = "none"
""", n_train=1000)
    args = ["run", str(config.source), "--runs-dir", str(tmp_path / "runs"), "--storage",
            pg_url, "--no-evaluate", "--no-report", "--no-progress", "--max-in-flight", "2"]
    # Trials 0 and 1 run freely; every later one holds at its first epoch (tests/_trial_hold.py):
    # the kill finds 2 complete and the next ones running, however fast this machine is.
    hold.trial(*range(2, 8))
    driver = subprocess.Popen(_hpsearch(*args), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True,
                              env=environ_with(hold))

    def complete() -> int:
        try:
            return sum(t.state == TrialState.COMPLETE for t in _trials(pg_url, "crash"))
        except Exception:  # not created yet
            return 0

    try:
        hold.wait_held(alive=lambda: driver.poll() is None, what="a trial held after trial 1")
        wait_for(lambda: complete() >= 2, "2 complete trials", alive=lambda: driver.poll() is None)
        family = _descendants(driver.pid)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
        hold.release()
    trials = _trials(pg_url, "crash")
    complete_before = {t.number: (t.value, t.params, t.intermediate_values) for t in trials
                       if t.state == TrialState.COMPLETE}
    interrupted = {t.number: t.params for t in trials if t.state == TrialState.RUNNING}
    assert interrupted

    # At once: the dead driver's lease names a process gone from this host.
    result = subprocess.run(_hpsearch(*args), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "interrupted" in result.stderr + result.stdout

    end = time.monotonic() + 120  # the embedded Ray instance dies with its driver
    while time.monotonic() < end and any(_alive(p) for p in family):
        time.sleep(0.5)
    for pid in [p for p in family if _alive(p)]:
        os.kill(pid, signal.SIGKILL)

    trials = _trials(pg_url, "crash")
    assert [t.number for t in trials] == list(range(len(trials)))
    by_number = {t.number: t for t in trials}
    for number, (value, params, curve) in complete_before.items():
        t = by_number[number]
        assert (t.state, t.value, t.params, t.intermediate_values) == (
            TrialState.COMPLETE, value, params, curve)
    for number, params in interrupted.items():
        assert by_number[number].state == TrialState.FAIL
        assert by_number[number].user_attrs[A.TRIAL_FAILURE] == A.REASON_INTERRUPTED
        reruns = [t for t in trials if t.user_attrs.get(A.TRIAL_RETRY_OF) == number]
        assert len(reruns) == 1 and reruns[0].params == params
        assert reruns[0].state == TrialState.COMPLETE
    counted = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               or (t.state == TrialState.FAIL
                   and t.user_attrs.get(A.TRIAL_FAILURE) != A.REASON_INTERRUPTED)]
    assert len(counted) == 8
    assert not [t for t in trials if t.state == TrialState.RUNNING]


@pytest.mark.timeout(400)
def test_the_password_is_in_no_output_file_or_stored_attribute(tmp_path, pg_server):
    from urllib.parse import quote

    from _postgres import own_role

    # A role and database of its own, so the password is one that appears nowhere else.
    password = "Pw" + secrets.token_hex(10)
    with own_role(pg_server.url, password) as url:
        _run_everything_and_check(tmp_path, url, {password, quote(password, safe="")})


def _run_everything_and_check(tmp_path: Path, url: str, hidden: set[str]) -> None:
    # The URL in the study file's [run] section, as a user would keep it: stored as config text.
    config = write_study(tmp_path, "secret", f"""
n_trials = 3
[space]
num_epochs = 3
learning_rate = {{ low = 1e-2, high = 1e-1, log = true }}
[pruner]
name = "none"
[run]
storage = "{url}"
""")
    runs = tmp_path / "runs"
    ray_tmp = tempfile.mkdtemp(prefix="hpr")  # short: Ray's socket paths have a length limit
    env = {**os.environ, "RAY_TMPDIR": ray_tmp}
    outputs = []
    # run: the URL on the command line too (Ray records its driver's command line)
    for args in (["run", str(config.source), "--runs-dir", str(runs), "--no-progress",
                  "--storage", url],
                 ["status", str(config.source), "--runs-dir", str(runs)],
                 ["status", "secret", "--runs-dir", str(runs), "--storage", url],
                 ["trials", "secret", "--runs-dir", str(runs), "--storage", url],
                 ["report", str(config.source), "--runs-dir", str(runs)],
                 # a wrong password: refused in one line, neither password shown
                 ["status", "secret", "--storage", url.replace(":Pw", ":Wrong"),
                  "--runs-dir", str(runs)]):
        done = subprocess.run(_hpsearch(*args), capture_output=True, text=True, env=env,
                              timeout=300)
        outputs.append((args[0], done.returncode, done.stdout + done.stderr))
    assert [rc for _, rc, _ in outputs] == [0, 0, 0, 0, 0, 2], outputs
    assert "***" in outputs[0][2] and "postgresql://" in outputs[0][2]
    assert len(outputs[-1][2].strip().splitlines()) == 1
    assert "password authentication failed" in outputs[-1][2]
    for command, _, text in outputs:
        for secret in hidden:
            assert secret not in text, f"hpsearch {command} printed the password"

    written = [p for p in runs.rglob("*") if p.is_file()]
    names = {p.name for p in written}
    assert {"run.log", "report.html", "report.md"} <= names, names
    assert any(p.suffix == ".csv" for p in written), names
    for path in written:
        data = path.read_bytes()
        for secret in hidden:
            assert secret.encode() not in data, f"{path} holds the password"

    study = optuna.load_study(study_name="secret", storage=url)
    assert "storage = \"postgresql://" in study.user_attrs[A.STUDY_CONFIG_TEXT]
    # Every row of every table (study and trial attributes, the lease, Optuna's own): none holds
    # it.
    from _postgres import admin

    with admin(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        assert "study_user_attributes" in tables and "trial_user_attributes" in tables
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for secret in hidden:
                    assert secret not in repr(row), f"table {table} holds the password"

    # Ray's own session files (logs, the job table's entrypoint) hold none either.
    leaked = []
    for path in Path(ray_tmp).rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if any(secret.encode() in data for secret in hidden):
                leaked.append(str(path))
    assert not leaked, f"Ray's session files hold the password: {leaked[:5]}"
