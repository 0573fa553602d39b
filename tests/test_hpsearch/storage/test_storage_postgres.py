"""The driver's storage on PostgreSQL: the SQLite tests again, and what only a server shows.

The tests of ``test_storage.py`` (single-writer storage: every field round-trips, resume, second
writer, datetimes, non-finite curve points, every sampler) and ``test_storage_lease.py`` (one
driver per study, a dead driver's lease taken over) run here once more, each on a fresh database
of its own: they build their URL with their module's ``_url(tmp_path)``, which this module
points at PostgreSQL. Below them, tests only a server can fail: password authentication, trials
numbered under real concurrency, drivers racing for the lease.

Skipped, saying why, where no PostgreSQL server can be had (see ``tests/_postgres.py``).
"""

from __future__ import annotations

import math
import secrets
import threading

import optuna
import pytest
import test_storage as base
import test_storage_lease as lease_base
from optuna.trial import TrialState
from test_storage import (  # noqa: F401  (collected again here, on PostgreSQL)
    test_a_resumed_study_sees_every_trial_and_numbers_on,
    test_a_second_writer_is_detected_and_nothing_is_committed,
    test_a_trial_is_stored_at_sync_and_its_record_at_tell,
    test_datetimes_survive_a_timezone_away_from_utc,
    test_every_sampler_runs_on_it_and_the_file_matches_memory,
    test_every_state_round_trips_exactly,
    test_non_finite_curve_points_round_trip,
    test_reads_come_from_memory_after_opening,
    test_study_attributes_go_straight_through,
    test_trials_are_written_in_number_order,
)
from test_storage_lease import (  # noqa: F401
    test_a_dead_process_on_this_host_loses_its_lease_at_once,
    test_a_driver_in_another_process_is_refused,
    test_a_live_lease_from_another_host_holds_until_its_heartbeat_expires,
    test_a_second_driver_is_refused_with_who_and_since_when,
    test_a_taken_over_lease_is_noticed_by_its_old_holder,
    test_an_unreadable_lease_row_counts_as_expired,
    test_the_heartbeat_moves_while_held,
)

from hpsearch import _attrs as A
from hpsearch.storage import (
    SingleWriterStorage,
    StorageConflictError,
    StorageError,
    StudyLockedError,
    open_backend,
    open_for_reading,
    open_for_writing,
    persist_launch,
    recover,
)

# The server and per-test database fixtures (pg_server, pg_url).
pytest_plugins = ["_postgres"]


@pytest.fixture(autouse=True)
def _on_postgres(pg_url, monkeypatch):
    """Every test here, the borrowed ones included, stores its study in this test's database."""
    for module in (base, lease_base):
        monkeypatch.setattr(module, "_url", lambda _tmp_path: pg_url)


def test_every_borrowed_test_builds_its_url_with_url():
    # One that stopped calling _url would run on SQLite and prove nothing about PostgreSQL.
    import inspect

    borrowed = [f for name, f in globals().items()
                if name.startswith("test_") and f.__module__ != __name__]
    assert len(borrowed) == 17
    for function in borrowed:
        assert "_url(tmp_path)" in inspect.getsource(function), function.__name__


def _driver(url, name="s"):
    return open_for_writing(url, name, optuna.samplers.RandomSampler(seed=0),
                            optuna.pruners.NopPruner())


# -- what the SQLite tests cannot show ----------------------------------------------------------


def test_values_changed_after_they_were_written_are_updated_in_place(pg_url):
    driver = _driver(pg_url)
    study = driver.study
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.set_user_attr("note", "first")
    trial.report(0.1, 1)
    persist_launch(study, trial)
    trial.set_user_attr("note", "second")
    trial.report(0.2, 2)
    persist_launch(study, trial)
    study.tell(trial, 0.5)
    driver.close()
    (stored,) = open_for_reading("s", pg_url).get_trials()
    assert stored.user_attrs == {"note": "second"}
    assert stored.intermediate_values == {1: 0.1, 2: 0.2}
    assert stored.state == TrialState.COMPLETE and math.isclose(stored.value, 0.5)


def test_trials_left_running_are_failed_and_enqueued_again_on_resume(pg_url):
    driver = _driver(pg_url)
    study = driver.study
    done = study.ask()
    done.suggest_float("x", 0, 1)
    persist_launch(study, done)
    study.tell(done, 0.5)
    left = study.ask()
    x = left.suggest_float("x", 0, 1)
    persist_launch(study, left)  # launched; the driver dies before its result
    driver.lease.release()  # (as a SIGKILL would, bar the 30 s expiry: nothing else closed)
    driver.lease = None

    driver = _driver(pg_url)
    try:
        assert recover(driver.study) == [1]
        trials = open_for_reading("s", pg_url).get_trials()
        assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL,
                                             TrialState.WAITING]
        assert trials[1].user_attrs[A.TRIAL_FAILURE] == A.REASON_INTERRUPTED
        assert trials[2].user_attrs[A.TRIAL_RETRY_OF] == 1
        rerun = driver.study.ask()
        assert rerun.number == 2 and rerun.suggest_float("x", 0, 1) == x
    finally:
        driver.close()


def test_a_reader_sees_a_launched_trial_while_the_driver_holds_the_study(pg_url):
    driver = _driver(pg_url)
    try:
        trial = driver.study.ask()
        trial.suggest_int("width", 8, 64)
        persist_launch(driver.study, trial)
        (seen,) = open_for_reading("s", pg_url).get_trials()
        assert seen.state == TrialState.RUNNING and seen.params == trial.params
        driver.study.tell(trial, 0.25)
        (seen,) = open_for_reading("s", pg_url).get_trials()
        assert seen.state == TrialState.COMPLETE and seen.value == 0.25
    finally:
        driver.close()


