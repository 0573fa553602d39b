"""Which URL a study lives at: the one given, else the default SQLite file under ``runs/``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["default_storage", "resolve_url", "sqlite_path"]


def default_storage(runs_dir: Path, name: str) -> str:
    """The embedded default: a SQLite file under ``runs/<name>/``."""
    return f"sqlite:///{(runs_dir / name / 'study.db').resolve()}"


def resolve_url(name: str, runs_dir: Path, *candidates: str | None) -> str:
    """The first URL given (command line, then study file), else the default under ``runs_dir``."""
    return next((c for c in candidates if c), None) or default_storage(runs_dir, name)


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, None for other URLs."""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
