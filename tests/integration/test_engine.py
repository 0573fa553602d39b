"""A real local Ray instance and a real SQLite storage: studies end to end."""

from __future__ import annotations

import threading
import time

import optuna
import pytest
from _trial_hold import wait_for
from optuna.trial import TrialState

from hpsearch import _attrs as A
from hpsearch.search import run_study, trial_seed
from hpsearch.storage import default_storage
from hpsearch.study._space import grid_combinations, grid_search_space

from ._studies import write_study


def _load(tmp_path, name):
    return optuna.load_study(study_name=name, storage=default_storage(tmp_path / "runs", name))


def _in_thread(config, tmp_path, **kwargs):
    """``run_study`` in a thread (a test holds its trials meanwhile); its summary in ``done``."""
    done = {}

    def run():
        done["summary"] = run_study(config, runs_dir=tmp_path / "runs", progress=False,
                                    **kwargs)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def test_small_study_end_to_end(ray_local, tmp_path):
    config = write_study(tmp_path, "e2e", """
n_trials = 6
[space]
num_epochs = 4
learning_rate = { low = 1e-3, high = 1e-1, log = true }
hidden_size = { low = 16, high = 64 }
update_rule = "adam"
[pruner]
name = "none"
""")
    summary = run_study(config, runs_dir=tmp_path / "runs", progress=False)
    assert summary.n_complete == 6 and summary.n_failed == 0
    study = _load(tmp_path, "e2e")
    trials = study.get_trials()
    assert len(trials) == 6
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    for t in trials:
        attrs = t.user_attrs
        assert attrs[A.TRIAL_SEED] == trial_seed(3, t.number)
        assert attrs[A.TRIAL_EPOCHS_RUN] == 4
        assert attrs[A.TRIAL_NODE] and attrs[A.TRIAL_DURATION] > 0
        assert attrs[A.TRIAL_FINGERPRINT] == study.user_attrs[A.STUDY_FINGERPRINT]
        # the stored learning curve is the worker's, epoch for epoch
        assert [t.intermediate_values[e] for e in (1, 2, 3, 4)] == attrs[A.TRIAL_HISTORY]["val_acc"]
        assert t.value == max(attrs[A.TRIAL_HISTORY]["val_acc"])
    assert summary.best_value == max(t.value for t in trials) > 0.5
    assert study.user_attrs[A.STUDY_CONFIG_TEXT] == config.text


@pytest.mark.parametrize("in_flight", [1, 2])
def test_max_in_flight_is_a_hard_limit(ray_local, hold, tmp_path, in_flight):
    # 2 CPUs: with a window of 1 nothing may be queued behind the running trial (Ray would start
    # it on the free CPU); with the cluster's full width, one trial waits queued. The window's
    # first trials hold at their first epoch until all of them run, however fast a trial is
    # and however long a worker takes to start: the window is full at once, and what the driver
    # launched meanwhile is all it will ever have out at a time.
    config = write_study(tmp_path, f"window{in_flight}", """
n_trials = 6
[space]
num_epochs = 4
learning_rate = { low = 1e-3, high = 1e-1, log = true }
[pruner]
name = "none"
""", n_train=1000)
    hold.trial(*range(in_flight))
    thread, done = _in_thread(config, tmp_path, max_in_flight=in_flight)
    hold.wait_held(*range(in_flight), alive=thread.is_alive)
    launched = [t.number for t in _load(tmp_path, f"window{in_flight}").get_trials()]
    hold.release()
    thread.join(120)
    assert launched == list(range(in_flight if in_flight == 1 else in_flight + 1))
    summary = done["summary"]
    assert summary.n_complete == 6 and summary.max_in_flight == in_flight
    spans = sorted((t.user_attrs[A.TRIAL_STARTED_AT],
                    t.user_attrs[A.TRIAL_STARTED_AT] + t.user_attrs[A.TRIAL_DURATION])
                   for t in _load(tmp_path, f"window{in_flight}").get_trials())
    most = max(sum(start <= s < end for start, end in spans) for s, _ in spans)
    assert most == in_flight


