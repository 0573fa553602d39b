"""Seeded train/val/test index splits, optionally stratified by class."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

__all__ = ["split_indices"]


def split_indices(y: np.ndarray, sizes: Sequence[int], rng: np.random.Generator,
                  stratify: bool = False) -> list[np.ndarray]:
    """Draw disjoint index sets of the given sizes from ``range(len(y))``.

    Parts are drawn in order from one permutation: the first part depends only on ``y``, the
    rng state and its own size, so growing or shrinking a later part (say ``n_train``) leaves
    the earlier ones (test, validation) unchanged.

    Args:
        y: ``(N,)`` labels (used only when stratifying).
        sizes: size of each part; their sum must not exceed N (checked by the caller).
        rng: the generator; the same state gives the same parts, bit for bit.
        stratify: keep each part's class proportions those of ``y`` (largest-remainder rounding).

    Returns:
        One sorted int64 index array per part (sorted: rows are then read in file order).
    """
    if not stratify:
        perm = rng.permutation(len(y))
        bounds = np.cumsum([0, *sizes])
        return [np.sort(perm[a:b]) for a, b in itertools.pairwise(bounds)]

    classes, y_idx = np.unique(y, return_inverse=True)
    by_class = [rng.permutation(np.flatnonzero(y_idx == c)) for c in range(len(classes))]
    available = np.array([len(m) for m in by_class], dtype=np.int64)
    taken = np.zeros_like(available)
    parts: list[list[np.ndarray]] = [[] for _ in sizes]
    for p, size in enumerate(sizes):
        counts = _allocate(size, available - taken)
        for c, members in enumerate(by_class):
            parts[p].append(members[taken[c]:taken[c] + counts[c]])
        taken += counts
    return [np.sort(np.concatenate(part)).astype(np.int64, copy=False) for part in parts]


def _allocate(size: int, available: np.ndarray) -> np.ndarray:
    """Split ``size`` over classes in proportion to ``available`` without exceeding it."""
    total = int(available.sum())
    if size == 0 or total == 0:
        return np.zeros_like(available)
    quota = available * (size / total)
    counts = np.floor(quota).astype(np.int64)
    # Largest remainders get the leftover examples; a class with a remainder has quota < its
    # availability, so one more never overdraws it. Stable sort: ties go to lower class index.
    order = np.argsort(-(quota - counts), kind="stable")
    counts[order[: size - int(counts.sum())]] += 1
    return counts
