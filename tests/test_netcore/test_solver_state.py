"""Solver.state / load_state: a run stopped at any epoch boundary and resumed from bytes, in new
objects, ends bit for bit where the uninterrupted run ends."""

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
    return {"X_train": X[:300], "y_train": y[:300], "X_val": X[300:400], "y_val": y[300:400]}


def _fc_adam(data, callback):
    model = nc.FullyConnectedNet(
        [32, 16], input_dim=64, dropout=0.2, normalization="batchnorm", weight_scale="he", seed=1
    )
    return nc.Solver(
        model, data, update_rule="adam", optim_config={"learning_rate": 5e-3}, batch_size=50,
        num_epochs=4, seed=3, verbose=False, num_train_samples=100, epoch_callback=callback,
    )  # fmt: skip


def _momentum_decay(data, callback):
    # Augmentation and subsampled accuracies draw from the generator too.
    model = nc.FullyConnectedNet([24], input_dim=64, dropout=0.1, weight_scale="he", seed=2)
    return nc.Solver(
        model, data, update_rule="sgd_momentum", optim_config={"learning_rate": 0.05},
        lr_decay=0.7, batch_size=40, num_epochs=4, seed=4, verbose=False,
        num_train_samples=60, num_val_samples=50, restore_best=False,
        transform=functools.partial(nc.random_flip, image_shape=(1, 8, 8)),
        epoch_callback=callback,
    )  # fmt: skip


def _per_parameter(data, callback):
    # A wrapped rule is not known to be elementwise: the per-parameter path, num_iterations
    # (17 steps: a partial fifth epoch) and patience, which runs out after epoch 4.
    model = nc.FullyConnectedNet([16], input_dim=64, normalization="batchnorm", seed=5)
    return nc.Solver(
        model, data, update_rule=lambda w, dw, c: nc.rmsprop(w, dw, c), lr_decay=0.9,
        batch_size=64, num_iterations=17, patience=1, seed=6, verbose=False,
        epoch_callback=callback,
    )  # fmt: skip


def _cnn(data, callback):
    images = {k: v.reshape(-1, 1, 8, 8) if k.startswith("X") else v for k, v in data.items()}
    images = {k: v[:120] if k.endswith("train") else v[:40] for k, v in images.items()}
    model = nc.ConvNet((1, 8, 8), num_filters=(4,), hidden_dims=(12,), normalization="batchnorm",
                       seed=7)
    return nc.Solver(
        model, images, update_rule="adam", optim_config={"learning_rate": 1e-2}, batch_size=30,
        num_epochs=2, seed=8, verbose=False, epoch_callback=callback,
    )  # fmt: skip


MAKERS = {"fc_adam": _fc_adam, "momentum_decay": _momentum_decay,
          "per_parameter": _per_parameter, "cnn": _cnn}


def _stopped_at(make, data, k: int) -> bytes:
    """Train until epoch ``k`` ends, as a preempted run does; its state there, as bytes."""
    taken = {}

    def callback(epoch, *_):
        if epoch == k:
            taken["state"] = solver.state()
            return True
        return False

    solver = make(data, callback)
    solver.train()
    return nc.state_to_bytes(taken["state"])


def _resumed(make, data, blob: bytes, mutate=None):
    state = nc.state_from_bytes(blob)
    if mutate is not None:
        mutate(state)
    solver = make(data, None)  # new model, new Solver, new generator
    solver.load_state(state)
    return solver.train()


def _outcome(solver) -> dict:
    return {
        "params": {k: v.copy() for k, v in solver.model.params.items()},
        "bn": [dict(p) for p in getattr(solver.model, "bn_params", [])],
        "histories": (solver.loss_history, solver.epoch_loss_history,
                      solver.train_acc_history, solver.val_acc_history),
        "best": (solver.best_val_acc, solver.epochs_run, solver.iterations_run,
                 solver.stopped_early),
        "lr": sorted({c.get("learning_rate") for c in solver.optim_configs.values()}),
    }


def _assert_same(a: dict, b: dict) -> None:
    assert a["params"].keys() == b["params"].keys()
    for k in a["params"]:
        assert np.array_equal(a["params"][k], b["params"][k]), k
    for pa, pb in zip(a["bn"], b["bn"], strict=True):
        for key in ("running_mean", "running_var"):
            assert np.array_equal(pa[key], pb[key]), key
    assert a["histories"] == b["histories"]
    assert a["best"] == b["best"]
    assert a["lr"] == b["lr"]


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_a_run_resumed_at_every_epoch_boundary_ends_bit_for_bit_where_it_would(digits, name):
    make = MAKERS[name]
    solver = make(digits, None).train()
    straight = _outcome(solver)
    assert solver.epochs_run >= 2 and solver.stopped_early == (name == "per_parameter")
    for k in range(1, solver.epochs_run + 1):  # the first and the last boundary included
        _assert_same(_outcome(_resumed(make, digits, _stopped_at(make, digits, k))), straight)


