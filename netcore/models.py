"""Fully connected classifiers with the CS231n model interface.

A model keeps its parameters in ``model.params`` and computes ``model.loss(X, y=None)``:
scores (N, C) in test mode when ``y`` is None, else ``(loss, grads)`` with ``grads`` keyed like
``params``. ``loss`` reads ``self.params`` on every call (numeric gradient checks perturb those
arrays in place) and never writes into ``X``.

Dropout masks in training mode come from ``model.rng`` when it is set: the Solver sets it to
its own generator, so that one seed drives a whole run and every step draws fresh masks. Until
then (``rng`` None) a model built with a ``seed`` draws the **same** masks on every forward pass,
as CS231n's ``dropout_param['seed']`` does, which is what a numeric gradient check needs; a model
built without a seed draws fresh masks from fresh entropy.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from netcore._common import (
    INIT_SCHEMES,
    NORMALIZATIONS,
    _as_dtype,
    _check_common,
    _check_dropout,
    _positive_int,
    _softmax_loss,
)
from netcore.layers import (
    ACTIVATIONS,
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
)
from netcore.losses import check_labels

__all__ = ["INIT_SCHEMES", "NORMALIZATIONS", "FullyConnectedNet", "TwoLayerNet"]


@functools.lru_cache(maxsize=32)
def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    # ones @ dout: column sums through BLAS (faster than dout.sum(axis=0) for small arrays).
    out = np.ones(n, dtype=dtype)
    out.flags.writeable = False
    return out


class FullyConnectedNet:
    """``{affine - [batchnorm] - activation - [dropout]} x (L - 1) - affine - softmax``.

    Attributes:
        params: ``W1, b1, ..., WL, bL`` and, with batchnorm, ``gamma1, beta1, ...`` for the
            hidden layers.
        reg: L2 strength; the loss adds ``0.5 * reg * sum(W**2)`` over weight matrices only.
        dtype: Parameter and computation dtype.
        bn_params: One ``bn_param`` dict per hidden layer (running statistics) with batchnorm,
            else an empty list.
        rng: Generator for dropout masks in training mode, or None (the default): then a
            model built with a ``seed`` draws the same masks on every forward pass (CS231n's
            convention, which numeric gradient checks rely on). The Solver sets it to its own
            generator, so training draws fresh masks every step.
        dropout, activation: May be changed after construction (checked; they take effect on
            the next call). ``normalization`` may not: it decides the parameters.
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
            seed: Seeds the weight initialization and, while ``rng`` is None, the dropout masks
                (the same masks on every forward pass).

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
        self.dtype = _check_common(reg, weight_scale, dtype, seed)

        self.hidden_dims = dims
        self._activation = activation
        self._normalization = normalization
        self._dropout = _check_dropout(dropout)
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
        self.rng: np.random.Generator | None = None
        self._names = [(f"W{i}", f"b{i}", f"gamma{i}", f"beta{i}") for i in range(1, len(sizes))]

    # dropout and activation are read on every call, so changing them takes effect at once;
    # they are properties so that a bad value is refused when it is set, not steps later.
    @property
    def dropout(self) -> float:
        """Probability of dropping a hidden unit in training; 0 disables dropout."""
        return self._dropout

    @dropout.setter
    def dropout(self, value: float) -> None:
        self._dropout = _check_dropout(value)

    @property
    def activation(self) -> str:
        """Name of the hidden layers' activation, a key of ``netcore.layers.ACTIVATIONS``."""
        return self._activation

    @activation.setter
    def activation(self, value: str) -> None:
        if value not in ACTIVATIONS:
            raise ValueError(f"activation = {value!r}; expected one of {sorted(ACTIVATIONS)}")
        self._activation = value

    @property
    def normalization(self) -> str | None:
        """None or ``"batchnorm"``; fixed at construction."""
        return self._normalization

    @normalization.setter
    def normalization(self, value: str | None) -> None:
        raise AttributeError(
            f"normalization cannot change after construction (it is {self._normalization!r} "
            f"and decides the parameters); build a new model with normalization={value!r}"
        )

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
        # Decided on every call (three attribute reads), so that a changed ``dropout`` or
        # ``activation`` takes effect. In test mode dropout is the identity.
        if (
            self._activation == "relu"
            and self._normalization is None
            and (y is None or not self._dropout)
        ):
            return self._loss_relu(x, y)
        return self._loss_layers(x, y)

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

    def _loss_layers(self, x: np.ndarray, y: np.ndarray | None):
        # The general path, built from the layer functions of netcore.layers (a fix in a layer
        # is a fix here): {affine - [batchnorm] - activation - [dropout]} x (L - 1) - affine.
        params = self.params
        names = self._names
        mode = "test" if y is None else "train"
        act_forward, act_backward = ACTIVATIONS[self._activation]
        bn_params = self.bn_params if self._normalization == "batchnorm" else None
        dropout_param = None
        if y is not None and self._dropout:
            rng = self.rng
            if rng is None:  # the same masks on every pass for a seeded model (CS231n)
                rng = np.random.default_rng(self.seed)
            dropout_param = {"mode": "train", "p": self._dropout, "rng": rng}
        caches = []
        h = x
        for i, (wn, bn, gn, betan) in enumerate(names[:-1]):
            a, fc_cache = affine_forward(h, params[wn], params[bn])  # (N, D_in) -> (N, D_out)
            if i == 0:
                self._check_first_layer(a, x)
            bn_cache = None
            if bn_params is not None:
                bn_params[i]["mode"] = mode
                a, bn_cache = batchnorm_forward(a, params[gn], params[betan], bn_params[i])
            h, act_cache = act_forward(a)
            do_cache = None
            if dropout_param is not None:
                h, do_cache = dropout_forward(h, dropout_param)
            caches.append((fc_cache, bn_cache, act_cache, do_cache))
        wn, bn, _, _ = names[-1]
        scores, fc_cache = affine_forward(h, params[wn], params[bn])  # (N, C)
        if len(names) == 1:
            self._check_first_layer(scores, x)
        if y is None:
            return scores

        loss, dout = _softmax_loss(scores, y)
        grads = {}
        reg = self.reg
        for i in range(len(names) - 1, -1, -1):
            wn, bn, _, _ = names[i]
            # The first layer's input is the data: its gradient is never needed.
            dh, dw, grads[bn] = affine_backward(dout, fc_cache, need_dx=i > 0)
            if reg:
                w = params[wn]
                dw += reg * w  # a fresh array from the backward pass
                loss += 0.5 * reg * float(np.vdot(w, w))
            grads[wn] = dw
            if i == 0:
                break
            fc_cache, bn_cache, act_cache, do_cache = caches[i - 1]
            if do_cache is not None:
                dh = dropout_backward(dh, do_cache)
            dout = act_backward(dh, act_cache)
            if bn_cache is not None:  # hidden layer i: gamma{i}, beta{i}
                _, _, gn, betan = names[i - 1]
                dout, grads[gn], grads[betan] = batchnorm_backward(dout, bn_cache)
        return loss, grads

    def predict(self, X: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Predicted class indices, computed in batches of ``batch_size`` rows."""
        n = np.shape(X)[0]
        out = np.empty(n, dtype=np.intp)
        for start in range(0, n, batch_size):
            out[start : start + batch_size] = self.loss(X[start : start + batch_size]).argmax(1)
        return out


class TwoLayerNet(FullyConnectedNet):
    """``affine - relu - affine - softmax`` with Gaussian initial weights (CS231n).

    Computes in float64 by default, as CS231n's TwoLayerNet does, so that the notebook's
    fixed-weight checks (scores within 1e-6, losses within 1e-10) hold as written; pass
    ``dtype=np.float32`` for fast training.
    """

    def __init__(
        self,
        input_dim: int = 3 * 32 * 32,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
        dtype: Any = np.float64,
        seed: int | None = None,
    ) -> None:
        """Build the network.

        Args:
            input_dim: Width of an input row.
            hidden_dim: Size of the hidden layer.
            num_classes: Number of classes.
            weight_scale: Standard deviation of the initial weights (or ``"he"``/``"xavier"``).
            reg: L2 regularization strength.
            dtype: ``np.float64`` (default, as in CS231n) or ``np.float32`` (faster).
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
