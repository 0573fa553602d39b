"""The Dataset container, the error users see, and the raw form every loader returns."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Dataset", "DatasetError", "Pool", "RawData", "available_memory", "check_fits",
           "check_label_values"]


class DatasetError(ValueError):
    """A dataset could not be loaded as asked: the message says what is wrong and what to do.

    Attributes:
        key: the dataset option at fault, when one is (a study file reports it as
            ``dataset.<key>``); None otherwise.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def available_memory() -> int | None:
    """Bytes of memory this machine can still give (``MemAvailable``), or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def check_fits(nbytes: int, source: Any, what: str) -> None:
    """Refuse to allocate ``nbytes`` for ``what`` when this machine's free memory cannot hold it.

    Loaders call it with sizes read from file headers, before reading any body, so a header
    that claims 10^12 elements fails at once instead of taking the machine down.
    """
    free = available_memory()
    if free is not None and nbytes > free:
        raise DatasetError(f"{source}: {what} would need {_gib(nbytes)} of memory, but only "
                           f"{_gib(free)} is available; the file is corrupt or too large for "
                           "this machine")


def check_label_values(y: np.ndarray, source: Any) -> None:
    """Refuse float labels that are not class indices (NaN, infinite or fractional values).

    Every loader's labels pass here, so ``0.5`` is refused the same way from CSV and npz.
    """
    if y.dtype.kind != "f":
        return
    n = len(y)
    if bad := int(np.count_nonzero(~np.isfinite(y))):
        raise DatasetError(f"{source}: {bad} of {n} labels are NaN or infinite")
    if frac := int(np.count_nonzero(y != np.round(y))):
        first = y[y != np.round(y)][0]
        raise DatasetError(f"{source}: {frac} of {n} labels are not whole numbers (first: "
                           f"{first!r}); expected class indices 0, 1, 2, ...")


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2**30:.3g} GiB"


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A loaded, split and preprocessed dataset, ready for netcore's Solver.

    Arrays are C-contiguous and read-only (workers get zero-copy views from Ray's object store,
    so nothing may write into them): ``X_*`` of the training dtype (float32 unless the option
    ``dtype`` says otherwise), ``y_*`` int64 class indices in ``[0, num_classes)``.

    Attributes:
        name: registered dataset name, e.g. ``"digits"``.
        X_train: training inputs, ``(N_train, *input_shape)``.
        y_train: training labels, ``(N_train,)``.
        X_val: validation inputs.
        y_val: validation labels.
        X_test: test inputs (score them once, at the end).
        y_test: test labels.
        num_classes: number of classes.
        input_shape: per-sample shape the model sees: ``(D,)`` when flattened, ``(C, H, W)``
            when kept as images.
        image_shape: ``(C, H, W)`` of image data whether flattened or not; None for data that
            are not images (toy 2-D sets, feature vectors).
        class_names: one name per class.
        fingerprint: short hex hash of the final arrays and the preprocessing options.
        options: the resolved options (defaults filled in, sizes as counts), JSON-able.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    input_shape: tuple[int, ...]
    image_shape: tuple[int, int, int] | None
    class_names: tuple[str, ...]
    fingerprint: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def as_solver_data(self) -> dict[str, np.ndarray]:
        """The four arrays netcore's Solver trains on, without copying them."""
        return {"X_train": self.X_train, "y_train": self.y_train,
                "X_val": self.X_val, "y_val": self.y_val}

    def __repr__(self) -> str:
        sizes = f"train={len(self.y_train)}, val={len(self.y_val)}, test={len(self.y_test)}"
        return (f"Dataset({self.name!r}, {sizes}, input_shape={self.input_shape}, "
                f"num_classes={self.num_classes}, dtype={self.X_train.dtype}, "
                f"fingerprint={self.fingerprint!r})")


@dataclass
class Pool:
    """Raw examples as a loader found them, before splitting and preprocessing.

    Attributes:
        X: ``(N, ...)`` raw inputs: uint8 pixels for image files, any numeric dtype otherwise.
        y: ``(N,)`` labels, any integer (or integral float) dtype; checked by the pipeline.
        source: what the examples came from (file names), for error messages.
    """

    X: np.ndarray
    y: np.ndarray
    source: str


@dataclass
class RawData:
    """What a loader returns: pools of raw examples and what is known about them.

    Attributes:
        train: the training pool; validation and test examples are carved from it when the
            source has no split of its own.
        val: a validation pool shipped by the source, if any.
        test: a test pool shipped by the source (CIFAR-10's ``test_batch``, MNIST's t10k files).
        num_classes: number of classes.
        class_names: one name per class.
        image_shape: ``(C, H, W)`` for images, None otherwise.
        pixel_max: the largest possible raw value when it is known (255 for uint8 pixels, 16 for
            digits); ``scale = "unit"`` divides by it. None: scale with training min and max.
        resolved: dataset-specific options as actually used (e.g. the detected file format).
    """

    train: Pool
    val: Pool | None
    test: Pool | None
    num_classes: int
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int] | None
    pixel_max: float | None
    resolved: dict[str, Any] = field(default_factory=dict)
