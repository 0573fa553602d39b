"""The database a study is kept in: an ``optuna.storages.RDBStorage`` on its URL, opened safely.

SQLite files are checked before SQLAlchemy sees them (a folder, an empty file, a missing parent:
one line each) and opened in WAL mode, so readers look while the driver writes.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from hpsearch.storage._errors import StorageError
from hpsearch.storage._explain import database_errors
from hpsearch.storage._urls import sqlite_path

__all__ = ["open_backend"]

# What the loser of a race to create Optuna's tables is told (see ``open_backend``).
_TABLES_RACE = ("already exists", "duplicate key value violates unique constraint",
                "UNIQUE constraint failed: alembic_version")


def _check_sqlite_file(url: str, *, must_exist: bool) -> None:
    path = sqlite_path(url)
    if path is None:
        return
    if path.exists():
        if not path.is_file():
            raise StorageError(f"storage {path}: not a regular file")
        if path.stat().st_size == 0:
            raise StorageError(f"storage {path}: the file is empty (0 bytes), not a study "
                               "database; remove it to start the study anew")
    elif must_exist:
        raise StorageError(f"storage {path}: no such file")
    else:
        parent = path.parent
        if parent.exists() and not parent.is_dir():
            raise StorageError(f"storage {path}: {parent} is not a folder")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"storage {path}: cannot create {parent}: "
                               f"{exc.strerror or exc}") from None


def open_backend(url: str, *, read_only: bool = False) -> Any:
    """An ``optuna.storages.RDBStorage`` on ``url`` (SQLite gets WAL and a busy timeout).

    Raises:
        StorageError: the URL is malformed, its driver is missing, or the database cannot be
            opened; the message never holds the password.
    """
    import optuna

    _check_sqlite_file(url, must_exist=read_only)
    with database_errors(url):
        for attempt in range(3):
            try:
                if sqlite_path(url) is None:
                    return optuna.storages.RDBStorage(url)
                return _open_sqlite(url, read_only)
            except Exception as exc:
                # Two processes creating Optuna's tables at once (a reader opening a study as
                # its driver creates it, two drivers on a new database): the loser finds them
                # made, or on PostgreSQL trips over the other's new type; opening again works.
                if not any(w in str(exc) for w in _TABLES_RACE) or attempt == 2:
                    raise
                time.sleep(0.1)
    raise AssertionError("unreachable")


def _open_sqlite(url: str, read_only: bool) -> Any:
    import optuna
    from sqlalchemy import event

    path = sqlite_path(url)
    assert path is not None
    if read_only and not _writable(path):
        # WAL needs to write its -shm file: a study in a read-only folder is read as a snapshot.
        immutable = f"sqlite:///file:{path}?immutable=1&uri=true"
        return optuna.storages.RDBStorage(immutable, skip_table_creation=True)
    if not read_only:
        # WAL lets readers (status, reports, the dashboard) look while the driver writes.
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    backend = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 30}},
                                         skip_table_creation=read_only)
    # In WAL mode, synchronous=NORMAL survives a crash of any process (a power cut may lose the
    # last commits) and saves an fsync per write: the driver writes on every result.
    event.listen(backend.engine, "connect",
                 lambda conn, _record: conn.execute("PRAGMA synchronous=NORMAL"))
    backend.engine.dispose()
    return backend


def _writable(path: Path) -> bool:
    return os.access(path.parent, os.W_OK) and os.access(path, os.W_OK)
