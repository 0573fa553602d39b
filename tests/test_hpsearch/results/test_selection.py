"""Cross-validated trials, the estimate's uncertainty and ties, refit and ensemble, the report."""

from __future__ import annotations

import optuna
import pytest
from _studies import MOONS_SPACE, CountingDataset, build_study, make_config

import hpsearch.results._evaluate as ev
from hpsearch import _attrs as A
from hpsearch.datasets import load_dataset, with_folds
from hpsearch.report import write_report
from hpsearch.results import (
    TRIAL_FOLD_VALUES,
    EvaluationError,
    best_estimate,
    fold_values,
    load_ensemble,
    load_evaluation,
    trials_frame,
)
from hpsearch.study import resolve_params
from hpsearch.training import fit, train_trial

MOONS = 'name = "moons"\nn_samples = 400'


@pytest.fixture(scope="module")
def moons():
    return load_dataset("moons", n_samples=400, seed=0)


@pytest.fixture(scope="module")
def params():
    return resolve_params({"learning_rate": 0.02, "hidden_size": 16},
                          make_config("m", MOONS_SPACE, dataset=MOONS).space)


def test_a_folded_trial_reports_each_fold_as_one_step(moons, params):
    folded = with_folds(moons, 3, seed=0)
    calls = []
    result = train_trial(params, folded, seed=7, report=lambda s, v: calls.append((s, v)) and False)
    assert result.state == "complete"
    assert [s for s, _ in calls] == [1, 2, 3]
    assert result.fold_values == [v for _, v in calls] == result.history["val_acc"]
    assert result.value == pytest.approx(sum(result.fold_values) / 3)
    assert result.epochs_run == 3 * params["num_epochs"]
    # the same trial, the same numbers
    assert train_trial(params, folded, seed=7).fold_values == result.fold_values


def test_a_complete_folded_trial_keeps_each_rows_out_of_fold_probabilities(moons, params):
    import numpy as np

    folded = with_folds(moons, 3, seed=0)
    result = train_trial(params, folded, seed=7, keep_oof=True)
    probs = result.oof_probs
    n_pool = len(moons.y_train) + len(moons.y_val)
    assert probs.shape == (n_pool, moons.num_classes) and probs.dtype == np.float16
    assert np.allclose(probs.astype(np.float64).sum(axis=1), 1.0, atol=1e-2)  # every row filled
    y = np.concatenate([moons.y_train, moons.y_val])
    for fold, value in enumerate(result.fold_values):  # each row scored by the model of its fold
        held = folded.folds == fold
        accuracy = float((probs[held].argmax(axis=1) == y[held]).mean())
        assert accuracy == pytest.approx(value, abs=1.5 / held.sum())
    pruned = train_trial(params, folded, seed=7, report=lambda step, value: step == 1,
                         keep_oof=True)
    assert pruned.state == "pruned" and pruned.oof_probs is None
    unasked = train_trial(params, folded, seed=7)  # not asked for: not computed
    assert unasked.oof_probs is None and unasked.fold_values == result.fold_values


