"""CIFAR-10 from the python release (pickles, read with a restricted unpickler) or the binary one.

The python release's batches are pickles, and unpickling runs whatever callables a file names.
``_BatchUnpickler`` admits only the globals that a pickled dict of NumPy arrays needs and refuses
anything else before it can run, so a tampered file fails with an error instead of executing code.
"""

from __future__ import annotations

import codecs
import importlib
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch.datasets._base import DatasetError, Pool, RawData, check_fits

__all__ = ["load_cifar10_raw", "read_batch"]

_CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck")
_PIXELS = 3 * 32 * 32
_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


def _numpy_reconstruct() -> Any:
    # numpy >= 2 keeps it in numpy._core; older files name numpy.core, which numpy 2 aliases.
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return importlib.import_module(module)._reconstruct
        except (ImportError, AttributeError):
            continue
    raise ImportError("numpy's multiarray._reconstruct not found")


def _numpy_scalar() -> Any:
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return importlib.import_module(module).scalar
        except (ImportError, AttributeError):
            continue
    raise ImportError("numpy's multiarray.scalar not found")


# (module, name) -> how to get the object. Nothing here can run a command or touch files:
# array and dtype reconstruction, numpy scalars, and _codecs.encode (Python 3 protocol-2 pickles
# spell bytes as _codecs.encode(str, "latin1")).
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("_codecs", "encode"): lambda: codecs.encode,
}


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in ``_ALLOWED``."""

    def __init__(self, file: io.BufferedIOBase, path: Path) -> None:
        super().__init__(file, encoding="bytes")  # the original files were written by Python 2
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        """Resolve an allowed global; refuse any other with DatasetError."""
        factory = _ALLOWED.get((module, name))
        if factory is None:
            raise DatasetError(f"{self._path}: refused to load the global {module}.{name}: a "
                               "CIFAR-10 batch holds only NumPy arrays, lists and strings, so "
                               "this file is not a genuine batch (it may try to run code)")
        return factory()


def _key(key: Any) -> Any:
    return key.decode("latin1") if isinstance(key, bytes) else key


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            obj = _BatchUnpickler(f, path).load()
    except DatasetError:
        raise
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read it ({exc})") from None
    except Exception as exc:  # truncated or garbled pickles raise many types
        raise DatasetError(f"{path}: not a readable CIFAR-10 pickle ({type(exc).__name__}: "
                           f"{exc}); the file is truncated or corrupted: download it again"
                           ) from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}: expected a pickled dict, found {type(obj).__name__}")
    return {_key(k): v for k, v in obj.items()}


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One python-format batch: ``data`` (N, 3072) uint8 and ``labels`` (N,).

    Returns:
        (images (N, 3, 32, 32) uint8, labels (N,) int64).

    Raises:
        DatasetError: the file is missing keys, has the wrong shapes, or is not a safe pickle.
    """
    batch = _unpickle(path)
    if missing := {"data", "labels"} - set(batch):
        raise DatasetError(f"{path}: missing keys {sorted(missing)}; found {sorted(batch)}")
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != _PIXELS:
        found = (f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
                 else type(data).__name__)
        raise DatasetError(f"{path}: 'data' should be a uint8 array of shape (N, {_PIXELS}), "
                           f"found a {found}")
    try:
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DatasetError(f"{path}: 'labels' should be a list of integers ({exc})") from None
    if labels.shape != (len(data),):
        raise DatasetError(f"{path}: {len(data)} images but {labels.size} labels")
    return data.reshape(-1, 3, 32, 32), labels


def _read_binary(path: Path) -> tuple[np.ndarray, np.ndarray]:
    # Each record: 1 label byte, then 3072 pixel bytes (R, G, B planes, row-major).
    try:
        check_fits(path.stat().st_size, path, "its records")
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read it ({exc})") from None
    record = 1 + _PIXELS
    if raw.size == 0 or raw.size % record:
        raise DatasetError(f"{path}: {raw.size} bytes is not a whole number of {record}-byte "
                           "records (label + 3072 pixels); the file is truncated or corrupted")
    records = raw.reshape(-1, record)
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].astype(np.int64)