def test_a_worker_fetches_each_study_dataset_once(ray_local, monkeypatch):
    # What a worker process does, done here: the cache is per process.
    import ray

    from hpsearch.execution import _task as dispatch

    first, second = ray.put({"X": [1, 2]}), ray.put({"X": [3]})
    real_get, fetched = ray.get, []

    def counting_get(ref):
        fetched.append(ref)
        return real_get(ref)

    monkeypatch.setattr(dispatch, "_DATASET", None)
    monkeypatch.setattr(dispatch.ray, "get", counting_get)
    data = [dispatch._dataset([ref]) for ref in (first, first, second, second, first)]
    monkeypatch.undo()
    assert data == [{"X": [1, 2]}, {"X": [1, 2]}, {"X": [3]}, {"X": [3]}, {"X": [1, 2]}]
    assert data[0] is data[1] and data[2] is data[3]
    assert fetched == [first, second, first]  # on first use and on each change of study


def test_resume_continues_toward_n_trials(ray_local, tmp_path):
    body = """
n_trials = {n}
[space]
num_epochs = 2
learning_rate = {{ low = 1e-3, high = 1e-1, log = true }}
[pruner]
name = "none"
"""
    first = write_study(tmp_path, "resume", body.format(n=3))
    run_study(first, runs_dir=tmp_path / "runs", progress=False)
    before = {t.number: t.value for t in _load(tmp_path, "resume").get_trials()}
    again = write_study(tmp_path, "resume", body.format(n=5))
    summary = run_study(again, runs_dir=tmp_path / "runs", progress=False)
    assert summary.n_complete == 2
    after = {t.number: t.value for t in _load(tmp_path, "resume").get_trials()}
    assert len(after) == 5
    assert {n: after[n] for n in before} == before


def test_grid_covers_its_grid_exactly(ray_local, tmp_path):
    config = write_study(tmp_path, "grid", """
[space]
num_epochs = 2
learning_rate = { grid = [1e-1, 1e-2, 1e-3] }
hidden_size = { grid = [16, 32] }
[sampler]
name = "grid"
[pruner]
name = "none"
""")
    assert config.n_trials == 6
    run_study(config, runs_dir=tmp_path / "runs", progress=False, max_in_flight=2)
    trials = _load(tmp_path, "grid").get_trials()
    seen = sorted(tuple(sorted(t.params.items())) for t in trials)
    expected = sorted(tuple(sorted(c.items()))
                      for c in grid_combinations(grid_search_space(config.space)))
    assert seen == expected


def test_pruning_reaches_workers_and_stops_them_within_one_epoch(ray_local, tmp_path):
    config = write_study(tmp_path, "prune", """
n_trials = 8
[space]
num_epochs = 60
hidden_size = 512
update_rule = "sgd"
learning_rate = { choices = [0.3, 1e-6] }
[sampler]
name = "random"
[pruner]
name = "median"
n_startup_trials = 2
n_warmup_steps = 2
""", n_train=1000)  # epochs of several ms: answers (about 1 ms away) arrive while training
    (tmp_path / "runs" / "prune").mkdir(parents=True)
    study = optuna.create_study(study_name="prune", direction="maximize",
                                storage=default_storage(tmp_path / "runs", "prune"))
    # Two good trials first, so the median has something to compare with; then hopeless ones.
    for lr in (0.3, 0.3, 1e-6, 1e-6, 1e-6):
        study.enqueue_trial({"learning_rate": lr})
    run_study(config, runs_dir=tmp_path / "runs", progress=False, max_in_flight=2)
    trials = _load(tmp_path, "prune").get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, [(t.number, t.state.name, t.params) for t in trials]
    for t in pruned:
        assert t.params["learning_rate"] == 1e-6
        decided = t.user_attrs[A.TRIAL_PRUNE_DECIDED_AT]
        stopped = t.user_attrs[A.TRIAL_PRUNED_AT]
        assert stopped == t.user_attrs[A.TRIAL_EPOCHS_RUN] < 60
        assert decided < stopped
        assert t.value == t.intermediate_values[stopped]


def test_diverging_trial_is_recorded_and_the_study_goes_on(ray_local, tmp_path):
    config = write_study(tmp_path, "diverge", """
[space]
num_epochs = 3
update_rule = "sgd"
weight_scale = 1.0
learning_rate = { grid = [1e6, 1e-2] }
[sampler]
name = "grid"
[pruner]
name = "none"
""")
    summary = run_study(config, runs_dir=tmp_path / "runs", progress=False)
    assert (summary.n_complete, summary.n_failed) == (1, 1)
    trials = {t.params["learning_rate"]: t for t in _load(tmp_path, "diverge").get_trials()}
    bad = trials[1e6]
    assert bad.state == TrialState.FAIL
    assert bad.user_attrs[A.TRIAL_FAILURE].startswith("diverged at iteration ")
    assert trials[1e-2].state == TrialState.COMPLETE


