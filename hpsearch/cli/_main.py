"""The ``hpsearch`` command: run, watch, stop, submit and read hyperparameter studies.

run | status | trials | best | report | rerun | stop | dashboard, and submit | jobs | logs
(studies as Ray jobs, docs/service.md).

Every command but ``run`` takes a study's name (looked up under ``--runs-dir``) or its file.
Errors a user can act on print one line and exit with status 2; nothing is touched before the
study file and the data have been checked.

This module holds the parser and the error handling; each command group lives in its own module
(``_run``: run, best, report, rerun; ``_read``: status, trials; ``_control``: stop, dashboard;
``_service``: submit, jobs, logs), which parses its arguments, calls the library and prints.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from hpsearch.cli import _control, _read, _run
from hpsearch.cli import _service as _cli_service
from hpsearch.cli._common import UsageError

__all__ = ["main"]

# `hpsearch --help` lists the commands in this order.
_ORDER = ("run", "status", "trials", "best", "report", "rerun", "stop", "dashboard")


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors a user can act on: printed as one line, exit status 2."""
    from hpsearch._versions import VersionMismatch
    from hpsearch.datasets import DatasetError
    from hpsearch.execution import RayStartError
    from hpsearch.results import EvaluationError, RerunError
    from hpsearch.search import StudyError
    from hpsearch.service import ServiceError
    from hpsearch.storage import StorageConflictError, StorageError, StudyLockedError
    from hpsearch.study import ConfigError

    return (UsageError, ConfigError, DatasetError, EvaluationError, StudyError, StorageError,
            StudyLockedError, StorageConflictError, RerunError, RayStartError, VersionMismatch,
            ServiceError)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs-dir", type=Path, default=Path("runs"),
                   help="where studies live (default: ./runs)")
    p.add_argument("--storage", help="Optuna storage URL (default: runs/<study>/study.db)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hpsearch", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {**_run.COMMANDS, **_read.COMMANDS, **_control.COMMANDS}
    for name in _ORDER:
        command = commands[name]
        p = sub.add_parser(name, help=command.help)
        command.arguments(p)
        _common(p)
        p.set_defaults(func=command.run)
    _cli_service.register(sub, _common)
    return parser


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush cannot fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (a test's capture): nothing to flush
        pass
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hpsearch`` console script."""
    from hpsearch.storage import redact

    args = _parser().parse_args(argv)
    if getattr(args, "n_trials", None) is not None and args.n_trials < 1:
        print("error: --n-trials: expected a positive integer", file=sys.stderr)
        return 2
    if getattr(args, "max_in_flight", None) is not None and args.max_in_flight < 1:
        print("error: --max-in-flight: expected a positive integer", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except _user_errors() as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `hpsearch ... | head`: the reader left; say nothing, as `git` does
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a writer the pipe killed
    except OSError as exc:  # a file the command must write or read: name it, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {redact(where + (exc.strerror or str(exc)))}", file=sys.stderr)
        return 2
    except Exception as exc:
        # The database refused a write or read mid-command (full disk, read-only file, lost
        # connection): its first line, without the SQL or a password.
        if not type(exc).__module__.startswith(("sqlalchemy", "optuna.exceptions")):
            raise
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        text = str(getattr(cause, "orig", None) or cause).strip().splitlines() or [""]
        print(f"error: storage: {redact(text[0]) or type(exc).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
