"""The study lease: one driver per study wherever it runs, a dead driver's lease taken over."""

import json
import socket
import subprocess
import sys
import time

import optuna
import pytest

from hpsearch.storage import StudyLockedError, open_backend, open_for_writing
from hpsearch.storage import _lease as lease_mod
from hpsearch.storage._optuna import backend_study_id, lease_read, lease_swap


def _url(tmp_path):
    return f"sqlite:///{tmp_path / 'study.db'}"


def _open(url):
    return open_for_writing(url, "s", optuna.samplers.RandomSampler(seed=0),
                            optuna.pruners.NopPruner())


def _plant(url, **holder):
    """Write a lease row as another driver would have left it."""
    backend = open_backend(url)
    optuna.create_study(storage=backend, study_name="s", load_if_exists=True,
                        direction="maximize")
    study_id = backend.get_study_id_from_name("s")
    now = time.time()
    row = {"token": "theirs", "host": socket.gethostname(), "pid": 1, "since": now - 100,
           "heartbeat": now} | holder
    old = lease_read(backend, study_id, lease_mod.LEASE_KEY)
    assert lease_swap(backend, study_id, lease_mod.LEASE_KEY, old, json.dumps(row))


def test_a_second_driver_is_refused_with_who_and_since_when(tmp_path):
    url = _url(tmp_path)
    first = _open(url)
    try:
        with pytest.raises(StudyLockedError) as err:
            _open(url)
        text = str(err.value)
        assert f"driver pid {__import__('os').getpid()} on host {socket.gethostname()!r}" in text
        assert "since 20" in text and "UTC" in text
    finally:
        first.close()
    _open(url).close()  # released: the next driver gets it


def test_a_driver_in_another_process_is_refused(tmp_path):
    url = _url(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import optuna, sys, time\n"
         "from hpsearch.storage import open_for_writing\n"
         f"d = open_for_writing({url!r}, 's', optuna.samplers.RandomSampler(), "
         "optuna.pruners.NopPruner())\nprint('held', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StudyLockedError, match=f"driver pid {holder.pid} "):
            _open(url)
        holder.kill()  # SIGKILL: no release, but its process is gone on this host
        holder.wait()
        _open(url).close()
    finally:
        holder.kill()


def test_a_live_lease_from_another_host_holds_until_its_heartbeat_expires(tmp_path):
    url = _url(tmp_path)
    _plant(url, host="elsewhere", pid=4242)
    with pytest.raises(StudyLockedError, match="pid 4242 on host 'elsewhere'"):
        _open(url)
    _plant(url, host="elsewhere", pid=4242, heartbeat=time.time() - lease_mod.EXPIRY_S - 1)
    _open(url).close()


def test_a_dead_process_on_this_host_loses_its_lease_at_once(tmp_path):
    url = _url(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _plant(url, pid=dead.pid)
    _open(url).close()


def test_an_unreadable_lease_row_counts_as_expired(tmp_path):
    url = _url(tmp_path)
    driver = _open(url)
    backend, study_id = backend_study_id(driver.study)
    driver.close()
    old = lease_read(backend, study_id, lease_mod.LEASE_KEY)
    assert lease_swap(backend, study_id, lease_mod.LEASE_KEY, old, '"garbage"')
    _open(url).close()


def test_a_taken_over_lease_is_noticed_by_its_old_holder(tmp_path, monkeypatch):
    monkeypatch.setattr(lease_mod, "HEARTBEAT_S", 0.05)
    url = _url(tmp_path)
    driver = _open(url)
    backend, study_id = backend_study_id(driver.study)
    # Another driver decided this one was dead and swapped the lease: the next beat sees it.
    # (The holder's heartbeat may swap in between a read and our swap: read and try again.)
    taken = json.dumps({"token": "new", "host": "b", "pid": 1, "since": 0,
                        "heartbeat": time.time()})
    # Until it works, however slow this machine's reads are against the 50 ms beat.
    deadline = time.monotonic() + 120
    while not lease_swap(backend, study_id, lease_mod.LEASE_KEY,
                         lease_read(backend, study_id, lease_mod.LEASE_KEY), taken):
        if time.monotonic() > deadline:
            pytest.fail("could not take the lease over in 120 s")
    deadline = time.monotonic() + 120  # a condition with a generous deadline, not a sleep
    while not driver.lost and time.monotonic() < deadline:
        time.sleep(0.05)
    assert driver.lost
    driver.close()  # does not release what it no longer holds
    assert json.loads(lease_read(backend, study_id, lease_mod.LEASE_KEY))["token"] == "new"


def test_the_heartbeat_moves_while_held(tmp_path, monkeypatch):
    monkeypatch.setattr(lease_mod, "HEARTBEAT_S", 0.05)
    url = _url(tmp_path)
    driver = _open(url)
    backend, study_id = backend_study_id(driver.study)
    def beat():
        return json.loads(lease_read(backend, study_id, lease_mod.LEASE_KEY))["heartbeat"]

    first = beat()
    deadline = time.monotonic() + 120  # a condition, not a sleep: on a loaded core beats lag
    while (later := beat()) <= first and time.monotonic() < deadline:
        time.sleep(0.05)
    driver.close()
    assert later > first
