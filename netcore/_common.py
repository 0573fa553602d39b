"""Private helpers shared by netcore's modules: argument checks, dtype casts, the loss core.

Nothing here is public API; the modules that need these import them from here, so that no
module reaches into another's private names.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

#: Named weight initializations: standard deviation as a function of (fan_in, fan_out).
INIT_SCHEMES = {
    "he": lambda fan_in, fan_out: np.sqrt(2.0 / fan_in),
    "xavier": lambda fan_in, fan_out: np.sqrt(2.0 / (fan_in + fan_out)),
}
#: Allowed values of a model's ``normalization`` argument.
NORMALIZATIONS = (None, "batchnorm")
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} = {value!r}; expected a positive integer")
    return int(value)


def _check_dropout(value: Any, name: str = "dropout") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} = {value!r}; expected a drop probability in [0, 1)")
    return float(value)


def _as_dtype(X: Any, dtype: np.dtype) -> np.ndarray:
    """X as an array of ``dtype``: no copy when it already is one; X itself is never written."""
    X = np.asarray(X)
    if X.dtype != dtype:
        if X.dtype.kind not in "fiub":
            raise ValueError(f"X has dtype {X.dtype}; expected a numeric array")
        X = X.astype(dtype)
    return X


def _check_common(reg: Any, weight_scale: Any, dtype: Any, seed: Any) -> np.dtype:
    """Check the constructor arguments every model shares; returns the parameter dtype."""
    if isinstance(reg, bool) or not isinstance(reg, int | float) or not 0 <= reg < np.inf:
        raise ValueError(f"reg = {reg!r}; expected a finite number >= 0")
    if isinstance(weight_scale, str):
        if weight_scale not in INIT_SCHEMES:
            raise ValueError(
                f"weight_scale = {weight_scale!r}; expected a positive float or one of "
                f"{sorted(INIT_SCHEMES)}"
            )
    elif not isinstance(weight_scale, int | float) or not 0 < weight_scale < np.inf:
        raise ValueError(f"weight_scale = {weight_scale!r}; expected a positive float")
    try:
        checked = np.dtype(dtype)
    except TypeError:
        checked = None
    if checked not in _DTYPES:
        raise ValueError(f"dtype = {dtype!r}; expected float32 or float64")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise ValueError(f"seed = {seed!r}; expected an int or None")
    return checked


# --- the softmax loss core ----------------------------------------------------------------

# Below this row sum (relative to 1 for the row holding the global max) the global-max shift
# loses precision to underflow, and softmax falls back to per-row shifts.
_TINY_SUM = {"f": 1e-25, "d": 1e-250, "e": 1e-3, "g": 1e-250}


@functools.lru_cache(maxsize=32)
def _row_constants(n: int, c: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    # Per-shape constants of the hot path, made once: the flat index of each row's first
    # element and a vector of n's (probs @ it gives N * row sums through BLAS).
    base = np.arange(0, n * c, c)
    n_vec = np.full(c, n, dtype=dtype)
    base.flags.writeable = n_vec.flags.writeable = False
    return base, n_vec


def _softmax_loss(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Softmax loss and ``dx`` without checking ``y`` (the caller has validated the labels).

    Written for the training hot path, where N and C are small and each NumPy call's overhead
    dominates: reductions along short rows are slow in NumPy, so row sums go through BLAS
    (x @ n_vec) and the shift is the global max, with a fallback to per-row shifts when a row
    would underflow.
    """
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
