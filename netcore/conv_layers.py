"""Convolutional layers as forward/backward pairs in the conventions of CS231n.

Images are (N, C, H, W) and filters (F, C, HH, WW) at the public interface. Inside, a
convolution works on channels-last (N, H, W, C) data: its im2col matrix then copies rows of
``WW * C`` contiguous values at a time (several times faster than the short ``W``-long rows of
the channels-first layout) and its output (N * H' * W', F) comes straight out of one matrix
product. The sandwich helpers keep the convolution output channels-last through ReLU and
pooling and transpose only the (4x smaller) pooled result.

No Python loop runs over samples or pixels: im2col is one copy from a strided window view,
col2im and pooling loop over the ``HH * WW`` kernel offsets (25 for a 5x5 filter) with strided
slices. Nothing here writes into its inputs: ``x`` may be read-only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from netcore.layers import batchnorm_backward, batchnorm_forward

__all__ = [
    "conv_backward",
    "conv_bn_relu_pool_backward",
    "conv_bn_relu_pool_forward",
    "conv_forward",
    "conv_relu_backward",
    "conv_relu_forward",
    "conv_relu_pool_backward",
    "conv_relu_pool_forward",
    "max_pool_backward",
    "max_pool_forward",
    "spatial_batchnorm_backward",
    "spatial_batchnorm_forward",
]

_CONV_KEYS = frozenset({"stride", "pad"})
_POOL_KEYS = frozenset({"pool_height", "pool_width", "stride"})


# --- parameter checks ---------------------------------------------------------------------


def _int_param(param: dict, key: str, name: str, minimum: int, default: int | None = None) -> int:
    value = param.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}[{key!r}] = {value!r}; expected an integer >= {minimum}")
    return int(value)


def _check_keys(param: dict, known: frozenset, name: str) -> None:
    if not isinstance(param, dict):
        raise ValueError(f"{name} = {param!r}; expected a dict with keys {sorted(known)}")
    if unknown := param.keys() - known:
        raise ValueError(
            f"{name}: unknown keys {sorted(unknown)}; expected some of {sorted(known)}"
        )


def _conv_params(conv_param: dict) -> tuple[int, int]:
    _check_keys(conv_param, _CONV_KEYS, "conv_param")
    return (
        _int_param(conv_param, "stride", "conv_param", 1, default=1),
        _int_param(conv_param, "pad", "conv_param", 0, default=0),
    )


def _pool_params(pool_param: dict) -> tuple[int, int, int]:
    _check_keys(pool_param, _POOL_KEYS, "pool_param")
    ph = _int_param(pool_param, "pool_height", "pool_param", 1, default=2)
    pw = _int_param(pool_param, "pool_width", "pool_param", 1, default=2)
    return ph, pw, _int_param(pool_param, "stride", "pool_param", 1, default=2)


def _out_size(size: int, window: int, stride: int, what: str) -> int:
    if size < window:
        raise ValueError(f"{what}: a window of {window} does not fit an extent of {size}")
    return (size - window) // stride + 1


# --- convolution --------------------------------------------------------------------------


def _im2col(
    x: np.ndarray, hh: int, ww: int, stride: int, pad: int, out_hw: tuple[int, int], dtype: Any
) -> np.ndarray:
    """Channels-last im2col: (N, C, H, W) -> (N * H' * W', HH * WW * C), rows (n, h', w')."""
    n, c, h, wd = x.shape
    h_out, w_out = out_hw
    # Zero-padded channels-last copy of x, (N, H + 2p, W + 2p, C): small next to the columns.
    xh = np.zeros((n, h + 2 * pad, wd + 2 * pad, c), dtype=dtype)
    xh[:, pad : pad + h, pad : pad + wd, :] = x.transpose(0, 2, 3, 1)
    # Window view (N, H'', W'', C, HH, WW) -> (N, H', W', HH, WW, C); the trailing (WW, C)
    # pair is contiguous in xh, so the copy moves WW * C values per inner step.
    windows = sliding_window_view(xh, (hh, ww), axis=(1, 2))[:, ::stride, ::stride]
    cols = np.empty((n, h_out, w_out, hh, ww, c), dtype=dtype)
    np.copyto(cols, windows.transpose(0, 1, 2, 4, 5, 3))
    return cols.reshape(n * h_out * w_out, hh * ww * c)


def _col2im(
    dcols: np.ndarray,
    x_shape: tuple[int, ...],
    hh: int,
    ww: int,
    stride: int,
    pad: int,
    out_hw: tuple[int, int],
) -> np.ndarray:
    """Sum column gradients (HH * WW * C, N * H' * W') back into an input gradient (N, C, H, W).

    The rows come in (HH, WW, C) order, so each kernel offset's block is a (C, N, H', W')
    array that adds into the padded gradient with rows of W' contiguous values: one strided
    add per offset (25 for a 5x5 filter) instead of a scatter element by element.
    """
    n, c, h, wd = x_shape
    h_out, w_out = out_hw
    blocks = dcols.reshape(hh, ww, c, n, h_out, w_out)
    dx_pad = np.zeros((c, n, h + 2 * pad, wd + 2 * pad), dtype=dcols.dtype)
    h_span, w_span = stride * (h_out - 1) + 1, stride * (w_out - 1) + 1
    for i in range(hh):
        for j in range(ww):
            dx_pad[:, :, i : i + h_span : stride, j : j + w_span : stride] += blocks[i, j]
    dx = dx_pad[:, :, pad : pad + h, pad : pad + wd].transpose(1, 0, 2, 3)
    return np.ascontiguousarray(dx)


def _conv_forward_2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict
) -> tuple[np.ndarray, tuple[int, int], tuple]:
    """Convolution with a channels-last result.

    Returns:
        ``out`` of shape (N * H' * W', F) (rows in (n, h', w') order), ``(H', W')`` and the
        cache for :func:`_conv_backward_2d`.
    """
    stride, pad = _conv_params(conv_param)
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
        raise ValueError(
            f"x has shape {x.shape} and w {w.shape}; expected (N, C, H, W) and (F, C, HH, WW) "
            "with the same C"
        )
    _, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    if b.shape != (f,):
        raise ValueError(f"b has shape {b.shape}; expected ({f},)")
    h_out = _out_size(h + 2 * pad, hh, stride, f"conv height {h} + 2 * pad {pad}")
    w_out = _out_size(wd + 2 * pad, ww, stride, f"conv width {wd} + 2 * pad {pad}")

    cols = _im2col(x, hh, ww, stride, pad, (h_out, w_out), np.result_type(x, w))
    w_cols = w.transpose(2, 3, 1, 0).reshape(hh * ww * c, f)  # (HH * WW * C, F), tiny copy
    out = cols @ w_cols  # (N * H' * W', K) @ (K, F)
    out += b
    return out, (h_out, w_out), (x.shape, cols, w, stride, pad, (h_out, w_out))


def _conv_backward_2d(
    dout: np.ndarray, cache: tuple, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Backward pass of :func:`_conv_forward_2d`.

    Args:
        dout: Upstream gradient of shape (N * H' * W', F), C-contiguous.
        cache: From the forward pass.
        need_dx: Skip the input gradient (the first layer of a net never needs it).

    Returns:
        ``dx`` of shape (N, C, H, W) (None unless ``need_dx``), ``dw`` (F, C, HH, WW), ``db``.
    """
    x_shape, cols, w, stride, pad, (h_out, w_out) = cache
    c = x_shape[1]
    f, _, hh, ww = w.shape
    dw = (cols.T @ dout).reshape(hh, ww, c, f).transpose(3, 2, 0, 1)  # (K, NP) @ (NP, F)
    db = np.ones(dout.shape[0], dtype=dout.dtype) @ dout  # column sums through BLAS
    if not need_dx:
        return None, np.ascontiguousarray(dw), db

    w_rows = w.transpose(2, 3, 1, 0).reshape(hh * ww * c, f)
    dcols = w_rows @ dout.T  # (K, F) @ (F, N * H' * W')
    dx = _col2im(dcols, x_shape, hh, ww, stride, pad, (h_out, w_out))
    return dx, np.ascontiguousarray(dw), db


