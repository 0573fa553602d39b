"""The ``hpsearch`` command: run | status | trials | best | rerun | report.

Every command but ``run`` takes a study's name (looked up under ``--runs-dir``) or its file.
Errors a user can act on print one line and exit with status 2; nothing is touched before the
study file and the data have been checked.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors a user can act on: printed as one line, exit status 2."""
    from hpsearch.config import ConfigError
    from hpsearch.datasets import DatasetError
    from hpsearch.driver import StudyError
    from hpsearch.evaluate import EvaluationError
    from hpsearch.rerun import RerunError
    from hpsearch.storage import StorageConflictError, StorageError, StudyLockedError

    return (ConfigError, DatasetError, EvaluationError, StudyError, StorageError,
            StudyLockedError, StorageConflictError, RerunError)


def _load_data(config: Any) -> Any:
    from hpsearch.datasets import load_dataset

    return load_dataset(config.dataset, config.dataset_path, seed=config.seed,
                        **dict(config.dataset_options))


def _find(args: argparse.Namespace) -> Any:
    from hpsearch.stored import find_study

    return find_study(str(args.study), args.runs_dir, args.storage)


# --- commands -------------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    import optuna

    from hpsearch.config import load_study_config
    from hpsearch.driver import run_study
    from hpsearch.pipeline import after_search
    from hpsearch.stored import find_study

    config = load_study_config(args.study)
    dataset = _load_data(config)  # before any storage is touched: bad data fails first
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    summary = run_study(config, runs_dir=args.runs_dir, n_trials=args.n_trials,
                        storage=args.storage, address=args.address,
                        max_in_flight=args.max_in_flight, progress=not args.no_progress,
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
    stored = find_study(str(args.study), args.runs_dir, args.storage)  # opened once, to read
    after_search(stored, dataset, evaluate_best=config.run.evaluate_best and not args.no_evaluate,
                 write_report=config.run.report and not args.no_report, say=print)
    if summary.n_failed > 0 and summary.n_complete + summary.n_pruned == 0:
        print(f"error: every trial of this run failed ({summary.n_failed}); see the "
              "failure_reason column of `hpsearch trials`", file=sys.stderr)
        return 1
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from optuna.trial import TrialState

    from hpsearch.engine import counts_toward_budget
    from hpsearch.results import best_trial
    from hpsearch.storage import driver_of

    stored = _find(args)
    trials = stored.study.get_trials(deepcopy=False)
    by_state = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    done = sum(counts_toward_budget(t) for t in trials)
    print(f"study {stored.config.name}: {done} of {stored.config.n_trials} trials finished")
    print("  " + (", ".join(f"{n} {state}" for state, n in by_state.items() if n)
                  or "no trials yet"))
    best = best_trial(stored.study)
    if best is not None:
        print(f"  best: trial {best.number}, val acc {best.value:.4f}, {best.params}")
    driver = driver_of(stored.study)
    print(f"  running: {driver}" if driver else "  no driver is running it")
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
    from hpsearch.pipeline import describe, evaluate

    stored = _find(args)
    evaluation = evaluate(stored, _load_data(stored.config), extra_seeds=args.extra_seeds,
                          train_on_val=args.train_on_val)
    print(f"test accuracy of the best configuration: {describe(evaluation)}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from hpsearch.datasets import DatasetError
    from hpsearch.pipeline import export, report

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
    from hpsearch.rerun import rerun_trial

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
    common(run)
    run.set_defaults(func=_cmd_run)

    for name, func, text in (("status", _cmd_status, "trials by state and the best so far"),
                             ("trials", _cmd_trials, "one row per trial"),
                             ("best", _cmd_best, "retrain the best configuration, test it once"),
                             ("report", _cmd_report, "write report.html and report.md"),
                             ("rerun", _cmd_rerun, "re-run one trial from its record")):
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
        common(p)
        p.set_defaults(func=func)
    return parser


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


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
    except OSError as exc:  # a file the command must write or read: name it, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {redact(where + (exc.strerror or str(exc)))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
