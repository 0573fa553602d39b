"""Layers as forward/backward pairs in the conventions of CS231n.

Every ``*_forward`` returns ``(out, cache)`` and its ``*_backward`` takes ``(dout, cache)``.
Shapes are in the docstrings. Nothing here writes into its inputs: ``x`` may be a read-only
array (for example one living in Ray's object store).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "affine_backward",
    "affine_bn_relu_backward",
    "affine_bn_relu_forward",
    "affine_forward",
    "affine_relu_backward",
    "affine_relu_forward",
    "batchnorm_backward",
    "batchnorm_forward",
    "dropout_backward",
    "dropout_forward",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "relu_backward",
    "relu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "tanh_backward",
    "tanh_forward",
]

_MODES = ("train", "test")
_BN_KEYS = frozenset({"mode", "eps", "momentum", "running_mean", "running_var"})
_DROPOUT_KEYS = frozenset({"mode", "p", "seed", "rng"})


# --- affine -------------------------------------------------------------------------------


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Fully connected layer ``x @ w + b``.

    Args:
        x: Input of shape (N, d_1, ..., d_k), flattened to (N, D) with D = d_1 * ... * d_k.
        w: Weights of shape (D, M).
        b: Biases of shape (M,).

    Returns:
        ``out`` of shape (N, M) and the cache ``(x, w)``.
    """
    out = x.reshape(x.shape[0], -1) @ w  # (N, D) @ (D, M) -> (N, M)
    out += b
    return out, (x, w)


