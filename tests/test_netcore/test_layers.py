"""Gradient checks of every layer and loss (float64), and layer behaviour."""

from __future__ import annotations

import numpy as np
import pytest

import netcore as nc
from netcore.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error


@pytest.fixture
def rng():
    return np.random.default_rng(231)


def test_affine_gradients_for_multidimensional_input(rng):
    x = rng.standard_normal((10, 2, 3))
    w = rng.standard_normal((6, 5))
    b = rng.standard_normal(5)
    dout = rng.standard_normal((10, 5))
    out, cache = nc.affine_forward(x, w, b)
    np.testing.assert_allclose(out, x.reshape(10, 6) @ w + b)
    dx, dw, db = nc.affine_backward(dout, cache)
    assert dx.shape == x.shape
    assert (
        rel_error(
            dx, eval_numerical_gradient_array(lambda v: nc.affine_forward(v, w, b)[0], x, dout)
        )
        < 1e-7
    )
    assert (
        rel_error(
            dw, eval_numerical_gradient_array(lambda v: nc.affine_forward(x, v, b)[0], w, dout)
        )
        < 1e-7
    )
    assert (
        rel_error(
            db, eval_numerical_gradient_array(lambda v: nc.affine_forward(x, w, v)[0], b, dout)
        )
        < 1e-7
    )


@pytest.mark.parametrize("name", sorted(nc.ACTIVATIONS))
def test_activation_gradients(rng, name):
    forward, backward = nc.ACTIVATIONS[name]
    # Keep away from the ReLU kink, where the centered difference is not the derivative.
    x = rng.standard_normal((10, 10))
    x[np.abs(x) < 1e-3] = 0.5
    dout = rng.standard_normal((10, 10))
    _, cache = forward(x)
    dx = backward(dout, cache)
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: forward(v)[0], x, dout)) < 1e-7


def test_activation_values(rng):
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    np.testing.assert_array_equal(nc.relu_forward(x)[0], [0, 0, 0, 0.5, 2])
    np.testing.assert_allclose(nc.leaky_relu_forward(x, 0.1)[0], [-0.2, -0.05, 0, 0.5, 2])
    np.testing.assert_allclose(nc.sigmoid_forward(x)[0], 1 / (1 + np.exp(-x)), rtol=1e-12)
    big = np.array([-1000.0, 1000.0])
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(nc.sigmoid_forward(big)[0], [0.0, 1.0])


def test_sandwich_gradients(rng):
    x = rng.standard_normal((4, 3, 2))
    w = rng.standard_normal((6, 8))
    b = rng.standard_normal(8)
    gamma, beta = rng.standard_normal(8), rng.standard_normal(8)
    dout = rng.standard_normal((4, 8))
    _, cache = nc.affine_relu_forward(x, w, b)
    dx, dw, _ = nc.affine_relu_backward(dout, cache)
    f = lambda v: nc.affine_relu_forward(v, w, b)[0]  # noqa: E731
    assert rel_error(dx, eval_numerical_gradient_array(f, x, dout)) < 1e-7
    _, cache = nc.affine_bn_relu_forward(x, w, b, gamma, beta, {"mode": "train"})
    dx, dw, _, dgamma, dbeta = nc.affine_bn_relu_backward(dout, cache)

    def g(xv=x, wv=w, gv=gamma, bv=beta):
        return nc.affine_bn_relu_forward(xv, wv, b, gv, bv, {"mode": "train"})[0]

    assert rel_error(dx, eval_numerical_gradient_array(lambda v: g(xv=v), x, dout)) < 1e-6
    assert rel_error(dw, eval_numerical_gradient_array(lambda v: g(wv=v), w, dout)) < 1e-6
    assert rel_error(dgamma, eval_numerical_gradient_array(lambda v: g(gv=v), gamma, dout)) < 1e-7
    assert rel_error(dbeta, eval_numerical_gradient_array(lambda v: g(bv=v), beta, dout)) < 1e-7


def test_batchnorm_gradients(rng):
    x = 5 * rng.standard_normal((4, 5)) + 12
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    _, cache = nc.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx, dgamma, dbeta = nc.batchnorm_backward(dout, cache)

    def f(xv=x, gv=gamma, bv=beta):
        return nc.batchnorm_forward(xv, gv, bv, {"mode": "train"})[0]

    assert rel_error(dx, eval_numerical_gradient_array(lambda v: f(xv=v), x, dout)) < 1e-7
    assert rel_error(dgamma, eval_numerical_gradient_array(lambda v: f(gv=v), gamma, dout)) < 1e-7
    assert rel_error(dbeta, eval_numerical_gradient_array(lambda v: f(bv=v), beta, dout)) < 1e-7


def test_batchnorm_normalizes_and_tracks_running_stats(rng):
    x = rng.standard_normal((200, 3)) * [1.0, 5.0, 0.1] + [10.0, -3.0, 0.5]
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([0.0, -1.0, 5.0])
    bn_param = {"mode": "train", "momentum": 0.5}
    out, _ = nc.batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-10)
    var = x.var(axis=0)
    np.testing.assert_allclose(out.std(axis=0), gamma * np.sqrt(var / (var + 1e-5)), rtol=1e-10)
    np.testing.assert_allclose(bn_param["running_mean"], 0.5 * x.mean(axis=0))
    np.testing.assert_allclose(bn_param["running_var"], 0.5 + 0.5 * x.var(axis=0))
    # Test mode normalizes with the running statistics, whatever the batch.
    bn_param["mode"] = "test"
    out, cache = nc.batchnorm_forward(x[:5], gamma, beta, bn_param)
    expected = (x[:5] - bn_param["running_mean"]) / np.sqrt(bn_param["running_var"] + 1e-5)
    np.testing.assert_allclose(out, gamma * expected + beta, rtol=1e-10)
    assert cache is None


