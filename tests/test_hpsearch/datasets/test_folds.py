"""Stratified, seeded k-fold assignment over the non-test data (``with_folds``)."""

from __future__ import annotations

import numpy as np
import pytest

from hpsearch.datasets import DatasetError, FoldedDataset, fold_ids, load_dataset, with_folds


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0, n_train=400, n_val=100, n_test=100)


def test_fold_ids_are_stratified_balanced_and_seeded():
    y = np.repeat(np.arange(4), [10, 7, 13, 5])
    folds = fold_ids(y, 3, seed=1)
    assert folds.shape == y.shape and set(folds) == {0, 1, 2}
    sizes = np.bincount(folds)
    assert sizes.max() - sizes.min() <= 1
    for c in range(4):  # each class spread over the folds to within one example
        per_fold = np.bincount(folds[y == c], minlength=3)
        assert per_fold.max() - per_fold.min() <= 1
    np.testing.assert_array_equal(folds, fold_ids(y, 3, seed=1))
    assert not np.array_equal(folds, fold_ids(y, 3, seed=2))


@pytest.mark.parametrize("k", [-1, 21, 100])
def test_fold_ids_refuse_bad_k(k):
    with pytest.raises(DatasetError, match="folds"):
        fold_ids(np.arange(50) % 5, k, seed=0)


def test_with_folds_shares_arrays_and_keeps_test_out(digits):
    folded = with_folds(digits, 5, seed=0)
    assert isinstance(folded, FoldedDataset) and folded.n_folds == 5
    assert folded.X_train is digits.X_train and folded.X_test is digits.X_test
    assert folded.fingerprint == digits.fingerprint
    assert len(folded.folds) == len(digits.y_train) + len(digits.y_val)
    held = []
    for f in range(5):
        data = folded.fold_data(f)
        assert len(data["y_train"]) + len(data["y_val"]) == 500
        held.append(data["X_val"])
    # every non-test row is held out exactly once
    pooled = np.concatenate(held)
    assert len(pooled) == 500
    assert len(np.unique(pooled, axis=0)) == len(np.unique(folded.X_pool, axis=0))
    with pytest.raises(ValueError, match="fold"):
        folded.fold_data(5)


@pytest.mark.parametrize("k", [0, 1])
def test_no_folds_returns_the_dataset(digits, k):
    assert with_folds(digits, k, seed=0) is digits


def test_load_dataset_option_folds():
    folded = load_dataset("moons", n_samples=200, seed=3, folds=4)
    assert isinstance(folded, FoldedDataset) and folded.n_folds == 4
    assert load_dataset("moons", n_samples=200, seed=3).fingerprint == folded.fingerprint
    with pytest.raises(DatasetError, match="folds") as err:
        load_dataset("moons", n_samples=200, seed=3, folds=0)
    assert err.value.key == "folds"
