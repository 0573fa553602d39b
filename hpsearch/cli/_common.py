"""What the command modules share: how a command is declared, the study it names, usage errors."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SHARING_FLAGS", "Command", "UsageError", "open_study", "read_storage_file",
           "sharing_arguments", "study_argument", "with_sharing"]

#: The flags that override ``[run] weight``, ``priority`` and ``max_cpus``: dest -> flag.
SHARING_FLAGS = {"weight": "--weight", "priority": "--priority", "max_cpus": "--max-cpus"}


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


def sharing_arguments(parser: argparse.ArgumentParser) -> None:
    """``--weight``, ``--priority``, ``--max-cpus``: how the study shares a cluster."""
    from hpsearch.cli._argtypes import of_rule
    from hpsearch.study._schema import RUN

    parser.add_argument("--weight", type=of_rule(RUN["weight"]),
                        help="share of a shared cluster relative to studies of the same "
                             "priority (default: [run] weight, else 1)")
    parser.add_argument("--priority", type=of_rule(RUN["priority"]),
                        help="higher runs first; lower studies' trials give way at an epoch "
                             "boundary and resume later (default: [run] priority, else 0)")
    parser.add_argument("--max-cpus", type=of_rule(RUN["max_cpus"]),
                        help="at most this many CPUs at once (default: [run] max_cpus, no cap)")


def with_sharing(config: Any, args: argparse.Namespace) -> Any:
    """``config`` with the sharing flags given on the command line (they win over the file).

    Raises:
        UsageError: ``--max-cpus`` below the trial's CPUs.
    """
    from dataclasses import replace

    given = {k: getattr(args, k) for k in SHARING_FLAGS if getattr(args, k, None) is not None}
    if not given:
        return config
    run = replace(config.run, **given)
    if run.max_cpus is not None and run.max_cpus < run.cpus_per_trial:
        raise UsageError(f"--max-cpus: expected at least cpus_per_trial "
                         f"({run.cpus_per_trial:g}), got {run.max_cpus:g}")
    return replace(config, run=run)


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
