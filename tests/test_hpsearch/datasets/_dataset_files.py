"""Writers of small dataset files in the exact real formats, for tests (no downloads)."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from pathlib import Path

import numpy as np

IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]


class _Py2Pickler(pickle._Pickler):
    """Writes every str and bytes as a Python 2 ``str`` (BINSTRING), like the original files."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        n = len(data)
        head = (pickle.SHORT_BINSTRING + bytes([n]) if n < 256
                else pickle.BINSTRING + struct.pack("<i", n))
        self.write(head + data)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str
    dispatch[str] = _save_py2_str


def py2_pickle(obj) -> bytes:
    """``obj`` pickled as CIFAR-10's Python 2 files were: protocol 2, str as bytes, numpy.core."""
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def cifar_arrays(n_per_batch: int, n_test: int, seed: int = 0):
    """Random CIFAR-shaped data: five training batches and a test batch."""
    rng = np.random.default_rng(seed)
    batches = [(rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                rng.integers(0, 10, n_per_batch).tolist()) for _ in range(5)]
    test = (rng.integers(0, 256, (n_test, 3072), dtype=np.uint8),
            rng.integers(0, 10, n_test).tolist())
    return batches, test


def write_cifar_python(directory: Path, batches, test, style: str = "py2") -> Path:
    """``cifar-10-batches-py`` layout; style "py2" (bytes keys, BINSTRING) or "py3" (str keys)."""
    directory.mkdir(parents=True, exist_ok=True)

    def dump(name: str, obj: dict) -> None:
        if style == "py2":
            obj = {k.encode(): v for k, v in obj.items()}
            (directory / name).write_bytes(py2_pickle(obj))
        else:
            (directory / name).write_bytes(pickle.dumps(obj))

    for i, (data, labels) in enumerate(batches, start=1):
        dump(f"data_batch_{i}", {"batch_label": f"training batch {i} of 5", "labels": labels,
                                 "data": data, "filenames": [f"img{j}.png" for j in
                                                             range(len(labels))]})
    dump("test_batch", {"batch_label": "testing batch 1 of 1", "labels": test[1],
                        "data": test[0], "filenames": []})
    dump("batches.meta", {"label_names": CIFAR_NAMES, "num_cases_per_batch": len(test[1]),
                          "num_vis": 3072})
    return directory


def write_cifar_binary(directory: Path, batches, test) -> Path:
    """``cifar-10-batches-bin`` layout: records of 1 label byte + 3072 pixel bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    named = [(f"data_batch_{i}.bin", b) for i, b in enumerate(batches, start=1)]
    for name, (data, labels) in [*named, ("test_batch.bin", test)]:
        records = np.concatenate([np.asarray(labels, np.uint8)[:, None], data], axis=1)
        (directory / name).write_bytes(records.tobytes())
    (directory / "batches.meta.txt").write_text("\n".join(CIFAR_NAMES) + "\n\n")
    return directory


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """An IDX file's bytes: big-endian magic, dimensions, then the uint8 data."""
    head = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return head + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_mnist(directory: Path, n_train: int, n_test: int, gz: bool = True, seed: int = 0,
                size: int = 28):
    """The four MNIST IDX files (gzipped or not); returns the arrays written."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        arrays[split] = (images, labels)
        for kind, arr, magic in (("images-idx3", images, IMAGES_MAGIC),
                                 ("labels-idx1", labels, LABELS_MAGIC)):
            data = idx_bytes(arr, magic)
            name = f"{split}-{kind}-ubyte"
            if gz:
                (directory / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (directory / name).write_bytes(data)
    return arrays