def _nhwc_to_nchw(out2d: np.ndarray, n: int, hw: tuple[int, int]) -> np.ndarray:
    return np.ascontiguousarray(out2d.reshape(n, *hw, -1).transpose(0, 3, 1, 2))


def _nchw_to_rows(dout: np.ndarray) -> np.ndarray:
    # (N, F, H', W') -> C-contiguous (N * H' * W', F)
    return np.ascontiguousarray(dout.transpose(0, 2, 3, 1)).reshape(-1, dout.shape[1])


def conv_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict
) -> tuple[np.ndarray, tuple]:
    """Convolution (cross-correlation, as in CS231n) with stride and zero padding.

    Args:
        x: Input of shape (N, C, H, W).
        w: Filters of shape (F, C, HH, WW).
        b: Biases of shape (F,).
        conv_param: ``{"stride": int >= 1 (default 1), "pad": int >= 0 (default 0)}``.

    Returns:
        ``out`` of shape (N, F, H', W') with ``H' = (H + 2 * pad - HH) // stride + 1`` (rows
        that the stride does not reach are ignored; likewise W') and the cache.

    Raises:
        ValueError: For mismatched shapes, unknown keys or a filter larger than the padded input.
    """
    out2d, hw, cache = _conv_forward_2d(x, w, b, conv_param)
    return _nhwc_to_nchw(out2d, x.shape[0], hw), cache


