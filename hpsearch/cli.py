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

from hpsearch import _attrs as A

__all__ = ["main"]


class _UserError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from hpsearch.config import ConfigError
    from hpsearch.datasets import DatasetError
    from hpsearch.evaluate import EvaluationError
    from hpsearch.study import StudyError

    return (_UserError, ConfigError, DatasetError, EvaluationError, StudyError)


# --- finding a study ------------------------------------------------------------------------------


def _open(ref: str, runs_dir: Path, storage: str | None) -> tuple[Any, Any]:
    """(config, optuna study) for a study name or study file."""
    import optuna

    from hpsearch.config import load_study_config, parse_study_config
    from hpsearch.study import _make_storage, default_storage, redact

    path = Path(ref)
    if path.suffix == ".toml" or path.is_file():
        config = load_study_config(path)
        name = config.name
        url = storage or config.run.storage or default_storage(runs_dir, name)
    else:
        config, name = None, ref
        url = storage or default_storage(runs_dir, name)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise _UserError(f"no study {name!r} under {runs_dir}/ (looked for "
                         f"{url.removeprefix('sqlite:///')}); run it first with "
                         f"`hpsearch run STUDY.toml`, or pass --runs-dir / --storage")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=name, storage=_make_storage(url))
    except KeyError:
        raise _UserError(f"no study named {name!r} in {redact(url)}") from None
    if config is None:
        text = study.user_attrs.get(A.STUDY_CONFIG_TEXT)
        if text is None:
            raise _UserError(f"study {name!r} in {redact(url)} was not created by hpsearch "
                             "(it has no stored study file)")
        config = parse_study_config(text, source=study.user_attrs.get(A.STUDY_CONFIG_PATH)
                                    or f"<stored study file of {name}>")
    return config, study


def _load_data(config: Any) -> Any:
    from hpsearch.datasets import load_dataset

    return load_dataset(config.dataset, config.dataset_path, seed=config.seed,
                        **dict(config.dataset_options))


# --- commands -------------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    import optuna

    from hpsearch.config import load_study_config
    from hpsearch.study import run_study

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
    run_dir = args.runs_dir / config.name
    _export(config, args)
    evaluation = None
    if config.run.evaluate_best and not args.no_evaluate and summary.best_value is not None:
        evaluation = _evaluate(config, args, dataset)
    if config.run.report and not args.no_report:
        _report(config, args, dataset, evaluation, run_dir)
    return 0


def _evaluate(config: Any, args: argparse.Namespace, dataset: Any, study: Any = None) -> Any:
    from hpsearch.evaluate import evaluate_best

    if study is None:
        _, study = _open(str(config.source) if config.source else config.name, args.runs_dir,
                         args.storage)
    evaluation = evaluate_best(study, config, dataset, args.runs_dir / config.name,
                               extra_seeds=getattr(args, "extra_seeds", 0),
                               train_on_val=getattr(args, "train_on_val", False))
    print(f"test accuracy of the best configuration: {_describe_eval(evaluation)}")
    return evaluation


def _export(config: Any, args: argparse.Namespace) -> None:
    from hpsearch.results import export_tables

    _, study = _open(str(config.source) if config.source else config.name, args.runs_dir,
                     args.storage)
    paths = export_tables(study, args.runs_dir / config.name, config)
    print("tables: " + ", ".join(str(p) for p in paths.values()))


def _describe_eval(evaluation: Any) -> str:
    text = getattr(evaluation, "summary", None)
    return text() if callable(text) else str(evaluation)


def _report(config: Any, args: argparse.Namespace, dataset: Any, evaluation: Any,
            run_dir: Path) -> None:
    from hpsearch.evaluate import load_evaluation
    from hpsearch.report import write_report

    _, study = _open(str(config.source) if config.source else config.name, args.runs_dir,
                     args.storage)
    if evaluation is None:
        evaluation = load_evaluation(run_dir)
    paths = write_report(study, config, run_dir, dataset=dataset, evaluation=evaluation)
    print(f"report: {paths.html}  ({paths.markdown})")


