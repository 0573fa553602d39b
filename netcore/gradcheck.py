"""Numeric gradient checks, shipped with the library as in CS231n.

Centered differences ``(f(x + h) - f(x - h)) / 2h``, evaluated one element at a time by
perturbing ``x`` in place (so the function under test must read ``x`` on every call, as
netcore's models read ``self.params``). Use float64 inputs: float32 cannot resolve ``h = 1e-5``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["eval_numerical_gradient", "eval_numerical_gradient_array", "rel_error"]


def eval_numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, verbose: bool = False, h: float = 1e-5
) -> np.ndarray:
    """Numeric gradient of a scalar function at ``x``.

    Args:
        f: Function of one array argument returning a scalar.
        x: Point at which to evaluate the gradient; perturbed in place and restored.
        verbose: Print each index and its gradient estimate.
        h: Step of the centered difference.

    Returns:
        An array shaped like ``x`` holding ``df/dx``.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        fxph = f(x)
        x[ix] = old - h
        fxmh = f(x)
        x[ix] = old
        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Numeric gradient of ``sum(f(x) * df)`` for an array-valued ``f``.

    This is the backward pass of ``f`` with upstream gradient ``df``, estimated numerically.

    Args:
        f: Function of one array argument returning an array shaped like ``df``.
        x: Input array; perturbed in place and restored.
        df: Upstream gradient, shaped like ``f(x)``.
        h: Step of the centered difference.

    Returns:
        An array shaped like ``x``.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old - h
        neg = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def rel_error(x: np.ndarray | float, y: np.ndarray | float) -> float:
    """Maximum elementwise relative error ``|x - y| / max(1e-8, |x| + |y|)``."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))
