"""Fully connected classifiers with the CS231n model interface.

A model keeps its parameters in ``model.params`` and computes ``model.loss(X, y=None)``:
scores (N, C) in test mode when ``y`` is None, else ``(loss, grads)`` with ``grads`` keyed like
``params``. ``loss`` reads ``self.params`` on every call (numeric gradient checks perturb those
arrays in place) and never writes into ``X``.

Randomness at training time (dropout) comes from ``model.rng``, an ``np.random.Generator``;
the Solver replaces it with its own generator so that one seed drives a whole run.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from netcore.layers import ACTIVATIONS, batchnorm_backward, batchnorm_forward
from netcore.losses import _softmax_loss, check_labels

__all__ = ["INIT_SCHEMES", "NORMALIZATIONS", "FullyConnectedNet", "TwoLayerNet"]

#: Named weight initializations: standard deviation as a function of (fan_in, fan_out).
INIT_SCHEMES = {
    "he": lambda fan_in, fan_out: np.sqrt(2.0 / fan_in),
    "xavier": lambda fan_in, fan_out: np.sqrt(2.0 / (fan_in + fan_out)),
}
NORMALIZATIONS = (None, "batchnorm")
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@functools.lru_cache(maxsize=32)
def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    # ones @ dout: column sums through BLAS (faster than dout.sum(axis=0) for small arrays).
    out = np.ones(n, dtype=dtype)
    out.flags.writeable = False
    return out


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} = {value!r}; expected a positive integer")
    return int(value)



def _as_dtype(X: Any, dtype: np.dtype) -> np.ndarray:
    """X as an array of ``dtype``: no copy when it already is one; X itself is never written."""
    X = np.asarray(X)
    if X.dtype != dtype:
        if X.dtype.kind not in "fiub":
            raise ValueError(f"X has dtype {X.dtype}; expected a numeric array")
        X = X.astype(dtype)
    return X


def _check_common(reg: Any, weight_scale: Any, dtype: Any, seed: Any) -> np.dtype:
    """Check the constructor arguments every model shares; returns the parameter dtype."""
    if isinstance(reg, bool) or not isinstance(reg, int | float) or not 0 <= reg < np.inf:
        raise ValueError(f"reg = {reg!r}; expected a finite number >= 0")
    if isinstance(weight_scale, str):
        if weight_scale not in INIT_SCHEMES:
            raise ValueError(
                f"weight_scale = {weight_scale!r}; expected a positive float or one of "
                f"{sorted(INIT_SCHEMES)}"
            )
    elif not isinstance(weight_scale, int | float) or not 0 < weight_scale < np.inf:
        raise ValueError(f"weight_scale = {weight_scale!r}; expected a positive float")
    try:
        checked = np.dtype(dtype)
    except TypeError:
        checked = None
    if checked not in _DTYPES:
        raise ValueError(f"dtype = {dtype!r}; expected float32 or float64")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise ValueError(f"seed = {seed!r}; expected an int or None")
    return checked

class FullyConnectedNet:
    """``{affine - [batchnorm] - activation - [dropout]} x (L - 1) - affine - softmax``.

    Attributes:
        params: ``W1, b1, ..., WL, bL`` and, with batchnorm, ``gamma1, beta1, ...`` for the
            hidden layers.
        reg: L2 strength; the loss adds ``0.5 * reg * sum(W**2)`` over weight matrices only.
        dtype: Parameter and computation dtype.
        bn_params: One ``bn_param`` dict per hidden layer (running statistics) with batchnorm,
            else an empty list.
        rng: Generator for dropout masks in training mode.
    """

    def __init__(
        self,
        hidden_dims: Sequence[int],
        input_dim: int = 3 * 32 * 32,
        num_classes: int = 10,
        activation: str = "relu",
        dropout: float = 0.0,
        normalization: str | None = None,
        reg: float = 0.0,
        weight_scale: float | str = 1e-2,
        dtype: Any = np.float32,
        seed: int | None = None,
    ) -> None:
        """Build the network and initialize its weights.

        Args:
            hidden_dims: Sizes of the hidden layers (may be empty: a linear softmax classifier).
            input_dim: Width of an input row (inputs of shape (N, d_1, ...) are flattened).
            num_classes: Number of classes C.
            activation: One of ``"relu"``, ``"leaky_relu"``, ``"tanh"``, ``"sigmoid"``.
            dropout: Probability of **dropping** a hidden unit in training; 0 disables dropout.
            normalization: None or ``"batchnorm"``.
            reg: L2 regularization strength (>= 0).
            weight_scale: Standard deviation of the Gaussian initial weights, or an init scheme
                name: ``"he"`` (sqrt(2 / fan_in)) or ``"xavier"`` (sqrt(2 / (fan_in + fan_out))).
            dtype: ``np.float32`` (training default) or ``np.float64`` (gradient checks).
            seed: Seeds the weight initialization and the initial ``rng``.

        Raises:
            ValueError: Naming the bad argument and what was expected.
        """
        if isinstance(hidden_dims, int | str) or not isinstance(hidden_dims, Sequence):
            raise ValueError(f"hidden_dims = {hidden_dims!r}; expected a list of positive ints")
        dims = [_positive_int(h, f"hidden_dims[{i}]") for i, h in enumerate(hidden_dims)]
        self.input_dim = _positive_int(input_dim, "input_dim")
        self.num_classes = _positive_int(num_classes, "num_classes")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation = {activation!r}; expected one of {sorted(ACTIVATIONS)}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization = {normalization!r}; expected one of {list(NORMALIZATIONS)}"
            )
        if not isinstance(dropout, int | float) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout = {dropout!r}; expected a drop probability in [0, 1)")
        self.dtype = _check_common(reg, weight_scale, dtype, seed)

        self.hidden_dims = dims
        self.activation = activation
        self.normalization = normalization
        self.dropout = float(dropout)
        self.reg = float(reg)
        self.weight_scale = weight_scale
        self.seed = None if seed is None else int(seed)
        self.num_layers = len(dims) + 1

        init_rng = np.random.default_rng(seed)
        self.params: dict[str, np.ndarray] = {}
        sizes = [self.input_dim, *dims, self.num_classes]
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes), start=1):
            std = (
                INIT_SCHEMES[weight_scale](fan_in, fan_out)
                if isinstance(weight_scale, str)
                else weight_scale
            )
            w = init_rng.standard_normal((fan_in, fan_out)) * std
            self.params[f"W{i}"] = w.astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(fan_out, dtype=self.dtype)
            if normalization == "batchnorm" and i < self.num_layers:
                self.params[f"gamma{i}"] = np.ones(fan_out, dtype=self.dtype)
                self.params[f"beta{i}"] = np.zeros(fan_out, dtype=self.dtype)
        self.bn_params: list[dict] = (
            [{"mode": "train"} for _ in dims] if normalization == "batchnorm" else []
        )
        self.rng = init_rng.spawn(1)[0]
        self._names = [(f"W{i}", f"b{i}", f"gamma{i}", f"beta{i}") for i in range(1, len(sizes))]
        self._plain_relu = activation == "relu" and normalization is None and self.dropout == 0

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON-able data: ``type(model)(**cfg)`` rebuilds it."""
        return {
            "hidden_dims": list(self.hidden_dims),
            "input_dim": self.input_dim,
            "num_classes": self.num_classes,
            "activation": self.activation,
            "dropout": self.dropout,
            "normalization": self.normalization,
            "reg": self.reg,
            "weight_scale": self.weight_scale,
            "dtype": self.dtype.name,
            "seed": self.seed,
        }

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        # Cast without copying when X already has the model's dtype; flatten as a view.
        X = _as_dtype(X, self.dtype)
        if X.ndim < 2 or math.prod(X.shape[1:]) != self.input_dim:
            raise ValueError(
                f"X has shape {X.shape}; expected (N, {self.input_dim}) or (N, d1, ...) with "
                f"d1 * ... = {self.input_dim}"
            )
        return X.reshape(X.shape[0], self.input_dim)

    @staticmethod
    def _check_first_layer(a: np.ndarray, X: np.ndarray) -> None:
        # A non-finite input makes the first pre-activation non-finite; its sum of squares
        # (one BLAS dot, cheaper than a.sum()) is far cheaper than scanning X. Only when it is
        # not finite (or overflows) is X itself inspected.
        flat = a.reshape(-1)
        if not math.isfinite(flat @ flat) and not np.isfinite(X).all():
            bad = np.argwhere(~np.isfinite(X))[0]
            raise ValueError(
                f"X holds a non-finite value {X[tuple(bad)]} at {tuple(bad.tolist())}; "
                "expected finite inputs"
            )

    def loss(
        self, X: np.ndarray, y: np.ndarray | None = None
    ) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Scores in test mode (``y`` None), else the softmax loss and its gradients.

        Args:
            X: Inputs of shape (N, input_dim) or (N, d1, ...) with d1 * ... = input_dim.
            y: Labels of shape (N,) in ``[0, num_classes)``, or None.

        Returns:
            ``scores`` (N, C) when ``y`` is None, else ``(loss, grads)``.

        Raises:
            ValueError: Wrong input width, labels out of range, non-finite inputs.
        """
        x = self._prepare(X)
        if y is not None:
            y = check_labels(y, x.shape[0], self.num_classes)
        if self._plain_relu:
            return self._loss_relu(x, y)
        return self._loss_general(x, y)

    def _loss_relu(self, x: np.ndarray, y: np.ndarray | None):
        # The hot path (affine-ReLU layers, no normalization or dropout), written out so that
        # each layer costs a handful of NumPy calls and no needless temporaries.
        params = self.params
        names = self._names
        hs = [x]  # inputs of each affine layer
        h = x
        for i, (wn, bn, _, _) in enumerate(names[:-1]):
            a = h @ params[wn]  # (N, D_in) @ (D_in, D_out)
            a += params[bn]
            if i == 0:
                self._check_first_layer(a, x)
            h = np.maximum(a, 0, out=a)
            hs.append(h)
        wn, bn, _, _ = names[-1]
        scores = h @ params[wn]
        scores += params[bn]
        if len(names) == 1:
            self._check_first_layer(scores, x)
        if y is None:
            return scores

        loss, dout = _softmax_loss(scores, y)
        grads = {}
        reg = self.reg
        ones = _ones(x.shape[0], x.dtype)
        for i in range(len(names) - 1, -1, -1):
            wn, bn, _, _ = names[i]
            w = params[wn]
            h = hs[i]
            dw = h.T @ dout  # (D_in, N) @ (N, D_out)
            grads[bn] = ones @ dout  # column sums through BLAS: faster than sum(axis=0)
            if reg:
                dw += reg * w
                loss += 0.5 * reg * float(np.vdot(w, w))
            grads[wn] = dw
            if i:  # the gradient with respect to the input data is never needed
                dout = dout @ w.T
                np.multiply(dout, h > 0, out=dout)  # ReLU backward, in place
        return loss, grads

    def _loss_general(self, x: np.ndarray, y: np.ndarray | None):
        params = self.params
        names = self._names
        mode = "test" if y is None else "train"
        act_forward, act_backward = ACTIVATIONS[self.activation]
        use_bn = self.normalization == "batchnorm"
        use_dropout = self.dropout > 0 and mode == "train"
        drop_scale = 1.0 / (1.0 - self.dropout)
        caches = []
        h = x
        for i, (wn, bn, gn, betan) in enumerate(names[:-1]):
            a = h @ params[wn]
            a += params[bn]
            if i == 0:
                self._check_first_layer(a, x)
            bn_cache = None
            if use_bn:
                bn_param = self.bn_params[i]
                bn_param["mode"] = mode
                a, bn_cache = batchnorm_forward(a, params[gn], params[betan], bn_param)
            out, act_cache = act_forward(a)
            mask = None
            if use_dropout:
                draw = self.rng.random(out.shape, dtype=out.dtype.type)
                mask = draw >= self.dropout
                out = out * mask
                out *= drop_scale
            caches.append((h, bn_cache, act_cache, mask))
            h = out
        wn, bn, _, _ = names[-1]
        scores = h @ params[wn]
        scores += params[bn]
        if len(names) == 1:
            self._check_first_layer(scores, x)
        if y is None:
            return scores

        loss, dout = _softmax_loss(scores, y)
        grads = {}
        reg = self.reg
        h_last = h
        for i in range(len(names) - 1, -1, -1):
            wn, bn, gn, betan = names[i]
            w = params[wn]
            h_in = h_last if i == len(names) - 1 else caches[i][0]
            dw = h_in.T @ dout
            grads[bn] = dout.sum(axis=0)
            if reg:
                dw += reg * w
                loss += 0.5 * reg * float(np.vdot(w, w))
            grads[wn] = dw
            if i == 0:
                break
            dh = dout @ w.T
            _, bn_cache, act_cache, mask = caches[i - 1]
            if mask is not None:
                dh *= mask
                dh *= drop_scale
            da = act_backward(dh, act_cache)
            if use_bn:
                da, grads[f"gamma{i}"], grads[f"beta{i}"] = batchnorm_backward(da, bn_cache)
            dout = da
        return loss, grads

    def predict(self, X: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Predicted class indices, computed in batches of ``batch_size`` rows."""
        n = np.shape(X)[0]
        out = np.empty(n, dtype=np.intp)
        for start in range(0, n, batch_size):
            out[start : start + batch_size] = self.loss(X[start : start + batch_size]).argmax(1)
        return out


