"""MNIST and Fashion-MNIST from IDX files, gzipped or not."""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from hpsearch.datasets._base import DatasetError, Pool, RawData, check_fits

__all__ = ["IMAGES_MAGIC", "LABELS_MAGIC", "load_mnist_raw", "read_idx"]

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (N, rows, cols)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (N,)

_SOURCES = {
    "mnist": ("MNIST", "https://yann.lecun.com/exdb/mnist/ (or any mirror of its four .gz files)",
              tuple(str(c) for c in range(10))),
    "fashion_mnist": ("FashionMNIST", "https://github.com/zalandoresearch/fashion-mnist "
                      "(data/fashion/*.gz)",
                      ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                       "Sneaker", "Bag", "Ankle boot")),
}
_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
          "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


# Deflate expands at most about 1032:1; a gzip file claiming a body larger than this multiple of
# its own size (plus slack for the header) cannot hold it and is refused before decompressing.
_GZIP_MAX_RATIO = 1032
_READ_CHUNK = 1 << 20


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Read one IDX file of unsigned bytes (gzip detected from its first bytes).

    The header is read and checked first (magic, then the size it implies against the file's own
    size and the memory available); only then is the body read, straight into its array, and
    never past the size the header gives: a small gzip file that expands to gigabytes is refused
    after a few bytes.

    Args:
        path: the file.
        magic: the expected magic number, ``IMAGES_MAGIC`` or ``LABELS_MAGIC``.

    Returns:
        A read-only uint8 array of the shape the header gives.

    Raises:
        DatasetError: unreadable, truncated or corrupted gzip, wrong magic, or a size that does
            not match the header.
    """
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            file_size = os.fstat(raw.fileno()).st_size
            raw.seek(0)
            f = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
            return _read_idx_stream(f, path, magic, file_size, gzipped)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: cannot read it ({type(exc).__name__}: {exc}); the file is "
                           "truncated or corrupted: download it again") from None


def _read_idx_stream(f: BinaryIO, path: Path, magic: int, file_size: int, gzipped: bool
                     ) -> np.ndarray:
    head = f.read(4)
    if len(head) < 4:
        raise DatasetError(f"{path}: {len(head)} bytes, too short for an IDX header")
    found = int.from_bytes(head, "big")
    if found != magic:
        raise DatasetError(f"{path}: magic number 0x{found:08x}, expected 0x{magic:08x} "
                           f"({'images' if magic == IMAGES_MAGIC else 'labels'} of unsigned "
                           "bytes); is this the right file?")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DatasetError(f"{path}: truncated header ({4 + len(dims)} bytes, expected "
                           f"{header})")
    shape = tuple(int.from_bytes(dims[4 * i:4 * i + 4], "big") for i in range(ndim))
    body = math.prod(shape)
    expected = header + body
    if not gzipped and file_size != expected:
        what = "truncated" if file_size < expected else "has trailing bytes"
        raise DatasetError(f"{path}: {what}: {file_size} bytes, expected {expected} for shape "
                           f"{shape}")
    if gzipped and expected > _GZIP_MAX_RATIO * file_size + 1024:
        raise DatasetError(f"{path}: truncated: the header gives shape {shape} ({expected:,} "
                           f"bytes), but the file ({file_size:,} bytes"
                           f"{', gzipped' if gzipped else ''}) cannot hold that many")
    check_fits(body, path, f"shape {shape}")
    out = np.empty(body, dtype=np.uint8)
    view, got = memoryview(out), 0
    while got < body:  # bounded reads: gzip's readinto would otherwise build a full-size copy
        more = f.readinto(view[got:got + _READ_CHUNK])
        if not more:
            break
        got += more
    if got < body:
        raise DatasetError(f"{path}: truncated: {header + got} bytes, expected {expected} for "
                           f"shape {shape}")
    if f.read(1):
        raise DatasetError(f"{path}: has trailing bytes: more than the {expected} bytes its "
                           f"header gives for shape {shape}")
    out = out.reshape(shape)
    out.flags.writeable = False
    return out


def _find(directory: Path, stem: str) -> Path | None:
    # Standard names, gzipped or not; some mirrors write "train-images.idx3-ubyte".
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, f"{stem}.gz", dotted, f"{dotted}.gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def _missing(name: str, path: Path | None, detail: str) -> DatasetError:
    _, url, _ = _SOURCES[name]
    files = ", ".join(f"{stem}[.gz]" for stem in _FILES.values())
    return DatasetError(
        f"dataset {name!r}: {detail}. Download the four IDX files ({files}) from {url} into one "
        f"directory (gzipped or not) and point the study file at it: [dataset] path = "
        f"\"/data/{name}\"")


def load_mnist_raw(name: str, path: Path | None, options: dict[str, Any]) -> RawData:
    """Training pool from the train-* files, test pool from the t10k-* files.

    Accepts the directory holding the files, or a torchvision-style root holding
    ``MNIST/raw/`` (``FashionMNIST/raw/``).

    Raises:
        DatasetError: no path, missing files, or a file that is corrupt or inconsistent.
    """
    if path is None:
        raise _missing(name, None, "needs its files and no path was given")
    sub, _, class_names = _SOURCES[name]
    best: dict[str, Path | None] = {}
    for directory in (path, path / sub / "raw", path / sub):
        found = {key: _find(directory, stem) for key, stem in _FILES.items()}
        if all(found.values()):
            break
        if not best or sum(map(bool, found.values())) > sum(map(bool, best.values())):
            best, best_dir = found, directory
    else:
        if not path.exists():
            raise _missing(name, path, f"{path} does not exist")
        absent = [stem for key, stem in _FILES.items() if best[key] is None]
        raise _missing(name, path, f"{best_dir} lacks {absent}")

    pools = []
    for split in ("train", "test"):
        images = read_idx(found[f"{split}_images"], IMAGES_MAGIC)
        labels = read_idx(found[f"{split}_labels"], LABELS_MAGIC)
        if len(images) != len(labels):
            raise DatasetError(f"{found[f'{split}_images']} holds {len(images)} images but "
                               f"{found[f'{split}_labels']} holds {len(labels)} labels")
        source = f"{found[f'{split}_images'].name} / {found[f'{split}_labels'].name}"
        pools.append(Pool(images[:, None], labels, source))
    height, width = pools[0].X.shape[2:]
    if pools[1].X.shape[2:] != (height, width):
        raise DatasetError(f"{found['test_images']}: images are {pools[1].X.shape[2:]}, but "
                           f"the training images are {(height, width)}")
    return RawData(train=pools[0], val=None, test=pools[1], num_classes=10,
                   class_names=class_names, image_shape=(1, height, width), pixel_max=255.0)
