"""Classification losses: ``loss(scores, y) -> (loss, dscores)``, averaged over the batch."""

from __future__ import annotations

import numpy as np

from netcore._common import _softmax_loss

__all__ = ["check_labels", "softmax_loss", "svm_loss"]


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
