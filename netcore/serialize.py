"""Save a trained model to one ``.npz`` file and load it back.

The file holds the parameters, the class name, ``get_config()`` as JSON, the dtype and the
batchnorm running statistics of any ``model.bn_params`` list. It is loaded with
``allow_pickle=False``: data only, never code.

The file is written whole or not at all: to a temporary name in the same directory, flushed to
disk, then renamed over the target, so a full disk or a crash mid-write leaves the previous file
(or none) and never a truncated one.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from netcore.models import FullyConnectedNet, TwoLayerNet

__all__ = ["MODEL_CLASSES", "load_model", "save_model"]

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
