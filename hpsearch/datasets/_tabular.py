"""The user's own arrays: an ``.npz`` file or CSV files, one set to split or explicit splits."""

from __future__ import annotations

import csv
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch.datasets._base import DatasetError, Pool, RawData, check_fits, check_label_values

__all__ = ["load_csv_raw", "load_npz_raw"]

_SPLITS = ("train", "val", "test")


def _encode_labels(pools: dict[str, Pool]) -> tuple[str, ...] | None:
    """Turn string labels into class indices in place (sorted names); None for numeric labels."""
    if not any(p.y.dtype.kind in "USO" for p in pools.values()):
        return None
    names = sorted({str(v) for p in pools.values() for v in p.y.tolist()})
    lookup = {n: i for i, n in enumerate(names)}
    for p in pools.values():
        p.y = np.array([lookup[str(v)] for v in p.y.tolist()], dtype=np.int64)
    return tuple(names)


def _finish(name: str, pools: dict[str, Pool], options: dict[str, Any],
            class_names: tuple[str, ...] | None, resolved: dict[str, Any]) -> RawData:
    encoded = _encode_labels(pools)
    if encoded is not None:
        class_names = encoded
    for pool in pools.values():
        check_label_values(pool.y, pool.source)
    n_examples = sum(len(p.y) for p in pools.values())
    num_classes = options["num_classes"]
    if num_classes is None:
        if class_names is not None:
            num_classes = len(class_names)
        else:
            num_classes = max(int(p.y.max()) + 1 if p.y.size else 0 for p in pools.values())
            if num_classes > n_examples:
                raise DatasetError(
                    f"dataset {name!r}: the largest label is {num_classes - 1} but there are "
                    f"only {n_examples} examples; labels must be class indices 0 .. K-1 with "
                    "at most as many classes as examples (a stray huge label, or give "
                    "num_classes)")
    if num_classes > n_examples:
        raise DatasetError(f"dataset {name!r}: option 'num_classes' = {num_classes} but there "
                           f"are only {n_examples} examples; expected at most {n_examples} "
                           "classes", key="num_classes")
    if num_classes < 2:
        raise DatasetError(f"dataset {name!r}: found {num_classes} class(es); a classifier "
                           "needs labels of at least 2 classes (0 .. num_classes-1)")
    if class_names is None or len(class_names) != num_classes:
        class_names = tuple(str(c) for c in range(num_classes))

    X = pools["train"].X
    image_shape = None
    if X.ndim == 3:
        image_shape = (1, *X.shape[1:])
    elif X.ndim == 4:
        image_shape = tuple(X.shape[1:])
    elif X.ndim != 2:
        raise DatasetError(f"{pools['train'].source}: X has shape {X.shape}; expected (N, D) "
                           "features, (N, H, W) or (N, C, H, W) images")
    for split, pool in pools.items():
        if pool.X.shape[1:] != X.shape[1:]:
            raise DatasetError(f"{pool.source}: {split} examples have shape {pool.X.shape[1:]}, "
                               f"training examples {X.shape[1:]}")
        if image_shape is not None and pool.X.ndim == 3:
            pool.X = pool.X[:, None]
    resolved["num_classes"] = num_classes
    return RawData(train=pools["train"], val=pools.get("val"), test=pools.get("test"),
                   num_classes=num_classes, class_names=class_names, image_shape=image_shape,
                   pixel_max=255.0 if X.dtype == np.uint8 else None, resolved=resolved)


_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}


def _npz_bytes(path: Path) -> int:
    """The bytes an .npz file's arrays take once loaded, read from the .npy headers alone.

    Each member's header (shape, dtype) must agree with the member's stored size, so that a file
    whose header claims 10^12 elements is refused before anything is allocated.

    Raises:
        DatasetError: not a zip, a member that is not a readable .npy, or a header that does not
            match the member's size.
    """
    total = 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version not in _NPY_HEADERS:
                        raise DatasetError(f"{path}: cannot read it as .npz ({info.filename}: "
                                           f".npy format version {version} is not supported)")
                    shape, _, dtype = _NPY_HEADERS[version](f)
                    header = f.tell()
                if dtype.hasobject:
                    continue  # np.load refuses it below (allow_pickle=False) with its message
                nbytes = math.prod(shape) * dtype.itemsize
                if nbytes != info.file_size - header:
                    raise DatasetError(
                        f"{path}: {info.filename} claims shape {shape} of {dtype} "
                        f"({nbytes:,} bytes) but holds {info.file_size - header:,} bytes; the "
                        "file is corrupt")
                total += nbytes
    except DatasetError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path}: cannot read it as .npz ({type(exc).__name__}: {exc})"
                           ) from None
    return total


