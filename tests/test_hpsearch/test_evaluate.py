"""The best configuration, tested once: retraining, one read of the test split, stored metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _studies import MOONS_SPACE, CountingDataset, build_study, make_config

import hpsearch.results._evaluate as ev
import hpsearch.training
import netcore
from hpsearch import _attrs as A
from hpsearch.datasets import load_dataset
from hpsearch.study import resolve_params
from hpsearch.training import train_trial

MOONS = 'name = "moons"\nn_samples = 400'


@pytest.fixture(scope="module")
def moons():
    return load_dataset("moons", n_samples=400, seed=0)


@pytest.fixture()
def study(tmp_path, moons):
    config = make_config("moons", MOONS_SPACE, dataset=MOONS)
    return build_study(tmp_path / "db", config, ["complete", "pruned", "complete", "failed"],
                       fingerprint=moons.fingerprint), config


def test_test_split_read_exactly_once(study, moons, tmp_path, monkeypatch):
    optuna_study, config = study
    calls = []
    real = ev._score_on_test
    monkeypatch.setattr(ev, "_score_on_test", lambda *a: calls.append(1) or real(*a))
    counting = CountingDataset(moons)
    evaluation = ev.evaluate_best(optuna_study, config, counting, tmp_path, extra_seeds=2,
                                  n_bootstrap=200)
    assert len(calls) == 1
    assert counting.test_reads == {"X_test": 1, "y_test": 1}
    assert len(evaluation.extra_seeds) == 2


def test_retrains_the_best_trial_exactly_and_stores_model_and_metrics(study, moons, tmp_path):
    optuna_study, config = study
    evaluation = ev.evaluate_best(optuna_study, config, moons, tmp_path, n_bootstrap=300)
    best = max((t for t in optuna_study.get_trials() if t.state.name == "COMPLETE"),
               key=lambda t: t.value)
    assert evaluation.trial_number == best.number
    assert evaluation.seed == best.user_attrs[A.TRIAL_SEED]
    params = resolve_params(best.params, config.space)
    assert evaluation.params == params
    # The same training the search's worker does, with the trial's seed: same curve.
    again = train_trial(params, moons, evaluation.seed)
    assert evaluation.history["val_acc"] == again.history["val_acc"]
    assert evaluation.history["loss"] == again.history["loss"]
    assert evaluation.retrained_val_accuracy == again.value

    metrics = json.loads((tmp_path / "best" / "metrics.json").read_text())
    assert metrics["test_accuracy"] == evaluation.test_accuracy
    assert metrics["trial_number"] == best.number
    assert metrics["dataset_fingerprint"] == moons.fingerprint
    model = netcore.load_model(tmp_path / "best" / "model.npz")
    predicted = model.predict(moons.X_test)
    assert np.mean(predicted == moons.y_test) == evaluation.test_accuracy
    confusion = np.array(evaluation.confusion_matrix)
    assert confusion.sum() == evaluation.n_test == len(moons.y_test)
    assert np.trace(confusion) / confusion.sum() == pytest.approx(evaluation.test_accuracy)
    for c, acc in enumerate(evaluation.per_class_accuracy):
        assert acc == pytest.approx(np.mean(predicted[moons.y_test == c] == c))
    assert evaluation.ci_low <= evaluation.test_accuracy <= evaluation.ci_high
    assert evaluation.ci_low < evaluation.ci_high

    loaded = ev.load_evaluation(tmp_path)
    assert loaded.to_json() == evaluation.to_json()
    assert loaded.model_path == tmp_path / "best" / "model.npz"


def test_interval_is_seeded(study, moons, tmp_path):
    optuna_study, config = study
    first = ev.evaluate_best(optuna_study, config, moons, tmp_path / "a", n_bootstrap=200)
    second = ev.evaluate_best(optuna_study, config, moons, tmp_path / "b", n_bootstrap=200)
    assert (first.ci_low, first.ci_high) == (second.ci_low, second.ci_high)
    assert first.test_accuracy == second.test_accuracy


def test_extra_seeds_mean_and_std(study, moons, tmp_path):
    optuna_study, config = study
    evaluation = ev.evaluate_best(optuna_study, config, moons, tmp_path, extra_seeds=3,
                                  n_bootstrap=50)
    seeds = [e["seed"] for e in evaluation.extra_seeds]
    assert len({*seeds, evaluation.seed}) == 4
    accs = [evaluation.test_accuracy] + [e["test_accuracy"] for e in evaluation.extra_seeds]
    assert evaluation.seed_mean == pytest.approx(np.mean(accs))
    assert evaluation.seed_std == pytest.approx(np.std(accs, ddof=1))
    assert "over 4 seeds" in evaluation.summary()


def test_train_on_val_trains_on_both_splits(study, moons, tmp_path, monkeypatch):
    optuna_study, config = study
    sizes = []
    real = hpsearch.training.fit
    monkeypatch.setattr(hpsearch.training, "fit",
                        lambda params, data, *a, **k: sizes.append(len(data["y_train"]))
                        or real(params, data, *a, **k))
    evaluation = ev.evaluate_best(optuna_study, config, moons, tmp_path, train_on_val=True,
                                  n_bootstrap=50)
    assert sizes == [len(moons.y_train) + len(moons.y_val)]
    assert evaluation.train_on_val


def test_no_complete_trial_is_a_clear_error(moons, tmp_path):
    config = make_config("failures", MOONS_SPACE, dataset=MOONS)
    study = build_study(tmp_path, config, ["failed", "pruned"], fingerprint=moons.fingerprint)
    with pytest.raises(ev.EvaluationError, match="no complete trial"):
        ev.evaluate_best(study, config, moons, tmp_path)
    assert not (tmp_path / "best").exists()


def test_other_data_is_refused(study, tmp_path):
    optuna_study, config = study
    other = load_dataset("moons", n_samples=400, seed=1)
    with pytest.raises(ev.EvaluationError, match="searched on dataset"):
        ev.evaluate_best(optuna_study, config, other, tmp_path)


def test_load_evaluation_without_one(tmp_path):
    assert ev.load_evaluation(tmp_path) is None
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "metrics.json").write_text("{not json")
    with pytest.raises(ev.EvaluationError, match="not a readable evaluation"):
        ev.load_evaluation(tmp_path)
