"""The command line against a real study: run, status, trials, rerun."""

from __future__ import annotations

import os

import pytest

from hpsearch.cli import main

from ._studies import write_study


def test_bad_study_file_exits_2_without_touching_storage(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[study]\nname = 'bad'\nn_trials = 2\n[space]\nreg = "
                    "{ low = 0.0, high = 1.0, log = true }\n")
    assert main(["run", str(path), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "[space] reg" in err and "log range needs low > 0" in err
    assert not (tmp_path / "runs").exists()


def test_unknown_study_name_is_a_clear_error(tmp_path, capsys):
    assert main(["status", "nope", "--runs-dir", str(tmp_path)]) == 2
    assert "no study 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--n-trials", "--max-in-flight"])
def test_non_positive_counts_are_refused(tmp_path, capsys, flag):
    assert main(["run", "studies/digits.toml", flag, "0"]) == 2
    assert flag in capsys.readouterr().err


def test_run_status_trials_and_rerun(ray_local, tmp_path, capsys):
    config = write_study(tmp_path, "cli", """
n_trials = 3
[space]
num_epochs = 3
dropout = 0.2
learning_rate = { low = 1e-2, high = 1e-1, log = true }
[pruner]
name = "none"
""")
    runs = ["--runs-dir", str(tmp_path / "runs")]
    quiet = ["--no-evaluate", "--no-report", "--no-progress"]
    assert main(["run", str(config.source), *runs, *quiet, "--n-trials", "2"]) == 0
    assert "2 complete, 0 pruned, 0 failed" in capsys.readouterr().out
    assert main(["status", "cli", *runs]) == 0  # counts to the run's target, not the file's
    assert "2 of 2 trials finished (the study file asks for 3)" in capsys.readouterr().out
    assert main(["run", str(config.source), *runs, *quiet]) == 0
    assert "1 complete, 0 pruned, 0 failed" in capsys.readouterr().out
    assert main(["status", "cli", *runs]) == 0
    assert "3 of 3 trials finished\n" in capsys.readouterr().out
    # a trial re-run from its record reproduces its numbers bit for bit (dropout included)
    assert main(["rerun", "cli", "1", *runs]) == 0
    assert "reproduced exactly" in capsys.readouterr().out
    assert main(["rerun", "cli", "7", *runs]) == 2
    assert "has no trial 7" in capsys.readouterr().err


def _stored_study(tmp_path, name="outside"):
    import optuna

    from hpsearch.storage import open_for_writing

    write_study(tmp_path, name, """
n_trials = 3
[space]
learning_rate = { low = 1e-2, high = 1e-1, log = true }
""")
    url = f"sqlite:///{tmp_path / 'runs' / name / 'study.db'}"
    driver = open_for_writing(url, name, optuna.samplers.RandomSampler(seed=0),
                              optuna.pruners.NopPruner())
    return driver, url


def test_stop_a_trial_and_a_study_from_outside(tmp_path, capsys):
    import optuna
    from optuna.trial import TrialState

    from hpsearch.storage import persist_launch, stop_requested

    driver, url = _stored_study(tmp_path)
    trial = driver.study.ask({"learning_rate": optuna.distributions.FloatDistribution(0.01, 0.1)})
    persist_launch(driver.study, trial)
    driver.study.set_user_attr("config_toml", (tmp_path / "outside.toml").read_text())
    runs = ["--runs-dir", str(tmp_path / "runs")]
    try:
        assert main(["stop", "outside", "--trial", "5", *runs]) == 2
        assert "has no trial 5" in capsys.readouterr().err
        assert main(["stop", "outside", "--trial", "0", *runs]) == 0
        assert "stopped by user" in capsys.readouterr().out
        (stored,) = optuna.load_study(study_name="outside", storage=url).get_trials()
        assert stored.state == TrialState.FAIL
        assert main(["stop", "outside", "--trial", "0", *runs]) == 2
        assert "is not running" in capsys.readouterr().err
        # The whole study: its live driver (this test's) is named and sees the request.
        assert not stop_requested(driver.study, since=0)
        assert main(["stop", "outside", *runs]) == 0
        assert "driver pid" in capsys.readouterr().out
        assert stop_requested(driver.study, since=0)
        assert main(["status", "outside", *runs]) == 0
        assert "driver: driver pid" in capsys.readouterr().out
    finally:
        driver.close()
    assert main(["status", "outside", *runs]) == 0
    assert "no driver is running it" in capsys.readouterr().out


