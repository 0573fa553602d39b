"""Save a trained model to one ``.npz`` file and load it back; states to and from bytes.

The file holds the parameters, the class name, ``get_config()`` as JSON, the dtype and the
batchnorm running statistics of any ``model.bn_params`` list. It is loaded with
``allow_pickle=False``: data only, never code.

The file is written whole or not at all: to a temporary name in the same directory, flushed to
disk, then renamed over the target, so a full disk or a crash mid-write leaves the previous file
(or none) and never a truncated one.

``state_to_bytes`` / ``state_from_bytes`` carry plain nested data (a ``Solver.state()``, a
checkpoint holding one) as ``.npz`` bytes: arrays and NumPy scalars as entries of their own
dtype, everything else as JSON, so every value comes back bit for bit, again without pickle.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import secrets
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from netcore.models import FullyConnectedNet, TwoLayerNet

__all__ = ["MODEL_CLASSES", "load_model", "save_model", "state_from_bytes", "state_to_bytes"]

_FORMAT = 1
_STATS = ("running_mean", "running_var")


def _conv_net() -> type:
    # Imported lazily: the convolutional model lives in its own module.
    return importlib.import_module("netcore.cnn").ConvNet


#: Class name -> zero-argument function returning the class.
MODEL_CLASSES: dict[str, Callable[[], type]] = {
    "TwoLayerNet": lambda: TwoLayerNet,
    "FullyConnectedNet": lambda: FullyConnectedNet,
    "ConvNet": _conv_net,
}


def save_model(path: str | Path, model: Any) -> Path:
    """Write ``model`` to ``path`` (``.npz`` is appended when missing).

    Args:
        path: Destination file.
        model: A model with ``params``, ``get_config()`` and a class in ``MODEL_CLASSES``.

    Returns:
        The path written.

    Raises:
        ValueError: For a model class not in ``MODEL_CLASSES``.
        OSError: When the file cannot be written; a previous file at ``path`` is then left
            intact and no temporary file remains.
    """
    name = type(model).__name__
    if name not in MODEL_CLASSES:
        raise ValueError(f"cannot save a {name}; expected one of {sorted(MODEL_CLASSES)}")
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    arrays: dict[str, np.ndarray] = {f"param/{k}": np.asarray(v) for k, v in model.params.items()}
    for i, bn_param in enumerate(getattr(model, "bn_params", None) or []):
        for key in _STATS:
            if bn_param.get(key) is not None:
                arrays[f"bn/{i}/{key}"] = np.asarray(bn_param[key])
    meta = {
        "format": _FORMAT,
        "class": name,
        "config": model.get_config(),
        "dtype": np.dtype(getattr(model, "dtype", np.float32)).name,
    }
    arrays["meta"] = np.array(json.dumps(meta))
    _write_atomically(path, arrays)
    return path


def _write_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # "x" mode creates the temporary file with the usual permissions (umask applied) and never
    # reuses an existing name; os.replace is a rename within one directory, hence atomic.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("xb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable; not every platform can open a directory
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_model(path: str | Path) -> Any:
    """Rebuild a model saved by :func:`save_model`, parameters and running statistics included.

    Raises:
        ValueError: When the file is not a netcore model, names an unknown class, or its
            arrays do not fit the architecture.
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as f:
        if "meta" not in f.files:
            raise ValueError(f"{path} is not a netcore model file (no 'meta' entry)")
        meta = json.loads(str(f["meta"]))
        name = meta.get("class")
        if name not in MODEL_CLASSES:
            raise ValueError(
                f"{path}: model class {name!r}; expected one of {sorted(MODEL_CLASSES)}"
            )
        model = MODEL_CLASSES[name]()(**meta["config"])
        stored = {k.removeprefix("param/"): f[k] for k in f.files if k.startswith("param/")}
        if stored.keys() != model.params.keys():
            raise ValueError(
                f"{path}: parameters {sorted(stored)} do not match the architecture's "
                f"{sorted(model.params)}"
            )
        for k, v in stored.items():
            if v.shape != model.params[k].shape:
                raise ValueError(
                    f"{path}: parameter {k} has shape {v.shape}; expected {model.params[k].shape}"
                )
            model.params[k] = v.astype(model.params[k].dtype, copy=False)
        for i, bn_param in enumerate(getattr(model, "bn_params", None) or []):
            for key in _STATS:
                if f"bn/{i}/{key}" in f.files:
                    bn_param[key] = f[f"bn/{i}/{key}"]
    return model


# Markers of the JSON tree for values stored as .npz entries (a dict holding only the marker).
_ARRAY, _SCALAR = "__ndarray__", "__npscalar__"


def state_to_bytes(state: dict[str, Any]) -> bytes:
    """``state`` as ``.npz`` bytes, for :func:`state_from_bytes`.

    Args:
        state: Nested dicts (string keys), lists, tuples (read back as lists), None, bools,
            ints, floats, strings, NumPy arrays (not of objects) and NumPy scalars.

    Raises:
        ValueError: A value of another type, a non-string key, an object array.
    """
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(state, arrays, "state")
    buf = io.BytesIO()
    np.savez(buf, __tree__=np.array(json.dumps(tree)), **arrays)
    return buf.getvalue()


def state_from_bytes(data: bytes) -> dict[str, Any]:
    """The state that :func:`state_to_bytes` wrote, arrays and scalars in their own dtypes.

    Raises:
        ValueError: When ``data`` is not such a state.
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            return _decode(json.loads(str(f["__tree__"])), {k: f[k] for k in f.files})
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as exc:  # any bad bytes
        raise ValueError(f"not a netcore state ({type(exc).__name__}: {exc})") from None


def _encode(obj: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    if isinstance(obj, np.ndarray | np.generic):
        if np.asarray(obj).dtype.hasobject:
            raise ValueError(f"{where} is an array of Python objects; expected numbers")
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(obj)
        return {_ARRAY if isinstance(obj, np.ndarray) else _SCALAR: key}
    if isinstance(obj, dict):
        if bad := [k for k in obj if not isinstance(k, str) or k in (_ARRAY, _SCALAR)]:
            raise ValueError(f"{where} has key {bad[0]!r}; expected string keys")
        return {k: _encode(v, arrays, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj  # JSON writes floats by repr: they read back exactly
    raise ValueError(f"{where} is a {type(obj).__name__}; expected plain data or NumPy values")


def _decode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, dict):
        if len(obj) == 1 and _ARRAY in obj:
            return arrays[obj[_ARRAY]]
        if len(obj) == 1 and _SCALAR in obj:
            return arrays[obj[_SCALAR]][()]
        return {k: _decode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj
