"""What one trial costs in memory, mirroring what netcore allocates while it trains.

The study refuses, before anything runs, a search space whose largest trial cannot fit in the
memory one trial has (``hpsearch.study.check_memory``); this module says how many bytes a trial
of given parameters needs. It follows netcore's internals (the Solver's flat buffers, the update
rules' state, ConvNet's im2col buffers and chunked scoring), so it lives beside the code that
trains. NumPy-free and Ray-free: plain arithmetic on the parameters.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from hpsearch.study import hidden_dims

__all__ = ["RULE_STATE", "estimate_trial_bytes"]


# Update-rule state kept per parameter element (velocity, caches, moments).
RULE_STATE: dict[str, int] = {"sgd": 0, "sgd_momentum": 1, "nesterov": 1, "rmsprop": 1, "adam": 2}
# Rows the Solver scores per forward pass when it measures accuracy (``check_accuracy``).
_EVAL_ROWS = 1000
# netcore's ConvNet scores in chunks whose im2col matrix stays under this (cnn._EVAL_BYTES).
_EVAL_COLS_BYTES = 64 * 2**20


def estimate_trial_bytes(params: Mapping[str, Any], input_shape: Sequence[int],
                         num_classes: int, itemsize: int = 4) -> int:
    """Roughly how many bytes one trial allocates while it trains (within a factor of ~2).

    Counts what netcore holds at its peak: the parameters with their gradients, best-so-far
    snapshot, the Solver's flat buffers and the update rule's state; the activations and
    gradients of one minibatch (and of one scoring pass); for a CNN the im2col buffers of every
    stage (forward and backward); and the float64 temporaries of weight initialization. The
    dataset itself is not counted (workers share one read-only copy).

    Args:
        params: resolved parameters (``resolve_params``).
        input_shape: per-sample shape the model sees, e.g. ``(64,)`` or ``(3, 32, 32)``.
        num_classes: number of classes.
        itemsize: bytes per number (4 for the float32 that trials train in).

    Returns:
        The estimate in bytes.
    """
    batch = int(params["batch_size"])
    hidden = list(hidden_dims(params))
    bn = params.get("normalization") == "batchnorm"
    per_hidden_train = 4 + (4 if bn else 0) + (2 if float(params.get("dropout") or 0) else 0)
    n_params = 0
    largest = 0
    train_row = eval_row = 0  # numbers per example in a training step / a scoring pass
    eval_rows = _EVAL_ROWS
    if params.get("model") == "cnn" and len(input_shape) == 3:
        c, h, w = (int(v) for v in input_shape)
        k = int(params["filter_size"])
        pad = (k - 1) // 2
        cols_row = 0
        for i in range(int(params["num_conv_stages"])):
            f = int(params["num_filters"]) * 2**i
            n_params += f * c * k * k + f + (2 * f if bn else 0)
            largest = max(largest, f * c * k * k)
            cols = h * w * k * k * c
            padded = (h + 2 * pad) * (w + 2 * pad) * c
            maps = h * w * f
            train_row += 2 * cols + 2 * padded + (6 + (4 if bn else 0)) * maps
            eval_row += cols + padded + 2 * maps
            cols_row = max(cols_row, cols)
            c, h, w = f, h // 2, w // 2
        flat = c * h * w
        eval_rows = min(_EVAL_ROWS, max(1, _EVAL_COLS_BYTES // max(1, cols_row * itemsize)))
    else:
        flat = math.prod(int(v) for v in input_shape)
    widths = [flat, *hidden, int(num_classes)]
    for a, b in itertools.pairwise(widths):
        n_params += a * b + b
        largest = max(largest, a * b)
    n_params += 2 * sum(hidden) if bn else 0
    train_row += 3 * math.prod(int(v) for v in input_shape) + 3 * flat
    train_row += per_hidden_train * sum(hidden) + 4 * int(num_classes)
    eval_row += flat + sum(hidden) + 2 * int(num_classes)
    state = RULE_STATE.get(str(params.get("update_rule")), 2)
    # Training: parameters, gradients and the best-so-far snapshot (the Solver's flat buffers
    # replace, not double, them), the rule's state, and one step's or one scoring pass's arrays.
    steady = n_params * (3 + state) + max(batch * train_row, eval_rows * eval_row)
    # Initialization: each weight matrix drawn in float64, then cast (NumPy elides the scaling
    # temporary), beside the parameters made so far.
    init = n_params * itemsize + (8 + itemsize) * largest
    return int(max(steady * itemsize, init))
