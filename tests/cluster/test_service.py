"""Studies as Ray jobs: `hpsearch submit`, `jobs`, `logs` and stopping a job (hpsearch.service).

The fast tests (default run) need no cluster: what a user can get wrong ends in one line and a
non-zero exit before anything is submitted, checked against a stand-in job server that counts
requests. The cluster test (`-m cluster`) starts a head with Ray's job server on 127.0.0.1 and a
worker, submits two studies at once, stops one mid-run and resubmits it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.parse
from pathlib import Path

import optuna
import pytest
import requests
from optuna.trial import TrialState

from hpsearch import _attrs as A
from hpsearch import service
from hpsearch.cli import main
from hpsearch.search import counts_toward_budget
from hpsearch.service import _client, _entrypoint, _jobs
from hpsearch.storage import redact

from ._fake_jobserver import TOKEN, fake_job_server
from ._loopback import free_port, hpsearch_cmd
from .conftest import STUDY

pytest_plugins = ["_postgres"]  # pg_url: a database of the test's own, when a server can be had

# --- fast: refused before anything is submitted -------------------------------------------------


@pytest.fixture
def study_file(tmp_path: Path) -> Path:
    path = tmp_path / "svc.toml"
    path.write_text(STUDY.format(name="svc", n_trials=4, epochs=50))
    return path


@pytest.fixture
def token_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No token anywhere but where a test puts it (HOME moved: no ~/.ray/auth_token)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_API_SERVER_ADDRESS"):
        monkeypatch.delenv(var, raising=False)


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_nothing_listening_is_one_line(capsys, study_file, tmp_path, token_env):
    address = f"http://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    code, out, err = _run(capsys, "submit", str(study_file), "--address", address,
                          "--storage", f"sqlite:///{tmp_path}/s.db")
    assert code == 2 and out == ""
    line = _one_error_line(err)
    assert "cannot reach the job server" in line and address.removeprefix("http://") in line
    assert time.monotonic() - t0 < 10
    for command in (["jobs"], ["logs", "svc"]):
        code, _, err = _run(capsys, *command, "--address", address)
        assert code == 2 and "cannot reach the job server" in _one_error_line(err)


def test_a_server_that_never_answers_is_given_up(capsys, study_file, tmp_path, token_env,
                                                 monkeypatch):
    import socket

    monkeypatch.setattr(_client, "REQUEST_TIMEOUT_S", 1.0)
    with socket.socket() as silent:  # takes connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"http://127.0.0.1:{silent.getsockname()[1]}"
        t0 = time.monotonic()
        code, _, err = _run(capsys, "jobs", "--address", address)
    assert code == 2 and "did not answer (no answer in 1 s)" in _one_error_line(err)
    assert time.monotonic() - t0 < 10


def test_gcs_address_instead_of_job_server(capsys, study_file, tmp_path, token_env):
    code, _, err = _run(capsys, "submit", str(study_file), "--address", "ray://10.0.0.1:10001",
                        "--storage", f"sqlite:///{tmp_path}/s.db")
    assert code == 2 and "expected the job server's URL" in _one_error_line(err)


@pytest.mark.parametrize("token, expected", [(None, "requires Ray's token and none was found"),
                                             ("wrong", "refused the token (wrong token)")])
def test_missing_or_wrong_token_is_one_line(capsys, study_file, tmp_path, token_env,
                                            monkeypatch, token, expected):
    if token is not None:
        monkeypatch.setenv("RAY_AUTH_TOKEN", token)
    with fake_job_server() as server:
        code, out, err = _run(capsys, "submit", str(study_file), "--address", server.url,
                              "--storage", f"sqlite:///{tmp_path}/s.db")
        assert code == 2 and out == ""
        assert expected in _one_error_line(err)
        assert not [r for r in server.requests if r[0] != "GET"], "something was submitted"
        code, _, err = _run(capsys, "jobs", "--address", server.url)
        assert code == 2 and expected in _one_error_line(err)


def test_token_sent_from_env_file_or_home(capsys, tmp_path, token_env, monkeypatch):
    """Ray's three places for the token work without RAY_AUTH_MODE on the submitting machine."""
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    with fake_job_server() as server:
        monkeypatch.setenv("RAY_AUTH_TOKEN", TOKEN)
        assert _run(capsys, "jobs", "--address", server.url)[:2] == (
            0, "no studies submitted to this cluster\n")
        monkeypatch.delenv("RAY_AUTH_TOKEN")
        (tmp_path / "t").write_text(TOKEN + "\n")
        monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "t"))
        assert _run(capsys, "jobs", "--address", server.url)[0] == 0
        monkeypatch.delenv("RAY_AUTH_TOKEN_PATH")
        (tmp_path / "home" / ".ray").mkdir(parents=True)
        (tmp_path / "home" / ".ray" / "auth_token").write_text(TOKEN)
        assert _run(capsys, "jobs", "--address", server.url.removeprefix("http://"))[0] == 0
        assert {auth for _, _, auth in server.requests} == {f"Bearer {TOKEN}"}


