"""Update rules against hand-computed steps (and CS231n's published sgd_momentum values)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import netcore as nc
from netcore.gradcheck import rel_error


def _cs231n_inputs():
    n, d = 4, 5
    w = np.linspace(-0.4, 0.6, num=n * d).reshape(n, d)
    dw = np.linspace(-0.6, 0.4, num=n * d).reshape(n, d)
    v = np.linspace(0.6, 0.9, num=n * d).reshape(n, d)
    return w, dw, v


def test_sgd_momentum_matches_cs231n_published_values():
    w, dw, v = _cs231n_inputs()
    next_w, config = nc.sgd_momentum(w, dw, {"learning_rate": 1e-3, "velocity": v})
    expected_next_w = np.asarray(
        [
            [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
            [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
            [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
            [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096],
        ]
    )
    expected_velocity = np.asarray(
        [
            [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
            [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
            [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
            [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096],
        ]
    )
    assert rel_error(next_w, expected_next_w) < 1e-8
    assert rel_error(config["velocity"], expected_velocity) < 1e-8


def _scalar_steps(rule_name, ws, dws_per_step, hp):
    """Reference: the rule's formulas in plain Python floats, element by element."""
    out = []
    for w, dws in zip(ws, zip(*dws_per_step, strict=True), strict=True):
        state = {"v": 0.0, "c": 0.0, "m": 0.0, "s": 0.0, "t": 0}
        for dw in dws:
            lr = hp["learning_rate"]
            if rule_name == "sgd":
                w = w - lr * dw
            elif rule_name == "sgd_momentum":
                state["v"] = hp["momentum"] * state["v"] - lr * dw
                w = w + state["v"]
            elif rule_name == "nesterov":
                v_prev = state["v"]
                state["v"] = hp["momentum"] * v_prev - lr * dw
                w = w - hp["momentum"] * v_prev + (1 + hp["momentum"]) * state["v"]
            elif rule_name == "rmsprop":
                state["c"] = hp["decay_rate"] * state["c"] + (1 - hp["decay_rate"]) * dw * dw
                w = w - lr * dw / (math.sqrt(state["c"]) + hp["epsilon"])
            elif rule_name == "adam":
                state["t"] += 1
                t = state["t"]
                state["m"] = hp["beta1"] * state["m"] + (1 - hp["beta1"]) * dw
                state["s"] = hp["beta2"] * state["s"] + (1 - hp["beta2"]) * dw * dw
                mt = state["m"] / (1 - hp["beta1"] ** t)
                vt = state["s"] / (1 - hp["beta2"] ** t)
                w = w - lr * mt / (math.sqrt(vt) + hp["epsilon"])
        out.append(w)
    return np.array(out)


HYPER = {
    "sgd": {"learning_rate": 0.1},
    "sgd_momentum": {"learning_rate": 0.1, "momentum": 0.8},
    "nesterov": {"learning_rate": 0.1, "momentum": 0.8},
    "rmsprop": {"learning_rate": 0.01, "decay_rate": 0.9, "epsilon": 1e-8},
    "adam": {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-8},
}


@pytest.mark.parametrize("name", sorted(HYPER))
def test_rule_matches_hand_computed_steps(name):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(6)
    dws = [rng.standard_normal(6) for _ in range(3)]
    rule = nc.UPDATE_RULES[name]
    w, config = w0.copy(), dict(HYPER[name])
    for dw in dws:
        dw_before = dw.copy()
        w, config = rule(w, dw, config)
        np.testing.assert_array_equal(dw, dw_before)  # the gradient is never written
    expected = _scalar_steps(name, w0, dws, HYPER[name])
    assert rel_error(w, expected) < 1e-12
    if name == "adam":
        assert config["t"] == 3


@pytest.mark.parametrize("name", sorted(HYPER))
def test_rule_fills_defaults_and_state(name):
    w = np.ones((2, 3), dtype=np.float32)
    next_w, config = nc.UPDATE_RULES[name](w, np.full((2, 3), 0.5, dtype=np.float32), None)
    assert next_w.dtype == np.float32 and next_w.shape == (2, 3)
    assert "learning_rate" in config
    assert np.all(next_w < 1)


def test_first_adam_step_moves_each_weight_by_the_learning_rate():
    # With bias correction, the first step is lr * sign(dw) (up to epsilon).
    w = np.zeros(4)
    next_w, _ = nc.adam(w, np.array([3.0, -0.01, 100.0, -7.0]), {"learning_rate": 0.5})
    np.testing.assert_allclose(next_w, [-0.5, 0.5, -0.5, 0.5], rtol=1e-6)


def test_unknown_rule_lists_known_ones():
    with pytest.raises(ValueError, match=r"'adagrad'.*'adam'.*'sgd_momentum'"):
        nc.get_update_rule("adagrad")
    assert nc.get_update_rule("adam") is nc.adam
    assert nc.get_update_rule(nc.sgd) is nc.sgd


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cache_blocked_adam_matches_the_plain_step(dtype):
    # Arrays over 2 * 2**14 values (every CIFAR-sized first layer) are updated in cache-sized
    # blocks; the shape here is not a multiple of the block, so the last block is partial.
    from netcore import optim

    shape = (307, 229)  # 70,303 values: four full blocks and a partial one
    assert np.prod(shape) > 2 * optim._BLOCK and np.prod(shape) % optim._BLOCK
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(shape).astype(dtype)
    dws = [rng.standard_normal(shape).astype(dtype) for _ in range(3)]
    hp = {"learning_rate": 1e-2, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-8}

    w_blocked, cfg_blocked = w0.copy(), dict(hp)
    w_plain, cfg_plain = np.asfortranarray(w0), dict(hp)  # not C-contiguous: one pass
    for dw in dws:
        next_w, cfg_blocked = nc.adam(w_blocked, dw, cfg_blocked)
        assert next_w is w_blocked  # updated in place
        w_plain, cfg_plain = nc.adam(w_plain, np.asfortranarray(dw), cfg_plain)
    # The same elementwise arithmetic in another order of blocks: the same bits.
    np.testing.assert_array_equal(w_blocked, w_plain)
    np.testing.assert_array_equal(cfg_blocked["m"], cfg_plain["m"])
    np.testing.assert_array_equal(cfg_blocked["v"], cfg_plain["v"])
    assert cfg_blocked["t"] == cfg_plain["t"] == 3

    # And the textbook formulas, in float64, on every element.
    w, m, v = w0.astype(np.float64), np.zeros(shape), np.zeros(shape)
    for t, dw in enumerate(dws, start=1):
        m = hp["beta1"] * m + (1 - hp["beta1"]) * dw
        v = hp["beta2"] * v + (1 - hp["beta2"]) * dw.astype(np.float64) ** 2
        m_hat, v_hat = m / (1 - hp["beta1"] ** t), v / (1 - hp["beta2"] ** t)
        w = w - hp["learning_rate"] * m_hat / (np.sqrt(v_hat) + hp["epsilon"])
    # float32: a few ulps of weights of order 1 (the steps themselves are of order 1e-2).
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(w_blocked, w, rtol=tol, atol=tol)


def test_elementwise_rules_are_listed_explicitly():
    # The Solver's flat-buffer path is exact only for elementwise rules; membership is declared
    # rule by rule, so a rule registered later does not get that path by default.
    from netcore.optim import ELEMENTWISE_RULES

    assert {nc.sgd, nc.sgd_momentum, nc.nesterov, nc.rmsprop, nc.adam} == ELEMENTWISE_RULES
    assert set(nc.UPDATE_RULES.values()) >= ELEMENTWISE_RULES
