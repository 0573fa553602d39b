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
from hpsearch.results import EvaluationError, load_evaluation
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
    assert len(evaluation.seeds.runs) == 2


def test_retrains_the_best_trial_exactly_and_stores_model_and_metrics(study, moons, tmp_path):
    optuna_study, config = study
    evaluation = ev.evaluate_best(optuna_study, config, moons, tmp_path, n_bootstrap=300)
    best = max((t for t in optuna_study.get_trials() if t.state.name == "COMPLETE"),
               key=lambda t: t.value)
    assert evaluation.trial.number == best.number
    assert evaluation.trial.seed == best.user_attrs[A.TRIAL_SEED]
    params = resolve_params(best.params, config.space)
    assert evaluation.trial.params == params
    # The same training the search's worker does, with the trial's seed: same curve.
    again = train_trial(params, moons, evaluation.trial.seed)
    assert evaluation.retrained.history["val_acc"] == again.history["val_acc"]
    assert evaluation.retrained.history["loss"] == again.history["loss"]
    assert evaluation.retrained.val_accuracy == again.value

    metrics = json.loads((tmp_path / "best" / "metrics.json").read_text())
    assert metrics["layout"] == 2
    assert metrics["test"]["accuracy"] == evaluation.test.accuracy
    assert metrics["trial"]["number"] == best.number
    assert metrics["trial"]["dataset_fingerprint"] == moons.fingerprint
    model = netcore.load_model(tmp_path / "best" / "model.npz")
    predicted = model.predict(moons.X_test)
    assert np.mean(predicted == moons.y_test) == evaluation.test.accuracy
    confusion = np.array(evaluation.classes.confusion_matrix)
    assert confusion.sum() == evaluation.test.n == len(moons.y_test)
    assert np.trace(confusion) / confusion.sum() == pytest.approx(evaluation.test.accuracy)
    for c, acc in enumerate(evaluation.classes.accuracy):
        assert acc == pytest.approx(np.mean(predicted[moons.y_test == c] == c))
    assert evaluation.test.low <= evaluation.test.accuracy <= evaluation.test.high
    assert evaluation.test.low < evaluation.test.high

    loaded = load_evaluation(tmp_path)
    assert loaded.to_json() == evaluation.to_json()
    assert loaded.model_path == tmp_path / "best" / "model.npz"


def test_interval_is_seeded(study, moons, tmp_path):
    optuna_study, config = study
    first = ev.evaluate_best(optuna_study, config, moons, tmp_path / "a", n_bootstrap=200)
    second = ev.evaluate_best(optuna_study, config, moons, tmp_path / "b", n_bootstrap=200)
    assert first.test == second.test


def test_extra_seeds_mean_and_std(study, moons, tmp_path):
    optuna_study, config = study
    evaluation = ev.evaluate_best(optuna_study, config, moons, tmp_path, extra_seeds=3,
                                  n_bootstrap=50)
    seeds = [e["seed"] for e in evaluation.seeds.runs]
    assert len({*seeds, evaluation.trial.seed}) == 4
    accs = [evaluation.test.accuracy] + [e["test_accuracy"] for e in evaluation.seeds.runs]
    assert evaluation.seeds.mean == pytest.approx(np.mean(accs))
    assert evaluation.seeds.std == pytest.approx(np.std(accs, ddof=1))
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
    assert evaluation.retrained.train_on_val


def test_no_complete_trial_is_a_clear_error(moons, tmp_path):
    config = make_config("failures", MOONS_SPACE, dataset=MOONS)
    study = build_study(tmp_path, config, ["failed", "pruned"], fingerprint=moons.fingerprint)
    with pytest.raises(EvaluationError, match="no complete trial"):
        ev.evaluate_best(study, config, moons, tmp_path)
    assert not (tmp_path / "best").exists()


def test_other_data_is_refused(study, tmp_path):
    optuna_study, config = study
    other = load_dataset("moons", n_samples=400, seed=1)
    with pytest.raises(EvaluationError, match="searched on dataset"):
        ev.evaluate_best(optuna_study, config, other, tmp_path)


def test_load_evaluation_without_one(tmp_path):
    assert load_evaluation(tmp_path) is None
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "metrics.json").write_text("{not json")
    with pytest.raises(EvaluationError, match="not a readable evaluation"):
        load_evaluation(tmp_path)


