"""SingleWriterStorage: reads from memory, and the backend holds exactly what memory holds."""

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.storage import SingleWriterStorage, StorageConflictError, persist_launch

FIELDS = ("number", "state", "values", "params", "distributions", "user_attrs", "system_attrs",
          "intermediate_values", "datetime_start", "datetime_complete")


def _url(tmp_path):
    return f"sqlite:///{tmp_path / 'study.db'}"


def _open(url_or_backend, name="s"):
    backend = (optuna.storages.RDBStorage(url_or_backend) if isinstance(url_or_backend, str)
               else url_or_backend)
    storage = SingleWriterStorage(backend)
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                load_if_exists=True, sampler=optuna.samplers.TPESampler(seed=0))
    return storage, study


def _stored(url, name="s"):
    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def _assert_same(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        for name in FIELDS:
            assert getattr(a, name) == getattr(b, name), (a.number, name)


def _run_one(study, storage, value=None, curve=(0.5, 0.75)):
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    trial.suggest_int("width", 8, 64)
    trial.suggest_categorical("rule", ["sgd", "adam"])
    trial.set_user_attr("seed", 100 + trial.number)
    persist_launch(study, trial)
    for step, v in enumerate(curve, start=1):
        trial.report(v, step)
    trial.set_user_attr("history", {"val_acc": list(curve)})
    return trial


def test_a_trial_is_stored_at_sync_and_its_record_at_tell(tmp_path):
    url = _url(tmp_path)
    _storage, study = _open(url)
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    trial.set_user_attr("seed", 7)
    assert _stored(url) == []  # asked, not launched: nothing to recover yet

    persist_launch(study, trial)
    (running,) = _stored(url)
    assert running.state == TrialState.RUNNING
    assert running.params == trial.params and running.user_attrs == {"seed": 7}

    trial.report(0.5, 1)
    trial.report(0.75, 2)
    trial.set_user_attr("node", "n1")
    assert _stored(url)[0].intermediate_values == {}  # still in memory
    study.tell(trial, 0.75)
    _assert_same(study.get_trials(deepcopy=False), _stored(url))
    assert _stored(url)[0].intermediate_values == {1: 0.5, 2: 0.75}


def test_every_state_round_trips_exactly(tmp_path):
    url = _url(tmp_path)
    storage, study = _open(url)
    study.tell(_run_one(study, storage), 0.75)
    study.tell(_run_one(study, storage, curve=(0.2, 0.1)), state=TrialState.PRUNED)
    failed = _run_one(study, storage)
    failed.set_user_attr("failure", "diverged at iteration 3")
    study.tell(failed, state=TrialState.FAIL)
    study.enqueue_trial({"lr": 0.01, "width": 16, "rule": "adam"}, user_attrs={"retry_of": 2})
    _run_one(study, storage)  # pops the enqueued trial: RUNNING, with its fixed parameters
    storage.sync()  # its curve so far (the engine writes it at tell)
    _assert_same(study.get_trials(deepcopy=False), _stored(url))
    states = [t.state for t in _stored(url)]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL,
                      TrialState.RUNNING]
    assert _stored(url)[3].params == {"lr": 0.01, "width": 16, "rule": "adam"}
    assert _stored(url)[1].value == pytest.approx(0.1)  # a pruned trial keeps its last value


def test_reads_come_from_memory_after_opening(tmp_path, monkeypatch):
    url = _url(tmp_path)
    storage, study = _open(url)
    for _ in range(3):
        study.tell(_run_one(study, storage), 0.5)

    def no_reads(*args, **kwargs):
        raise AssertionError("read from the backend")

    for name in ("get_all_trials", "get_trial", "get_trial_id_from_study_id_trial_number",
                 "get_best_trial", "get_trial_params"):
        monkeypatch.setattr(storage.backend, name, no_reads)
    for _ in range(3):  # TPE reads every trial on each ask
        study.tell(_run_one(study, storage), 0.6)
    assert study.best_value == 0.6
    monkeypatch.undo()
    _assert_same(study.get_trials(deepcopy=False), _stored(url))


def test_a_resumed_study_sees_every_trial_and_numbers_on(tmp_path):
    url = _url(tmp_path)
    storage, study = _open(url)
    study.tell(_run_one(study, storage), 0.5)
    _run_one(study, storage)  # left RUNNING, as by a driver that died
    del storage, study

    storage, study = _open(url)
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE, TrialState.RUNNING]
    study.tell(_run_one(study, storage), 0.9)
    assert [t.number for t in _stored(url)] == [0, 1, 2]
    _assert_same(study.get_trials(deepcopy=False), _stored(url))


