"""Stratified k-fold assignment over the non-test data, for cross-validated selection.

Small datasets select badly on one validation split: on digits' 300 validation examples the top
ten configurations of a study sit within one or two examples of each other. ``with_folds`` gives a
``Dataset`` fold indices over train + validation; the worker then trains fold by fold (each fold
held out once) and the study's value is the mean over folds. The test split is never in a fold.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hpsearch.datasets._base import Dataset, DatasetError

__all__ = ["MAX_FOLDS", "fold_ids", "with_folds"]

MAX_FOLDS = 20


def fold_ids(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """A fold number in ``[0, k)`` for each label, stratified by class and seeded.

    Each class's members are shuffled with ``np.random.default_rng([seed, k])`` and dealt round
    the folds in turn, continuing where the previous class stopped, so every fold gets each
    class's share to within one example and fold sizes differ by at most one.

    Args:
        y: ``(N,)`` class labels.
        k: number of folds, 2 <= k <= N.
        seed: the study seed.

    Returns:
        ``(N,)`` int64 fold numbers.

    Raises:
        DatasetError: k outside [2, min(N, MAX_FOLDS)].
    """
    y = np.asarray(y)
    if not 2 <= k <= min(len(y), MAX_FOLDS):
        raise DatasetError(f"folds = {k!r}: expected an integer in [2, {min(len(y), MAX_FOLDS)}] "
                           f"for {len(y)} training and validation examples", key="folds")
    rng = np.random.default_rng([seed, k])
    folds = np.empty(len(y), dtype=np.int64)
    offset = 0
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        folds[members] = (offset + np.arange(len(members))) % k
        offset = (offset + len(members)) % k
    return folds


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class FoldedDataset(Dataset):
    """A ``Dataset`` whose train + validation rows are also split into k folds.

    Attributes:
        folds: ``(N_train + N_val,)`` fold number of each row of ``X_pool`` (train rows first).
    """

    folds: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0, np.int64))

    @property
    def n_folds(self) -> int:
        """Number of folds."""
        return int(self.folds.max()) + 1

    @property
    def X_pool(self) -> np.ndarray:
        """Train and validation inputs, train first (a new array each call)."""
        return np.concatenate([self.X_train, self.X_val])

    @property
    def y_pool(self) -> np.ndarray:
        """Their labels."""
        return np.concatenate([self.y_train, self.y_val])

    def fold_data(self, fold: int) -> dict[str, np.ndarray]:
        """Solver data for one fold: the other folds train, ``fold`` validates.

        Args:
            fold: in ``[0, n_folds)``.
        """
        if not 0 <= fold < self.n_folds:
            raise ValueError(f"fold = {fold!r}; expected an integer in [0, {self.n_folds})")
        X, y = self.X_pool, self.y_pool
        held = self.folds == fold
        return {"X_train": X[~held], "y_train": y[~held], "X_val": X[held], "y_val": y[held]}

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", folds={self.n_folds})"


def with_folds(dataset: Any, k: int, seed: int) -> Any:
    """``dataset`` with ``k`` stratified folds over its train + validation rows.

    The arrays are shared, not copied; the test split stays out of every fold. ``k`` of 0 or 1
    means no cross-validation: the dataset comes back unchanged. The fingerprint is unchanged:
    the folds are a function of the data, ``k`` and the seed, both recorded with the study.

    Args:
        dataset: a ``Dataset``.
        k: number of folds (0 or 1: none).
        seed: the study seed.

    Raises:
        DatasetError: k larger than the examples allow or than ``MAX_FOLDS``.
    """
    if k in (0, 1):
        return dataset
    fields = {f.name: getattr(dataset, f.name) for f in dataclasses.fields(Dataset)}
    folds = fold_ids(np.concatenate([dataset.y_train, dataset.y_val]), k, seed)
    folds.flags.writeable = False
    return FoldedDataset(**fields, folds=folds)
