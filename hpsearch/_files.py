"""Files written whole or not at all: write a temporary name beside the target, then rename.

A full disk or a crash half-way through leaves the previous file (or none) and no partial one:
readers of ``metrics.json``, ``trials.parquet`` or ``report.html`` never see half a file. The
temporary file sits in the target's directory, so ``os.replace`` is a rename on one file system.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; it replaces ``path`` on success.

    For writers that take a file name (``DataFrame.to_parquet``, ``np.savez``)::

        with atomic_path(out / "trials.parquet") as tmp:
            frame.to_parquet(tmp)

    On leaving the block normally the temporary file is flushed to disk and renamed over
    ``path``; if the block raises, the temporary file is removed and ``path`` is left as it was.
    The temporary name is not created in advance, so the writer creates it with the usual
    permissions.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all; returns ``path``."""
    with atomic_path(path) as tmp, open(tmp, "xb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` whole or not at all; returns ``path``."""
    return atomic_write_bytes(path, text.encode(encoding))
