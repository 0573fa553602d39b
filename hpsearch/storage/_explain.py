"""What the database layer raises, turned into one ``StorageError`` line with no secret in it."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

from hpsearch.storage._errors import StorageError
from hpsearch.storage._redact import redact

__all__ = ["database_errors"]

_MALFORMED = ("not a valid database URL; expected e.g. sqlite:////abs/path/study.db or "
              "postgresql://USER:PASS@HOST:PORT/DB (escape @, : and / in a password as %40, %3A, "
              "%2F)")


@contextlib.contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Turn what the database layer raises into one ``StorageError`` line, with no secret in it."""
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

    shown = redact(url)
    try:
        yield
    except (ImportError, NoSuchModuleError) as exc:
        scheme = url.split(":", 1)[0]
        hint = ('pip install "hpsearch[postgres]"' if scheme.startswith("postgres")
                else f"install the database driver for {scheme!r}")
        cause = exc.__cause__ if isinstance(exc.__cause__, ImportError) else exc
        raise StorageError(f"storage {shown}: no driver for this database "
                           f"({redact(str(cause), url=url)}); {hint}") from None
    except ArgumentError:
        raise StorageError(f"storage {shown}: {_MALFORMED}") from None
    except DBAPIError as exc:
        raise StorageError(f"storage {shown}: {_reason_of(exc, url)}") from None
    except StorageInternalError as exc:  # Optuna's wrapper of the database's own error
        cause = exc.__cause__ if isinstance(exc.__cause__, DBAPIError) else exc
        raise StorageError(f"storage {shown}: {_reason_of(cause, url)}") from None
    except SQLAlchemyError as exc:
        raise StorageError(f"storage {shown}: {type(exc).__name__}: "
                           f"{redact(str(exc), url=url).splitlines()[0]}") from None
    except ValueError:  # e.g. sqlalchemy's make_url on a URL it cannot split
        # Its message may quote a piece of the password (an unescaped @ or :): never shown.
        raise StorageError(f"storage {shown}: {_MALFORMED}") from None
    except sqlite3.DatabaseError as exc:  # our own PRAGMA on a file that is no database
        raise StorageError(f"storage {shown}: {_reason_of(exc, url)}") from None


def _reason_of(exc: Any, url: str) -> str:
    """The database's own words, first line, without the SQL or parameters SQLAlchemy appends.

    Whatever the driver quotes of ``url`` (a conninfo string, a decoded password) is redacted.
    """
    text = redact(str(getattr(exc, "orig", None) or exc), url=url).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    if "database or disk is full" in first:
        return "the disk is full (database or disk is full); free space and run again"
    if "file is not a database" in first or "malformed" in first:
        return f"{first}: the file is corrupt; restore it from a copy or start a new study name"
    if "readonly" in first or "read-only" in first:
        return f"{first}: the database or its folder is read-only"
    return first
