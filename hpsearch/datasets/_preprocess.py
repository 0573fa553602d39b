"""One conversion from raw to the training dtype, then in-place scaling and centering.

Memory is the point here: CIFAR-10's 50,000 training images are 150 MB as uint8, 600 MB as
float32 and 1.2 GB as float64. Rows are gathered and converted chunk by chunk straight into the
output array, and statistics are accumulated in float64 over bounded chunks, so at no moment is
there a full-size temporary beside the raw pool and the one converted copy.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["center", "fingerprint", "gather", "scale"]

_CHUNK_BYTES = 4 << 20  # bound on any temporary: a few MB regardless of dataset size


def _rows_per_chunk(row_bytes: int) -> int:
    return max(1, _CHUNK_BYTES // max(1, row_bytes))


def gather(X: np.ndarray, idx: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Rows ``X[idx]`` flattened to ``(len(idx), D)`` and converted to ``dtype`` in one pass.

    Args:
        X: ``(N, ...)`` raw pool (any numeric dtype; not modified).
        idx: row indices.
        dtype: the training dtype.

    Returns:
        A new C-contiguous ``(len(idx), D)`` array.
    """
    width = math.prod(X.shape[1:])
    flat = X.reshape(len(X), width)
    out = np.empty((len(idx), width), dtype=dtype)
    step = _rows_per_chunk(width * max(flat.itemsize, out.itemsize))
    for start in range(0, len(idx), step):
        out[start:start + step] = flat[idx[start:start + step]]
    return out


def _column_sums(X: np.ndarray, shift: np.ndarray | None = None, square: bool = False
                 ) -> np.ndarray:
    """Per-column sum of ``X`` (or of ``(X - shift)**2``), accumulated in float64 by chunks."""
    acc = np.zeros(X.shape[1], dtype=np.float64)
    step = _rows_per_chunk(X.shape[1] * 8)
    for start in range(0, len(X), step):
        chunk = X[start:start + step]
        if square:
            dev = chunk.astype(np.float64)
            if shift is not None:
                dev -= shift
            np.square(dev, out=dev)
            acc += dev.sum(axis=0)
        else:
            acc += chunk.sum(axis=0, dtype=np.float64)
    return acc


def _column_extrema(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return X.min(axis=0), X.max(axis=0)


def scale(train: np.ndarray, others: list[np.ndarray], pixel_max: float | None) -> None:
    """Bring values to [0, 1] in place: divide by the known pixel maximum, or min-max per column.

    Without a known pixel range the minimum and maximum come from the training split only;
    validation and test values may then fall slightly outside [0, 1]. Constant columns map to 0.

    Args:
        train: ``(N, D)`` training split, scaled in place.
        others: validation and test splits, scaled in place with the same constants.
        pixel_max: largest possible raw value (255 for uint8 pixels), or None.
    """
    if pixel_max is not None:
        factor = train.dtype.type(1.0 / pixel_max)
        for X in (train, *others):
            X *= factor
        return
    low, high = _column_extrema(train)
    span = high - low
    span[span == 0] = 1
    for X in (train, *others):
        X -= low
        X /= span


def center(train: np.ndarray, others: list[np.ndarray], how: str) -> None:
    """Center (``"mean_image"``) or standardize (``"standardize"``) in place with training stats.

    ``"mean_image"`` subtracts the per-feature (per-pixel) training mean, CS231n's mean image.
    ``"standardize"`` also divides by the per-feature training standard deviation; features that
    are constant in training are left at scale 1. Validation and test statistics are never used.

    Args:
        train: ``(N, D)`` training split, modified in place.
        others: validation and test splits, modified in place with the training statistics.
        how: ``"none"``, ``"mean_image"`` or ``"standardize"``.
    """
    if how == "none":
        return
    mean64 = _column_sums(train) / len(train)
    std = None
    if how == "standardize":
        std64 = np.sqrt(_column_sums(train, shift=mean64, square=True) / len(train))
        std64[std64 == 0] = 1.0
        std = std64.astype(train.dtype)
    mean = mean64.astype(train.dtype)
    for X in (train, *others):
        X -= mean
        if std is not None:
            X /= std


def fingerprint(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> str:
    """A 16-hex-digit SHA-256 of the arrays (names, dtypes, shapes, bytes) and ``meta``.

    Args:
        arrays: name -> C-contiguous array.
        meta: JSON-able description of the preprocessing and labels.
    """
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for key in sorted(arrays):
        a = arrays[key]
        digest.update(f"{key}:{a.dtype.str}:{a.shape};".encode())
        digest.update(memoryview(np.ascontiguousarray(a)).cast("B"))
    return digest.hexdigest()[:16]
