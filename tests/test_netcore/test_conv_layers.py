"""Convolutional layers: naive loop references, gradient checks (float64), edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from netcore import conv_layers as cl
from netcore.gradcheck import eval_numerical_gradient_array, rel_error
from netcore.layers import batchnorm_forward


@pytest.fixture
def rng():
    return np.random.default_rng(231)


# --- naive references: loops over every output pixel, written from the definitions ---------


def naive_conv(x, w, b, stride, pad):
    n, _, h, wd = x.shape
    f, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    h_out = (h + 2 * pad - hh) // stride + 1
    w_out = (wd + 2 * pad - ww) // stride + 1
    out = np.zeros((n, f, h_out, w_out))
    for i in range(n):
        for k in range(f):
            for r in range(h_out):
                for s in range(w_out):
                    patch = xp[i, :, r * stride : r * stride + hh, s * stride : s * stride + ww]
                    out[i, k, r, s] = np.sum(patch * w[k]) + b[k]
    return out


def naive_pool(x, ph, pw, stride):
    n, c, h, w = x.shape
    h_out, w_out = (h - ph) // stride + 1, (w - pw) // stride + 1
    out = np.zeros((n, c, h_out, w_out))
    dx_route = np.zeros((n, c, h_out, w_out, 2), dtype=int)  # where each window's max is
    for i in range(n):
        for k in range(c):
            for r in range(h_out):
                for s in range(w_out):
                    win = x[i, k, r * stride : r * stride + ph, s * stride : s * stride + pw]
                    out[i, k, r, s] = win.max()
                    a, b = np.unravel_index(np.argmax(win), win.shape)
                    dx_route[i, k, r, s] = (r * stride + a, s * stride + b)
    return out, dx_route


def naive_pool_backward(dout, x_shape, route):
    dx = np.zeros(x_shape)
    n, c, h_out, w_out = dout.shape
    for i in range(n):
        for k in range(c):
            for r in range(h_out):
                for s in range(w_out):
                    a, b = route[i, k, r, s]
                    dx[i, k, a, b] += dout[i, k, r, s]
    return dx


CONV_CASES = [  # (x shape, w shape, stride, pad)
    ((2, 3, 7, 7), (4, 3, 3, 3), 1, 1),
    ((2, 3, 8, 6), (3, 3, 3, 3), 2, 1),
    ((1, 2, 5, 5), (2, 2, 5, 5), 1, 2),
    ((2, 1, 6, 7), (3, 1, 2, 4), 3, 0),  # even, non-square filter; stride leaves a remainder
    ((2, 2, 4, 4), (2, 2, 1, 1), 1, 0),
]


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad"), CONV_CASES)
def test_conv_matches_naive_loops_and_numeric_gradients(rng, x_shape, w_shape, stride, pad):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    param = {"stride": stride, "pad": pad}
    out, cache = cl.conv_forward(x, w, b, param)
    np.testing.assert_allclose(out, naive_conv(x, w, b, stride, pad), rtol=1e-12, atol=1e-12)

    dout = rng.standard_normal(out.shape)
    dx, dw, db = cl.conv_backward(dout, cache)
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, b.shape)
    for value, grad in ((x, dx), (w, dw), (b, db)):
        num = eval_numerical_gradient_array(
            lambda _: cl.conv_forward(x, w, b, param)[0], value, dout
        )
        assert rel_error(grad, num) < 1e-7


def test_conv_float32_stays_float32_and_reads_only(rng):
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = np.zeros(4, np.float32)
    x.flags.writeable = False
    out, cache = cl.conv_forward(x, w, b, {"stride": 1, "pad": 1})
    dx, dw, db = cl.conv_backward(np.ones_like(out), cache)
    assert out.dtype == dx.dtype == dw.dtype == db.dtype == np.float32
    assert out.flags.c_contiguous and dx.flags.c_contiguous and dw.flags.c_contiguous


@pytest.mark.parametrize(
    ("x_shape", "ph", "pw", "stride"),
    [
        ((2, 3, 8, 8), 2, 2, 2),
        ((2, 2, 7, 9), 2, 2, 2),
        ((2, 2, 7, 7), 3, 3, 2),
        ((1, 2, 6, 5), 3, 2, 1),
    ],
)
def test_max_pool_matches_naive_loops_and_numeric_gradients(rng, x_shape, ph, pw, stride):
    x = rng.standard_normal(x_shape)
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = cl.max_pool_forward(x, param)
    ref, route = naive_pool(x, ph, pw, stride)
    np.testing.assert_array_equal(out, ref)
    dout = rng.standard_normal(out.shape)
    dx = cl.max_pool_backward(dout, cache)
    np.testing.assert_allclose(dx, naive_pool_backward(dout, x.shape, route), rtol=0, atol=1e-15)
    num = eval_numerical_gradient_array(lambda v: cl.max_pool_forward(v, param)[0], x, dout)
    assert rel_error(dx, num) < 1e-8


@pytest.mark.parametrize("stride", [1, 2])
def test_max_pool_ties_route_to_the_first_maximum_only(stride):
    # Constant regions (zero-padded borders, blank image background) tie in every window.
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 3, 3] = -1.0
    param = {"pool_height": 2, "pool_width": 2, "stride": stride}
    out, cache = cl.max_pool_forward(x, param)
    dout = np.arange(1.0, out.size + 1).reshape(out.shape)
    dx = cl.max_pool_backward(dout, cache)
    _, route = naive_pool(x, 2, 2, stride)
    np.testing.assert_array_equal(dx, naive_pool_backward(dout, x.shape, route))
    assert dx.sum() == dout.sum()  # each window passes its gradient on exactly once


def test_spatial_batchnorm_normalizes_channels_and_gradients(rng):
    x = 3.0 + 2.0 * rng.standard_normal((4, 3, 5, 5))
    gamma = rng.standard_normal(3)
    beta = rng.standard_normal(3)
    bn_param = {"mode": "train"}
    out, cache = cl.spatial_batchnorm_forward(x, gamma, beta, bn_param)
    xhat = (out - beta[None, :, None, None]) / gamma[None, :, None, None]
    np.testing.assert_allclose(xhat.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(xhat.std(axis=(0, 2, 3)), 1, atol=1e-4)
    np.testing.assert_allclose(bn_param["running_mean"], 0.1 * x.mean(axis=(0, 2, 3)))

    dout = rng.standard_normal(x.shape)
    dx, dgamma, dbeta = cl.spatial_batchnorm_backward(dout, cache)

    def f(_):
        return cl.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]

    for value, grad in ((x, dx), (gamma, dgamma), (beta, dbeta)):
        assert rel_error(grad, eval_numerical_gradient_array(f, value, dout)) < 1e-7

    # Test mode uses the running statistics, channel by channel.
    test_out, test_cache = cl.spatial_batchnorm_forward(x, gamma, beta, dict(bn_param, mode="test"))
    assert test_cache is None
    ref, _ = batchnorm_forward(
        x.transpose(0, 2, 3, 1).reshape(-1, 3), gamma, beta, dict(bn_param, mode="test")
    )
    np.testing.assert_allclose(test_out, ref.reshape(4, 5, 5, 3).transpose(0, 3, 1, 2))


def test_conv_relu_sandwich(rng):
    x = rng.standard_normal((2, 3, 5, 5))
    w = rng.standard_normal((3, 3, 3, 3))
    b = rng.standard_normal(3)
    param = {"stride": 1, "pad": 1}
    out, cache = cl.conv_relu_forward(x, w, b, param)
    np.testing.assert_allclose(out, np.maximum(naive_conv(x, w, b, 1, 1), 0), atol=1e-12)
    dout = rng.standard_normal(out.shape)
    dout_copy = dout.copy()
    grads = cl.conv_relu_backward(dout, cache)
    np.testing.assert_array_equal(dout, dout_copy)  # the upstream gradient is not written
    for value, grad in zip((x, w, b), grads, strict=True):
        num = eval_numerical_gradient_array(
            lambda _: cl.conv_relu_forward(x, w, b, param)[0], value, dout
        )
        assert rel_error(grad, num) < 1e-7


@pytest.mark.parametrize("norm", [False, True])
def test_conv_relu_pool_sandwiches(rng, norm):
    x = rng.standard_normal((2, 3, 6, 6))
    w = rng.standard_normal((3, 3, 3, 3))
    b = rng.standard_normal(3)
    gamma = 1.0 + 0.1 * rng.standard_normal(3)
    beta = 0.1 * rng.standard_normal(3)
    conv_param = {"stride": 1, "pad": 1}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

    def forward(*_):
        if norm:
            return cl.conv_bn_relu_pool_forward(
                x, w, b, gamma, beta, conv_param, {"mode": "train"}, pool_param
            )
        return cl.conv_relu_pool_forward(x, w, b, conv_param, pool_param)

    out, cache = forward()
    # Reference: the unfused layers in the documented order (conv, [bn], relu, pool).
    a = naive_conv(x, w, b, 1, 1)
    if norm:
        a, _ = cl.spatial_batchnorm_forward(a, gamma, beta, {"mode": "train"})
    ref, _ = cl.max_pool_forward(np.maximum(a, 0), pool_param)
    np.testing.assert_allclose(out, ref, atol=1e-12)

    dout = rng.standard_normal(out.shape)
    backward = cl.conv_bn_relu_pool_backward if norm else cl.conv_relu_pool_backward
    grads = backward(dout, cache)
    values = (x, w, b, gamma, beta) if norm else (x, w, b)
    assert len(grads) == len(values)
    for value, grad in zip(values, grads, strict=True):
        num = eval_numerical_gradient_array(lambda _: forward()[0], value, dout)
        # Batchnorm cancels the conv bias: its gradient is zero up to rounding, where a
        # relative error means nothing, so compare it in absolute terms.
        assert rel_error(grad, num) < 1e-7 or np.abs(grad - num).max() < 1e-9


def test_skipping_the_input_gradient_keeps_the_others():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1, 6, 6))
    w = rng.standard_normal((2, 1, 3, 3))
    b = rng.standard_normal(2)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = cl.conv_relu_pool_forward(x, w, b, {"stride": 1, "pad": 1}, pool_param)
    dout = rng.standard_normal(out.shape)
    full = cl.conv_relu_pool_backward(dout, cache)
    dx, dw, db = cl._conv_norm_relu_pool_backward(dout, cache, need_dx=False)
    assert dx is None
    np.testing.assert_array_equal(dw, full[1])
    np.testing.assert_array_equal(db, full[2])


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda x, w, b: cl.conv_forward(x, w, b, {"stride": 0}), r"conv_param\['stride'\] = 0"),
        (lambda x, w, b: cl.conv_forward(x, w, b, {"pad": -1}), r"conv_param\['pad'\] = -1"),
        (lambda x, w, b: cl.conv_forward(x, w, b, {"strde": 1}), r"unknown keys \['strde'\]"),
        (lambda x, w, b: cl.conv_forward(x[:, :2], w, b, {}), r"same C"),
        (lambda x, w, b: cl.conv_forward(x, w, b[:1], {}), r"b has shape \(1,\); expected \(2,\)"),
        (lambda x, w, b: cl.conv_forward(x[:, :, :2], w, b, {}), r"window of 3 .* extent of 2"),
        (
            lambda x, w, b: cl.max_pool_forward(
                x, {"pool_height": 5, "pool_width": 2, "stride": 2}
            ),
            r"window of 5 does not fit an extent of 4",
        ),
        (lambda x, w, b: cl.max_pool_forward(x[0], {}), r"expected \(N, C, H, W\)"),
    ],
)
def test_bad_arguments_name_the_value(call, pattern):
    x = np.zeros((1, 3, 4, 4))
    w = np.zeros((2, 3, 3, 3))
    b = np.zeros(2)
    with pytest.raises(ValueError, match=pattern):
        call(x, w, b)
