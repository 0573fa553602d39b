"""Datasets for studies: load, split with the study seed, preprocess, fingerprint.

One entry point::

    from hpsearch.datasets import load_dataset
    ds = load_dataset("cifar10", "/data/cifar-10-batches-py", seed=0, n_train=5000)

Every dataset goes through the same steps: a loader reads raw pools (uint8 pixels stay uint8);
validation and test sets are carved from the training pool with ``np.random.default_rng(seed)``
unless the source ships its own; the chosen rows are converted once to the training dtype; then
scaling and centering run in place with training statistics only. See docs/datasets.md.

This package imports only NumPy at import time (scikit-learn inside the digits loader).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch.datasets import _preprocess
from hpsearch.datasets._base import (
    Dataset,
    DatasetError,
    Pool,
    RawData,
    available_memory,
    check_label_values,
)
from hpsearch.datasets._cifar import load_cifar10_raw
from hpsearch.datasets._digits import load_digits_raw
from hpsearch.datasets._folds import MAX_FOLDS, FoldedDataset, fold_ids, with_folds
from hpsearch.datasets._idx import load_mnist_raw
from hpsearch.datasets._options import (
    COLUMN,
    COMMON,
    IMAGE,
    MAX_CLASSES,
    Option,
    count,
    resolve_options,
)
from hpsearch.datasets._split import split_indices
from hpsearch.datasets._tabular import load_csv_raw, load_npz_raw
from hpsearch.datasets._toy import MAX_TOY_SAMPLES, check_toy_options, load_toy_raw
from hpsearch.study import Boolean, Interval, Options, Text

__all__ = ["DATASET_NAMES", "IMAGE_DATASETS", "MAX_FOLDS", "TABULAR_DATASETS", "Dataset",
           "DatasetError", "FoldedDataset", "available_memory", "check_dataset_options",
           "dataset_options", "fold_ids", "load_dataset", "with_folds"]

Loader = Callable[[Path | None, dict[str, Any]], RawData]


@dataclass(frozen=True)
class _Spec:
    """A registered dataset: its loader, accepted options and default split sizes.

    ``n_val`` / ``n_test``: default sizes when carved from the training pool; None means 20% of
    the pool. A source that ships its own split (CIFAR-10's test_batch) uses all of it by default.
    """

    loader: Loader
    options: dict[str, Option]
    n_val: int | None = None
    n_test: int | None = None


def _table(*parts: dict[str, Option], **defaults: Any) -> dict[str, Option]:
    table = {k: v for part in parts for k, v in part.items()}
    for key, value in defaults.items():
        table[key] = dataclasses.replace(table[key], default=value)
    return table


_IMAGE_DEFAULTS = {"scale": "unit", "center": "mean_image"}
_NUM_CLASSES = {"num_classes": Option(count(MAX_CLASSES),
                                      help="number of classes (default: max label + 1)")}
_TOY = {"n_samples": Option(count(MAX_TOY_SAMPLES), 1000, help="points generated"),
        "noise": Option(Interval(float, 0, 100), 0.1, help="std of the Gaussian noise")}
_NAME = Text(non_empty=True)

_REGISTRY: dict[str, _Spec] = {
    "digits": _Spec(load_digits_raw, _table(COMMON, IMAGE, **_IMAGE_DEFAULTS),
                    n_val=300, n_test=300),
    "cifar10": _Spec(load_cifar10_raw, _table(
        COMMON, IMAGE, {"format": Option(Options(str, ("auto", "python", "binary")), "auto",
                                         "file format (auto: whichever is there)")},
        **_IMAGE_DEFAULTS), n_val=1000),
    "mnist": _Spec(lambda p, o: load_mnist_raw("mnist", p, o),
                   _table(COMMON, IMAGE, **_IMAGE_DEFAULTS), n_val=5000),
    "fashion_mnist": _Spec(lambda p, o: load_mnist_raw("fashion_mnist", p, o),
                           _table(COMMON, IMAGE, **_IMAGE_DEFAULTS), n_val=5000),
    "npz": _Spec(load_npz_raw, _table(
        COMMON, IMAGE, _NUM_CLASSES,
        {"x_key": Option(_NAME, "X", help="name of the inputs (X, or X_train/X_val/X_test)"),
         "y_key": Option(_NAME, "y", help="name of the labels (y, or y_train/y_val/y_test)")})),
    "csv": _Spec(load_csv_raw, _table(
        COMMON, _NUM_CLASSES,
        {"label_column": Option(COLUMN, help="label column name or index (default: 'label' "
                                "if the header has it, else the last column)"),
         "header": Option(Boolean(), True, help="the first row names the columns"),
         "delimiter": Option(_NAME, ",", help="field separator")})),
    "moons": _Spec(lambda p, o: load_toy_raw("moons", p, o), _table(COMMON, _TOY, noise=0.2)),
    "circles": _Spec(lambda p, o: load_toy_raw("circles", p, o), _table(
        COMMON, _TOY, {"factor": Option(Interval(float, 0, 1), 0.5,
                                        help="inner radius / outer radius")},
        noise=0.1)),
    "spiral": _Spec(lambda p, o: load_toy_raw("spiral", p, o), _table(
        COMMON, _TOY, {"n_classes": Option(count(1000), 3, help="number of arms")},
        n_samples=900, noise=0.2)),
}

DATASET_NAMES: tuple[str, ...] = tuple(_REGISTRY)
# Sources that are always images / never images (npz may be either: known once loaded).
IMAGE_DATASETS: frozenset[str] = frozenset({"digits", "cifar10", "mnist", "fashion_mnist"})
TABULAR_DATASETS: frozenset[str] = frozenset({"csv", "moons", "circles", "spiral"})


def _spec(name: str) -> _Spec:
    if name not in _REGISTRY:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {list(DATASET_NAMES)}")
    return _REGISTRY[name]


def dataset_options(name: str) -> frozenset[str]:
    """The option names ``load_dataset(name, ...)`` accepts (``seed`` included).

    Raises:
        DatasetError: an unknown dataset name.
    """
    return frozenset(_spec(name).options)


def check_dataset_options(name: str, options: dict[str, Any],
                          where: Callable[[str], str] | None = None) -> dict[str, Any]:
    """Validate options for ``load_dataset(name, ...)`` without loading anything.

    Checks each value against its declaration (type, bounds, finiteness) and what can be checked
    across options before the files are read (a toy set's sample count against its classes and
    the split sizes asked for).

    Args:
        name: one of ``DATASET_NAMES``.
        options: the options asked for.
        where: names an option in a message about its value (default: ``dataset 'moons':
            option 'noise'``); a study file passes one naming its own key.

    Returns:
        The resolved options, defaults filled in.

    Raises:
        DatasetError: an unknown name or option, or a bad value; ``key`` names the option.
    """
    opts = resolve_options(name, _spec(name).options, options, where)
    if name in ("moons", "circles", "spiral"):
        check_toy_options(name, opts)
    return opts


def _labels(pool: Pool, num_classes: int) -> np.ndarray:
    """Check a pool's labels and return them as int64 class indices."""
    y, n = pool.y, len(pool.y)
    if y.ndim != 1 or n != len(pool.X):
        raise DatasetError(f"{pool.source}: {len(pool.X)} examples but {y.size} labels")
    if y.dtype.kind == "f":
        check_label_values(y, pool.source)
    elif y.dtype.kind not in "biu":
        raise DatasetError(f"{pool.source}: labels have dtype {y.dtype}; expected integers")
    y = y.astype(np.int64)
    if out := int(np.count_nonzero((y < 0) | (y >= num_classes))):
        raise DatasetError(f"{pool.source}: {out} of {n} labels are outside [0, {num_classes}) "
                           f"(smallest {y.min()}, largest {y.max()})")
    return y


def _draw(name: str, raw: RawData, labels: dict[str, np.ndarray], opts: dict[str, Any],
          spec: _Spec) -> dict[str, tuple[Pool, np.ndarray, np.ndarray]]:
    """Choose the rows of each split: (pool, its checked labels, sorted row indices)."""
    rng = np.random.default_rng(opts["seed"])
    stratify = opts["stratify"]
    n_pool = len(labels["train"])
    carved: dict[str, int] = {}
    for split, default in (("test", spec.n_test), ("val", spec.n_val)):
        if getattr(raw, split) is None:
            size = opts[f"n_{split}"] or default or max(1, round(0.2 * n_pool))
            carved[split] = size
    remaining = n_pool - sum(carved.values())
    n_train = opts["n_train"] if opts["n_train"] is not None else remaining
    if remaining < 1 or n_train > remaining:
        carve = "".join(f", n_{s} = {k}" for s, k in carved.items())
        raise DatasetError(f"dataset {name!r}: {raw.train.source} has {n_pool} examples; "
                           f"n_train = {n_train}{carve} do not fit (only "
                           f"{max(remaining, 0)} left for training); lower n_train, n_val or "
                           "n_test")
    sizes = [carved.get("test", 0), carved.get("val", 0), n_train]
    test_idx, val_idx, train_idx = split_indices(labels["train"], sizes, rng, stratify)
    chosen = {"train": (raw.train, labels["train"], train_idx)}
    for split, idx in (("test", test_idx), ("val", val_idx)):
        pool = getattr(raw, split)
        if pool is None:
            chosen[split] = (raw.train, labels["train"], idx)
            continue
        size = len(labels[split]) if opts[f"n_{split}"] is None else opts[f"n_{split}"]
        if size > len(labels[split]):
            raise DatasetError(f"dataset {name!r}: n_{split} = {size} but {pool.source} has "
                               f"only {len(labels[split])} examples")
        idx = (np.arange(size) if size == len(labels[split]) else
               split_indices(labels[split], [size], rng, stratify)[0])
        chosen[split] = (pool, labels[split], idx)
    for split, (_, _, idx) in chosen.items():
        opts[f"n_{split}"] = len(idx)  # resolved: the counts actually drawn
    return chosen


def _check_finite(X: np.ndarray, source: str, split: str) -> None:
    step = max(1, (8 << 20) // max(1, X.shape[1] * X.itemsize))
    bad_values = bad_rows = 0
    for start in range(0, len(X), step):
        ok = np.isfinite(X[start:start + step])
        bad_values += int(ok.size - np.count_nonzero(ok))
        bad_rows += int(np.count_nonzero(~ok.all(axis=1)))
    if bad_values:
        raise DatasetError(f"{source}: {bad_values} NaN or infinite values in {bad_rows} of the "
                           f"{len(X)} rows drawn for {split}")


def load_dataset(name: str, path: str | Path | None = None, **options: Any) -> Dataset:
    """Load, split and preprocess a registered dataset.

    Args:
        name: one of ``DATASET_NAMES``.
        path: where the files are (directory or file, per dataset); None for digits and toy sets.
        **options: see ``dataset_options(name)`` and docs/datasets.md. Common ones: ``n_train``,
            ``n_val``, ``n_test``, ``seed`` (split seed), ``stratify``, ``scale`` ("none" |
            "unit"), ``center`` ("none" | "mean_image" | "standardize"), ``flatten`` (images),
            ``dtype`` ("float32" | "float64"), ``folds`` (k >= 2: a ``FoldedDataset`` with
            stratified k-fold indices over train + validation; see ``with_folds``).

    Returns:
        The frozen, read-only ``Dataset``.

    Raises:
        DatasetError: unknown name or option, missing or corrupt files, bad labels or values,
            split sizes that do not fit.
    """
    spec = _spec(name)
    opts = check_dataset_options(name, options)
    raw = spec.loader(Path(path).expanduser() if path is not None else None, opts)
    pools = {s: getattr(raw, s) for s in ("train", "val", "test") if getattr(raw, s) is not None}
    labels = {s: _labels(pool, raw.num_classes) for s, pool in pools.items()}
    chosen = _draw(name, raw, labels, opts, spec)

    dtype = np.dtype(opts["dtype"])
    X, y = {}, {}
    for split, (pool, pool_labels, idx) in chosen.items():
        X[split] = _preprocess.gather(pool.X, idx, dtype)  # the one conversion from raw
        y[split] = np.ascontiguousarray(pool_labels[idx])
        if pool.X.dtype.kind == "f":
            _check_finite(X[split], pool.source, split)
    pixel_max, image_shape = raw.pixel_max, raw.image_shape
    num_classes, class_names = raw.num_classes, raw.class_names
    opts.update(raw.resolved)
    del raw, pools, chosen, labels  # drop the raw pools before any further work

    others = [X["val"], X["test"]]
    if opts["scale"] == "unit":
        _preprocess.scale(X["train"], others, pixel_max)
    _preprocess.center(X["train"], others, opts["center"])

    if (opts["folds"] or 0) > len(y["train"]) + len(y["val"]):
        raise DatasetError(f"dataset {name!r}: folds = {opts['folds']} but only "
                           f"{len(y['train']) + len(y['val'])} training and validation examples",
                           key="folds")
    flatten = opts.get("flatten", True) or image_shape is None
    input_shape = (X["train"].shape[1],) if flatten else tuple(image_shape)
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"X_{split}"] = X[split].reshape(len(X[split]), *input_shape)
        arrays[f"y_{split}"] = y[split]
    for a in arrays.values():
        a.flags.writeable = False  # shared zero-copy with workers: nobody writes into them
    meta = {"preprocess": {k: opts.get(k) for k in ("scale", "center", "flatten", "dtype")},
            "num_classes": num_classes, "class_names": list(class_names),
            "input_shape": list(input_shape)}
    dataset = Dataset(
        name=name, **arrays, num_classes=num_classes, input_shape=input_shape,
        image_shape=tuple(image_shape) if image_shape is not None else None,
        class_names=tuple(class_names), fingerprint=_preprocess.fingerprint(arrays, meta),
        options=opts)
    return with_folds(dataset, opts["folds"] or 0, opts["seed"])