def test_trials_are_written_in_number_order(tmp_path):
    url = _url(tmp_path)
    _, study = _open(url)
    asked = study.ask()  # number 0, not yet synced
    asked.suggest_int("width", 8, 64)
    study.enqueue_trial({"width": 32})  # number 1: written at once, and 0 before it
    assert [t.number for t in _stored(url)] == [0, 1]
    _assert_same(study.get_trials(deepcopy=False), _stored(url))


def test_a_second_writer_is_detected_and_nothing_is_committed(tmp_path):
    url = _url(tmp_path)
    storage_a, study_a = _open(url)
    storage_b, study_b = _open(url)
    study_a.tell(_run_one(study_a, storage_a), 0.5)
    with pytest.raises(StorageConflictError, match="another process is writing this study"):
        _run_one(study_b, storage_b)
    assert len(_stored(url)) == 1


def test_any_other_backend_gets_the_same_through_the_public_api(tmp_path):
    backend = optuna.storages.InMemoryStorage()
    storage, study = _open(backend)
    study.tell(_run_one(study, storage), 0.75)
    study.tell(_run_one(study, storage, curve=(0.3,)), state=TrialState.PRUNED)
    study.enqueue_trial({"lr": 0.01, "width": 16, "rule": "adam"})
    _run_one(study, storage)
    storage.sync()
    theirs = optuna.load_study(study_name="s", storage=backend).get_trials(deepcopy=False)
    ours = study.get_trials(deepcopy=False)
    for a, b in zip(ours, theirs, strict=True):  # datetimes are the backend's own here
        for name in FIELDS[:-2]:
            assert getattr(a, name) == getattr(b, name), (a.number, name)


def test_study_attributes_go_straight_through(tmp_path):
    url = _url(tmp_path)
    _, study = _open(url)
    study.set_user_attr("space", {"lr": [1e-4, 1e-1]})
    assert optuna.load_study(study_name="s", storage=url).user_attrs == {
        "space": {"lr": [1e-4, 1e-1]}}


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes", "qmc", "gp"])
def test_every_sampler_runs_on_it_and_the_file_matches_memory(tmp_path, sampler):
    # Samplers keep their own state in trial system attributes (CMA-ES its optimizer): it must
    # reach the file as well as memory.
    if sampler == "gp":
        pytest.importorskip("torch")
        pytest.importorskip("scipy")
    from hpsearch.study import SAMPLERS

    url = _url(tmp_path)
    storage = SingleWriterStorage(optuna.storages.RDBStorage(url))
    make = getattr(optuna.samplers, SAMPLERS[sampler])
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize",
                                sampler=make(seed=0))
    for _ in range(12):
        trial = study.ask()
        x = trial.suggest_float("x", -2.0, 2.0)
        y = trial.suggest_float("y", 1e-3, 1.0, log=True)
        persist_launch(study, trial)
        study.tell(trial, -(x - 0.5) ** 2 - y)
    _assert_same(study.get_trials(deepcopy=False), _stored(url))


def test_datetimes_survive_a_timezone_away_from_utc(tmp_path, monkeypatch):
    # Optuna's RDB columns hold naive UTC and trials carry naive local time: a bulk insert that
    # skipped the conversion would shift every stored time by the local offset.
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        url = _url(tmp_path)
        storage, study = _open(url)
        study.tell(_run_one(study, storage), 0.5)
        _run_one(study, storage)  # RUNNING: its start time written at launch
        storage.sync()
        _assert_same(study.get_trials(deepcopy=False), _stored(url))
    finally:
        monkeypatch.undo()
        time.tzset()


def test_non_finite_curve_points_round_trip(tmp_path):
    import math

    url = _url(tmp_path)
    storage, study = _open(url)
    study.tell(_run_one(study, storage, curve=(float("inf"), -float("inf"), float("nan"), 0.5)),
               0.5)
    (stored,) = _stored(url)
    values = [stored.intermediate_values[s] for s in (1, 2, 3, 4)]
    assert values[:2] == [float("inf"), -float("inf")] and math.isnan(values[2])
    assert values[3] == 0.5
