"""Which storages a submitted study may use, and whether a driver already holds the study.

* **A storage that outlives the job.** A job's working directory is temporary:
  ``check_durable_storage`` refuses a study whose storage would live there (no storage given, or
  a relative SQLite path), or in memory.
* **One live driver per study.** Where the storage can be reached from here, ``live_driver`` reads
  the study's lease: ``submit`` refuses a study another driver runs before anything is sent. (The
  lease refuses a second driver anyway; this makes the refusal come first.)
"""

from __future__ import annotations

import urllib.parse

from hpsearch._net import reachable
from hpsearch.service._errors import ServiceError
from hpsearch.storage import StorageError, redact, sqlite_path

__all__ = ["check_durable_storage", "live_driver"]

# Where a server database listens when its URL names no port.
_DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "mysql": 3306, "mariadb": 3306}


def check_durable_storage(url: str | None) -> str:
    """``url`` if a study stored there outlives the job that runs it; else a ``ServiceError``.

    A job runs in a temporary working directory on the head: the default ``runs/`` folder and any
    relative SQLite path would be deleted with it.
    """
    if not url:
        raise ServiceError(
            "a submitted study needs a storage that outlives the job (the default runs/ folder "
            "would be inside the job's temporary working directory): pass --storage "
            "postgresql://USER:PASS@HOST/DB, or --storage sqlite:////ABSOLUTE/PATH/study.db (a "
            "file on the head), or set [run] storage in the study file")
    text = url.strip()
    if text.startswith("sqlite:"):
        path = sqlite_path(text)
        if path is None or text in ("sqlite://", "sqlite:///:memory:") or ":memory:" in text:
            raise ServiceError(f"storage {redact(text)}: an in-memory database ends with the job; "
                               "use sqlite:////ABSOLUTE/PATH/study.db on the head or a server "
                               "database")
        if not str(path).startswith("/"):
            raise ServiceError(
                f"storage {redact(text)}: a relative SQLite path would be inside the job's "
                "temporary working directory and vanish with it; give an absolute path on the "
                f"head, sqlite:////ABSOLUTE/PATH/{path.name or 'study.db'} (four slashes)")
        return text
    scheme = text.split("://", 1)[0] if "://" in text else ""
    if not scheme:
        raise StorageError(f"storage {redact(text)}: not a database URL; expected "
                           "postgresql://USER:PASS@HOST:PORT/DB or sqlite:////ABSOLUTE/PATH")
    return text


def _server_reachable(url: str) -> bool:
    """Whether the database server of ``url`` answers a TCP connect within a few seconds."""
    try:
        parsed = urllib.parse.urlsplit(url)
        host, port = parsed.hostname, parsed.port
    except ValueError:
        return False
    port = port or _DEFAULT_PORTS.get(url.split("://", 1)[0].split("+", 1)[0])
    if not host or not port:
        return False
    return reachable(host, port)


def live_driver(name: str, url: str) -> str | None:
    """Who runs study ``name`` now, read from its storage's lease, if reachable from here."""
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        return None  # on the head only, or not created yet
    if path is None and not _server_reachable(url):
        return None
    import optuna

    from hpsearch.storage import driver_of, open_for_reading

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return driver_of(open_for_reading(name, url))
    except StorageError:
        return None  # no such study yet, or unreadable from here: the job list still counts
