"""Save/load round trips: same parameters, running statistics and predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest

import netcore as nc


def _trained_bn_net():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 8)).astype(np.float32)
    y = rng.integers(3, size=60)
    model = nc.FullyConnectedNet(
        [6, 5],
        input_dim=8,
        num_classes=3,
        normalization="batchnorm",
        dropout=0.1,
        activation="tanh",
        weight_scale="xavier",
        seed=0,
    )
    data = {"X_train": X, "y_train": y, "X_val": X[:20], "y_val": y[:20]}
    nc.Solver(
        model, data, update_rule="adam", num_epochs=3, batch_size=20, seed=0, verbose=False
    ).train()
    return model, X


def test_round_trip_keeps_predictions_and_running_stats(tmp_path):
    model, X = _trained_bn_net()
    written = nc.save_model(tmp_path / "net", model)
    assert written == tmp_path / "net.npz" and written.exists()
    loaded = nc.load_model(written)
    assert type(loaded) is nc.FullyConnectedNet
    assert loaded.get_config() == model.get_config()
    for k in model.params:
        np.testing.assert_array_equal(loaded.params[k], model.params[k])
        assert loaded.params[k].dtype == np.float32
    for a, b in zip(loaded.bn_params, model.bn_params, strict=True):
        np.testing.assert_array_equal(a["running_mean"], b["running_mean"])
        np.testing.assert_array_equal(a["running_var"], b["running_var"])
    np.testing.assert_array_equal(loaded.loss(X), model.loss(X))


def test_two_layer_net_float64_round_trip(tmp_path):
    model = nc.TwoLayerNet(5, 4, 3, weight_scale=0.5, reg=0.1, dtype=np.float64, seed=3)
    loaded = nc.load_model(nc.save_model(tmp_path / "two.npz", model))
    assert type(loaded) is nc.TwoLayerNet and loaded.dtype == np.float64 and loaded.reg == 0.1
    X = np.random.default_rng(1).standard_normal((7, 5))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_rejects_files_that_are_not_models(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a netcore model file"):
        nc.load_model(tmp_path / "other.npz")
    meta = {"format": 1, "class": "Transformer", "config": {}, "dtype": "float32"}
    np.savez(tmp_path / "alien.npz", meta=np.array(json.dumps(meta)))
    with pytest.raises(ValueError, match=r"'Transformer'.*'FullyConnectedNet'"):
        nc.load_model(tmp_path / "alien.npz")


def test_rejects_parameters_that_do_not_fit(tmp_path):
    model = nc.TwoLayerNet(5, 4, 3, seed=0)
    path = nc.save_model(tmp_path / "m.npz", model)
    with np.load(path) as f:
        arrays = dict(f)
    arrays["param/W1"] = np.zeros((5, 7), dtype=np.float32)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"W1 has shape \(5, 7\); expected \(5, 4\)"):
        nc.load_model(path)


def test_unknown_model_class_cannot_be_saved(tmp_path):
    class Custom:
        def __init__(self):
            self.params = {}

    with pytest.raises(ValueError, match="cannot save a Custom"):
        nc.save_model(tmp_path / "c.npz", Custom())


def test_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    model = nc.TwoLayerNet(5, 4, 3, seed=0)
    path = nc.save_model(tmp_path / "m.npz", model)
    before = path.read_bytes()

    real_savez = np.savez

    def disk_full(file, **arrays):  # writes part of the archive, then runs out of space
        real_savez(file, **arrays)
        file.truncate(100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left"):
        nc.save_model(path, nc.TwoLayerNet(5, 4, 3, seed=1))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    loaded = nc.load_model(path)
    np.testing.assert_array_equal(loaded.params["W1"], model.params["W1"])

    # A first write that fails leaves nothing at all.
    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError):
        nc.save_model(tmp_path / "new.npz", model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_save_replaces_a_previous_file_whole(tmp_path):
    path = nc.save_model(tmp_path / "m", nc.TwoLayerNet(5, 4, 3, seed=0))
    newer = nc.TwoLayerNet(5, 4, 3, seed=1)
    assert nc.save_model(path, newer) == path
    np.testing.assert_array_equal(nc.load_model(path).params["W1"], newer.params["W1"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
