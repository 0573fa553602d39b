"""Models: numeric gradient checks, initial loss, dtype handling, input validation."""

from __future__ import annotations

import numpy as np
import pytest

import netcore as nc
from netcore.gradcheck import eval_numerical_gradient

N, D, H1, H2, C = 4, 15, 20, 30, 10


def _assert_gradients_match(model, X, y, seed=3):
    """Every analytic gradient against the numeric one.

    The error is measured on the whole array: ``|num - ana| / (|num| + |ana|)`` in the 2-norm,
    plus an absolute floor of 1e-9 for gradients that are zero in exact arithmetic (a bias
    followed by batchnorm), where centered differences only see float noise (~1e-11).
    """

    def f(_):
        model.rng = np.random.default_rng(seed)  # same dropout mask on every call
        return model.loss(X, y)[0]

    model.rng = np.random.default_rng(seed)
    _, grads = model.loss(X, y)
    assert grads.keys() == model.params.keys()
    for name, param in model.params.items():
        num = eval_numerical_gradient(f, param)
        ana = grads[name]
        assert ana.shape == param.shape and ana.dtype == param.dtype
        diff = np.linalg.norm(num - ana)
        assert diff <= 1e-7 * (np.linalg.norm(num) + np.linalg.norm(ana)) + 1e-9, name


CASES = [
    {},
    {"reg": 3.14},
    {"normalization": "batchnorm"},
    {"normalization": "batchnorm", "reg": 0.7},
    {"dropout": 0.3},
    {"dropout": 0.5, "normalization": "batchnorm", "reg": 0.1},
    {"activation": "tanh", "reg": 0.1},
    {"activation": "sigmoid"},
    {"activation": "leaky_relu", "dropout": 0.2},
]


@pytest.mark.parametrize(
    "kwargs", CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "plain"
)
def test_fully_connected_gradients(kwargs):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((N, D))
    y = rng.integers(C, size=N)
    model = nc.FullyConnectedNet(
        [H1, H2],
        input_dim=D,
        num_classes=C,
        weight_scale="xavier",
        dtype=np.float64,
        seed=0,
        **kwargs,
    )
    _assert_gradients_match(model, X, y)


def test_two_layer_net_gradients_and_reg_term():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((5, 7, 2))  # flattened to width 14
    y = rng.integers(4, size=5)
    model = nc.TwoLayerNet(14, 12, 4, weight_scale=0.3, reg=0.0, dtype=np.float64, seed=0)
    _assert_gradients_match(model, X, y)
    loss0, _ = model.loss(X, y)
    model.reg = 0.25
    loss1, _ = model.loss(X, y)
    expected = 0.125 * sum(np.sum(model.params[k] ** 2) for k in ("W1", "W2"))
    assert loss1 - loss0 == pytest.approx(expected, rel=1e-12)
    _assert_gradients_match(model, X, y)


def test_linear_classifier_without_hidden_layers():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((6, 5)), rng.integers(3, size=6)
    model = nc.FullyConnectedNet([], input_dim=5, num_classes=3, dtype=np.float64, seed=0)
    assert sorted(model.params) == ["W1", "b1"]
    _assert_gradients_match(model, X, y)


def test_initial_loss_of_small_weight_net_is_log_num_classes():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((200, 50))
    y = rng.integers(10, size=200)
    for model in (
        nc.TwoLayerNet(50, 40, 10, weight_scale=1e-3, seed=0),
        nc.FullyConnectedNet([40, 30], input_dim=50, weight_scale=1e-3, seed=0),
    ):
        loss, _ = model.loss(X, y)
        assert loss == pytest.approx(np.log(10), abs=1e-3)


def test_scores_in_test_mode_and_predict():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((7, 6))
    model = nc.FullyConnectedNet([8], input_dim=6, num_classes=3, dtype=np.float64, seed=0)
    W1, b1, W2, b2 = (model.params[k] for k in ("W1", "b1", "W2", "b2"))
    expected = np.maximum(X @ W1 + b1, 0) @ W2 + b2
    np.testing.assert_allclose(model.loss(X), expected, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X, batch_size=3), expected.argmax(axis=1))


