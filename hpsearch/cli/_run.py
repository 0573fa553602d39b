"""The commands that train: run, best, report, rerun (through ``hpsearch.run`` / ``Study``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hpsearch.cli._argtypes import int_in
from hpsearch.cli._common import (
    Command,
    open_study,
    read_storage_file,
    sharing_arguments,
    study_argument,
    with_sharing,
)

__all__ = ["COMMANDS"]

_non_negative_int = int_in(0)


def _run(args: argparse.Namespace) -> int:
    import hpsearch

    config = with_sharing(hpsearch.load_config(args.study), args)
    if args.storage_file is not None:
        args.storage = read_storage_file(args.storage_file)
    study = hpsearch.run(config, runs_dir=args.runs_dir, n_trials=args.n_trials,
                         storage=args.storage, address=args.address,
                         max_in_flight=args.max_in_flight,
                         progress=("lines" if args.progress_lines else
                                   "none" if args.no_progress else "bar"),
                         evaluate=not args.no_evaluate, report=not args.no_report, say=print)
    summary = study.summary
    if summary.interrupted:
        print("interrupted: run the same command again to resume")
        return 130
    if summary.n_failed > 0 and summary.n_complete + summary.n_pruned == 0:
        print(f"error: every trial of this run failed ({summary.n_failed}); see the "
              "failure_reason column of `hpsearch trials`", file=sys.stderr)
        return 1
    return 0


def _run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", type=Path, help="study file (TOML)")
    p.add_argument("--n-trials", type=int, help="finished trials to reach")
    p.add_argument("--address", help="Ray cluster to join: 'auto' or HOST:PORT "
                                     "(default: start an embedded local instance)")
    p.add_argument("--max-in-flight", type=int, help="most trials running at once")
    sharing_arguments(p)
    p.add_argument("--no-evaluate", action="store_true",
                   help="skip retraining the best configuration and scoring the test split")
    p.add_argument("--no-report", action="store_true", help="skip writing the report")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--progress-lines", action="store_true",
                   help="instead of a bar, a JSON progress line on stdout every 5 s (for logs)")
    p.add_argument("--storage-file", type=Path,
                   help="read the storage URL from this file (keeps a password off the "
                        "command line)")


def _best(args: argparse.Namespace) -> int:
    evaluation = open_study(args).evaluate(extra_seeds=args.extra_seeds,
                                           train_on_val=args.train_on_val)
    print(f"test accuracy of the best configuration: {evaluation.summary()}")
    return 0


def _best_arguments(p: argparse.ArgumentParser) -> None:
    study_argument(p)
    p.add_argument("--extra-seeds", type=_non_negative_int, default=0,
                   help="retrain with K further seeds; report mean and std")
    p.add_argument("--train-on-val", action="store_true", help="retrain on train + validation")


def _report(args: argparse.Namespace) -> int:
    from hpsearch.datasets import DatasetError

    study = open_study(args)
    try:
        study.load_data()
    except DatasetError as exc:  # the report works without the data
        print(f"warning: data not available ({exc}); figures that need it are left out",
              file=sys.stderr)
    print("tables: " + ", ".join(str(p) for p in study.export().values()))
    paths = study.report()  # the data's failure was said above, once
    print(f"report: {paths.html}  ({paths.markdown})")
    return 0


def _rerun(args: argparse.Namespace) -> int:
    done = open_study(args).rerun(args.trial)
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


def _rerun_arguments(p: argparse.ArgumentParser) -> None:
    study_argument(p)
    p.add_argument("trial", type=int, help="trial number")


COMMANDS = {
    "run": Command("run or resume a study", _run_arguments, _run),
    "best": Command("retrain the best configuration, test it once", _best_arguments, _best),
    "report": Command("write report.html and report.md", study_argument, _report),
    "rerun": Command("re-run one trial from its record", _rerun_arguments, _rerun),
}