def test_a_second_driver_on_the_same_storage_is_refused_from_any_runs_dir(ray_local, tmp_path):
    from hpsearch.storage import StudyLockedError, open_for_writing

    config = write_study(tmp_path, "locked", """
n_trials = 1
[space]
learning_rate = { low = 1e-3, high = 1e-1 }
""")
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = open_for_writing(url, "locked", config.make_sampler(), config.make_pruner())
    try:
        with pytest.raises(StudyLockedError, match=r"being run by driver pid \d+ on host"):
            run_study(config, runs_dir=tmp_path / "other_runs", storage=url, progress=False)
        assert not (tmp_path / "other_runs").exists()  # refused before anything was written
    finally:
        first.close()
    summary = run_study(config, runs_dir=tmp_path / "other_runs", storage=url, progress=False)
    assert summary.n_complete == 1


def test_a_trial_over_its_time_limit_fails_with_its_reason(ray_local, hold, tmp_path):
    # A time limit stops a long trial; the study goes on to the next one. The long trial holds
    # at its first epoch until its limit has passed, however fast this machine trains; the short
    # one (one epoch) is let go as soon as it holds, far inside the limit even on a loaded core.
    limit_s = 3.0
    config = write_study(tmp_path, "errors", f"""
n_trials = 2
[space]
num_epochs = {{ grid = [400, 1] }}
learning_rate = 1e-2
[sampler]
name = "grid"
[pruner]
name = "none"
[run]
trial_timeout_s = {limit_s}
""", n_train=1000)
    hold.trial(0, 1)
    thread, done = _in_thread(config, tmp_path)
    held_since: dict[int, float] = {}

    def long_trial_past_its_limit() -> bool:
        held = hold.held()
        trials = {t.number: t for t in _load(tmp_path, "errors").get_trials()} if held else {}
        for n in held:
            if trials[n].params["num_epochs"] == 1:
                hold.release(n)
            else:
                held_since.setdefault(n, time.monotonic())
        return any(time.monotonic() > since + limit_s for since in held_since.values())

    wait_for(long_trial_past_its_limit, "the long trial held past its time limit",
             alive=thread.is_alive)
    hold.release()
    thread.join(120)
    summary = done["summary"]
    assert (summary.n_failed, summary.n_complete) == (1, 1)
    reasons = {t.params["num_epochs"]: t.user_attrs.get(A.TRIAL_FAILURE)
               for t in _load(tmp_path, "errors").get_trials()}
    assert reasons[400].startswith("timed out after")
    assert reasons[1] is None


def test_a_cnn_on_flat_data_is_refused_before_anything_runs(tmp_path):
    # It used to fail inside every worker; now the study file is refused, naming the key.
    from hpsearch.study import ConfigError

    with pytest.raises(ConfigError, match=r"\[space\] model: 'cnn' needs"):
        write_study(tmp_path, "cnnflat", """
[space]
model = "cnn"
learning_rate = { low = 1e-3, high = 1e-1 }
""")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("pruner", ["hyperband", "successive_halving", "percentile"])
def test_every_pruner_runs_on_workers(ray_local, tmp_path, pruner):
    # Hyperband decides in the driver (its brackets follow stored trial numbers); the others in
    # the pruning channel. Either way each trial ends complete or pruned with its whole curve.
    config = write_study(tmp_path, pruner, f"""
n_trials = 6
[space]
num_epochs = 12
learning_rate = {{ low = 1e-6, high = 1e-1, log = true }}
[pruner]
name = "{pruner}"
{"percentile = 50.0" if pruner == "percentile" else ""}
""")
    summary = run_study(config, runs_dir=tmp_path / "runs", progress=False)
    assert summary.n_complete + summary.n_pruned == 6 and summary.n_failed == 0
    for t in _load(tmp_path, pruner).get_trials():
        assert len(t.intermediate_values) == t.user_attrs[A.TRIAL_EPOCHS_RUN]