def test_dropout_is_identity_in_test_mode_and_bn_uses_running_stats():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((10, 6))
    model = nc.FullyConnectedNet(
        [8],
        input_dim=6,
        num_classes=3,
        dropout=0.5,
        normalization="batchnorm",
        dtype=np.float64,
        seed=0,
    )
    np.testing.assert_array_equal(model.loss(X), model.loss(X))  # no randomness at test time
    before = model.loss(X)
    model.loss(X, np.zeros(10, dtype=int))  # a training pass moves the running statistics
    assert not np.allclose(model.loss(X), before)


def test_casts_to_model_dtype_without_copying_and_never_writes_x():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((5, 6)).astype(np.float32)
    X.flags.writeable = False
    y = np.array([0, 1, 2, 0, 1])
    for kwargs in ({}, {"normalization": "batchnorm", "dropout": 0.3, "activation": "tanh"}):
        model = nc.FullyConnectedNet([8, 8], input_dim=6, num_classes=3, seed=0, **kwargs)
        _, grads = model.loss(X, y)  # a read-only input must work: nothing writes into it
        assert all(g.dtype == np.float32 for g in grads.values())
        assert model.loss(X).dtype == np.float32
        assert model.loss(X.astype(np.float64)).dtype == np.float32
    assert np.shares_memory(model._prepare(X), X)  # same dtype: no copy


def test_reads_params_on_every_call():
    model = nc.TwoLayerNet(4, 3, 2, dtype=np.float64, seed=0)
    X = np.ones((1, 4))
    model.params["b2"][:] = [5.0, -5.0]
    assert model.predict(X)[0] == 0
    model.params["b2"] = np.array([-5.0, 5.0])
    assert model.predict(X)[0] == 1


def test_same_seed_same_weights_and_config_rebuilds():
    a = nc.FullyConnectedNet(
        [5, 4], input_dim=3, normalization="batchnorm", weight_scale="he", seed=9
    )
    b = type(a)(**a.get_config())
    assert a.params.keys() == b.params.keys()
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    c = nc.TwoLayerNet(3, 5, 2, seed=1)
    assert nc.TwoLayerNet(**c.get_config()).get_config() == c.get_config()


def test_he_and_xavier_scales():
    model = nc.FullyConnectedNet([400], input_dim=800, num_classes=200, weight_scale="he", seed=0)
    assert model.params["W1"].std() == pytest.approx(np.sqrt(2 / 800), rel=0.02)
    model = nc.FullyConnectedNet(
        [400], input_dim=800, num_classes=200, weight_scale="xavier", seed=0
    )
    assert model.params["W2"].std() == pytest.approx(np.sqrt(2 / 600), rel=0.02)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"activation": "gelu"}, r"activation = 'gelu'.*'relu'"),
        ({"normalization": "layernorm"}, r"normalization = 'layernorm'.*'batchnorm'"),
        ({"dropout": 1.0}, r"dropout = 1.0"),
        ({"weight_scale": "lecun"}, r"weight_scale = 'lecun'.*'he'"),
        ({"weight_scale": -1.0}, r"weight_scale = -1.0"),
        ({"dtype": np.int32}, r"dtype.*float32 or float64"),
        ({"hidden_dims": [10, 0]}, r"hidden_dims\[1\] = 0"),
        ({"reg": -0.1}, r"reg = -0.1"),
    ],
)
def test_bad_constructor_arguments(kwargs, pattern):
    args = {"hidden_dims": [10], "input_dim": 4, "num_classes": 3, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        nc.FullyConnectedNet(**args)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_bad_inputs_name_the_value_and_expectation():
    model = nc.FullyConnectedNet([5], input_dim=4, num_classes=3, seed=0)
    X = np.zeros((2, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"shape \(2, 5\).*\(N, 4\)"):
        model.loss(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"label 3.*\[0, 2\]"):
        model.loss(X, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"label -1"):
        model.loss(X, np.array([-1, 0]))
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2,\)"):
        model.loss(X, np.array([0, 1, 2]))
    for bad in (np.nan, np.inf):
        Xb = X.copy()
        Xb[1, 2] = bad
        with pytest.raises(ValueError, match=rf"non-finite value {bad} at \(1, 2\)"):
            model.loss(Xb, np.array([0, 1]))
        with pytest.raises(ValueError, match="non-finite"):
            model.loss(Xb)
    tanh = nc.FullyConnectedNet([5], input_dim=4, num_classes=3, activation="tanh", seed=0)
    Xb = X.copy()
    Xb[0, 0] = np.inf  # tanh saturates: the output alone would not show it
    with pytest.raises(ValueError, match="non-finite"):
        tanh.loss(Xb, np.array([0, 1]))
