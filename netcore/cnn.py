"""A small convolutional classifier with the CS231n model interface.

``{conv - [spatial batchnorm] - relu - 2x2 max pool} x S - {affine - [batchnorm] - relu} x L -
affine - softmax``. Like the fully connected models it keeps its parameters in ``model.params``,
computes ``model.loss(X, y=None)``, reads ``self.params`` on every call and never writes into
``X``, so the Solver, the gradient checks and ``save_model``/``load_model`` work unchanged.
"""

from __future__ import annotations

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
    _positive_int,
    _softmax_loss,
)
from netcore.conv_layers import _conv_norm_relu_pool_backward, _conv_norm_relu_pool_forward
from netcore.layers import (
    affine_backward,
    affine_bn_relu_backward,
    affine_bn_relu_forward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
)
from netcore.losses import check_labels

__all__ = ["ConvNet"]

_POOL_PARAM = {"pool_height": 2, "pool_width": 2, "stride": 2}
_EVAL_BYTES = 64 * 2**20


def _int_list(value: Any, name: str) -> list[int]:
    if isinstance(value, int | str) or not isinstance(value, Sequence):
        raise ValueError(f"{name} = {value!r}; expected a list of positive ints")
    return [_positive_int(v, f"{name}[{i}]") for i, v in enumerate(value)]


