"""ConvNet: gradient checks, interface, validation, learning on digits, save/load."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

import netcore as nc
from netcore.cnn import ConvNet
from netcore.gradcheck import eval_numerical_gradient, rel_error


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)  # kept as images
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    return {
        "X_train": X[:1000],
        "y_train": y[:1000],
        "X_val": X[1000:1297],
        "y_val": y[1000:1297],
        "X_test": X[1297:],
        "y_test": y[1297:],
    }


def _small_net(**kwargs):
    kw = dict(input_dim=(2, 6, 6), num_filters=(3, 4), filter_size=(3, 1), hidden_dims=(5,))
    kw.update(num_classes=4, dtype=np.float64, seed=1)
    kw.update(kwargs)
    model = ConvNet(**kw)
    # Nonzero biases keep every pre-activation away from the ReLU kink at exactly 0 (an
    # all-zero feature map would otherwise hand the next layer its bias, 0, and the centered
    # difference would straddle the kink).
    rng = np.random.default_rng(7)
    for k, v in model.params.items():
        if k.startswith("b"):
            v[...] = 0.1 * rng.standard_normal(v.shape)
    return model


@pytest.mark.parametrize(
    ("normalization", "reg"),
    [(None, 0.0), (None, 0.7), ("batchnorm", 0.0), ("batchnorm", 0.7)],
)
def test_gradients_match_numeric_estimates(normalization, reg):
    model = _small_net(normalization=normalization, reg=reg)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 2, 6, 6))
    y = rng.integers(4, size=5)
    loss, grads = model.loss(X, y)
    assert grads.keys() == model.params.keys()
    expected = {"W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4"}
    if normalization:
        expected |= {"gamma1", "beta1", "gamma2", "beta2", "gamma3", "beta3"}
    assert set(model.params) == expected
    for name, value in model.params.items():
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], value)
        # Batchnorm cancels the bias before it: that gradient is zero up to rounding, where a
        # relative error means nothing.
        assert rel_error(grads[name], num) < 1e-7 or np.abs(grads[name] - num).max() < 1e-9, name
    if reg:
        plain = _small_net(normalization=normalization)
        base, _ = plain.loss(X, y)
        weights = sum(float(np.sum(v**2)) for k, v in model.params.items() if k[0] == "W")
        assert loss == pytest.approx(base + 0.5 * reg * weights, rel=1e-12)


def test_no_conv_stages_and_no_hidden_layers():
    model = ConvNet(input_dim=(1, 3, 3), num_filters=(), hidden_dims=(), num_classes=3,
                    dtype=np.float64, seed=0)  # fmt: skip
    assert set(model.params) == {"W1", "b1"} and model.params["W1"].shape == (9, 3)
    X = np.random.default_rng(0).standard_normal((4, 1, 3, 3))
    np.testing.assert_allclose(model.loss(X), X.reshape(4, 9) @ model.params["W1"])


def test_initial_loss_is_about_log_num_classes():
    model = ConvNet(input_dim=(1, 8, 8), weight_scale=1e-3, seed=0)
    X = np.random.default_rng(0).random((50, 1, 8, 8))
    loss, _ = model.loss(X, np.arange(50) % 10)
    assert loss == pytest.approx(np.log(10), abs=1e-3)


def test_shapes_he_init_and_config_round_trip():
    model = ConvNet(input_dim=(3, 9, 7), num_filters=(4, 6), filter_size=(5, 3),
                    hidden_dims=(20, 10), seed=3)  # fmt: skip
    shapes = {k: v.shape for k, v in model.params.items()}
    # 9x7 -> pool 4x3 -> pool 2x1; flat 6 * 2 * 1
    assert shapes == {
        "W1": (4, 3, 5, 5), "b1": (4,), "W2": (6, 4, 3, 3), "b2": (6,),
        "W3": (12, 20), "b3": (20,), "W4": (20, 10), "b4": (10,), "W5": (10, 10), "b5": (10,),
    }  # fmt: skip
    assert all(v.dtype == np.float32 for v in model.params.values())
    big = ConvNet(input_dim=(8, 8, 8), num_filters=(64,), filter_size=5, seed=0)
    assert big.params["W1"].std() == pytest.approx(np.sqrt(2 / (8 * 25)), rel=0.05)
    config = model.get_config()
    assert json.loads(json.dumps(config)) == config
    rebuilt = ConvNet(**config)
    for k, v in model.params.items():
        np.testing.assert_array_equal(rebuilt.params[k], v)


def test_accepts_images_or_flat_rows_casts_and_never_writes_x():
    model = ConvNet(input_dim=(1, 8, 8), num_filters=(4,), hidden_dims=(8,), seed=0)
    X = np.random.default_rng(0).random((6, 64))  # float64 rows
    X.flags.writeable = False
    scores = model.loss(X)
    assert scores.shape == (6, 10) and scores.dtype == np.float32
    np.testing.assert_array_equal(scores, model.loss(X.reshape(6, 1, 8, 8)))
    loss, grads = model.loss(X, np.arange(6))
    assert np.isfinite(loss) and all(g.dtype == np.float32 for g in grads.values())
    np.testing.assert_array_equal(model.predict(X, batch_size=4), scores.argmax(1))


def test_scores_large_batches_in_chunks():
    model = ConvNet(input_dim=(1, 8, 8), num_filters=(4, 4), hidden_dims=(8,), seed=0)
    X = np.random.default_rng(0).random((23, 1, 8, 8)).astype(np.float32)
    whole = model.loss(X)
    model._eval_chunk = 5  # as if the images were large
    np.testing.assert_allclose(model.loss(X), whole, rtol=1e-5, atol=1e-6)
    X[17, 0, 1, 2] = np.inf
    with pytest.raises(ValueError, match=r"non-finite value inf at \(17, 0, 1, 2\)"):
        model.loss(X)
    mnist = ConvNet(input_dim=(1, 28, 28), num_filters=(32, 64), filter_size=5)
    assert mnist._eval_chunk * 14 * 14 * 25 * 32 * 4 <= 64 * 2**20 < 1000 * 14 * 14 * 25 * 32 * 4


def test_reads_params_on_every_call():
    model = _small_net()
    X = np.random.default_rng(0).standard_normal((3, 2, 6, 6))
    before = model.loss(X)
    model.params["W1"] *= 2.0  # in place, as a numeric gradient check does
    assert not np.allclose(model.loss(X), before)


def test_batchnorm_running_stats_and_test_mode():
    model = ConvNet(input_dim=(1, 8, 8), num_filters=(4, 4), hidden_dims=(6,),
                    normalization="batchnorm", seed=0)  # fmt: skip
    assert len(model.bn_params) == 3
    X = np.random.default_rng(0).random((20, 1, 8, 8)).astype(np.float32)
    model.loss(X, np.arange(20) % 10)
    assert [p["running_mean"].shape for p in model.bn_params] == [(4,), (4,), (6,)]
    # Test mode normalizes with the running statistics: a row's scores do not depend on the
    # rest of the batch.
    np.testing.assert_allclose(model.loss(X)[:3], model.loss(X[:3]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"input_dim": (1, 8)}, r"input_dim = \(1, 8\); expected \(C, H, W\)"),
        ({"input_dim": (1, 8, 8), "num_filters": (4, 4, 4, 4)},
         r"too small for 4 conv stages .* 1x1 image .* at most 3 stages"),
        ({"filter_size": 4}, r"filter_size = 4 holds even size 4; expected odd"),
        ({"filter_size": (3,)}, r"one size per conv stage \(2 for num_filters = \[16, 32\]\)"),
        ({"num_filters": (16, 0)}, r"num_filters\[1\] = 0"),
        ({"normalization": "layernorm"}, r"normalization = 'layernorm'"),
        ({"weight_scale": "lecun"}, r"weight_scale = 'lecun'"),
        ({"reg": -1.0}, r"reg = -1.0"),
        ({"dtype": np.int32}, r"expected float32 or float64"),
    ],
)  # fmt: skip
def test_bad_constructor_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        ConvNet(**kwargs)


def test_bad_inputs_name_the_value_and_expectation():
    model = ConvNet(input_dim=(1, 8, 8), num_filters=(4,), seed=0)
    with pytest.raises(ValueError, match=r"X has shape \(2, 3, 8, 8\); expected \(N, 1, 8, 8\)"):
        model.loss(np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"flat rows \(N, 64\)"):
        model.loss(np.zeros((2, 63)))
    with pytest.raises(ValueError, match=r"holds label 10"):
        model.loss(np.zeros((2, 1, 8, 8)), np.array([0, 10]))
    X = np.zeros((2, 1, 8, 8))
    X[1, 0, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"non-finite value nan at \(1, 0, 2, 3\)"):
        model.loss(X)


def test_overfits_50_examples(digits):
    model = ConvNet(input_dim=(1, 8, 8), num_filters=(8, 16), hidden_dims=(32,), seed=0)
    data = {"X_train": digits["X_train"][:50], "y_train": digits["y_train"][:50],
            "X_val": digits["X_val"][:50], "y_val": digits["y_val"][:50]}  # fmt: skip
    solver = nc.Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                       batch_size=25, num_epochs=20, seed=0, verbose=False).train()  # fmt: skip
    assert 1.0 in solver.train_acc_history


def _test_accuracy(digits, make, lr, seed):
    model = make(seed)
    solver = nc.Solver(
        model,
        {k: digits[k] for k in ("X_train", "y_train", "X_val", "y_val")},
        update_rule="adam",
        optim_config={"learning_rate": lr},
        batch_size=64,
        num_epochs=15,
        seed=seed,
        verbose=False,
    ).train()
    return solver.best_val_acc, float(np.mean(model.predict(digits["X_test"]) == digits["y_test"]))


@pytest.mark.slow
def test_cnn_beats_the_best_two_layer_net_on_digits(digits):
    # Same budget for both families: 4 configurations x 3 seeds, 15 epochs of Adam with
    # batch 64. Each family's configuration is chosen by mean validation accuracy; the test
    # split is scored only for the comparison.
    families = {
        "TwoLayerNet": {
            h: lambda s, h=h: nc.TwoLayerNet(64, h, 10, weight_scale="he", dtype=np.float32, seed=s)
            for h in (128, 256)
        },
        "ConvNet": {
            f: lambda s, f=f: ConvNet(input_dim=(1, 8, 8), num_filters=f, hidden_dims=(64,), seed=s)
            for f in ((16,), (16, 32))
        },
    }
    chosen = {}
    for family, makers in families.items():
        results = []
        for (key, make), lr in itertools.product(makers.items(), (3e-3, 1e-2)):
            runs = np.array([_test_accuracy(digits, make, lr, s) for s in range(3)])
            results.append((runs[:, 0].mean(), runs[:, 1].mean(), key, lr))
        chosen[family] = max(results)
        print(family, "val, test, config, lr:", chosen[family])
    assert chosen["ConvNet"][1] > chosen["TwoLayerNet"][1]
    assert chosen["ConvNet"][1] >= 0.975


def test_save_load_round_trip(tmp_path, digits):
    model = ConvNet(input_dim=(1, 8, 8), num_filters=(4,), filter_size=5, hidden_dims=(8,),
                    normalization="batchnorm", reg=1e-3, seed=0)  # fmt: skip
    data = {k: digits[k][:100] for k in ("X_train", "y_train", "X_val", "y_val")}
    nc.Solver(model, data, update_rule="adam", batch_size=50, num_epochs=2, seed=0,
              verbose=False).train()  # fmt: skip
    loaded = nc.load_model(nc.save_model(tmp_path / "cnn", model))
    assert type(loaded) is ConvNet and loaded.get_config() == model.get_config()
    for k, v in model.params.items():
        np.testing.assert_array_equal(loaded.params[k], v)
    for a, b in zip(loaded.bn_params, model.bn_params, strict=True):
        np.testing.assert_array_equal(a["running_mean"], b["running_mean"])
        np.testing.assert_array_equal(a["running_var"], b["running_var"])
    X = digits["X_test"][:40]
    np.testing.assert_array_equal(loaded.loss(X), model.loss(X))