def _class_names(meta: Path, binary: bool) -> tuple[str, ...]:
    if not meta.is_file():
        return _CLASS_NAMES
    try:
        if binary:
            text = meta.read_text(encoding="utf-8")
            names = tuple(line.strip() for line in text.splitlines() if line.strip())
        else:
            raw = _unpickle(meta).get("label_names", _CLASS_NAMES)
            if not isinstance(raw, list | tuple):
                raise DatasetError(f"{meta}: 'label_names' should be a list of names, found "
                                   f"{type(raw).__name__}")
            names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in raw)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{meta}: class names are not UTF-8 text ({exc}); expected one "
                           "class name per line (the file is corrupted: download it again)"
                           ) from None
    except OSError as exc:
        raise DatasetError(f"{meta}: cannot read it ({exc})") from None
    if len(names) != len(_CLASS_NAMES):
        raise DatasetError(f"{meta}: expected {len(_CLASS_NAMES)} class names, found "
                           f"{len(names)}")
    return names


def _locate(path: Path, fmt: str) -> tuple[Path, str]:
    candidates = []
    if fmt in ("auto", "python"):
        candidates += [(path, "python"), (path / "cifar-10-batches-py", "python")]
    if fmt in ("auto", "binary"):
        candidates += [(path, "binary"), (path / "cifar-10-batches-bin", "binary")]
    for directory, kind in candidates:
        if (directory / ("data_batch_1" if kind == "python" else "data_batch_1.bin")).is_file():
            return directory, kind
    detail = f"{path} does not exist" if not path.exists() else (
        f"{path} holds no {'CIFAR-10 batches' if fmt == 'auto' else fmt + '-format batches'}")
    raise _missing(detail)


def _missing(detail: str) -> DatasetError:
    return DatasetError(
        f"dataset 'cifar10': {detail}. Download 'CIFAR-10 python version' "
        f"(cifar-10-python.tar.gz) from {_URL}, unpack it (tar xzf cifar-10-python.tar.gz), and "
        "point the study file at the unpacked directory: [dataset] path = "
        "\"/data/cifar-10-batches-py\"")


def load_cifar10_raw(path: Path | None, options: dict[str, Any]) -> RawData:
    """Training pool from ``data_batch_1..5``, test pool from ``test_batch``, as uint8 images.

    The five batches are copied into one preallocated uint8 array as they are read, so only one
    batch is held twice at any moment.

    Raises:
        DatasetError: no path, missing or corrupt files, or a refused pickle global.
    """
    if path is None:
        raise _missing("needs its files and no path was given")
    directory, kind = _locate(path, options["format"])
    suffix = "" if kind == "python" else ".bin"
    read = read_batch if kind == "python" else _read_binary
    files = [directory / f"{name}{suffix}" for name in _TRAIN_FILES]
    test_file = directory / f"test_batch{suffix}"
    if absent := [f.name for f in [*files, test_file] if not f.is_file()]:
        raise _missing(f"{directory} lacks {absent}")

    train = np.empty((0, 3, 32, 32), dtype=np.uint8)
    filled, label_parts = 0, []
    for f in files:
        images, labels = read(f)
        if filled + len(labels) > len(train):  # first batch (or a larger one): make room
            grown = np.empty((filled + len(labels) * (len(files) - len(label_parts)), 3, 32, 32),
                             dtype=np.uint8)
            grown[:filled] = train[:filled]
            train = grown
        train[filled:filled + len(labels)] = images
        filled += len(labels)
        label_parts.append(labels)
        del images
    train = train[:filled]
    train_labels = np.concatenate(label_parts)
    test_images, test_labels = read(test_file)
    names = _class_names(directory / ("batches.meta" if kind == "python"
                                      else "batches.meta.txt"), kind == "binary")
    return RawData(
        train=Pool(train, train_labels, f"{directory}/data_batch_1..5{suffix}"),
        val=None, test=Pool(test_images, test_labels, str(test_file)),
        num_classes=len(names), class_names=names, image_shape=(3, 32, 32), pixel_max=255.0,
        resolved={"format": kind})
