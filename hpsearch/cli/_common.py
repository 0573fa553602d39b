"""What the command modules share: how a command is declared, the study it names, usage errors."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Command", "UsageError", "open_study", "read_storage_file", "study_argument"]


class UsageError(Exception):
    """A command used in a way it cannot work; printed as one line."""


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, its arguments and what it does.

    Attributes:
        help: the line ``hpsearch --help`` shows.
        arguments: adds the command's own arguments (the study first) to its parser; the
            shared ``--runs-dir`` and ``--storage`` follow them.
        run: does the command and returns its exit status.
    """

    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def study_argument(parser: argparse.ArgumentParser) -> None:
    """The study a reading command works on: its name or its study file."""
    parser.add_argument("study", help="study name or study file")


def open_study(args: argparse.Namespace) -> Any:
    """The stored study that ``args.study`` names (``hpsearch.load``), as a ``Study``."""
    import hpsearch

    return hpsearch.load(str(args.study), runs_dir=args.runs_dir, storage=args.storage)


def read_storage_file(path: Path) -> str:
    """The one storage URL in ``path`` (``--storage-file``: keeps a password off the command)."""
    try:
        # Checked before reading: a FIFO would hang, a huge file would be read whole.
        if path.exists() and (not path.is_file() or path.stat().st_size > 64 * 1024):
            raise UsageError(f"--storage-file {path}: expected a small regular file holding "
                             "one storage URL")
        url = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--storage-file {path}: cannot read it ({exc})") from None
    if not url or "\n" in url:
        raise UsageError(f"--storage-file {path}: expected one storage URL on one line")
    return url