def test_a_reader_that_leaves_early_ends_the_command_quietly(tmp_path):
    """`hpsearch status NAME | head -1`: no "error: Broken pipe", the shell's 141."""
    import subprocess
    import sys

    driver, _ = _stored_study(tmp_path, "piped")
    driver.study.set_user_attr("config_toml", (tmp_path / "piped.toml").read_text())
    driver.close()
    command = [sys.executable, "-m", "hpsearch", "status", "piped", "--runs-dir",
               str(tmp_path / "runs")]
    assert subprocess.run(command, capture_output=True, timeout=120).returncode == 0
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # the reader is gone before the first line is written
    err = child.stderr.read()
    assert child.wait(timeout=120) == 141 and err == b""


def test_status_watch_shows_running_trials_and_leaves_cleanly(tmp_path):
    import time

    import optuna

    from hpsearch import _attrs as A
    from hpsearch.cli._watch import watch
    from hpsearch.storage import persist_launch
    from hpsearch.study import find_study

    driver, _ = _stored_study(tmp_path, "watched")
    trial = driver.study.ask({"learning_rate": optuna.distributions.FloatDistribution(0.01, 0.1)})
    trial.set_user_attr(A.TRIAL_NODE_IP, "127.0.0.1")
    started = time.time() - 65
    trial.set_user_attr(A.TRIAL_STARTED_AT, started)
    trial.report(0.5, 1)
    trial.report(0.75, 2)
    persist_launch(driver.study, trial)
    driver.study.set_user_attr("config_toml", (tmp_path / "watched.toml").read_text())
    frames = []

    def read():
        stored = find_study("watched", tmp_path / "runs")
        return stored.config, stored.study

    try:
        watch(read, frames.append, every_s=0.05, rounds=2)
    finally:
        driver.close()
    ended = time.time()
    assert len(frames) == 2 and all(f.startswith("\x1b[H\x1b[2J") for f in frames)
    row = next(line for line in frames[-1].splitlines() if line.strip().startswith("0 "))
    assert "127.0.0.1" in row and " 2 " in row and "0.7500" in row
    # Its elapsed time as H:MM:SS: at least the 65 s it had run, at most until now (however
    # long this machine took in between).
    hours, minutes, seconds = (int(x) for x in row.split()[-1].split(":"))
    assert 65 <= hours * 3600 + minutes * 60 + seconds <= ended - started


def test_dashboard_without_the_extra_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_dashboard(name, *args, **kwargs):
        if name == "optuna_dashboard":
            raise ModuleNotFoundError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dashboard)
    assert main(["dashboard", "anything", "--runs-dir", str(tmp_path)]) == 2
    assert 'pip install "hpsearch[dashboard]"' in capsys.readouterr().err


def test_a_storage_file_that_cannot_be_used_is_one_line(tmp_path, capsys):
    missing = tmp_path / "nope.url"
    assert main(["run", "studies/digits.toml", "--storage-file", str(missing)]) == 2
    assert f"--storage-file {missing}: cannot read it" in capsys.readouterr().err
    two = tmp_path / "two.url"
    two.write_text("sqlite:////a.db\nsqlite:////b.db\n")
    assert main(["run", "studies/digits.toml", "--storage-file", str(two)]) == 2
    assert "expected one storage URL on one line" in capsys.readouterr().err
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # reading it would hang
    assert main(["run", "studies/digits.toml", "--storage-file", str(fifo)]) == 2
    assert "expected a small regular file" in capsys.readouterr().err
    big = tmp_path / "big.url"
    big.write_bytes(b"x" * (65 * 1024))
    assert main(["run", "studies/digits.toml", "--storage-file", str(big)]) == 2
    assert "expected a small regular file" in capsys.readouterr().err


def test_stop_through_a_job_server_that_is_not_there_is_one_line(tmp_path, capsys):
    assert main(["stop", "digits", "--address", "http://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "127.0.0.1:1" in err
    assert main(["stop", "digits", "--address", "http://127.0.0.1:1", "--trial", "3"]) == 2
    assert "leave out --address" in capsys.readouterr().err


def test_a_database_error_mid_command_is_one_line_without_the_password(tmp_path, capsys,
                                                                        monkeypatch):
    import sqlalchemy.exc

    import hpsearch.storage

    driver, _ = _stored_study(tmp_path, "refusing")
    driver.study.set_user_attr("config_toml", (tmp_path / "refusing.toml").read_text())
    driver.close()
    capsys.readouterr()  # Optuna's own log lines of the set-up

    def full(*_args, **_kwargs):
        raise sqlalchemy.exc.OperationalError(
            "UPDATE x SET y=? -- postgresql://u:s3cret@h/db", {}, Exception(
                "database or disk is full (postgresql://u:s3cret@h/db)\nSQL: ..."))

    monkeypatch.setattr(hpsearch.storage, "request_stop", full)
    assert main(["stop", "refusing", "--runs-dir", str(tmp_path / "runs")]) == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error")]
    assert line.startswith("error: storage: database or disk is full") and "s3cret" not in line