def test_out_of_fold_probabilities_round_trip_through_system_attrs(tmp_path):
    import numpy as np

    from hpsearch.storage import MAX_OOF_VALUES, oof_probs, set_oof_probs

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'o.db'}", direction="maximize")
    trial = study.ask()
    probs = np.random.default_rng(0).dirichlet(np.ones(4), size=50)
    set_oof_probs(study, trial, probs)
    study.tell(trial, 0.5)
    frozen = optuna.load_study(study_name=study.study_name,
                               storage=f"sqlite:///{tmp_path / 'o.db'}").trials[0]
    assert not frozen.user_attrs  # out of the dashboard's and the tables' way
    assert np.allclose(oof_probs(frozen), probs, atol=1e-3)
    too_many = study.ask()  # beyond the bound nothing is kept (and the ensemble goes unestimated)
    assert not set_oof_probs(study, too_many, np.zeros((MAX_OOF_VALUES // 10 + 1, 10)))
    study.tell(too_many, 0.4)
    assert "hpsearch:oof_probs" not in study.trials[1].system_attrs
    for junk in ({}, {"shape": [2, 2], "f2": "!!"}, {"shape": [3, 3], "f2": "AAAA"}, "x"):
        frozen.system_attrs["hpsearch:oof_probs"] = junk
        assert oof_probs(frozen) is None


def test_a_pruned_fold_trial_stops_before_its_next_fold(moons, params):
    folded = with_folds(moons, 4, seed=0)
    result = train_trial(params, folded, seed=7, report=lambda step, value: step == 2)
    assert result.state == "pruned" and result.pruned_at_epoch == 2
    assert len(result.fold_values) == 2 and result.epochs_run == 2 * params["num_epochs"]


def test_first_fold_pruning_stops_inside_the_first_fold(moons, params):
    folded = with_folds(moons, 3, seed=0)
    epochs, folds = [], []
    result = train_trial(params, folded, seed=7, report=lambda s, v: folds.append(s) and False,
                         epoch_report=lambda e, v: epochs.append((e, v)) or e == 3)
    assert result.state == "pruned" and result.pruned_at_epoch == 1
    assert result.epochs_run == 3 and result.fold_values == [] and folds == []
    assert [e for e, _ in epochs] == [1, 2, 3]
    assert result.first_fold_curve == [v for _, v in epochs]
    # Answered "go" throughout: every fold runs, and only the first fold's epochs are reported.
    epochs.clear()
    result = train_trial(params, folded, seed=7, epoch_report=lambda e, v: epochs.append(e))
    assert result.state == "complete" and len(result.fold_values) == 3
    assert epochs == list(range(1, params["num_epochs"] + 1))
    assert len(result.first_fold_curve) == params["num_epochs"]


def test_first_fold_mirror_reads_stored_curves_as_optuna_would(tmp_path):
    """The mirror of stored first folds decides as Optuna's MedianPruner on those curves."""
    from hpsearch.execution import PruneMirror

    study = optuna.create_study(direction="maximize", storage=f"sqlite:///{tmp_path / 's.db'}")
    curves = [[0.5, 0.6, 0.7, 0.8], [0.4, 0.5, 0.6, 0.7], [0.6, 0.7, 0.8, 0.9], [0.3, 0.3]]
    for curve in curves:  # three finished their first fold, the last was stopped inside it
        done = len(curve) == 4
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE if done else optuna.trial.TrialState.PRUNED,
            value=0.9 if done else None,
            user_attrs={A.TRIAL_FIRST_FOLD_CURVE: curve,
                        A.TRIAL_FOLD_VALUES: [0.9, 0.9] if done else []}))
    study.add_trial(optuna.trial.create_trial(value=0.8))  # no curve stored: left out
    mirror = PruneMirror.of_first_folds(
        study, optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2))
    # median of the three complete first folds at epoch 2 is 0.6
    assert mirror.report(100, 1, 0.1) is False  # warm-up
    assert mirror.report(100, 2, 0.55) is True
    assert mirror.report(101, 1, 0.9) is False
    assert mirror.report(101, 2, 0.65) is False


def test_fit_keep_last_keeps_the_last_epoch(moons, params):
    data = moons.as_solver_data()
    shape = tuple(moons.input_shape)
    model, solver = fit(params, data, shape, 2, seed=3, keep="last")
    assert (model.predict(moons.X_val) == moons.y_val).mean() == pytest.approx(
        solver.val_acc_history[-1])
    with pytest.raises(ValueError, match="keep"):
        fit(params, data, shape, 2, seed=3, keep="first")


def _cv_study(tmp_path, folds_by_trial):
    """A stored cross-validated study: one complete trial per list of fold values."""
    config = make_config("cv", MOONS_SPACE, dataset=MOONS)
    study = build_study(tmp_path / "db", config, [])
    for number, folds in enumerate(folds_by_trial):
        trial = study.ask({"learning_rate": optuna.distributions.FloatDistribution(
            5e-3, 5e-2, log=True), "hidden_size": optuna.distributions.CategoricalDistribution(
            [16, 32])})
        trial.set_user_attr(A.TRIAL_SEED, 100 + number)
        trial.set_user_attr(TRIAL_FOLD_VALUES, folds)
        for step, value in enumerate(folds, start=1):
            trial.report(value, step)
        study.tell(trial, sum(folds) / len(folds))
    return study, config


def test_best_estimate_interval_and_ties(tmp_path):
    study, config = _cv_study(tmp_path, [
        [0.97, 0.95, 0.97, 0.96, 0.96],  # 0: tied with the best (paired differences straddle 0)
        [0.96, 0.96, 0.97, 0.97, 0.96],  # 1: the best
        [0.80, 0.82, 0.81, 0.80, 0.83],  # 2: clearly worse
    ])
    chosen = best_estimate(study, config)
    assert chosen.trial == 1 and chosen.value == pytest.approx(0.964)
    assert chosen.low < chosen.value < chosen.high
    assert chosen.fold_values == (0.96, 0.96, 0.97, 0.97, 0.96)
    assert chosen.tied == (0,)
    assert "5 folds" in chosen.basis
    frame = trials_frame(study, config)
    assert frame.loc[1, "fold_values"] == "0.9600 0.9600 0.9700 0.9700 0.9600"


