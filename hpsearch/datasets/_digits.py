"""scikit-learn's bundled 8x8 handwritten digits (no download)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hpsearch.datasets._base import DatasetError, Pool, RawData

__all__ = ["load_digits_raw"]


def load_digits_raw(path: Path | None, options: dict[str, Any]) -> RawData:
    """The 1797 digits as uint8 pixels 0..16, shape (1797, 1, 8, 8).

    Raises:
        DatasetError: a path was given (the data ship with scikit-learn).
    """
    if path is not None:
        raise DatasetError(f"dataset 'digits' ships with scikit-learn and takes no path; "
                           f"remove [dataset] path = {str(path)!r}", key="path")
    from sklearn.datasets import load_digits  # heavy import, only when digits are asked for

    bunch = load_digits()
    # Pixels are the integers 0..16 stored as float64: keep them raw as uint8 like other images.
    X = bunch.images.astype(np.uint8).reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    return RawData(train=Pool(X, y, "sklearn.datasets.load_digits"), val=None, test=None,
                   num_classes=10, class_names=tuple(str(c) for c in range(10)),
                   image_shape=(1, 8, 8), pixel_max=16.0)
