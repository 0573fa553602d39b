"""Classification losses: ``loss(scores, y) -> (loss, dscores)``, averaged over the batch."""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["check_labels", "softmax_loss", "svm_loss"]

# Below this row sum (relative to 1 for the row holding the global max) the global-max shift
# loses precision to underflow, and softmax falls back to per-row shifts.
_TINY_SUM = {"f": 1e-25, "d": 1e-250, "e": 1e-3, "g": 1e-250}


def check_labels(y: np.ndarray, n: int, num_classes: int, name: str = "y") -> np.ndarray:
    """Return ``y`` as an integer array after checking its shape and range.

    Args:
        y: Labels, expected of shape (n,) with integer values in ``[0, num_classes)``.
        n: Expected number of labels.
        num_classes: Number of classes.
        name: How to call ``y`` in error messages.

    Raises:
        ValueError: Naming the bad shape, dtype or label and what was expected.
    """
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} has shape {y.shape}; expected ({n},), one label per input row")
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "b" or not np.array_equal(y, np.round(y)):
            raise ValueError(f"{name} has dtype {y.dtype}; expected integer class labels")
        y = y.astype(np.intp)
    # One reduction: viewed as unsigned, negative labels become huge.
    if n and y.view(y.dtype.str.replace("i", "u")).max() >= num_classes:
        lo, hi = y.min(), y.max()
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{name} holds label {bad}; expected labels in [0, {num_classes - 1}]")
    return y


def softmax_loss(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy, numerically stable for large scores.

    Args:
        x: Scores of shape (N, C).
        y: Labels of shape (N,), integers in ``[0, C)``.

    Returns:
        The mean loss over N and ``dx`` of shape (N, C).
    """
    n, c = x.shape
    y = check_labels(y, n, c)
    return _softmax_loss(x, y)


@functools.lru_cache(maxsize=32)
def _row_constants(n: int, c: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    # Per-shape constants of the hot path, made once: the flat index of each row's first
    # element and a vector of n's (probs @ it gives N * row sums through BLAS).
    base = np.arange(0, n * c, c)
    n_vec = np.full(c, n, dtype=dtype)
    base.flags.writeable = n_vec.flags.writeable = False
    return base, n_vec


def _softmax_loss(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    # Unchecked core: labels already validated by the caller. Written for the training hot
    # path, where N and C are small and each NumPy call's overhead dominates: reductions along
    # short rows are slow in NumPy, so row sums go through BLAS (x @ n_vec) and the shift is
    # the global max, with a fallback to per-row shifts when a row would underflow.
    n, c = x.shape
    base, n_vec = _row_constants(n, c, x.dtype)
    flat = base + y  # flat index of each row's correct class
    shifted = x - x.max()  # new array: x is never written
    picked = float(shifted.take(flat).sum())
    probs = np.exp(shifted, out=shifted)
    sums_n = probs @ n_vec  # N * row sums, (N,)
    if sums_n.min() < _TINY_SUM[probs.dtype.char] * n:
        shifted = x - x.max(axis=1, keepdims=True)
        picked = float(shifted.take(flat).sum())
        probs = np.exp(shifted, out=shifted)
        sums_n = probs @ n_vec
    loss = (float(np.log(sums_n).sum()) - picked) / n - math.log(n)
    probs /= sums_n[:, None]  # softmax / N
    probs.ravel()[flat] -= 1.0 / n
    return loss, probs


def svm_loss(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Multiclass SVM (hinge) loss with margin 1.

    Args:
        x: Scores of shape (N, C).
        y: Labels of shape (N,), integers in ``[0, C)``.

    Returns:
        The mean loss over N and ``dx`` of shape (N, C).
    """
    n, c = x.shape
    y = check_labels(y, n, c)
    rows = np.arange(n)
    margins = x - x[rows, y][:, None]
    margins += 1.0
    np.maximum(margins, 0, out=margins)
    margins[rows, y] = 0
    loss = margins.sum() / n
    dx = (margins > 0).astype(x.dtype)
    dx[rows, y] -= dx.sum(axis=1)
    dx /= n
    return float(loss), dx
