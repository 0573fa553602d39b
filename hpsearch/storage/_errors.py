"""What the storage raises, apart: catching it imports neither Optuna nor SQLAlchemy."""

from __future__ import annotations

__all__ = ["StorageConflictError", "StorageError", "StudyLockedError"]


class StorageError(RuntimeError):
    """A storage URL that cannot be used as asked: malformed, unreachable, unreadable, full."""


class StorageConflictError(RuntimeError):
    """The backend holds trials this storage did not write: another process wrote the study."""


class StudyLockedError(RuntimeError):
    """Another live driver holds the study."""