def test_reading_a_missing_study_names_what_the_server_holds(pg_url):
    optuna.create_study(storage=open_backend(pg_url), study_name="present")
    with pytest.raises(StorageError, match=r"no study named 'absent' .*'present'") as err:
        open_for_reading("absent", pg_url)
    assert _password(pg_url) not in str(err.value)


def _password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).password


def test_a_wrong_password_is_one_line_with_neither_password(pg_url):
    from sqlalchemy.engine import make_url

    real = _password(pg_url)
    wrong = "wr0ng-" + secrets.token_hex(6)
    url = make_url(pg_url).set(password=wrong).render_as_string(hide_password=False)
    for opening in (lambda: open_backend(url), lambda: open_for_reading("s", url),
                    lambda: _driver(url)):
        with pytest.raises(StorageError) as err:
            opening()
        text = str(err.value)
        assert "\n" not in text and err.value.__cause__ is None
        assert ":***@127.0.0.1" in text and "password authentication failed" in text
        assert wrong not in text and real not in text and "wr0ng" not in text


def test_an_unreachable_server_is_one_line_without_the_password(pg_server):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://someone:n0t-sh0wn@127.0.0.1:{port}/db"
    with pytest.raises(StorageError) as err:
        open_backend(url)
    text = str(err.value)
    assert "\n" not in text and "n0t-sh0wn" not in text and "***" in text
    assert "refused" in text or "failed" in text


def test_a_password_with_url_special_characters_works_escaped(pg_server):
    from urllib.parse import quote

    from _postgres import own_role

    password = "p@ss:w/rd%" + secrets.token_hex(3)
    with own_role(pg_server.url, password) as url:
        assert quote(password, safe="") in url  # escaped, as a user must write it
        assert optuna.create_study(storage=open_backend(url), study_name="own").study_name
        assert open_for_reading("own", url).trials == []
        unescaped = url.replace(quote(password, safe=""), password)
        with pytest.raises(StorageError) as err:  # refused, and not shown
            open_backend(unescaped)
        text = str(err.value)
        assert "\n" not in text and "ss:w" not in text and "w/rd" not in text


def test_drivers_racing_for_a_fresh_study_leave_exactly_one_holder(pg_url):
    # Every contender creates the study if it is missing and then swaps the lease row in: on a
    # server these really run at once (SQLite serialises them on its file lock).
    n = 6
    start, held, refused, other = threading.Barrier(n), [], [], []

    def contend():
        start.wait()
        try:
            held.append(_driver(pg_url))
        except StudyLockedError as exc:
            refused.append(str(exc))
        except Exception as exc:
            other.append(repr(exc))

    threads = [threading.Thread(target=contend) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert other == [] and len(held) == 1 and len(refused) == n - 1
        assert all("only one driver may run a study" in r or "taking its lease" in r
                   for r in refused)
        assert [s.study_name for s in optuna.get_all_study_summaries(open_backend(pg_url))] == [
            "s"]
    finally:
        for driver in held:
            driver.close()


def test_drivers_opening_an_empty_database_at_once_all_get_it(pg_empty_url):
    # Two studies submitted at once to one new database (each its own driver and study name).
    n, start, failed = 4, threading.Barrier(4), []

    def open_one(i):
        start.wait()
        try:
            _driver(pg_empty_url, name=f"study{i}").close()
        except StorageError as exc:
            failed.append(str(exc))

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failed == []
    assert len(optuna.get_all_study_summaries(open_backend(pg_empty_url))) == n


def test_two_writers_creating_trials_at_once_are_caught(pg_url, monkeypatch):
    # The lease keeps a second driver out; this is the backstop behind it (two storages on one
    # study, each sure of its numbering) under real concurrency: writer A stops inside its
    # transaction, after its INSERT and count, while writer B inserts and commits.
    from hpsearch.storage import _optuna

    storage_a = SingleWriterStorage(open_backend(pg_url))
    storage_b = SingleWriterStorage(open_backend(pg_url))
    study_a = optuna.create_study(storage=storage_a, study_name="s", direction="maximize")
    study_b = optuna.load_study(storage=storage_b, study_name="s")
    inside, go_on = threading.Event(), threading.Event()
    real_check = _optuna.check_number

    def slow_check(expected, actual):
        if threading.current_thread().name == "writer-a":
            inside.set()
            go_on.wait(30)
        real_check(expected, actual)

    monkeypatch.setattr(_optuna, "check_number", slow_check)
    errors = {}

    def launch(study, label):
        try:
            trial = study.ask()
            trial.suggest_float("x", 0, 1)
            persist_launch(study, trial)
        except StorageConflictError as exc:
            errors[label] = exc

    a = threading.Thread(target=launch, args=(study_a, "a"), name="writer-a")
    a.start()
    assert inside.wait(30)
    b = threading.Thread(target=launch, args=(study_b, "b"), name="writer-b")
    b.start()
    b.join(5)  # B blocks here once A holds a lock B needs; otherwise it has committed
    go_on.set()
    a.join(30)
    b.join(30)
    numbers = [t.number for t in optuna.load_study(study_name="s",
                                                   storage=open_backend(pg_url)).trials]
    assert len(numbers) == len(set(numbers)), f"two trials share a number: {numbers}"
    assert len(errors) == 1 and "another process is writing this study" in str(
        next(iter(errors.values())))