def test_batchnorm_rejects_unknown_mode_and_keys(rng):
    x = rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match=r"'eval'.*'train', 'test'"):
        nc.batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "eval"})
    with pytest.raises(ValueError, match=r"unknown keys.*'momentun'"):
        nc.batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "train", "momentun": 0.9})


@pytest.mark.parametrize("p", [0.25, 0.4, 0.7])
def test_dropout_drops_fraction_p_and_keeps_the_mean(rng, p):
    x = rng.standard_normal((500, 500)) + 10
    out, _ = nc.dropout_forward(x, {"mode": "train", "p": p, "rng": rng})
    assert abs(np.mean(out == 0) - p) < 0.01
    assert abs(out.mean() - x.mean()) < 0.01 * x.mean()
    out_test, _ = nc.dropout_forward(x, {"mode": "test", "p": p})
    assert out_test is x


def test_dropout_seed_makes_mask_repeatable_and_gradient_matches(rng):
    x = rng.standard_normal((10, 10)) + 10
    dout = rng.standard_normal((10, 10))
    param = {"mode": "train", "p": 0.2, "seed": 123}
    out1, cache = nc.dropout_forward(x, param)
    out2, _ = nc.dropout_forward(x, param)
    np.testing.assert_array_equal(out1, out2)
    dx = nc.dropout_backward(dout, cache)
    num = eval_numerical_gradient_array(lambda v: nc.dropout_forward(v, param)[0], x, dout)
    assert rel_error(dx, num) < 1e-10


def test_dropout_rejects_bad_params(rng):
    x = rng.standard_normal((3, 3))
    with pytest.raises(ValueError, match=r"p'\] = 1.0.*\[0, 1\)"):
        nc.dropout_forward(x, {"mode": "train", "p": 1.0})
    with pytest.raises(ValueError, match="'Train'"):
        nc.dropout_forward(x, {"mode": "Train", "p": 0.5})


@pytest.mark.parametrize("loss_fn", [nc.softmax_loss, nc.svm_loss])
def test_loss_gradients(rng, loss_fn):
    x = 0.001 * rng.standard_normal((50, 10))
    y = rng.integers(10, size=50)
    loss, dx = loss_fn(x, y)
    num = eval_numerical_gradient(lambda v: loss_fn(v, y)[0], x, verbose=False)
    assert rel_error(dx, num) < 1e-7
    assert isinstance(loss, float)


def test_loss_values():
    x = np.log(np.array([[1.0, 2.0, 1.0], [3.0, 1.0, 1.0]]))  # softmax rows = counts / 4 and / 5
    y = np.array([1, 0])
    loss, _ = nc.softmax_loss(x, y)
    assert loss == pytest.approx(-(np.log(2 / 4) + np.log(3 / 5)) / 2)
    scores = np.array([[1.0, 2.0, 3.5], [0.0, 0.0, 0.0]])
    # Row 0 (label 1): margins 0 and 2.5; row 1 (label 2): margins 1 and 1.
    assert nc.svm_loss(scores, np.array([1, 2]))[0] == pytest.approx((2.5 + 2.0) / 2)


@pytest.mark.parametrize("loss_fn", [nc.softmax_loss, nc.svm_loss])
def test_losses_are_stable_for_huge_scores(loss_fn):
    x = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, dx = loss_fn(x, np.array([2, 0]))
    assert np.isfinite(loss) and np.isfinite(dx).all()
    assert loss > 1e3


@pytest.mark.parametrize("loss_fn", [nc.softmax_loss, nc.svm_loss])
def test_losses_reject_bad_labels(loss_fn):
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"label 3.*\[0, 2\]"):
        loss_fn(x, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"label -1"):
        loss_fn(x, np.array([-1, 0]))
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2,\)"):
        loss_fn(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="dtype float64"):
        loss_fn(x, np.array([0.5, 1.0]))


def test_layers_do_not_write_into_read_only_inputs(rng):
    x = rng.standard_normal((6, 4))
    x.flags.writeable = False
    w, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    w.flags.writeable = False
    out, cache = nc.affine_forward(x, w, b)
    nc.affine_backward(np.ones_like(out), cache)
    for forward, backward in nc.ACTIVATIONS.values():
        o, c = forward(x)
        backward(np.ones_like(o), c)
    _, c = nc.batchnorm_forward(x, np.ones(4), np.zeros(4), {"mode": "train"})
    nc.batchnorm_backward(np.ones((6, 4)), c)
    nc.dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 0})
    nc.softmax_loss(x, np.zeros(6, dtype=int))
    nc.svm_loss(x, np.zeros(6, dtype=int))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_matches_row_wise_log_sum_exp_when_rows_differ_wildly(dtype):
    # Rows whose maxima are far apart exercise the per-row fallback of the global-max shift.
    x = np.array([[1e4, 0.0, -5.0], [0.0, 1.0, 2.0], [-3e3, -3e3 + 1, -3e3 + 2]], dtype=dtype)
    y = np.array([1, 2, 0])
    loss, dx = nc.softmax_loss(x, y)
    x64 = x.astype(np.float64)
    z = x64 - x64.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    expected_dx = np.exp(log_p)
    expected_dx[np.arange(3), y] -= 1
    assert loss == pytest.approx(-log_p[np.arange(3), y].mean(), rel=1e-6)
    np.testing.assert_allclose(dx, expected_dx / 3, rtol=1e-5, atol=1e-7)
