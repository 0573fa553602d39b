"""What the service raises: one class, so every module here (and the CLI) can catch it cheaply."""

from __future__ import annotations

__all__ = ["ServiceError"]


class ServiceError(RuntimeError):
    """A job server or submission a user can act on: unreachable, refused token, unknown job."""
