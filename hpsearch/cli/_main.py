"""The ``hpsearch`` command: run, watch, stop, submit and read hyperparameter studies.

run | status | trials | best | report | rerun | stop | dashboard, and submit | jobs | logs
(studies as Ray jobs, docs/service.md).

Every command but ``run`` takes a study's name (looked up under ``--runs-dir``) or its file.
Errors a user can act on print one line and exit with status 2; nothing is touched before the
study file and the data have been checked.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpsearch.cli._argtypes import float_in, int_in

__all__ = ["main"]


class _UsageError(Exception):
    """A command used in a way it cannot work; printed as one line."""


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

    return (_UsageError, ConfigError, DatasetError, EvaluationError, StudyError, StorageError,
            StudyLockedError, StorageConflictError, RerunError, RayStartError, VersionMismatch,
            ServiceError)


def _load_data(config: Any) -> Any:
    return config.load_data()  # an error about one key of the study file names file and key


def _read_storage_file(path: Path) -> str:
    try:
        # Checked before reading: a FIFO would hang, a huge file would be read whole.
        if path.exists() and (not path.is_file() or path.stat().st_size > 64 * 1024):
            raise _UsageError(f"--storage-file {path}: expected a small regular file holding "
                              "one storage URL")
        url = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise _UsageError(f"--storage-file {path}: cannot read it ({exc})") from None
    if not url or "\n" in url:
        raise _UsageError(f"--storage-file {path}: expected one storage URL on one line")
    return url


def _find(args: argparse.Namespace) -> Any:
    from hpsearch.storage import StorageError
    from hpsearch.study import find_study, load_study_config

    try:
        return find_study(str(args.study), args.runs_dir, args.storage)
    except StorageError as exc:
        # A storage the study file names: say which file and key, as a config error does.
        ref = str(args.study)
        if args.storage is not None or not (ref.endswith(".toml") or Path(ref).is_file()):
            raise
        config = load_study_config(Path(ref))  # loaded once already: it loads
        if not config.run.storage:
            raise
        raise StorageError(f"{config.where('run.storage')}: "
                           f"{str(exc).removeprefix('storage ')}") from None


# --- commands -------------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    import optuna

    from hpsearch.results import after_search
    from hpsearch.search import run_study
    from hpsearch.study import find_study, load_study_config

    config = load_study_config(args.study)
    if args.storage_file is not None:
        args.storage = _read_storage_file(args.storage_file)
    dataset = _load_data(config)  # before any storage is touched: bad data fails first
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    summary = run_study(config, runs_dir=args.runs_dir, n_trials=args.n_trials,
                        storage=args.storage, address=args.address,
                        max_in_flight=args.max_in_flight,
                        progress=("lines" if args.progress_lines else
                                  "none" if args.no_progress else "bar"),
                        dataset=dataset)
    best = ("no complete trial yet" if summary.best_value is None else
            f"best trial {summary.best_trial}: val acc {summary.best_value:.4f} "
            f"{json.dumps(summary.best_params, default=str)}")
    print(f"{summary.name}: {summary.n_complete} complete, {summary.n_pruned} pruned, "
          f"{summary.n_failed} failed in {summary.wall_s:.1f} s "
          f"({summary.efficiency:.0%} dispatch efficiency at {summary.max_in_flight} in flight)"
          + (f"; {summary.n_recovered} interrupted trials re-enqueued" if summary.n_recovered
             else ""))
    print(best)
    print(f"storage: {summary.storage}")
    if summary.interrupted:
        print("interrupted: run the same command again to resume")
        return 130
    # Opened once, to read; by name, as the study file may be gone (a job's folder).
    stored = find_study(config.name, args.runs_dir, args.storage or config.run.storage)
    after_search(stored, dataset, evaluate_best=config.run.evaluate_best and not args.no_evaluate,
                 write_report=config.run.report and not args.no_report, say=print)
    if summary.n_failed > 0 and summary.n_complete + summary.n_pruned == 0:
        print(f"error: every trial of this run failed ({summary.n_failed}); see the "
              "failure_reason column of `hpsearch trials`", file=sys.stderr)
        return 1
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from hpsearch.cli._watch import status_lines, watch

    stored = _find(args)
    if not args.watch:
        print("\n".join(status_lines(stored.config, stored.study)))
        return 0

    def read() -> tuple[Any, Any]:
        fresh = _find(args)
        return fresh.config, fresh.study

    watch(read, lambda text: print(text, end="", flush=True), every_s=args.every,
          clear=sys.stdout.isatty())
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    from hpsearch.storage import driver_of, request_stop, stop_trial

    if args.address is not None:
        if args.trial is not None:
            raise _UsageError("--trial goes through the study's storage: leave out --address")
        from hpsearch.service import stop_job

        print(stop_job(args.address, str(args.study)))
        return 0
    stored = _find(args)
    if args.trial is not None:
        stop_trial(stored.study, args.trial)
        print(f"trial {args.trial} of study {stored.config.name} failed from outside; its "
              "driver stops it within about a second and records 'stopped by user'")
        return 0
    driver = driver_of(stored.study)
    request_stop(stored.study)
    print(f"stop requested for study {stored.config.name}"
          + (f" ({driver}): it stops after its current step; running trials are re-run when "
             "it is resumed" if driver else ": no driver is running it now"))
    return 0


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from hpsearch.storage import open_backend, redact

    try:
        import optuna_dashboard
    except ImportError:
        raise _UsageError('the dashboard is an optional extra: pip install '
                          '"hpsearch[dashboard]"') from None
    stored = _find(args)
    backend = open_backend(stored.url, read_only=True)
    url = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}/"
    print(f"optuna-dashboard for study {stored.config.name} ({redact(stored.url)}) at {url}"
          f"dashboard/studies  (Ctrl-C to stop)", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: anyone who reaches it can fail trials; "
              "prefer 127.0.0.1 and an SSH tunnel", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        optuna_dashboard.run_server(backend, host=args.host, port=args.port)
    return 0


def _cmd_trials(args: argparse.Namespace) -> int:
    import pandas as pd

    from hpsearch.results import trials_frame

    stored = _find(args)
    frame = trials_frame(stored.study, stored.config)
    if args.csv:
        frame.to_csv(sys.stdout, index=False)
    else:
        # On a terminal, columns with one value throughout say nothing: --csv has them all.
        keep = [c for c in frame.columns if c in ("number", "state", "value")
                or frame[c].astype(str).nunique() > 1]
        with pd.option_context("display.max_rows", None, "display.width", 250,
                               "display.max_columns", None):
            print(frame[keep].to_string(index=False))
        if hidden := [c for c in frame.columns if c not in keep]:
            print(f"(same in every trial, not shown: {', '.join(hidden)}; --csv shows all)")
    return 0


def _cmd_best(args: argparse.Namespace) -> int:
    from hpsearch.results._after import describe, evaluate

    stored = _find(args)
    evaluation = evaluate(stored, _load_data(stored.config), extra_seeds=args.extra_seeds,
                          train_on_val=args.train_on_val)
    print(f"test accuracy of the best configuration: {describe(evaluation)}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from hpsearch.datasets import DatasetError
    from hpsearch.results import export, report

    stored = _find(args)
    try:
        dataset = _load_data(stored.config)
    except DatasetError as exc:  # the report works without the data
        print(f"warning: data not available ({exc}); figures that need it are left out",
              file=sys.stderr)
        dataset = None
    print("tables: " + ", ".join(str(p) for p in export(stored).values()))
    paths = report(stored, dataset)
    print(f"report: {paths.html}  ({paths.markdown})")
    return 0


def _cmd_rerun(args: argparse.Namespace) -> int:
    from hpsearch.results import rerun_trial

    stored = _find(args)
    dataset = _load_data(stored.config)
    done = rerun_trial(stored, args.trial, dataset)
    print(f"re-running trial {done.number} ({done.state}) with seed {done.seed}: {done.params}")
    result = done.result
    print(f"re-run: {result.state}, value {result.value}, {result.epochs_run} epochs")
    if not done.stored:
        print("the trial stored no history to compare with")
        return 0
    if done.reproduced:
        print(f"reproduced exactly: {len(done.stored['val_acc'])} epochs of loss, train and "
              "validation accuracy are identical")
        return 0
    print("NOT reproduced: histories differ")
    for key, (was, now) in done.differences().items():
        print(f"  {key}: stored {was}\n  {' ' * len(key)}  rerun  {now}")
    return 1


# --- parser ---------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hpsearch", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--runs-dir", type=Path, default=Path("runs"),
                       help="where studies live (default: ./runs)")
        p.add_argument("--storage", help="Optuna storage URL (default: runs/<study>/study.db)")

    run = sub.add_parser("run", help="run or resume a study")
    run.add_argument("study", type=Path, help="study file (TOML)")
    run.add_argument("--n-trials", type=int, help="finished trials to reach")
    run.add_argument("--address", help="Ray cluster to join: 'auto' or HOST:PORT "
                                       "(default: start an embedded local instance)")
    run.add_argument("--max-in-flight", type=int, help="most trials running at once")
    run.add_argument("--no-evaluate", action="store_true",
                     help="skip retraining the best configuration and scoring the test split")
    run.add_argument("--no-report", action="store_true", help="skip writing the report")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--progress-lines", action="store_true",
                     help="instead of a bar, a JSON progress line on stdout every 5 s (for logs)")
    run.add_argument("--storage-file", type=Path,
                     help="read the storage URL from this file (keeps a password off the "
                          "command line)")
    common(run)
    run.set_defaults(func=_cmd_run)

    for name, func, text in (("status", _cmd_status, "trials by state and the best so far"),
                             ("trials", _cmd_trials, "one row per trial"),
                             ("best", _cmd_best, "retrain the best configuration, test it once"),
                             ("report", _cmd_report, "write report.html and report.md"),
                             ("rerun", _cmd_rerun, "re-run one trial from its record"),
                             ("stop", _cmd_stop, "stop a study's driver, or one running trial"),
                             ("dashboard", _cmd_dashboard,
                              "optuna-dashboard on the study's storage")):
        p = sub.add_parser(name, help=text)
        p.add_argument("study", help="study name or study file")
        if name == "trials":
            p.add_argument("--csv", action="store_true", help="CSV on stdout")
        if name == "best":
            p.add_argument("--extra-seeds", type=_non_negative_int, default=0,
                           help="retrain with K further seeds; report mean and std")
            p.add_argument("--train-on-val", action="store_true",
                           help="retrain on train + validation")
        if name == "rerun":
            p.add_argument("trial", type=int, help="trial number")
        if name == "status":
            p.add_argument("--watch", action="store_true",
                           help="a live view, refreshed in place (Ctrl-C to leave)")
            p.add_argument("--every", type=_positive_float, default=1.0,
                           help="seconds between refreshes (default 1)")
        if name == "stop":
            p.add_argument("--trial", type=_non_negative_int,
                           help="stop this running trial only (recorded 'stopped by user')")
            p.add_argument("--address",
                           help="stop the study's Ray job at this job server (http://HEAD:8265); "
                                "STUDY may then be a job id, a study name or a study file")
        if name == "dashboard":
            p.add_argument("--host", default="127.0.0.1",
                           help="address to listen on (default 127.0.0.1: this machine only)")
            p.add_argument("--port", type=_port, default=8080, help="port (default 8080)")
        common(p)
        p.set_defaults(func=func)
    from hpsearch.cli import _service as _cli_service

    _cli_service.register(sub, common)
    return parser


_positive_float = float_in(0.05, 3600, "seconds")
_port = int_in(1, 65535, "a port")
_non_negative_int = int_in(0)


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
