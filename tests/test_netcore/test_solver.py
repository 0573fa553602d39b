"""The Solver: learning on real data, overfitting, determinism, stopping, errors."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn.datasets import load_digits

import netcore as nc


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    return {
        "X_train": X[:1200],
        "y_train": y[:1200],
        "X_val": X[1200:1450],
        "y_val": y[1200:1450],
        "X_test": X[1450:],
        "y_test": y[1450:],
    }


def _data(d, n_train=None):
    keys = ("X_train", "y_train", "X_val", "y_val")
    out = {k: d[k] for k in keys}
    if n_train is not None:
        out["X_train"], out["y_train"] = d["X_train"][:n_train], d["y_train"][:n_train]
    return out


def test_two_layer_net_learns_digits(digits):
    model = nc.TwoLayerNet(64, 128, 10, weight_scale="he", seed=0)
    solver = nc.Solver(
        model,
        _data(digits),
        update_rule="adam",
        optim_config={"learning_rate": 1e-2},
        batch_size=64,
        num_epochs=15,
        seed=0,
        verbose=False,
    ).train()
    test_acc = np.mean(model.predict(digits["X_test"]) == digits["y_test"])
    assert test_acc >= 0.95
    assert solver.epoch_loss_history[-1] < solver.epoch_loss_history[0] < np.log(10) + 0.5


@pytest.mark.parametrize(
    "hidden_dims", [[100, 100], [100, 100, 100, 100]], ids=["3-layer", "5-layer"]
)
def test_overfits_50_examples_within_20_epochs(digits, hidden_dims):
    model = nc.FullyConnectedNet(hidden_dims, input_dim=64, weight_scale="he", seed=0)
    solver = nc.Solver(
        model,
        _data(digits, 50),
        update_rule="adam",
        optim_config={"learning_rate": 1e-2},
        batch_size=25,
        num_epochs=20,
        seed=0,
        verbose=False,
    ).train()
    assert 1.0 in solver.train_acc_history
    assert solver.train_acc_history.index(1.0) < 20


def _run(digits, seed, **kwargs):
    model = nc.FullyConnectedNet(
        [32, 32], input_dim=64, dropout=0.2, normalization="batchnorm", weight_scale="he", seed=1
    )
    solver = nc.Solver(
        model,
        _data(digits, 300),
        update_rule="sgd_momentum",
        batch_size=50,
        num_epochs=3,
        seed=seed,
        verbose=False,
        num_train_samples=100,
        num_val_samples=100,
        transform=functools.partial(nc.random_flip, image_shape=(1, 8, 8)),
        **kwargs,
    ).train()
    return model, solver


def test_same_seeds_give_identical_histories(digits):
    m1, s1 = _run(digits, seed=5)
    m2, s2 = _run(digits, seed=5)
    assert s1.loss_history == s2.loss_history
    assert s1.train_acc_history == s2.train_acc_history
    assert s1.val_acc_history == s2.val_acc_history
    for k in m1.params:
        np.testing.assert_array_equal(m1.params[k], m2.params[k])
    _, s3 = _run(digits, seed=6)
    assert s3.loss_history != s1.loss_history


def test_histories_lr_decay_and_best_params(digits):
    model = nc.TwoLayerNet(64, 16, 10, weight_scale="he", seed=0)
    solver = nc.Solver(
        model,
        _data(digits, 400),
        optim_config={"learning_rate": 0.1},
        lr_decay=0.5,
        batch_size=100,
        num_epochs=4,
        seed=0,
        verbose=False,
        num_train_samples=None,
    ).train()
    assert len(solver.loss_history) == solver.iterations_run == 16
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == solver.epochs_run == 4
    np.testing.assert_allclose(
        solver.epoch_loss_history, np.mean(np.reshape(solver.loss_history, (4, 4)), axis=1)
    )
    assert solver.optim_configs["W1"]["learning_rate"] == pytest.approx(0.1 * 0.5**4)
    assert solver.best_val_acc == max(solver.val_acc_history)
    # The best parameters are back in the model.
    assert solver.check_accuracy(digits["X_val"], digits["y_val"]) == solver.best_val_acc
    for k, v in solver.best_params.items():
        np.testing.assert_array_equal(model.params[k], v)
    assert not solver.stopped_early


@pytest.mark.parametrize("restore_best", [True, False])
def test_restore_best_chooses_the_best_or_the_last_epoch(digits, restore_best):
    # A high learning rate makes the validation accuracy fall after its peak, so the best and
    # the last epoch differ; batch norm has running statistics to restore too.
    def run(**kwargs):
        model = nc.FullyConnectedNet(
            [32], input_dim=64, normalization="batchnorm", weight_scale="he", seed=2
        )
        seen = []
        solver = nc.Solver(
            model,
            _data(digits, 300),
            update_rule="sgd",
            optim_config={"learning_rate": 2.0},
            batch_size=50,
            num_epochs=6,
            seed=0,
            verbose=False,
            epoch_callback=lambda *_: seen.append(
                ({k: v.copy() for k, v in model.params.items()},
                 np.copy(model.bn_params[0]["running_mean"]))
            ),
            **kwargs,
        ).train()
        return model, solver, seen

    model, solver, seen = run(restore_best=restore_best)
    best = solver.val_acc_history.index(solver.best_val_acc)
    assert best != len(seen) - 1, "the test needs a last epoch worse than the best"
    kept_params, kept_mean = seen[best] if restore_best else seen[-1]
    for k, w in model.params.items():
        np.testing.assert_array_equal(w, kept_params[k])
        assert w.base is None  # the model's own arrays, not views into the update buffer
    np.testing.assert_array_equal(model.bn_params[0]["running_mean"], kept_mean)
    accuracy = solver.check_accuracy(digits["X_val"], digits["y_val"])
    assert accuracy == solver.val_acc_history[best if restore_best else -1]
    for k, v in solver.best_params.items():  # the best epoch is known either way
        np.testing.assert_array_equal(v, seen[best][0][k])
    default, _, _ = run()
    for k, w in default.params.items():  # restoring the best is the default
        np.testing.assert_array_equal(w, seen[best][0][k])


def test_num_iterations_overrides_epochs_with_a_partial_last_epoch(digits):
    model = nc.TwoLayerNet(64, 16, 10, seed=0)
    solver = nc.Solver(
        model,
        _data(digits, 100),
        batch_size=30,
        num_epochs=50,
        num_iterations=7,
        seed=0,
        verbose=False,
    ).train()
    assert solver.iterations_run == len(solver.loss_history) == 7
    assert solver.epochs_run == len(solver.val_acc_history) == 3  # 3 + 3 + 1 iterations


def test_epoch_callback_sees_every_epoch_and_can_stop(digits):
    seen = []

    def callback(epoch, train_acc, val_acc, loss):
        seen.append((epoch, train_acc, val_acc, loss))
        return epoch == 2

    model = nc.TwoLayerNet(64, 16, 10, seed=0)
    solver = nc.Solver(
        model, _data(digits, 200), num_epochs=10, seed=0, verbose=False, epoch_callback=callback
    ).train()
    assert [s[0] for s in seen] == [1, 2]
    assert seen[-1][1:] == (
        solver.train_acc_history[-1],
        solver.val_acc_history[-1],
        solver.epoch_loss_history[-1],
    )
    assert solver.stopped_early and solver.epochs_run == 2


def test_patience_stops_when_val_accuracy_stalls(digits):
    model = nc.TwoLayerNet(64, 16, 10, seed=0)
    solver = nc.Solver(
        model,
        _data(digits, 200),
        optim_config={"learning_rate": 0.0},
        num_epochs=20,
        patience=3,
        seed=0,
        verbose=False,
    ).train()
    assert solver.stopped_early and solver.epochs_run == 4


def test_divergence_raises_with_the_iteration(digits):
    # float32, as hpsearch trains: a float64 net takes longer to overflow at this rate.
    model = nc.TwoLayerNet(64, 64, 10, weight_scale="he", dtype=np.float32, seed=0)
    solver = nc.Solver(
        model,
        _data(digits, 500),
        optim_config={"learning_rate": 1e8},
        num_epochs=5,
        seed=0,
        verbose=False,
    )
    with (
        np.errstate(all="ignore"),
        pytest.raises(nc.TrainingDiverged, match=r"diverged at iteration \d+") as info,
    ):
        solver.train()
    assert info.value.iteration >= 2
    assert len(solver.loss_history) == info.value.iteration - 1
    assert all(np.isfinite(solver.loss_history))


def test_read_only_data_is_used_without_writing(digits):
    data = {k: v.copy() for k, v in _data(digits, 200).items()}
    for v in data.values():
        v.flags.writeable = False
    before = {k: v.copy() for k, v in data.items()}
    model = nc.FullyConnectedNet([16], input_dim=64, dropout=0.1, normalization="batchnorm", seed=0)
    nc.Solver(
        model,
        data,
        num_epochs=2,
        seed=0,
        verbose=False,
        transform=functools.partial(nc.random_crop, padding=1, image_shape=(1, 8, 8)),
    ).train()
    for k in data:
        np.testing.assert_array_equal(data[k], before[k])


def test_verbose_prints_progress(digits, capsys):
    model = nc.TwoLayerNet(64, 16, 10, seed=0)
    nc.Solver(model, _data(digits, 200), num_epochs=1, print_every=1, seed=0).train()
    out = capsys.readouterr().out
    assert "(Iteration 1 / 2) loss:" in out and "(Epoch 1 / 1)" in out


def test_bad_data_and_arguments(digits):
    model = nc.TwoLayerNet(64, 16, 10, seed=0)
    data = _data(digits, 100)
    with pytest.raises(ValueError, match=r"missing \['y_val'\]"):
        nc.Solver(model, {k: v for k, v in data.items() if k != "y_val"})
    with pytest.raises(ValueError, match=r"data\['y_train'\] has shape \(99,\); expected \(100,\)"):
        nc.Solver(model, {**data, "y_train": data["y_train"][:99]})
    with pytest.raises(
        ValueError, match=r"data\['y_val'\] holds label 10; expected labels in \[0, 9\]"
    ):
        nc.Solver(model, {**data, "y_val": np.full(len(data["y_val"]), 10)})
    X_bad = data["X_train"].copy()
    X_bad[3, 5] = np.nan
    with pytest.raises(
        ValueError, match=r"data\['X_train'\] holds a non-finite value nan at \(3, 5\)"
    ):
        nc.Solver(model, {**data, "X_train": X_bad})
    with pytest.raises(ValueError, match=r"unknown update rule 'adamw'.*'adam'"):
        nc.Solver(model, data, update_rule="adamw")
    with pytest.raises(ValueError, match=r"batch_size = 0"):
        nc.Solver(model, data, batch_size=0)
    with pytest.raises(ValueError, match=r"num_iterations = -1"):
        nc.Solver(model, data, num_iterations=-1)


@pytest.mark.parametrize("rule", sorted(nc.UPDATE_RULES))
def test_flat_update_matches_per_parameter_updates_bit_for_bit(digits, rule):
    # The Solver updates a built-in rule's parameters as one flat array; a wrapped rule (not
    # known to be elementwise) takes the per-parameter path. Both must give the same numbers.
    def run(update_rule):
        model = nc.FullyConnectedNet(
            [32, 16], input_dim=64, normalization="batchnorm", weight_scale="he", seed=3
        )
        solver = nc.Solver(
            model,
            _data(digits, 300),
            update_rule=update_rule,
            optim_config={"learning_rate": 1e-2},
            lr_decay=0.9,
            batch_size=50,
            num_epochs=3,
            seed=0,
            verbose=False,
        ).train()
        return model, solver

    m_flat, s_flat = run(rule)
    m_each, s_each = run(lambda w, dw, c: nc.UPDATE_RULES[rule](w, dw, c))
    assert len(set(map(id, s_flat.optim_configs.values()))) == 1  # the flat path ran
    assert len(set(map(id, s_each.optim_configs.values()))) == len(m_each.params)
    assert s_flat.loss_history == s_each.loss_history
    assert s_flat.val_acc_history == s_each.val_acc_history
    for k in m_flat.params:
        np.testing.assert_array_equal(m_flat.params[k], m_each.params[k])
    assert s_flat.optim_configs["W1"]["learning_rate"] == pytest.approx(1e-2 * 0.9**3)
    assert s_each.optim_configs["W1"]["learning_rate"] == pytest.approx(1e-2 * 0.9**3)


def test_large_models_keep_per_parameter_updates():
    # Above the flat-size limit the gradient copy would cost more than the calls it saves.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3072)).astype(np.float32)
    y = rng.integers(10, size=20)
    model = nc.TwoLayerNet(3072, 100, 10, seed=0)
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    solver = nc.Solver(model, data, update_rule="adam", num_iterations=1, verbose=False).train()
    assert len(set(map(id, solver.optim_configs.values()))) == len(model.params)


def test_registered_rule_that_is_not_elementwise_keeps_per_parameter_updates(digits, monkeypatch):
    # Normalized SGD scales each parameter's step by its own gradient norm: applied to one flat
    # buffer of all parameters it would compute a different (global) norm.
    def normalized_sgd(w, dw, config=None):
        config = {} if config is None else config
        lr = config.setdefault("learning_rate", 1e-2)
        w -= lr * dw / (np.linalg.norm(dw) + 1e-12)
        return w, config

    monkeypatch.setitem(nc.UPDATE_RULES, "normalized_sgd", normalized_sgd)
    model = nc.TwoLayerNet(64, 16, 10, seed=0)
    solver = nc.Solver(
        model, _data(digits, 200), update_rule="normalized_sgd", num_iterations=2, verbose=False
    ).train()
    assert len(set(map(id, solver.optim_configs.values()))) == len(model.params)