def _cmd_status(args: argparse.Namespace) -> int:
    from optuna.trial import TrialState

    from hpsearch.study import counts_toward_budget

    config, study = _open(args.study, args.runs_dir, args.storage)
    trials = study.get_trials(deepcopy=False)
    by_state = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    done = sum(counts_toward_budget(t) for t in trials)
    print(f"study {config.name}: {done} of {config.n_trials} trials finished")
    print("  " + ", ".join(f"{n} {state}" for state, n in by_state.items() if n))
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if complete:
        best = max(complete, key=lambda t: t.value)
        print(f"  best: trial {best.number}, val acc {best.value:.4f}, {best.params}")
    return 0


def _cmd_trials(args: argparse.Namespace) -> int:
    import pandas as pd

    from hpsearch.results import trials_frame

    config, study = _open(args.study, args.runs_dir, args.storage)
    frame = trials_frame(study, config)
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
    config, study = _open(args.study, args.runs_dir, args.storage)
    _evaluate(config, args, _load_data(config), study)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from hpsearch.datasets import DatasetError

    config, _ = _open(args.study, args.runs_dir, args.storage)
    try:
        dataset = _load_data(config)
    except DatasetError as exc:  # the report works without the data
        print(f"warning: data not available ({exc}); figures that need it are left out",
              file=sys.stderr)
        dataset = None
    _export(config, args)
    _report(config, args, dataset, None, args.runs_dir / config.name)
    return 0


def _cmd_rerun(args: argparse.Namespace) -> int:
    from threadpoolctl import threadpool_limits

    from hpsearch.space import resolve_params
    from hpsearch.worker import train_trial

    config, study = _open(args.study, args.runs_dir, args.storage)
    matches = [t for t in study.get_trials(deepcopy=False) if t.number == args.trial]
    if not matches:
        raise _UserError(f"study {config.name!r} has no trial {args.trial}")
    trial = matches[0]
    if A.TRIAL_SEED not in trial.user_attrs:
        raise _UserError(f"trial {args.trial} has no recorded seed (it never started)")
    dataset = _load_data(config)
    stored_fp = trial.user_attrs.get(A.TRIAL_FINGERPRINT)
    if stored_fp and stored_fp != dataset.fingerprint:
        raise _UserError(f"trial {args.trial} trained on data {stored_fp}, but the data now loads "
                         f"as {dataset.fingerprint}: it cannot be reproduced")
    stop_at = trial.user_attrs.get(A.TRIAL_PRUNED_AT)
    params = resolve_params(trial.params, config.space)
    print(f"re-running trial {trial.number} ({trial.state.name.lower()}) with seed "
          f"{trial.user_attrs[A.TRIAL_SEED]}: {params}")
    with threadpool_limits(1):  # the search ran with one BLAS thread per trial
        result = train_trial(params, dataset, trial.user_attrs[A.TRIAL_SEED],
                             report=(lambda epoch, _v: epoch >= stop_at) if stop_at else None)
    stored = trial.user_attrs.get(A.TRIAL_HISTORY, {})
    print(f"re-run: {result.state}, value {result.value}, {result.epochs_run} epochs")
    if not stored:
        print("the trial stored no history to compare with")
        return 0
    same = all(stored.get(k) == result.history.get(k) for k in ("loss", "train_acc", "val_acc"))
    if same:
        print(f"reproduced exactly: {len(stored['val_acc'])} epochs of loss, train and "
              "validation accuracy are identical")
        return 0
    print("NOT reproduced: histories differ")
    for key in ("loss", "train_acc", "val_acc"):
        print(f"  {key}: stored {stored.get(key)}\n  {' ' * len(key)}  rerun  "
              f"{result.history.get(key)}")
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
            p.add_argument("--extra-seeds", type=int, default=0,
                           help="retrain with K further seeds; report mean and std")
            p.add_argument("--train-on-val", action="store_true",
                           help="retrain on train + validation")
        if name == "rerun":
            p.add_argument("trial", type=int, help="trial number")
        common(p)
        p.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hpsearch`` console script."""
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
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