# A metrics.json as versions before the nested layout wrote it (flat keys; trimmed history).
FLAT_METRICS = {
    "study": "cv", "trial_number": 1, "val_accuracy": 0.885, "retrained_val_accuracy": 0.9,
    "seed": 1001, "params": {"model": "fc", "learning_rate": 0.0175, "hidden_size": 32},
    "train_on_val": True, "dataset_fingerprint": "3bb62fa292f25fef", "n_test": 80,
    "test_accuracy": 0.9125, "ci_low": 0.8625, "ci_high": 0.944, "n_bootstrap": 20,
    "class_names": ["0", "1"], "per_class_accuracy": [0.914, 0.911],
    "confusion_matrix": [[32, 3], [4, 41]],
    "history": {"loss": [0.51, 0.32], "train_acc": [0.85, 0.87], "val_acc": [0.86, 0.89]},
    "input_shape": [2], "image_shape": None,
    "extra_seeds": [{"seed": 422405834, "test_accuracy": 0.9}], "seed_mean": 0.90625,
    "seed_std": 0.0088, "refit": True, "estimate": 0.885, "estimate_low": 0.495,
    "estimate_high": 1.0, "estimate_from": "mean of 4 folds ± t(3) x SE of their spread",
    "fold_values": [0.34, 0.71, 0.84, 0.88], "n_tied": 0, "gap": 0.0275,
    "ensemble_trials": [1, 2], "ensemble_test_accuracy": 0.9, "ensemble_ci_low": 0.85,
    "ensemble_ci_high": 0.93, "ensemble_estimate": 0.87, "ensemble_estimate_low": 0.84,
    "ensemble_estimate_high": 0.9, "ensemble_gap": 0.03,
    "ensemble_models": ["model.npz", "ensemble/trial-2.npz"],
    "created": "2026-12-07T10:01:42+00:00",
}


def _write_metrics(run_dir, data):
    (run_dir / "best").mkdir(parents=True)
    (run_dir / "best" / "metrics.json").write_text(json.dumps(data))


def test_flat_metrics_of_earlier_versions_are_still_read(tmp_path):
    _write_metrics(tmp_path, FLAT_METRICS)
    loaded = load_evaluation(tmp_path)
    assert (loaded.trial.number, loaded.trial.seed) == (1, 1001)
    assert loaded.trial.params == FLAT_METRICS["params"]
    assert loaded.retrained.refit and loaded.retrained.val_accuracy == 0.9
    assert (loaded.test.accuracy, loaded.test.low, loaded.test.high) == (0.9125, 0.8625, 0.944)
    assert loaded.test.n == 80 and loaded.classes.confusion_matrix == [[32, 3], [4, 41]]
    assert loaded.estimate.value == 0.885 and loaded.estimate.n_tied == 0
    assert loaded.gap == pytest.approx(0.9125 - 0.885)
    assert loaded.seeds.runs[0]["seed"] == 422405834 and loaded.seeds.mean == 0.90625
    assert loaded.ensemble.trials == [1, 2] and loaded.ensemble.test.accuracy == 0.9
    assert loaded.ensemble.estimate.accuracy == 0.87 and loaded.ensemble.estimate.n is None
    assert loaded.ensemble.gap == pytest.approx(0.03)
    assert loaded.model_path is None  # no model.npz beside it
    assert "0.9125 (95% CI 0.8625-0.9440, n=80) for trial 1" in loaded.summary()
    # Written again, it is in the nested layout, and reads back the same.
    again = loaded.to_json()
    assert again["layout"] == 2 and "test_accuracy" not in again
    (tmp_path / "best" / "metrics.json").write_text(json.dumps(again))
    assert load_evaluation(tmp_path).to_json() == again


@pytest.mark.parametrize("data, detail", [
    ({**FLAT_METRICS, "colour": "red"}, "unknown keys ['colour']"),
    ({k: v for k, v in FLAT_METRICS.items() if k != "ci_low"}, "missing 'ci_low'"),
    ({"layout": 3, "study": "cv"}, "layout 3"),
])
def test_unreadable_metrics_name_the_file_and_the_command(tmp_path, data, detail):
    run_dir = tmp_path / "cv"
    _write_metrics(run_dir, data)
    with pytest.raises(EvaluationError) as caught:
        load_evaluation(run_dir)
    message = str(caught.value)
    assert "\n" not in message and detail in message
    assert message.startswith(f"{run_dir / 'best' / 'metrics.json'}: not a readable evaluation")
    assert message.endswith("run `hpsearch best cv` again")