def test_fold_values_fall_back_on_reported_steps(tmp_path):
    study, _ = _cv_study(tmp_path, [[0.9, 0.8]])
    trial = study.trials[0]
    assert fold_values(trial) == [0.9, 0.8]
    del trial.user_attrs[TRIAL_FOLD_VALUES]
    assert fold_values(trial) is None  # single split, nothing known
    cv = type("C", (), {"selection": type("S", (), {"cross_validated": True})()})()
    assert fold_values(trial, cv) == [0.9, 0.8]


def test_single_split_estimate_uses_the_split_size(tmp_path, moons):
    config = make_config("one", MOONS_SPACE, dataset=MOONS)
    study = build_study(tmp_path / "db", config, ["complete"] * 4, fingerprint=moons.fingerprint)
    assert best_estimate(study, config).low is None
    chosen = best_estimate(study, config, n_val=80)
    assert chosen.low < chosen.value and "80 examples" in chosen.basis
    assert best_estimate(build_study(tmp_path / "e", config, ["failed"]), config) is None


def test_refit_and_ensemble_read_the_test_split_once(tmp_path, moons):
    text = make_config("cv", MOONS_SPACE, dataset=MOONS).text + (
        "\n[selection]\nfolds = 3\nensemble = 3\n")
    from hpsearch.study import parse_study_config

    config = parse_study_config(text)
    assert config.selection.refit
    study = build_study(tmp_path / "db", config, ["complete"] * 5, fingerprint=moons.fingerprint)
    counting = CountingDataset(moons)
    evaluation = ev.evaluate_best(study, config, counting, tmp_path, n_bootstrap=100)
    assert counting.test_reads == {"X_test": 1, "y_test": 1}
    assert evaluation.retrained.refit and evaluation.retrained.train_on_val
    ensemble = evaluation.ensemble
    assert len(ensemble.trials) == 3
    assert ensemble.trials[0] == evaluation.trial.number
    assert 0.0 <= ensemble.test.accuracy <= 1.0
    assert evaluation.gap == pytest.approx(evaluation.test.accuracy - evaluation.estimate.value)
    assert evaluation.estimate.n_tied is not None
    again = load_evaluation(tmp_path)
    assert again.ensemble.test == ensemble.test
    # the ensemble is kept: its models, loaded back, predict what was tested
    import numpy as np

    from hpsearch.training import predict_proba

    assert again.ensemble.models[0] == "model.npz" and len(again.ensemble.models) == 3
    models = load_ensemble(tmp_path)
    probs = np.mean([predict_proba(m, moons.X_test) for m in models], axis=0)
    assert float((probs.argmax(1) == moons.y_test).mean()) == ensemble.test.accuracy
    assert "gap" in evaluation.summary() and "ensemble of 3" in evaluation.summary()
    # the report sets the estimate beside the test result
    paths = write_report(study, config, tmp_path, evaluation=evaluation)
    html = paths.html.read_text()
    assert 'class="selection"' in html and "gap (test - estimate)" in html
    assert "ensemble of the top 3" in paths.markdown.read_text()
    assert (f"{evaluation.estimate.n_tied} of the 4 other complete trials"
            in paths.markdown.read_text())
    # trials without out-of-fold probabilities: no ensemble estimate, and the report says
    # against what its gap is taken
    assert ensemble.estimate is None and ensemble.gap is None
    assert "ensemble gap (test - the chosen trial's estimate)" in paths.markdown.read_text()


def test_without_selection_options_nothing_changes(tmp_path, moons):
    config = make_config("plain", MOONS_SPACE, dataset=MOONS)
    study = build_study(tmp_path / "db", config, ["complete"] * 3, fingerprint=moons.fingerprint)
    evaluation = ev.evaluate_best(study, config, moons, tmp_path, n_bootstrap=100)
    assert not evaluation.retrained.refit and not evaluation.retrained.train_on_val
    assert evaluation.ensemble is None and not (tmp_path / "best" / "ensemble").exists()
    with pytest.raises(EvaluationError, match="no evaluated ensemble"):
        load_ensemble(tmp_path)
    assert evaluation.estimate.value == evaluation.trial.val_accuracy
