"""What a trial costs (``TrialResult.costs``) and ``count_params``, known without training."""

from __future__ import annotations

import numpy as np
import pytest

import hpsearch.training as training
from hpsearch.datasets import load_dataset, with_folds
from hpsearch.study import resolve_params
from hpsearch.training import count_params, train_trial

FC = {"update_rule": "adam", "learning_rate": 0.01, "hidden_size": 24, "num_epochs": 3,
      "batch_size": 50}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0, n_train=200, n_val=60, n_test=60)


@pytest.fixture(scope="module")
def images():
    return load_dataset("digits", seed=0, n_train=120, n_val=40, n_test=40, flatten=False)


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"hidden_size": 24}, 64 * 24 + 24 + 24 * 10 + 10),
    # gamma and beta are learned; the running statistics (bn_params) are not parameters
    ({"hidden_size": 24, "normalization": "batchnorm"}, 64 * 24 + 24 + 2 * 24 + 24 * 10 + 10),
    ({"hidden_sizes": "16-8"}, 64 * 16 + 16 + 16 * 8 + 8 + 8 * 10 + 10),
], ids=["fc", "batchnorm", "two_layers"])
def test_count_params_counts_the_learnable_parameters(overrides, expected):
    assert count_params(resolve_params(overrides, {}), (64,), 10) == expected


def test_count_params_of_a_cnn():
    params = resolve_params({"model": "cnn", "num_conv_stages": 1, "num_filters": 4,
                             "filter_size": 3, "hidden_size": 12}, {})
    # conv 4 x (1 x 3 x 3) + 4; pooled 4 x 4 x 4 = 64 -> 12 -> 10
    assert count_params(params, (1, 8, 8), 10) == 4 * 9 + 4 + 64 * 12 + 12 + 12 * 10 + 10


def test_a_complete_trial_reports_its_costs(digits):
    params = resolve_params(FC, {})
    result = train_trial(params, digits, seed=3)
    assert result.state == "complete"
    assert set(result.costs) == {"n_params", "train_cpu_s", "epochs"}
    assert result.costs["n_params"] == count_params(params, (64,), 10)
    assert result.costs["epochs"] == result.epochs_run == 3
    assert result.costs["train_cpu_s"] > 0
    measured = train_trial(params, digits, seed=3, measure_inference=True)
    assert measured.costs["inference_ms"] > 0
    # Measuring changes no number of the trial.
    assert (measured.value, measured.history) == (result.value, result.history)


def test_pruned_and_cross_validated_trials_report_their_costs(digits, images):
    params = resolve_params(FC, {})
    pruned = train_trial(params, digits, seed=3, report=lambda e, v: e >= 2,
                         measure_inference=True)
    assert pruned.state == "pruned" and pruned.costs["epochs"] == pruned.epochs_run == 2
    assert pruned.costs["inference_ms"] > 0
    folded = train_trial(params, with_folds(digits, 3, seed=0), seed=3, measure_inference=True)
    assert folded.state == "complete" and folded.costs["epochs"] == folded.epochs_run == 9
    one = train_trial(params, with_folds(digits, 3, seed=0), seed=3,
                      report=lambda step, v: True)  # pruned after its first fold
    assert one.costs["epochs"] == 3 and one.costs["train_cpu_s"] < folded.costs["train_cpu_s"]
    cnn = resolve_params({"model": "cnn", "num_conv_stages": 1, "num_filters": 4,
                          "hidden_size": 12, "num_epochs": 1, "batch_size": 40}, {})
    result = train_trial(cnn, images, seed=3, measure_inference=True)
    assert result.costs["n_params"] == count_params(cnn, (1, 8, 8), 10)
    assert result.costs["inference_ms"] > 0


def test_a_failed_trial_has_no_costs(digits):
    result = train_trial(resolve_params(FC, {}), digits, seed=3, deadline=0.0)  # timed out
    assert result.state == "failed" and result.costs == {}


def test_inference_is_timed_three_times_over_at_most_2000_rows():
    from hpsearch.training import _trial

    class Model:
        def __init__(self):
            self.rows = []

        def loss(self, X):
            self.rows.append(len(X))
            return np.zeros((len(X), 2))

    model = Model()
    ms = _trial._inference_ms(model, np.zeros((4500, 3)))
    assert model.rows == [2000] * 3 and ms >= 0
    model.rows.clear()
    _trial._inference_ms(model, np.zeros((30, 3)))
    assert model.rows == [30] * 3


def test_the_face_offers_the_new_names():
    assert {"count_params", "TrialCheckpoint"} <= set(training.__all__)
    assert {"count_params", "TrialCheckpoint"} <= set(dir(training))