def test_plain_http_off_this_machine_is_warned_about(capsys, study_file, token_env):
    assert service.token_in_clear("http://10.0.0.5:8265") == "10.0.0.5"
    assert service.token_in_clear("https://head.example:8265") is None
    assert service.token_in_clear("127.0.0.1:8265") is None
    code, _, err = _run(capsys, "submit", str(study_file), "--address", "http://192.0.2.1:1")
    assert code == 2 and err.startswith("warning: Ray's token goes to 192.0.2.1 over plain HTTP")


def test_invalid_study_file_is_refused_before_contact(capsys, tmp_path, token_env):
    bad = tmp_path / "bad.toml"
    bad.write_text(STUDY.format(name="bad", n_trials=4, epochs=50) + "\n[surprise]\nx = 1\n")
    with fake_job_server() as server:
        code, out, err = _run(capsys, "submit", str(bad), "--address", server.url,
                              "--storage", f"sqlite:///{tmp_path}/s.db")
        assert code == 2 and out == ""
        assert "unknown keys ['surprise']" in _one_error_line(err)
        code, _, err = _run(capsys, "submit", str(tmp_path / "missing.toml"), "--address",
                            server.url, "--storage", f"sqlite:///{tmp_path}/s.db")
        assert code == 2 and "no such study file" in _one_error_line(err)
        assert server.requests == []


@pytest.mark.parametrize("storage, expected", [
    (None, "needs a storage that outlives the job"),
    ("sqlite:///runs/svc/study.db", "a relative SQLite path"),
    ("sqlite:///:memory:", "an in-memory database ends with the job"),
    ("not-a-url", "not a database URL"),
])
def test_storage_that_would_vanish_is_refused(capsys, study_file, token_env, storage, expected):
    with fake_job_server() as server:
        extra = [] if storage is None else ["--storage", storage]
        code, out, err = _run(capsys, "submit", str(study_file), "--address", server.url, *extra)
        assert code == 2 and out == ""
        assert expected in _one_error_line(err)
        assert server.requests == []


def test_storage_from_the_study_file_counts(study_file):
    text = study_file.read_text() + '\n[run]\nstorage = "sqlite:///rel.db"\n'
    study_file.write_text(text)
    with pytest.raises(service.ServiceError, match="relative SQLite path"):
        service.submit_study(study_file, "http://127.0.0.1:1")


def test_results_dir_must_be_absolute(study_file, tmp_path):
    with pytest.raises(service.ServiceError, match="--results-dir out: expected an absolute"):
        service.submit_study(study_file, "http://127.0.0.1:1",
                             storage=f"sqlite:///{tmp_path}/s.db", results_dir="out")


def test_password_stays_off_entrypoint_and_in_a_private_file(study_file):
    url = "postgresql://hp:s3cret@db.example:5432/hp"
    assert service.check_durable_storage(url) == url
    entry = _entrypoint.job_entrypoint("/opt/venv/bin/python", study_file.name, 10, None, None)
    assert "s3cret" not in entry and f"--storage-file {service.STORAGE_FILE}" in entry
    assert "/opt/venv/bin/python -m hpsearch run " in entry  # the cluster's Python, not PATH
    assert "--progress-lines" in entry and "--address auto" in entry
    with _entrypoint.job_working_dir(study_file, url) as folder:
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            [study_file.name, service.STORAGE_FILE])
        secret = folder / service.STORAGE_FILE
        assert secret.read_text().strip() == url
        assert secret.stat().st_mode & 0o777 == 0o600
    assert not folder.exists()


def test_last_progress_line_is_read_from_a_log():
    log = ("starting\nhpsearch-progress {\"done\": 1, \"target\": 4, \"best\": null}\n"
           "other output\nhpsearch-progress {\"done\": 3, \"target\": 4, \"best\": 0.91}\n"
           "hpsearch-progress {\"done\": 4, \"tar")  # cut off mid-write
    assert service.last_progress(log) == {"done": 3, "target": 4, "best": 0.91}
    assert service.last_progress("no progress here\n") is None


# --- cluster: two studies as jobs, one stopped and resumed ----------------------------------------


@pytest.fixture(scope="module")
def jobs_cluster(tmp_path_factory: pytest.TempPathFactory):
    from ._jobserver import JobServerCluster

    c = JobServerCluster(tmp_path_factory.mktemp("rj"))
    try:
        c.start_head(num_cpus=1)
        c.add_worker("w1", num_cpus=1)
        yield c
    finally:
        left = c.shutdown()
    assert not left, f"processes of the test cluster left behind: {left}"