class TwoLayerNet(FullyConnectedNet):
    """``affine - relu - affine - softmax`` with Gaussian initial weights (CS231n)."""

    def __init__(
        self,
        input_dim: int = 3 * 32 * 32,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
        dtype: Any = np.float32,
        seed: int | None = None,
    ) -> None:
        """Build the network.

        Args:
            input_dim: Width of an input row.
            hidden_dim: Size of the hidden layer.
            num_classes: Number of classes.
            weight_scale: Standard deviation of the initial weights (or ``"he"``/``"xavier"``).
            reg: L2 regularization strength.
            dtype: ``np.float32`` or ``np.float64``.
            seed: Seeds the weight initialization.
        """
        super().__init__(
            [_positive_int(hidden_dim, "hidden_dim")],
            input_dim=input_dim,
            num_classes=num_classes,
            reg=reg,
            weight_scale=weight_scale,
            dtype=dtype,
            seed=seed,
        )

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON-able data: ``TwoLayerNet(**cfg)`` rebuilds it."""
        return {
            "input_dim": self.input_dim,
            "hidden_dim": self.hidden_dims[0],
            "num_classes": self.num_classes,
            "weight_scale": self.weight_scale,
            "reg": self.reg,
            "dtype": self.dtype.name,
            "seed": self.seed,
        }