def affine_backward(
    dout: np.ndarray, cache: tuple, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Backward pass of :func:`affine_forward`.

    Args:
        dout: Upstream gradient of shape (N, M).
        cache: ``(x, w)`` from the forward pass.
        need_dx: False skips ``dx`` (returned as None): a model's first layer, whose input is
            the data, saves its largest product that way.

    Returns:
        ``dx`` shaped like ``x``, ``dw`` of shape (D, M) and ``db`` of shape (M,).
    """
    x, w = cache
    dx = (dout @ w.T).reshape(x.shape) if need_dx else None  # (N, M) @ (M, D) -> (N, D)
    dw = x.reshape(x.shape[0], -1).T @ dout  # (D, N) @ (N, M) -> (D, M)
    return dx, dw, dout.sum(axis=0)


# --- activations --------------------------------------------------------------------------


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise ``max(x, 0)``; the cache is ``x``."""
    return np.maximum(x, 0), x


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Backward pass of :func:`relu_forward` (gradient 0 where ``x <= 0``)."""
    return dout * (cache > 0)


def leaky_relu_forward(x: np.ndarray, alpha: float = 0.01) -> tuple[np.ndarray, tuple]:
    """Elementwise ``x if x > 0 else alpha * x``; the cache is ``(x, alpha)``."""
    return np.where(x > 0, x, alpha * x), (x, alpha)


def leaky_relu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`leaky_relu_forward`."""
    x, alpha = cache
    return np.where(x > 0, dout, alpha * dout)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise ``tanh(x)``; the cache is the output."""
    out = np.tanh(x)
    return out, out


def tanh_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Backward pass of :func:`tanh_forward`: ``dout * (1 - tanh(x)**2)``."""
    return dout * (1 - cache * cache)


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise logistic sigmoid, stable for large ``|x|``; the cache is the output."""
    # 0.5 * (1 + tanh(x / 2)) equals 1 / (1 + exp(-x)) and never overflows.
    out = np.tanh(x * 0.5)
    out += 1
    out *= 0.5
    return out, out


def sigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Backward pass of :func:`sigmoid_forward`: ``dout * s * (1 - s)``."""
    return dout * cache * (1 - cache)


#: Activation name -> (forward, backward). Forward takes ``x`` only (leaky ReLU uses its
#: default slope); backward takes ``(dout, cache)``.
ACTIVATIONS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "tanh": (tanh_forward, tanh_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
}


# --- dropout ------------------------------------------------------------------------------


def _check_keys(param: dict, known: frozenset, name: str) -> None:
    if unknown := param.keys() - known:
        raise ValueError(
            f"{name}: unknown keys {sorted(unknown)}; expected some of {sorted(known)}"
        )


def _check_mode(param: dict, name: str) -> str:
    mode = param.get("mode")
    if mode not in _MODES:
        raise ValueError(f"{name}['mode'] = {mode!r}; expected one of {list(_MODES)}")
    return mode


def dropout_forward(x: np.ndarray, dropout_param: dict) -> tuple[np.ndarray, tuple]:
    """Inverted dropout.

    **p is the probability of dropping a unit** (CS231n 2019 used the keep probability under
    the same name). Kept units are scaled by ``1 / (1 - p)`` in training so that test mode is
    the identity and the expected activation is unchanged.

    Args:
        x: Input of any shape.
        dropout_param: ``{"mode": "train" | "test", "p": float in [0, 1), "seed": int,
            "rng": np.random.Generator}``. ``rng`` (if given and not None) draws the mask, so
            a Solver's generator drives dropout reproducibly; otherwise ``seed`` (if given)
            makes the mask the same on every call (for gradient checks, as in CS231n);
            otherwise a fresh generator is used.

    Returns:
        ``out`` shaped like ``x`` and the cache ``(dropout_param, mask)`` (``mask`` is None when
        nothing is dropped).
    """
    _check_keys(dropout_param, _DROPOUT_KEYS, "dropout_param")
    mode = _check_mode(dropout_param, "dropout_param")
    p = dropout_param.get("p", 0.0)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout_param['p'] = {p!r}; expected a drop probability in [0, 1)")
    if mode == "test" or p == 0.0:
        return x, (dropout_param, None)
    rng = dropout_param.get("rng")
    if rng is None:
        rng = np.random.default_rng(dropout_param.get("seed"))
    draw_dtype = np.float32 if x.dtype == np.float32 else np.float64
    draw = rng.random(x.shape, dtype=draw_dtype)
    if draw.dtype == x.dtype:  # the mask overwrites the draw: no further temporaries
        mask = np.greater_equal(draw, p, out=draw)  # 1.0 where kept, 0.0 where dropped
    else:
        mask = (draw >= p).astype(x.dtype)
    mask *= 1.0 / (1.0 - p)
    return x * mask, (dropout_param, mask)


def dropout_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`dropout_forward`."""
    _, mask = cache
    return dout if mask is None else dout * mask


# --- batch normalization ------------------------------------------------------------------


def batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict
) -> tuple[np.ndarray, tuple | None]:
    """Batch normalization over the first axis.

    In train mode the batch mean and (biased) variance normalize ``x`` and update the running
    statistics ``running = momentum * running + (1 - momentum) * batch``; in test mode the
    running statistics normalize ``x``.

    Args:
        x: Input of shape (N, D).
        gamma: Scale of shape (D,).
        beta: Shift of shape (D,).
        bn_param: ``{"mode": "train" | "test", "eps": 1e-5, "momentum": 0.9,
            "running_mean": (D,), "running_var": (D,)}``; the running statistics start at
            zeros and ones and are stored back into ``bn_param``.

    Returns:
        ``out`` of shape (N, D) and the cache for :func:`batchnorm_backward` (None in test mode).
    """
    _check_keys(bn_param, _BN_KEYS, "bn_param")
    mode = _check_mode(bn_param, "bn_param")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    d = x.shape[1]
    running_mean = bn_param.get("running_mean")
    if running_mean is None:
        running_mean = np.zeros(d, dtype=x.dtype)
    running_var = bn_param.get("running_var")
    if running_var is None:
        running_var = np.ones(d, dtype=x.dtype)

    if mode == "train":
        mu = x.mean(axis=0)
        xc = x - mu
        var = np.einsum("nd,nd->d", xc, xc) / x.shape[0]
        std = np.sqrt(var + eps)
        xhat = xc
        xhat /= std  # xc is a fresh array: normalize it in place
        out = xhat * gamma
        out += beta
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
        return out, (xhat, gamma, std)

    bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    scale = gamma / np.sqrt(running_var + eps)
    out = x * scale
    out += beta - running_mean * scale
    return out, None


def batchnorm_backward(
    dout: np.ndarray, cache: tuple | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`batchnorm_forward` in train mode.

    Uses the simplified closed form
    ``dx = (N * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)) / (N * std)``.

    Returns:
        ``dx`` of shape (N, D), ``dgamma`` and ``dbeta`` of shape (D,).
    """
    if cache is None:
        raise ValueError("batchnorm_backward needs a cache from a forward pass in 'train' mode")
    xhat, gamma, std = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.einsum("nd,nd->d", dout, xhat)
    # dxhat = dout * gamma; its column sums are gamma * dbeta and gamma * dgamma.
    dx = dout * (gamma * n)
    dx -= gamma * dbeta
    dx -= xhat * (gamma * dgamma)
    dx *= 1.0 / (n * std)
    return dx, dgamma, dbeta


# --- sandwich layers ----------------------------------------------------------------------


def affine_relu_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Affine followed by ReLU."""
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`affine_relu_forward`: ``(dx, dw, db)``."""
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


def affine_bn_relu_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict
) -> tuple[np.ndarray, tuple]:
    """Affine, batch normalization, ReLU."""
    a, fc_cache = affine_forward(x, w, b)
    an, bn_cache = batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (fc_cache, bn_cache, relu_cache)


def affine_bn_relu_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    """Backward pass of :func:`affine_bn_relu_forward`: ``(dx, dw, db, dgamma, dbeta)``."""
    fc_cache, bn_cache, relu_cache = cache
    dan, dgamma, dbeta = batchnorm_backward(relu_backward(dout, relu_cache), bn_cache)
    dx, dw, db = affine_backward(dan, fc_cache)
    return dx, dw, db, dgamma, dbeta