def _cli(cluster, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(hpsearch_cmd(*args), capture_output=True, text=True, timeout=120,
                          env=env or cluster.env("client"))


def _trials(name: str, url: str) -> list:
    try:
        return optuna.load_study(study_name=name, storage=url).get_trials()
    except Exception:  # not created yet
        return []


def _wait(what: str, condition, timeout_s: float, every_s: float = 1.0):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if found := condition():
            return found
        time.sleep(every_s)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def _busy_seconds(trials, start: float, end: float) -> tuple[float, int]:
    """(trial-seconds a study ran within [start, end], trials started in it).

    From each trial's started_at and duration_s; a trial cut off by a stop has no duration and
    counts until it was recorded finished.
    """
    total, started = 0.0, 0
    for t in trials:
        began, took = t.user_attrs.get(A.TRIAL_STARTED_AT), t.user_attrs.get(A.TRIAL_DURATION)
        if began is None:
            continue
        ended = began + took if took is not None else (
            t.datetime_complete.timestamp() if t.datetime_complete else end)
        total += max(0.0, min(ended, end) - max(began, start))
        started += start <= began < end
    return total, started


@pytest.mark.cluster
@pytest.mark.timeout(600)
def test_two_studies_as_jobs_stop_resume_and_list(jobs_cluster, tmp_path, monkeypatch, request):
    cluster = jobs_cluster
    address = cluster.jobs_url
    monkeypatch.setenv("RAY_AUTH_TOKEN", cluster.token)  # for the library calls in this process
    monkeypatch.setenv("HOME", str(tmp_path))
    urls, files = {}, {}
    for name, n_trials in (("svc_a", 6), ("svc_b", 16)):
        files[name] = tmp_path / f"{name}.toml"
        files[name].write_text(STUDY.format(name=name, n_trials=n_trials, epochs=600))
        urls[name] = f"sqlite:///{tmp_path}/{name}.db"
    try:  # svc_a on PostgreSQL (a URL with a password) where a server can be had
        urls["svc_a"] = request.getfixturevalue("pg_url")
    except pytest.skip.Exception as exc:
        print(f"\nsvc_a on SQLite: {exc}")
    password = urllib.parse.urlsplit(urls["svc_a"]).password

    # A wrong token is refused in one line; nothing is submitted.
    wrong = cluster.env("client") | {"RAY_AUTH_TOKEN": "0" * 64}
    done = _cli(cluster, "submit", str(files["svc_a"]), "--address", address,
                "--storage", urls["svc_a"], env=wrong)
    assert done.returncode == 2 and "refused the token" in done.stderr, done.stderr
    assert service.list_jobs(address) == []

    # Two studies submitted at once. svc_b's trials from number 6 on hold at their first epoch
    # (tests/_trial_hold.py; svc_a has no such trial): svc_b is still running, two trials
    # held, when svc_a is done and the stop comes, however fast this machine is.
    hold = cluster.hold
    hold.reset()
    request.addfinalizer(hold.reset)
    hold.trial(*range(6, 16))
    job_ids = {}
    for name in ("svc_a", "svc_b"):
        done = _cli(cluster, "submit", str(files[name]), "--address", address,
                    "--storage", urls[name])
        assert done.returncode == 0, done.stdout + done.stderr
        job_ids[name] = re.search(r"as job (\S+)", done.stdout)[1]
        assert f"hpsearch logs {job_ids[name]}" in done.stdout
    jobs = _jobs.hpsearch_jobs(service.connect(address))
    assert {j.metadata["study"]: j.metadata["target"] for j in jobs} == {"svc_a": "6",
                                                                         "svc_b": "16"}
    assert all(j.metadata["storage"] == redact(urls[j.metadata["study"]]) for j in jobs)
    if password:  # nowhere in what `ray job list` shows: entrypoint, metadata, runtime_env
        listed = requests.get(f"{address}/api/jobs/", timeout=30,
                              headers={"Authorization": f"Bearer {cluster.token}"})
        assert listed.status_code == 200 and "svc_a" in listed.text
        assert password not in listed.text and password not in done.stdout

    # A second live job of the same study is refused.
    done = _cli(cluster, "submit", str(files["svc_a"]), "--address", address,
                "--storage", urls["svc_a"])
    assert done.returncode == 2 and "already runs as job" in done.stderr, done.stderr

    # Both run side by side until svc_a is done; then svc_b is stopped mid-run, gracefully.
    _wait("svc_a to finish", lambda: str(service.connect(address).call(
        "get_job_status", job_ids["svc_a"])) not in service.LIVE, 300, 1.0)
    hold.wait_held(timeout_s=240, what="a trial of svc_b held")
    _wait("svc_b to complete 2 trials and run another", lambda: (
        (ts := _trials("svc_b", urls["svc_b"]))
        and sum(t.state == TrialState.COMPLETE for t in ts) >= 2
        and any(t.state == TrialState.RUNNING for t in ts)), 240, 0.3)
    message = service.stop_job(address, "svc_b")
    hold.release()  # the resubmitted run goes freely
    assert "stopped after" in message, message
    before = _trials("svc_b", urls["svc_b"])
    complete_before = {t.number: (t.value, t.params) for t in before
                       if t.state == TrialState.COMPLETE}
    assert not [t.number for t in before if t.state == TrialState.RUNNING]
    interrupted = [t for t in before if t.user_attrs.get(A.TRIAL_FAILURE) == "interrupted"]
    assert interrupted, "the trials running at the stop were not recorded as interrupted"
    stopped_log = service.job_logs(address, job_ids["svc_b"])[1]
    assert "interrupted: run the same command again to resume" in stopped_log, stopped_log[-2000:]

    # Resubmitted, it resumes: nothing finished lost, interrupted trials re-run, target reached.
    done = _cli(cluster, "submit", str(files["svc_b"]), "--address", address,
                "--storage", urls["svc_b"])
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _wait("both studies to finish", lambda: (
        (r := service.list_jobs(address))
        and sum(x.status == "SUCCEEDED" for x in r) == 2
        and not [x for x in r if x.status in service.LIVE] and r), 420, 2.0)

    trials = {name: _trials(name, url) for name, url in urls.items()}
    assert sum(counts_toward_budget(t) for t in trials["svc_a"]) == 6
    assert sum(counts_toward_budget(t) for t in trials["svc_b"]) == 16
    after = {t.number: (t.value, t.params) for t in trials["svc_b"]
             if t.state == TrialState.COMPLETE}
    assert {n: after.get(n) for n in complete_before} == complete_before
    retried = {t.user_attrs.get(A.TRIAL_RETRY_OF) for t in trials["svc_b"]}
    assert {t.number for t in interrupted} <= retried
    # Trials of the two studies never mix: each storage holds only its own study.
    for name, url in urls.items():
        assert [s.study_name for s in optuna.get_all_study_summaries(url)] == [name]

    # `hpsearch jobs` lists all three jobs with their final progress.
    done = _cli(cluster, "jobs", "--address", address)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["JOB", "STATUS", "STUDY", "TRIALS", "BEST", "STARTED",
                                "ELAPSED", "WEIGHT", "PRIORITY", "SHARE", "CPU-S", "QUEUE"]
    by_job = {line.split()[0]: line.split() for line in lines[1:]}
    assert by_job[job_ids["svc_a"]][1:4] == ["SUCCEEDED", "svc_a", "6/6"]
    assert by_job[job_ids["svc_b"]][1:3] == ["STOPPED", "svc_b"]
    assert [r.status for r in rows if r.study == "svc_b"] == ["STOPPED", "SUCCEEDED"]
    assert [r.done for r in rows if r.study == "svc_b"][-1] == 16
    # A study name (or its file) means its latest job.
    latest_b = [r.job_id for r in rows if r.study == "svc_b"][-1]
    assert latest_b != job_ids["svc_b"]
    assert service.job_logs(address, str(files["svc_b"]))[0] == latest_b
    done = _cli(cluster, "logs", "svc_b", "--address", address)
    assert done.returncode == 0 and "hpsearch-progress" in done.stdout
    assert '"done": 16, "target": 16' in done.stdout

    # A finished job's log, followed: printed whole, and the command returns.
    done = _cli(cluster, "logs", job_ids["svc_a"], "--address", address, "--follow")
    assert done.returncode == 0 and '"done": 6, "target": 6' in done.stdout, done.stderr

    # How the cluster's 2 CPUs were shared while both studies ran: from the later study's first
    # trial until svc_a's last trial ended.
    first = {name: min(t.user_attrs[A.TRIAL_STARTED_AT] for t in ts
                       if A.TRIAL_STARTED_AT in t.user_attrs) for name, ts in trials.items()}
    start = max(first.values())
    end = max(t.datetime_complete.timestamp() for t in trials["svc_a"])
    shares = {name: _busy_seconds(ts, start, end) for name, ts in trials.items()}
    print(f"\nwhile both ran ({end - start:.0f} s, 2 CPUs): trial-seconds and trials started "
          + json.dumps({k: [round(v[0], 1), v[1]] for k, v in shares.items()}))
    # On a loaded machine svc_a may finish before svc_b's driver has started its first trial;
    # then they did not overlap and there is nothing to share. When they did, both got CPUs.
    if end > start:
        assert all(v[0] > 0 for v in shares.values()), f"a study starved: {shares}"
    assert os.environ["RAY_AUTH_TOKEN"] == cluster.token