def conv_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_forward`.

    Args:
        dout: Upstream gradient of shape (N, F, H', W').
        cache: From :func:`conv_forward`.

    Returns:
        ``dx`` (N, C, H, W), ``dw`` (F, C, HH, WW) and ``db`` (F,).
    """
    dx, dw, db = _conv_backward_2d(_nchw_to_rows(dout), cache)
    return dx, dw, db


# --- max pooling --------------------------------------------------------------------------


def _window_slices(
    shape: tuple[int, ...], axes: tuple[int, int], ph: int, pw: int, stride: int
) -> tuple[tuple[int, int], list[tuple[slice, ...]]]:
    """Output size and, per window offset (row-major), the strided slice that offset reads."""
    h_out = _out_size(shape[axes[0]], ph, stride, f"pool height {shape[axes[0]]}")
    w_out = _out_size(shape[axes[1]], pw, stride, f"pool width {shape[axes[1]]}")
    h_span, w_span = stride * (h_out - 1) + 1, stride * (w_out - 1) + 1
    slices = []
    for i in range(ph):
        for j in range(pw):
            index = [slice(None)] * len(shape)
            index[axes[0]] = slice(i, i + h_span, stride)
            index[axes[1]] = slice(j, j + w_span, stride)
            slices.append(tuple(index))
    return (h_out, w_out), slices


def _max_pool_forward(
    x: np.ndarray, ph: int, pw: int, stride: int, axes: tuple[int, int]
) -> tuple[np.ndarray, tuple]:
    _, slices = _window_slices(x.shape, axes, ph, pw, stride)
    out = x[slices[0]].copy()
    for index in slices[1:]:
        np.maximum(out, x[index], out=out)
    return out, (x, out, ph, pw, stride, axes)


def _max_pool_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    # Each window's gradient goes to its first maximum in row-major order (as an argmax
    # would), even when several entries tie: ``remaining`` marks the windows not yet served.
    x, out, ph, pw, stride, axes = cache
    (h_out, w_out), slices = _window_slices(x.shape, axes, ph, pw, stride)
    overlapping = stride < ph or stride < pw
    # Windows that tile x exactly write every entry of dx once: no need to zero it first.
    tiled = stride == ph == pw and (h_out * ph, w_out * pw) == (x.shape[axes[0]], x.shape[axes[1]])
    dx = (np.empty_like if tiled else np.zeros_like)(x, dtype=dout.dtype)
    remaining = None
    last = len(slices) - 1
    for k, index in enumerate(slices):
        if k == last:
            hit = remaining if remaining is not None else np.ones(out.shape, dtype=bool)
        else:
            hit = x[index] == out
            if remaining is None:
                remaining = ~hit
            else:
                hit &= remaining
                remaining ^= hit  # hit is a subset of remaining: clear the windows it served
        if overlapping:
            dx[index] += dout * hit
        else:
            np.multiply(dout, hit, out=dx[index])
    return dx


def max_pool_forward(x: np.ndarray, pool_param: dict) -> tuple[np.ndarray, tuple]:
    """Max pooling over spatial windows.

    Args:
        x: Input of shape (N, C, H, W).
        pool_param: ``{"pool_height": int, "pool_width": int, "stride": int}`` (each >= 1,
            default 2).

    Returns:
        ``out`` of shape (N, C, H', W') with ``H' = (H - pool_height) // stride + 1`` (likewise
        W') and the cache.
    """
    ph, pw, stride = _pool_params(pool_param)
    if x.ndim != 4:
        raise ValueError(f"x has shape {x.shape}; expected (N, C, H, W)")
    return _max_pool_forward(x, ph, pw, stride, (2, 3))


def max_pool_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`max_pool_forward`.

    Each window's gradient goes to its maximum; when several entries of a window tie, to the
    first of them in row-major order (as PyTorch's argmax indices do).

    Args:
        dout: Upstream gradient of shape (N, C, H', W').
        cache: From :func:`max_pool_forward`.

    Returns:
        ``dx`` of shape (N, C, H, W).
    """
    return _max_pool_backward(dout, cache)


# --- spatial batch normalization ----------------------------------------------------------


def spatial_batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict
) -> tuple[np.ndarray, tuple | None]:
    """Batch normalization per channel, over the batch and both spatial axes.

    Args:
        x: Input of shape (N, C, H, W).
        gamma: Scale of shape (C,).
        beta: Shift of shape (C,).
        bn_param: As for :func:`netcore.layers.batchnorm_forward` (running statistics of
            shape (C,)).

    Returns:
        ``out`` of shape (N, C, H, W) and the cache (None in test mode).
    """
    if x.ndim != 4:
        raise ValueError(f"x has shape {x.shape}; expected (N, C, H, W)")
    rows, cache = batchnorm_forward(_nchw_to_rows(x), gamma, beta, bn_param)
    n, _, h, w = x.shape
    return _nhwc_to_nchw(rows, n, (h, w)), cache


def spatial_batchnorm_backward(
    dout: np.ndarray, cache: tuple | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`spatial_batchnorm_forward` in train mode.

    Returns:
        ``dx`` of shape (N, C, H, W), ``dgamma`` and ``dbeta`` of shape (C,).
    """
    n, _, h, w = dout.shape
    drows, dgamma, dbeta = batchnorm_backward(_nchw_to_rows(dout), cache)
    return _nhwc_to_nchw(drows, n, (h, w)), dgamma, dbeta


# --- sandwich layers ----------------------------------------------------------------------


def conv_relu_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict
) -> tuple[np.ndarray, tuple]:
    """Convolution followed by ReLU; ``out`` of shape (N, F, H', W')."""
    out2d, hw, conv_cache = _conv_forward_2d(x, w, b, conv_param)
    np.maximum(out2d, 0, out=out2d)  # out2d is fresh: ReLU in place
    return _nhwc_to_nchw(out2d, x.shape[0], hw), (conv_cache, out2d)


def conv_relu_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_relu_forward`: ``(dx, dw, db)``."""
    conv_cache, relu_out = cache
    drows = np.empty(relu_out.shape, dtype=dout.dtype)  # (N * H' * W', F), never a view of dout
    n, f, h, w = dout.shape
    np.multiply(
        dout.transpose(0, 2, 3, 1),
        (relu_out > 0).reshape(n, h, w, f),
        out=drows.reshape(n, h, w, f),
    )
    dx, dw, db = _conv_backward_2d(drows, conv_cache)
    return dx, dw, db


def _conv_norm_relu_pool_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    conv_param: dict,
    pool_param: dict,
    bn: tuple[np.ndarray, np.ndarray, dict] | None,
) -> tuple[np.ndarray, tuple]:
    # ReLU and max pooling commute (both monotone), so the ReLU runs on the pooled values:
    # 1/4 of the work for 2x2 pooling, with the same output and the same gradient.
    ph, pw, stride = _pool_params(pool_param)
    out2d, (h_out, w_out), conv_cache = _conv_forward_2d(x, w, b, conv_param)
    bn_cache = None
    if bn is not None:
        out2d, bn_cache = batchnorm_forward(out2d, *bn)
    nhwc = out2d.reshape(x.shape[0], h_out, w_out, -1)
    pooled, pool_cache = _max_pool_forward(nhwc, ph, pw, stride, (1, 2))  # (N, H'', W'', F)
    out = np.empty((pooled.shape[0], pooled.shape[3], *pooled.shape[1:3]), dtype=pooled.dtype)
    np.maximum(pooled.transpose(0, 3, 1, 2), 0, out=out)  # ReLU and back to (N, F, H'', W')
    return out, (conv_cache, bn_cache, pool_cache)


def _conv_norm_relu_pool_backward(
    dout: np.ndarray, cache: tuple, need_dx: bool = True
) -> tuple[np.ndarray | None, ...]:
    conv_cache, bn_cache, pool_cache = cache
    pooled = pool_cache[1]
    dpooled = np.empty(pooled.shape, dtype=dout.dtype)  # channels-last, C-contiguous
    np.multiply(dout.transpose(0, 2, 3, 1), pooled > 0, out=dpooled)
    drows = _max_pool_backward(dpooled, pool_cache).reshape(-1, pooled.shape[3])
    grads: tuple = ()
    if bn_cache is not None:
        drows, dgamma, dbeta = batchnorm_backward(drows, bn_cache)
        grads = (dgamma, dbeta)
    return *_conv_backward_2d(drows, conv_cache, need_dx), *grads


def conv_relu_pool_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict, pool_param: dict
) -> tuple[np.ndarray, tuple]:
    """Convolution, ReLU, max pooling.

    Args:
        x: Input of shape (N, C, H, W).
        w: Filters of shape (F, C, HH, WW).
        b: Biases of shape (F,).
        conv_param: As for :func:`conv_forward`.
        pool_param: As for :func:`max_pool_forward`.

    Returns:
        ``out`` of shape (N, F, H'', W'') and the cache.
    """
    return _conv_norm_relu_pool_forward(x, w, b, conv_param, pool_param, None)


def conv_relu_pool_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_relu_pool_forward`: ``(dx, dw, db)``."""
    dx, dw, db = _conv_norm_relu_pool_backward(dout, cache)
    return dx, dw, db


def conv_bn_relu_pool_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    conv_param: dict,
    bn_param: dict,
    pool_param: dict,
) -> tuple[np.ndarray, Any]:
    """Convolution, spatial batch normalization, ReLU, max pooling.

    Args:
        x: Input of shape (N, C, H, W).
        w: Filters of shape (F, C, HH, WW).
        b: Biases of shape (F,).
        gamma: Scale of shape (F,).
        beta: Shift of shape (F,).
        conv_param: As for :func:`conv_forward`.
        bn_param: As for :func:`spatial_batchnorm_forward`.
        pool_param: As for :func:`max_pool_forward`.

    Returns:
        ``out`` of shape (N, F, H'', W'') and the cache.
    """
    return _conv_norm_relu_pool_forward(x, w, b, conv_param, pool_param, (gamma, beta, bn_param))


def conv_bn_relu_pool_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    """Backward pass of :func:`conv_bn_relu_pool_forward`: ``(dx, dw, db, dgamma, dbeta)``."""
    return _conv_norm_relu_pool_backward(dout, cache)