@pytest.mark.parametrize("part", ["rng", "optim", "bn", "params"])
def test_each_part_of_the_state_matters(digits, part):
    # The comparison above would miss a part left out of the state if the numbers did not
    # depend on it; each part, reset to a fresh run's, changes the end.
    straight = _outcome(_fc_adam(digits, None).train())
    fresh = _fc_adam(digits, None).state()

    def reset(state):
        if part == "bn":
            state["bn"] = [{k: np.zeros_like(v) for k, v in p.items()} for p in state["bn"]]
        else:
            state[part] = fresh[part]

    resumed = _outcome(_resumed(_fc_adam, digits, _stopped_at(_fc_adam, digits, 2), reset))
    with pytest.raises(AssertionError):
        _assert_same(resumed, straight)


def test_the_state_is_plain_data_and_is_not_kept(digits):
    blob = _stopped_at(_fc_adam, digits, 2)
    state = nc.state_from_bytes(blob)
    assert state["epochs_run"] == 2 and state["iterations_run"] == 12
    assert state["rng"]["bit_generator"] == "PCG64"
    assert set(state["optim"]["W1"]) >= {"m", "v", "t", "learning_rate"}
    assert state["optim"]["W1"]["m"].shape == state["params"]["W1"].shape  # per parameter
    assert state["optim"]["W1"]["t"] == 12
    solver = _fc_adam(digits, None)
    solver.load_state(state)
    first = _outcome(solver.train())
    again = _fc_adam(digits, None)
    again.load_state(state)  # the same state, loaded twice: it was copied, not used up
    _assert_same(_outcome(again.train()), first)
    # A train() after the resumed one counts afresh, as any second train() does.
    solver.train()
    assert solver.epochs_run == 4 and len(solver.loss_history) == solver.iterations_run == 24


def test_a_state_taken_before_training_resumes_as_a_fresh_run(digits):
    solver = _momentum_decay(digits, None)
    state = solver.state()
    resumed = _momentum_decay(digits, None)
    resumed.load_state(nc.state_from_bytes(nc.state_to_bytes(state)))
    _assert_same(_outcome(resumed.train()), _outcome(solver.train()))


def test_load_state_refuses_another_model_or_data(digits):
    state = _fc_adam(digits, None).train().state()
    other = nc.Solver(nc.FullyConnectedNet([8], input_dim=64), digits, verbose=False)
    with pytest.raises(ValueError, match="parameters"):
        other.load_state(state)
    fewer = dict(digits, X_train=digits["X_train"][:200], y_train=digits["y_train"][:200])
    with pytest.raises(ValueError, match="300 rows"):
        _fc_adam(fewer, None).load_state(state)
    with pytest.raises(ValueError, match="format"):
        _fc_adam(digits, None).load_state(dict(state, format=99))


def test_state_bytes_round_trip_exactly_and_refuse_objects():
    state = {
        "f": 0.1 + 0.2, "big": 2**100 + 1, "none": None, "flag": True, "s": "x",
        "a": np.arange(6, dtype=np.float16).reshape(2, 3), "scalar": np.float32(1.5),
        "nested": [{"t": (1, 2.5)}, []],
    }
    back = nc.state_from_bytes(nc.state_to_bytes(state))
    assert back["f"] == state["f"] and back["big"] == state["big"]
    assert back["none"] is None and back["flag"] is True and back["s"] == "x"
    assert back["a"].dtype == np.float16 and np.array_equal(back["a"], state["a"])
    assert type(back["scalar"]) is np.float32 and back["scalar"] == 1.5
    assert back["nested"] == [{"t": [1, 2.5]}, []]  # tuples come back as lists
    with pytest.raises(ValueError, match="objects"):
        nc.state_to_bytes({"x": np.array([object()])})
    with pytest.raises(ValueError, match="string keys"):
        nc.state_to_bytes({"x": {1: 2}})
    with pytest.raises(ValueError, match="expected plain data"):
        nc.state_to_bytes({"x": {1, 2}})
    with pytest.raises(ValueError, match="not a netcore state"):
        nc.state_from_bytes(b"not an npz file")
