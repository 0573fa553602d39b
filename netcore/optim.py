"""First-order update rules: ``rule(w, dw, config) -> (next_w, config)``.

``config`` holds the hyperparameters (``learning_rate``, ``momentum``, ``decay_rate``,
``beta1``, ``beta2``, ``epsilon``) and the rule's state (``velocity``, ``cache``, ``m``, ``v``,
``t``); missing entries get the CS231n defaults. To avoid allocations in the training loop,
**``w`` and the state arrays are updated in place** and ``next_w`` is ``w`` itself; ``dw`` is
never written.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "ELEMENTWISE_RULES",
    "UPDATE_RULES",
    "UpdateRule",
    "adam",
    "get_update_rule",
    "nesterov",
    "rmsprop",
    "sgd",
    "sgd_momentum",
]

UpdateRule = Callable[[np.ndarray, np.ndarray, "dict | None"], tuple[np.ndarray, dict]]


def sgd(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    """Vanilla SGD: ``w -= learning_rate * dw`` (default learning rate 1e-2)."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    w -= config["learning_rate"] * dw
    return w, config


def sgd_momentum(
    w: np.ndarray, dw: np.ndarray, config: dict | None = None
) -> tuple[np.ndarray, dict]:
    """SGD with momentum: ``v = momentum * v - learning_rate * dw; w += v``.

    Defaults: learning_rate 1e-2, momentum 0.9, velocity zeros.
    """
    config = {} if config is None else config
    lr = config.setdefault("learning_rate", 1e-2)
    mu = config.setdefault("momentum", 0.9)
    v = config.get("velocity")
    if v is None:
        v = config["velocity"] = np.zeros_like(w)
    v *= mu
    v -= lr * dw
    w += v
    return w, config


def nesterov(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    """Nesterov momentum in the CS231n-notes form.

    ``v_new = momentum * v - learning_rate * dw; w += -momentum * v + (1 + momentum) * v_new``.
    Defaults: learning_rate 1e-2, momentum 0.9, velocity zeros.
    """
    config = {} if config is None else config
    lr = config.setdefault("learning_rate", 1e-2)
    mu = config.setdefault("momentum", 0.9)
    v = config.get("velocity")
    if v is None:
        v = config["velocity"] = np.zeros_like(w)
    w -= mu * v
    v *= mu
    v -= lr * dw
    w += (1 + mu) * v
    return w, config


def rmsprop(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    """RMSProp: ``cache = decay_rate * cache + (1 - decay_rate) * dw**2``.

    ``w -= learning_rate * dw / (sqrt(cache) + epsilon)``. Defaults: learning_rate 1e-2,
    decay_rate 0.99, epsilon 1e-8, cache zeros.
    """
    config = {} if config is None else config
    lr = config.setdefault("learning_rate", 1e-2)
    dr = config.setdefault("decay_rate", 0.99)
    eps = config.setdefault("epsilon", 1e-8)
    cache = config.get("cache")
    if cache is None:
        cache = config["cache"] = np.zeros_like(w)
    cache *= dr
    sq = dw * dw
    sq *= 1 - dr
    cache += sq
    denom = np.sqrt(cache, out=sq)  # reuse the temporary
    denom += eps
    step = np.divide(dw, denom, out=denom)
    step *= lr
    w -= step
    return w, config


def adam(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    """Adam with bias correction; ``t`` is incremented before it is used.

    ``m = beta1 * m + (1 - beta1) * dw; v = beta2 * v + (1 - beta2) * dw**2;
    w -= learning_rate * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + epsilon)``.
    Defaults: learning_rate 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-8, m and v zeros, t 0.
    """
    config = {} if config is None else config
    lr = config.setdefault("learning_rate", 1e-3)
    b1 = config.setdefault("beta1", 0.9)
    b2 = config.setdefault("beta2", 0.999)
    eps = config.setdefault("epsilon", 1e-8)
    m = config.get("m")
    if m is None:
        m = config["m"] = np.zeros_like(w)
    v = config.get("v")
    if v is None:
        v = config["v"] = np.zeros_like(w)
    t = config["t"] = config.get("t", 0) + 1
    # The same step with the bias corrections folded into two scalars:
    # lr * m_hat / (sqrt(v_hat) + eps) == scale * m / (sqrt(v) + eps * sqrt(1 - b2**t)).
    root = np.sqrt(1 - b2**t)
    eps_hat = eps * root
    scale = lr * root / (1 - b1**t)
    for wb, dwb, mb, vb, tmp in _blocks(w, dw, m, v):
        mb *= b1
        np.multiply(dwb, 1 - b1, out=tmp)
        mb += tmp
        vb *= b2
        np.multiply(dwb, dwb, out=tmp)
        tmp *= 1 - b2
        vb += tmp
        np.sqrt(vb, out=tmp)
        tmp += eps_hat
        np.divide(mb, tmp, out=tmp)
        tmp *= scale
        wb -= tmp
    return w, config


# Large arrays are updated in blocks that stay in the CPU cache across the rule's dozen
# elementwise passes (2**14 float32 values = 64 KiB per array); small ones in one go.
_BLOCK = 1 << 14


def _blocks(*arrays: np.ndarray):
    """Yield aligned flat blocks of same-shaped arrays, plus a scratch block."""
    size = arrays[0].size
    if size <= 2 * _BLOCK or not all(a.flags.c_contiguous for a in arrays):
        yield (*arrays, np.empty_like(arrays[0]))
        return
    flat = [a.reshape(-1) for a in arrays]
    scratch = np.empty(_BLOCK, dtype=arrays[0].dtype)
    for start in range(0, size, _BLOCK):
        stop = min(start + _BLOCK, size)
        yield (*(f[start:stop] for f in flat), scratch[: stop - start])


#: Name -> update rule; the Solver resolves ``update_rule`` strings here.
UPDATE_RULES: dict[str, UpdateRule] = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "nesterov": nesterov,
    "rmsprop": rmsprop,
    "adam": adam,
}

#: Rules whose update of each element depends on that element alone (and scalars): applied
#: to all parameters concatenated in one flat array they give bit-identical results, which
#: lets the Solver update a whole model in one call per step. Listed one by one, never derived
#: from ``UPDATE_RULES``: a new rule gets the flat path only once someone has checked that it
#: is elementwise (a rule that normalizes by a norm, like LARS, is not).
ELEMENTWISE_RULES: frozenset[UpdateRule] = frozenset({sgd, sgd_momentum, nesterov, rmsprop, adam})


def get_update_rule(rule: str | UpdateRule) -> UpdateRule:
    """Resolve an update rule given by name (or pass a callable through).

    Raises:
        ValueError: For an unknown name, listing the known ones.
    """
    if callable(rule):
        return rule
    try:
        return UPDATE_RULES[rule]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown update rule {rule!r}; expected one of {sorted(UPDATE_RULES)}"
        ) from None