def load_npz_raw(path: Path | None, options: dict[str, Any]) -> RawData:
    """Arrays from ``np.savez``: ``X``/``y`` to split, or ``X_train``/``y_train`` (+ val, test).

    Key names follow the options ``x_key`` and ``y_key`` (``X``, ``y`` by default); an optional
    ``class_names`` array names the classes. Object arrays are refused (no pickles).

    Raises:
        DatasetError: missing file or keys, unreadable file, or inconsistent arrays.
    """
    hint = ("save your arrays with np.savez(path, X=features, y=labels) (or X_train=..., "
            "y_train=..., X_val=..., y_val=..., X_test=..., y_test=...) and point the study "
            "file at it: [dataset] path = \"/data/features.npz\"")
    if path is None:
        raise DatasetError(f"dataset 'npz' needs a file and no path was given: {hint}")
    if not path.is_file():
        raise DatasetError(f"dataset 'npz': {path} is not a file: {hint}")
    xk, yk = options["x_key"], options["y_key"]
    check_fits(_npz_bytes(path), path, "its arrays")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path}: cannot read it as .npz ({type(exc).__name__}: {exc})"
                           ) from None
    explicit = f"{xk}_train" in arrays or f"{yk}_train" in arrays
    wanted = [(f"{xk}_{s}", f"{yk}_{s}", s) for s in _SPLITS] if explicit else [(xk, yk, "train")]
    pools: dict[str, Pool] = {}
    for x_name, y_name, split in wanted:
        present = [k for k in (x_name, y_name) if k in arrays]
        if split != "train" and not present:
            continue  # val and test are optional: carved from train when absent
        if missing := [k for k in (x_name, y_name) if k not in arrays]:
            raise DatasetError(f"{path}: missing arrays {missing}; found {sorted(arrays)}")
        X, y = arrays[x_name], arrays[y_name]
        if X.dtype.kind not in "biuf":
            raise DatasetError(f"{path}: {x_name} has dtype {X.dtype}; expected numbers")
        if y.ndim != 1:
            raise DatasetError(f"{path}: {y_name} has shape {y.shape}; expected (N,)")
        pools[split] = Pool(X, y, f"{path}:{x_name}/{y_name}")
    names = arrays.get("class_names")
    class_names = tuple(str(n) for n in names.tolist()) if names is not None else None
    return _finish("npz", pools, options, class_names, {"layout": "splits" if explicit
                                                        else "single"})


def _read_csv(path: Path, options: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, Any]:
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f, delimiter=options["delimiter"]))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read it as CSV ({exc})") from None
    rows = [r for r in rows if r]
    header = rows.pop(0) if options["header"] and rows else None
    if not rows:
        raise DatasetError(f"{path}: no data rows")
    width = len(header) if header else len(rows[0])
    column = options["label_column"]
    if column is None:
        column = "label" if header and "label" in header else -1
    if isinstance(column, str):
        if not header:
            raise DatasetError(f"{path}: label_column {column!r} is a name but the file has no "
                               "header (set header = true, or give the column's index)")
        if column not in header:
            raise DatasetError(f"{path}: no column {column!r}; the header has {header}")
        index = header.index(column)
    else:
        if not -width <= column < width:
            raise DatasetError(f"{path}: label_column {column} is out of range for {width} "
                               "columns")
        index = column % width
    features = np.empty((len(rows), width - 1), dtype=np.float64)
    labels = []
    line0 = 2 if header else 1
    for i, row in enumerate(rows):
        if len(row) != width:
            raise DatasetError(f"{path}: line {i + line0} has {len(row)} fields, expected "
                               f"{width}")
        labels.append(row[index].strip())
        values = row[:index] + row[index + 1:]
        try:
            features[i] = [float(v) if v.strip() else np.nan for v in values]
        except ValueError:
            bad = next(v for v in values if v.strip() and not _is_number(v))
            raise DatasetError(f"{path}: line {i + line0}: {bad!r} is not a number") from None
    y: np.ndarray
    try:
        y = np.array([int(v) for v in labels], dtype=np.int64)
    except (ValueError, OverflowError):
        try:  # numbers that are not integers: refused like npz's (check_label_values)
            y = np.array([float(v) for v in labels], dtype=np.float64)
        except ValueError:
            y = np.array(labels, dtype=str)  # class names: mapped to indices later
    return features, y, column


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_csv_raw(path: Path | None, options: dict[str, Any]) -> RawData:
    """One CSV file to split, or a directory with ``train.csv`` (+ ``val.csv``, ``test.csv``).

    Every column but the label column is a numeric feature (an empty cell reads as NaN and is
    reported). Labels are integers 0..K-1, or strings that become classes in sorted order.

    Raises:
        DatasetError: missing files, unparsable cells, ragged rows, or a bad label column.
    """
    hint = ("give a CSV file (header row, one column named 'label') or a directory holding "
            "train.csv and optionally val.csv and test.csv: [dataset] path = \"/data/my.csv\"")
    if path is None:
        raise DatasetError(f"dataset 'csv' needs a file and no path was given: {hint}")
    if path.is_dir():
        files = {s: path / f"{s}.csv" for s in _SPLITS if (path / f"{s}.csv").is_file()}
        if "train" not in files:
            raise DatasetError(f"dataset 'csv': {path} has no train.csv: {hint}")
    elif path.is_file():
        files = {"train": path}
    else:
        raise DatasetError(f"dataset 'csv': {path} does not exist: {hint}")
    pools, column = {}, None
    for split, f in files.items():
        X, y, column = _read_csv(f, options)
        pools[split] = Pool(X, y, str(f))
    return _finish("csv", pools, options, None,
                   {"label_column": column, "layout": "splits" if len(files) > 1 or path.is_dir()
                    else "single"})