class ConvNet:
    """Convolutional stages, then fully connected layers, then softmax.

    Each conv stage is a convolution with stride 1 and "same" zero padding, optional spatial
    batch normalization, ReLU and 2x2 max pooling with stride 2 (halving height and width,
    rounding down).

    Attributes:
        params: ``W1, b1, ...`` numbered across the conv stages (filters of shape
            (F, C, k, k)) and the fully connected layers (matrices of shape (D, M)); with
            batchnorm, ``gamma{i}, beta{i}`` for every conv stage and hidden layer.
        reg: L2 strength; the loss adds ``0.5 * reg * sum(W**2)`` over the filters and weight
            matrices (not biases or batchnorm parameters).
        dtype: Parameter and computation dtype.
        bn_params: One ``bn_param`` dict (running statistics) per conv stage and hidden layer
            with batchnorm, else an empty list.
        rng: Generator for training-time randomness, as in the other models: None until the
            Solver sets it to its own generator. This architecture draws nothing from it today.
    """

    def __init__(
        self,
        input_dim: Sequence[int] = (1, 28, 28),
        num_filters: Sequence[int] = (16, 32),
        filter_size: int | Sequence[int] = 3,
        hidden_dims: Sequence[int] = (100,),
        num_classes: int = 10,
        normalization: str | None = None,
        reg: float = 0.0,
        weight_scale: float | str = "he",
        dtype: Any = np.float32,
        seed: int | None = None,
    ) -> None:
        """Build the network and initialize its weights.

        Args:
            input_dim: Image shape (C, H, W).
            num_filters: Filter count of each conv stage (may be empty).
            filter_size: Odd filter size of every conv stage, or one per stage.
            hidden_dims: Sizes of the fully connected hidden layers (may be empty).
            num_classes: Number of classes.
            normalization: None or ``"batchnorm"`` (spatial in conv stages).
            reg: L2 regularization strength (>= 0).
            weight_scale: Standard deviation of the Gaussian initial weights, or ``"he"``
                (sqrt(2 / fan_in)) or ``"xavier"``; a filter's fan-in is ``C * k * k``.
            dtype: ``np.float32`` (training default) or ``np.float64`` (gradient checks).
            seed: Seeds the weight initialization.

        Raises:
            ValueError: Naming the bad argument and what was expected, including an image
                too small for the number of pooling stages.
        """
        if isinstance(input_dim, str | int) or not isinstance(input_dim, Sequence):
            raise ValueError(f"input_dim = {input_dim!r}; expected (C, H, W)")
        dims = _int_list(input_dim, "input_dim")
        if len(dims) != 3:
            raise ValueError(f"input_dim = {input_dim!r}; expected (C, H, W)")
        filters = _int_list(num_filters, "num_filters")
        if isinstance(filter_size, int | np.integer) and not isinstance(filter_size, bool):
            sizes = [_positive_int(filter_size, "filter_size")] * len(filters)
        else:
            sizes = _int_list(filter_size, "filter_size")
            if len(sizes) != len(filters):
                raise ValueError(
                    f"filter_size = {filter_size!r}; expected an int or one size per conv stage "
                    f"({len(filters)} for num_filters = {list(filters)})"
                )
        if even := [k for k in sizes if k % 2 == 0]:
            raise ValueError(
                f"filter_size = {filter_size!r} holds even size {even[0]}; expected odd sizes "
                "(stride 1 with 'same' padding)"
            )
        hidden = _int_list(hidden_dims, "hidden_dims")
        self.num_classes = _positive_int(num_classes, "num_classes")
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization = {normalization!r}; expected one of {list(NORMALIZATIONS)}"
            )
        self.dtype = _check_common(reg, weight_scale, dtype, seed)

        c, h, w = dims
        for stage in range(len(filters)):
            if h < 2 or w < 2:
                raise ValueError(
                    f"input_dim = {tuple(dims)} is too small for {len(filters)} conv stages "
                    f"(num_filters = {filters}): stage {stage + 1} would pool a {h}x{w} image "
                    f"with a 2x2 window; expected at most {stage} stages"
                )
            h, w = h // 2, w // 2

        self.input_dim = tuple(dims)
        self.num_filters = filters
        self.filter_size = int(filter_size) if isinstance(filter_size, int | np.integer) else sizes
        self.filter_sizes = sizes
        self.hidden_dims = hidden
        self.normalization = normalization
        self.reg = float(reg)
        self.weight_scale = weight_scale
        self.seed = None if seed is None else int(seed)
        self.num_conv = len(filters)
        self.num_layers = len(filters) + len(hidden) + 1
        self.flat_dim = (filters[-1] if filters else c) * h * w

        def std(fan_in: int, fan_out: int) -> float:
            if isinstance(weight_scale, str):
                return float(INIT_SCHEMES[weight_scale](fan_in, fan_out))
            return float(weight_scale)

        init_rng = np.random.default_rng(seed)
        use_bn = normalization == "batchnorm"
        self.params: dict[str, np.ndarray] = {}
        layer = 0
        channels = c
        for f, k in zip(filters, sizes, strict=True):
            layer += 1
            shape = (f, channels, k, k)
            scale = std(channels * k * k, f * k * k)
            self.params[f"W{layer}"] = (init_rng.standard_normal(shape) * scale).astype(self.dtype)
            self.params[f"b{layer}"] = np.zeros(f, dtype=self.dtype)
            if use_bn:
                self.params[f"gamma{layer}"] = np.ones(f, dtype=self.dtype)
                self.params[f"beta{layer}"] = np.zeros(f, dtype=self.dtype)
            channels = f
        fc_sizes = [self.flat_dim, *hidden, self.num_classes]
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(fc_sizes)):
            layer += 1
            scale = std(fan_in, fan_out)
            w_init = init_rng.standard_normal((fan_in, fan_out)) * scale
            self.params[f"W{layer}"] = w_init.astype(self.dtype)
            self.params[f"b{layer}"] = np.zeros(fan_out, dtype=self.dtype)
            if use_bn and i < len(hidden):
                self.params[f"gamma{layer}"] = np.ones(fan_out, dtype=self.dtype)
                self.params[f"beta{layer}"] = np.zeros(fan_out, dtype=self.dtype)
        n_norm = len(filters) + len(hidden) if use_bn else 0
        self.bn_params: list[dict] = [{"mode": "train"} for _ in range(n_norm)]
        self.rng: np.random.Generator | None = None
        self._conv_params = [{"stride": 1, "pad": (k - 1) // 2} for k in sizes]
        # Scoring runs in chunks whose largest im2col matrix stays under _EVAL_BYTES: the
        # Solver scores up to 1000 images per call, which at MNIST size would otherwise
        # build a 600 MB matrix that nothing keeps.
        per_image, (h, w), channels = 1, self.input_dim[1:], c
        for f, k in zip(filters, sizes, strict=True):
            per_image = max(per_image, h * w * k * k * channels * self.dtype.itemsize)
            h, w, channels = h // 2, w // 2, f
        self._eval_chunk = max(1, _EVAL_BYTES // per_image)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON-able data: ``ConvNet(**cfg)`` rebuilds it."""
        return {
            "input_dim": list(self.input_dim),
            "num_filters": list(self.num_filters),
            "filter_size": self.filter_size,
            "hidden_dims": list(self.hidden_dims),
            "num_classes": self.num_classes,
            "normalization": self.normalization,
            "reg": self.reg,
            "weight_scale": self.weight_scale,
            "dtype": self.dtype.name,
            "seed": self.seed,
        }

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        # Cast without copying when X already has the model's dtype; reshape flat rows as a
        # view. X itself is never written.
        X = _as_dtype(X, self.dtype)
        if X.ndim == 4 and X.shape[1:] == self.input_dim:
            return X
        if X.ndim == 2 and X.shape[1] == math.prod(self.input_dim):
            return X.reshape(X.shape[0], *self.input_dim)
        raise ValueError(
            f"X has shape {X.shape}; expected (N, {', '.join(map(str, self.input_dim))}) or "
            f"flat rows (N, {math.prod(self.input_dim)})"
        )

    @staticmethod
    def _check_finite(out: np.ndarray, X: np.ndarray, row0: int = 0) -> None:
        # A non-finite input makes the first layer's output non-finite; summing that is far
        # cheaper than scanning X on every call. Only then is X itself inspected.
        if not np.isfinite(out.sum()) and not np.isfinite(X).all():
            bad = np.argwhere(~np.isfinite(X))[0]
            value = X[tuple(bad)]
            bad[0] += row0  # position in the caller's X when scoring in chunks
            raise ValueError(
                f"X holds a non-finite value {value} at {tuple(bad.tolist())}; "
                "expected finite inputs"
            )

    def loss(
        self, X: np.ndarray, y: np.ndarray | None = None
    ) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Scores in test mode (``y`` None), else the softmax loss and its gradients.

        Args:
            X: Images (N, C, H, W) or flat rows (N, C * H * W), any real dtype (cast to the
                model's dtype).
            y: Labels of shape (N,) in ``[0, num_classes)``, or None.

        Returns:
            ``scores`` (N, num_classes) when ``y`` is None, else ``(loss, grads)`` with grads
            keyed like ``params``.

        Raises:
            ValueError: Wrong input shape, labels out of range, non-finite inputs.
        """
        x = self._prepare(X)
        if y is not None:
            y = check_labels(y, x.shape[0], self.num_classes)
        elif x.shape[0] > self._eval_chunk:
            step = self._eval_chunk
            return np.concatenate(
                [self._loss(x[i : i + step], None, i) for i in range(0, len(x), step)]
            )
        return self._loss(x, y)

    def _loss(self, x: np.ndarray, y: np.ndarray | None, row0: int = 0):
        mode = "test" if y is None else "train"
        params = self.params
        use_bn = self.normalization == "batchnorm"
        for bn_param in self.bn_params:
            bn_param["mode"] = mode

        caches = []
        h = x
        layer = 0
        for stage in range(self.num_conv):
            layer += 1
            bn = None
            if use_bn:
                bn = (params[f"gamma{layer}"], params[f"beta{layer}"], self.bn_params[layer - 1])
            h, cache = _conv_norm_relu_pool_forward(
                h, params[f"W{layer}"], params[f"b{layer}"], self._conv_params[stage],
                _POOL_PARAM, bn,
            )  # fmt: skip
            if stage == 0:
                self._check_finite(h, x, row0)
            caches.append(cache)
        h = h.reshape(h.shape[0], -1)  # (N, F, H', W') -> (N, flat_dim), a view
        for _ in self.hidden_dims:
            layer += 1
            w, b = params[f"W{layer}"], params[f"b{layer}"]
            if use_bn:
                h, cache = affine_bn_relu_forward(
                    h, w, b, params[f"gamma{layer}"], params[f"beta{layer}"],
                    self.bn_params[layer - 1],
                )  # fmt: skip
            else:
                h, cache = affine_relu_forward(h, w, b)
            caches.append(cache)
        layer += 1
        scores, cache = affine_forward(h, params[f"W{layer}"], params[f"b{layer}"])
        caches.append(cache)
        if self.num_layers == 1:
            self._check_finite(scores, x, row0)
        if y is None:
            return scores

        loss, dout = _softmax_loss(scores, y)
        grads: dict[str, np.ndarray] = {}
        dout, grads[f"W{layer}"], grads[f"b{layer}"] = affine_backward(dout, caches.pop())
        for _ in self.hidden_dims:
            layer -= 1
            if use_bn:
                dout, dw, db, grads[f"gamma{layer}"], grads[f"beta{layer}"] = (
                    affine_bn_relu_backward(dout, caches.pop())
                )
            else:
                dout, dw, db = affine_relu_backward(dout, caches.pop())
            grads[f"W{layer}"], grads[f"b{layer}"] = dw, db
        if self.num_conv:
            n, f = x.shape[0], self.num_filters[-1]
            dout = dout.reshape(n, f, *self._final_hw())
        for stage in range(self.num_conv - 1, -1, -1):
            layer -= 1
            # The first stage's input is the data: its gradient is never needed.
            dout, *rest = _conv_norm_relu_pool_backward(dout, caches.pop(), need_dx=stage > 0)
            grads[f"W{layer}"], grads[f"b{layer}"] = rest[0], rest[1]
            if use_bn:
                grads[f"gamma{layer}"], grads[f"beta{layer}"] = rest[2], rest[3]

        if self.reg:
            reg = self.reg
            for i in range(1, self.num_layers + 1):
                w = params[f"W{i}"]
                grads[f"W{i}"] += reg * w  # a fresh array from the backward pass
                loss += 0.5 * reg * float(np.vdot(w, w))
        return loss, grads

    def _final_hw(self) -> tuple[int, int]:
        _, h, w = self.input_dim
        for _ in range(self.num_conv):
            h, w = h // 2, w // 2
        return h, w

    def predict(self, X: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Predicted class indices, computed in batches of ``batch_size`` images."""
        n = np.shape(X)[0]
        out = np.empty(n, dtype=np.intp)
        for start in range(0, n, batch_size):
            out[start : start + batch_size] = self.loss(X[start : start + batch_size]).argmax(1)
        return out
