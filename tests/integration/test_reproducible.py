"""[study] reproducible: the same study file gives the same trials and best on every run."""

from __future__ import annotations

import optuna
import pytest

from hpsearch.results import best_trial
from hpsearch.search import run_study
from hpsearch.storage import default_storage

from ._studies import write_study

BODY = """
n_trials = 10
reproducible = true
[space]
num_epochs = {{ low = 2, high = 12 }}
learning_rate = {{ low = 1e-3, high = 1e-1, log = true }}
hidden_size = {{ low = 16, high = 96 }}
[pruner]
name = "median"
n_startup_trials = 2
n_warmup_steps = 1
[run]
max_in_flight = {k}
"""


def _table(runs):
    study = optuna.load_study(study_name="rep", storage=default_storage(runs, "rep"))
    rows = [(t.number, t.state.name, t.params, t.value, dict(t.intermediate_values),
             t.user_attrs.get("first_fold_curve")) for t in study.get_trials()]
    return rows, best_trial(study).number


CV_BODY = """
n_trials = 12
reproducible = true
[space]
num_epochs = {{ low = 6, high = 10 }}
learning_rate = {{ low = 1e-4, high = 1e-1, log = true }}
hidden_size = {{ low = 16, high = 64 }}
[pruner]
name = "wilcoxon"
p_threshold = 0.7
[selection]
folds = 3
first_fold_pruning = true
ensemble = 2
[run]
max_in_flight = {k}
"""


@pytest.mark.parametrize(("body", "n_trials"), [(BODY, 10), (CV_BODY, 12)],
                         ids=["one-split-median", "folds-first-fold-wilcoxon"])
def test_two_runs_of_a_reproducible_study_give_identical_tables(ray_local, tmp_path, body,
                                                                 n_trials):
    # Trials of different lengths finish in a different order than they started; pruning and
    # TPE would see a different history on each run if results were told as they arrive. The
    # second study is the default's kind: folds, first-fold pruning (answers per epoch) and
    # Wilcoxon across folds (answers per fold); its first-fold curves must match too.
    config = write_study(tmp_path, "rep", body.format(k=2))
    tables = []
    for run in ("a", "b"):
        summary = run_study(config, runs_dir=tmp_path / run, progress=False)
        assert summary.n_complete + summary.n_pruned == n_trials and summary.n_failed == 0
        tables.append(_table(tmp_path / run))
    (rows_a, best_a), (rows_b, best_b) = tables
    assert rows_a == rows_b
    assert best_a == best_b
    if body is CV_BODY:
        assert any(row[1] == "PRUNED" for row in rows_a)  # the pruning was exercised


def _lagged(body: str) -> str:
    return body.replace("reproducible = true", "reproducible = true\nreproducible_lag = 3")


@pytest.mark.parametrize(("body", "n_trials"), [(BODY, 10), (CV_BODY, 12)],
                         ids=["one-split-median", "folds-first-fold-wilcoxon"])
def test_a_lagged_study_is_the_same_on_one_worker_or_two_whatever_the_timing(ray_local, hold,
                                                                              tmp_path, body,
                                                                              n_trials):
    # Run a: one trial at a time. Run b: two at once (and one queued), trial 1 held at its
    # first epoch until trial 3 has started, so trial 2 finishes before 1 does. With the lag
    # fixed, each trial still sees exactly the trials asked more than 3 before it. (Trial 3's
    # first-fold decisions wait for trial 1's first fold: trial 4 cannot start while 1 holds.)
    import threading

    from _trial_hold import wait_for

    tables = []
    for run, k in (("a", 1), ("b", 2)):
        (tmp_path / run).mkdir()
        config = write_study(tmp_path / run, "rep", _lagged(body).format(k=k))
        if run == "b":
            hold.trial(1, 3, from_step=1)
        done: dict[str, object] = {}
        thread = threading.Thread(target=lambda c=config, r=run, d=done: d.update(
            summary=run_study(c, runs_dir=tmp_path / r, progress=False)))
        thread.start()
        if run == "b":
            hold.wait_held(1)
            hold.wait_held(3)  # launched: trial 2 ended while 1 waits
            hold.release(1)
            wait_for(lambda: 1 not in hold.held(), "trial 1 to go on")
            hold.release(3)
        thread.join(timeout=600)
        assert not thread.is_alive()
        summary = done["summary"]
        assert summary.n_complete + summary.n_pruned == n_trials and summary.n_failed == 0
        tables.append(_table(tmp_path / run))
    (rows_a, best_a), (rows_b, best_b) = tables
    assert rows_a == rows_b
    assert best_a == best_b
    assert any(row[1] == "PRUNED" for row in rows_a)  # pruning decisions were compared too
