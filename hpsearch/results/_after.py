"""What follows a search: tables, the best configuration tested once, settings compared, report.

``hpsearch run`` calls ``after_search`` when its search ends; ``hpsearch best`` and
``hpsearch report`` call its parts. Each is a plain function of a stored study, callable without
the command line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch.study import StoredStudy

__all__ = ["AfterSearch", "after_search", "describe", "evaluate", "export", "report"]


@dataclass
class AfterSearch:
    """What ``after_search`` wrote.

    Attributes:
        tables: the exported tables by kind (CSV, Parquet).
        evaluation: the best configuration's test evaluation (None when skipped or impossible).
        report: the report's HTML and Markdown paths (None when skipped).
    """

    tables: dict[str, Path] = field(default_factory=dict)
    evaluation: Any = None
    report: Any = None


def export(stored: StoredStudy) -> dict[str, Path]:
    """Write the trials tables (CSV, Parquet) under the study's folder."""
    from hpsearch.results._export import export_tables

    return export_tables(stored.study, stored.run_dir, stored.config)


def evaluate(stored: StoredStudy, dataset: Any, *, extra_seeds: int = 0,
             train_on_val: bool = False) -> Any:
    """Retrain the best configuration, score the test split once; compare settings if asked.

    Returns:
        The ``hpsearch.results.Evaluation``.
    """
    import time

    from hpsearch.results._accounting import charge
    from hpsearch.results._evaluate import evaluate_best, evaluate_settings

    t0 = time.process_time()
    evaluation = evaluate_best(stored.study, stored.config, dataset, stored.run_dir,
                               extra_seeds=extra_seeds, train_on_val=train_on_val)
    # A comparison study (a few settings side by side) retrains its settings here, once, so the
    # report only reads what is stored.
    evaluate_settings(stored.study, stored.config, dataset, stored.run_dir)
    charge(stored.study, "evaluation", time.process_time() - t0)
    return evaluation


def report(stored: StoredStudy, dataset: Any = None, evaluation: Any = None) -> Any:
    """Write ``report.html`` and ``report.md`` from what is stored."""
    from hpsearch.report import write_report
    from hpsearch.results._evaluation import load_evaluation

    if evaluation is None:
        evaluation = load_evaluation(stored.run_dir)
    return write_report(stored.study, stored.config, stored.run_dir, dataset=dataset,
                        evaluation=evaluation)


def after_search(stored: StoredStudy, dataset: Any, *, evaluate_best: bool = True,
                 write_report: bool = True,
                 say: Callable[[str], None] = lambda _line: None) -> AfterSearch:
    """Tables, then (with a complete trial) the test evaluation, then the report.

    Args:
        stored: the study, opened once for reading.
        dataset: the loaded dataset.
        evaluate_best: retrain the best configuration and score the test split.
        write_report: write the report.
        say: called with one line per step done (the CLI prints them).
    """
    from hpsearch.results._trials import best_trial

    done = AfterSearch(tables=export(stored))
    say("tables: " + ", ".join(str(p) for p in done.tables.values()))
    if evaluate_best and best_trial(stored.study) is not None:
        done.evaluation = evaluate(stored, dataset)
        say(f"test accuracy of the best configuration: {describe(done.evaluation)}")
    if write_report:
        done.report = report(stored, dataset, done.evaluation)
        say(f"report: {done.report.html}  ({done.report.markdown})")
    return done


def describe(evaluation: Any) -> str:
    """One line for an evaluation (``Evaluation.summary``; anything else as text)."""
    text = getattr(evaluation, "summary", None)
    return text() if callable(text) else str(evaluation)
