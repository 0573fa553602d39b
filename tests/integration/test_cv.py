"""A cross-validated study end to end on a real local Ray: folds reach the workers through the
dataset, each fold is one reported step, Wilcoxon prunes across folds, refit and ensemble test."""

from __future__ import annotations

import pytest

from hpsearch.results import after_search, trials_frame
from hpsearch.search import run_study
from hpsearch.study import find_study, parse_study_config

STUDY = """# cross-validated test study
[study]
name = "cv"
seed = 1
n_trials = 8

[dataset]
name = "moons"
n_samples = 300

[space]
learning_rate = { low = 1e-4, high = 5e-2, log = true }
hidden_size = { choices = [4, 16] }
update_rule = "adam"
num_epochs = 4
batch_size = 32

[sampler]
name = "random"

[pruner]
name = "wilcoxon"
p_threshold = 0.3

[selection]
folds = 3
ensemble = 2
"""


@pytest.mark.usefixtures("ray_local")
def test_cross_validated_study_end_to_end(tmp_path):
    config = parse_study_config(STUDY, tmp_path / "cv.toml")
    dataset = config.load_data()
    assert dataset.n_folds == 3  # the study file's [selection] folds reached the dataset
    summary = run_study(config, runs_dir=tmp_path, progress=False, dataset=dataset)
    assert summary.n_complete + summary.n_pruned + summary.n_failed == 8
    assert summary.n_failed == 0
    stored = find_study("cv", tmp_path)
    frame = trials_frame(stored.study, config)
    complete = frame[frame["state"] == "complete"]
    for trial in stored.study.trials:
        steps = sorted(trial.intermediate_values)
        assert steps == list(range(1, len(steps) + 1)) and len(steps) <= 3
        if trial.state.name == "COMPLETE":
            assert len(steps) == 3
            assert trial.value == pytest.approx(sum(trial.intermediate_values.values()) / 3)
    assert complete["fold_values"].notna().all()
    done = after_search(stored, dataset, write_report=True)
    evaluation = done.evaluation
    assert evaluation.retrained.refit and len(evaluation.estimate.fold_values) == 3
    assert evaluation.estimate.value == pytest.approx(summary.best_value)
    if summary.n_complete >= 2:
        assert len(evaluation.ensemble.trials) == 2
    # Complete trials kept their out-of-fold probabilities; the ensemble is estimated from them.
    import numpy as np

    from hpsearch.storage import oof_probs

    y = np.concatenate([dataset.y_train, dataset.y_val])
    kept = {t.number: oof_probs(t) for t in stored.study.trials}
    for t in stored.study.trials:
        assert (kept[t.number] is not None) == (t.state.name == "COMPLETE")
    if summary.n_complete >= 2:
        ensemble = evaluation.ensemble
        mean = np.mean([kept[n] for n in ensemble.trials], axis=0)
        assert ensemble.estimate.accuracy == pytest.approx(float((mean.argmax(1) == y).mean()))
        assert ensemble.estimate.n == len(y)
        assert ensemble.gap == pytest.approx(ensemble.test.accuracy - ensemble.estimate.accuracy)
        assert ensemble.estimate.low <= ensemble.estimate.accuracy <= ensemble.estimate.high
    html = done.report.html.read_text()
    assert "gap (test - estimate)" in html
    if summary.n_complete >= 2:
        assert "ensemble gap (test - its estimate)" in html
    # The refit learned from every non-test example: no held-out validation score to show.
    assert "not held out (the retrained model learned from it)" in html


FIRST_FOLD = STUDY.replace('name = "cv"', 'name = "cv-first"').replace(
    "n_trials = 8", "n_trials = 16").replace(
    "learning_rate = { low = 1e-4, high = 5e-2, log = true }",
    "learning_rate = { low = 1e-6, high = 5e-2, log = true }").replace(
    "num_epochs = 4", "num_epochs = 10").replace(
    'name = "wilcoxon"\np_threshold = 0.3', 'name = "none"').replace(
    "ensemble = 2", "first_fold_pruning = true")


@pytest.mark.usefixtures("ray_local")
def test_first_fold_pruning_stops_hopeless_trials_inside_their_first_fold(tmp_path):
    config = parse_study_config(FIRST_FOLD, tmp_path / "cv-first.toml")
    assert config.selection.first_fold_pruning
    dataset = config.load_data()
    summary = run_study(config, runs_dir=tmp_path, progress=False, dataset=dataset)
    assert summary.n_failed == 0 and summary.n_complete + summary.n_pruned == 16
    trials = find_study("cv-first", tmp_path).study.trials
    curves = [t.user_attrs["first_fold_curve"] for t in trials]
    assert all(curves)  # every trial stored its first fold's curve
    inside = [t for t in trials if t.state.name == "PRUNED"]
    assert inside, "learning rates down to 1e-6 leave some first folds below the median"
    for t in inside:  # stopped inside fold 1, after the warm-up: no fold value, a short curve
        assert t.user_attrs["fold_values"] == [] and not t.intermediate_values
        assert 5 <= t.user_attrs["epochs_run"] == len(t.user_attrs["first_fold_curve"]) <= 10
    for t in trials:
        if t.state.name == "COMPLETE":
            assert len(t.user_attrs["fold_values"]) == 3
            assert len(t.user_attrs["first_fold_curve"]) == 10
    # Resumed, the mirror is rebuilt from the stored curves and the study goes on.
    more = run_study(config, runs_dir=tmp_path, n_trials=20, progress=False, dataset=dataset)
    assert more.n_complete + more.n_pruned == 4 and more.n_failed == 0
