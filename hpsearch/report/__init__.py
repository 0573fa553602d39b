"""Reports: summary data first (pandas), then figures (matplotlib, Agg), then HTML and Markdown.

``write_report`` makes ``report.html`` (one self-contained file: inline CSS, figures embedded as
base64 PNG, no reference outside itself) and ``report.md`` with the same figures as PNG files in
``figures/``. It works on finished, running, failed-only and empty studies, saying what is missing.
It only reads: models retrained for the report (the best configuration, a comparison's settings)
are computed and stored beforehand by ``hpsearch.results`` (``evaluate_best``,
``evaluate_settings``). Every file is written whole or not at all (a temporary name renamed into
place).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from hpsearch._files import atomic_write_bytes, atomic_write_text
from hpsearch.report._compare import comparison_items, comparison_section
from hpsearch.report._content import (
    Table,
    choice_sentence,
    choice_table,
    evaluation_tables,
    facts_table,
    fmt,
    frame_table,
    front_table,
    meta_table,
    versions_table,
)
from hpsearch.report._figures import FIGURES, FigureSpec, png_bytes, render_png
from hpsearch.report._html import Section, render_html
from hpsearch.report._markdown import render_markdown
from hpsearch.report._summary import StudySummary, build_summary

__all__ = ["FIGURES", "FigureSpec", "ReportPaths", "StudySummary", "build_summary",
           "comparison_section", "write_report"]

_FIGURE_DIR = "figures"


@dataclass
class ReportPaths:
    """What ``write_report`` wrote.

    Attributes:
        html: ``report.html``.
        markdown: ``report.md``.
        figures: the PNG files, in report order (the same figures the HTML embeds).
        left_out: figure name -> why it was not drawn.
    """

    html: Path
    markdown: Path
    figures: list[Path] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)


def _grid_tables(summary: StudySummary) -> list[Table]:
    tables = []
    if summary.grid_pivot is not None:
        pivot = summary.grid_pivot
        corner = f"{pivot.index.name} \\ {pivot.columns.name}"
        rows = [[fmt(index), *(fmt(v, "value") for v in values)]
                for index, values in zip(pivot.index, pivot.to_numpy(), strict=True)]
        tables.append(Table("grid-pivot", [corner, *(fmt(c) for c in pivot.columns)], rows))
    if summary.grid is not None:
        tables.append(frame_table(summary.grid, "grid"))
    return tables


def _comparison(summary: StudySummary, figure_dir: Path) -> tuple[Section | None, list[Path]]:
    """The comparison studies' side-by-side figures and tables, if any; figures written."""
    if summary.comparison is None:
        return None, []
    section = Section("Settings compared")
    section.text("Each trial of this study is one setting; these put the settings side by side.")
    for note in summary.comparison.notes:
        section.note(note)
    written = []
    for i, (title, item) in enumerate(comparison_items(summary.comparison), start=1):
        if isinstance(item, pd.DataFrame):
            section.text(title).table(frame_table(item, f"compare-{i}"))
            continue
        name = f"compare_{i}"
        png = png_bytes(item)
        written.append(atomic_write_bytes(figure_dir / f"{name}.png", png))
        section.figure(name, title, "", png)
    return section, written


def _test_section(summary: StudySummary) -> Section:
    """The tested configuration: its test metrics, and beside it the most accurate one's."""
    ev = summary.evaluation
    by_cost = ev.choice is not None and ev.choice.cost is not None
    test = Section(f"{'Chosen' if by_cost else 'Best'} configuration on the test split")
    what = ("The configuration the one-standard-error rule chose (the cheapest within one "
            "standard error of the most accurate)" if by_cost else
            "The best complete trial's configuration")
    test.text(what + ", retrained with its recorded seed "
              + ("on all non-test data (train + validation) " if ev.retrained.refit else "")
              + "and scored once on the test split, which the search never saw; beside "
              "it, what the search promised (the estimate, with its uncertainty) and the "
              "gap between the two.")
    if (sentence := choice_sentence(summary)) is not None:
        test.text(sentence)
    if (table := choice_table(summary)) is not None:
        test.table(table)
    for table in evaluation_tables(summary):
        test.table(table)
    return test


def _front_section(summary: StudySummary) -> Section:
    """The Pareto front of accuracy and the study's costs."""
    front = summary.front
    section = Section("Accuracy against cost")
    costs = ", ".join(front.label(c) for c in front.costs)
    section.text(f"The complete trials no other beats on validation accuracy and every cost "
                 f"({costs}): the Pareto front, {len(front.front)} of the {len(front.trials)} "
                 "trials with measured costs, most accurate first.")
    return section.table(front_table(summary))


def _sections(summary: StudySummary, figures: list[tuple[FigureSpec, bytes]]) -> list[Section]:
    overview = Section("Overview")
    if summary.description:
        overview.text(summary.description)
    for note in summary.notes:
        overview.note(note)
    overview.table(meta_table(summary)).table(facts_table(summary))
    sections = [overview]
    if summary.evaluation is not None:
        sections.append(_test_section(summary))
    if summary.front is not None:
        sections.append(_front_section(summary))
    if figures:
        figs = Section("Figures")
        for spec, png in figures:
            figs.figure(spec.name, spec.title, spec.caption, png)
        sections.append(figs)
    top = Section(f"Top {len(summary.top)} trials" if len(summary.top) else "Top trials")
    if summary.top.empty:
        top.note("No complete trial yet.")
    else:
        top.table(frame_table(summary.top, "top"))
    sections.append(top)
    grid_tables = _grid_tables(summary)
    if grid_tables:
        grid = Section("Grid")
        grid.text("Validation accuracy of every grid point, best first.")
        for table in grid_tables:
            grid.table(table)
        sections.append(grid)
    failed = summary.trials[summary.trials["state"] == "failed"]
    if not failed.empty:
        fail = Section("Failed trials")
        fail.table(frame_table(failed[["number", "failure_reason", "epochs_run"]], "failed"))
        sections.append(fail)
    study_file = Section("Study file")
    study_file.text(f"As run ({summary.config_path or 'path not recorded'}); passwords in "
                    "URLs are redacted.")
    study_file.pre(summary.config_text or "(not recorded)")
    sections.append(study_file)
    sections.append(Section("Versions").table(versions_table(summary)))
    return sections


def write_report(study: Any, config: Any, out_dir: str | Path, *, dataset: Any = None,
                 evaluation: Any = None) -> ReportPaths:
    """Write ``report.html``, ``report.md`` and ``figures/*.png`` under ``out_dir``.

    Args:
        study: the ``optuna.Study`` (any storage; finished, running, failed-only or empty).
        config: its ``StudyConfig``.
        out_dir: the study's run folder (``runs/<name>``). A comparison study's retrained
            settings are read from it (``evaluate_settings`` stores them there); without them
            the comparison section leaves their boundaries and train/test table out and says
            which command computes them.
        dataset: the loaded dataset (optional): the decision boundary of 2-D data needs it.
        evaluation: the test evaluation (``evaluate_best`` / ``load_evaluation``; optional): the
            test metrics, confusion matrix and the figures drawn from the best model need it.

    Returns:
        The paths written and the figures left out with the reason.
    """
    from hpsearch.results import load_settings_evaluation

    out = Path(out_dir)
    summary = build_summary(study, config, dataset=dataset, evaluation=evaluation,
                            settings=load_settings_evaluation(out))
    figure_dir = out / _FIGURE_DIR
    figure_dir.mkdir(parents=True, exist_ok=True)
    for stale in figure_dir.glob("*.png"):  # figures of an earlier report that no longer apply
        stale.unlink()
    drawn: list[tuple[FigureSpec, bytes]] = []
    paths = ReportPaths(html=out / "report.html", markdown=out / "report.md")
    for spec in FIGURES:
        reason = spec.missing(summary)
        if reason is not None:
            paths.left_out[spec.name] = reason
            continue
        png = render_png(spec, summary)
        paths.figures.append(atomic_write_bytes(figure_dir / f"{spec.name}.png", png))
        drawn.append((spec, png))
    sections = _sections(summary, drawn)
    comparison, compare_paths = _comparison(summary, figure_dir)
    if comparison is not None:  # right after the figures, so files and page keep one order
        after = next((i + 1 for i, sec in enumerate(sections) if sec.title == "Figures"), 1)
        sections.insert(after, comparison)
        paths.figures.extend(compare_paths)
    title = f"Study {summary.name}"
    atomic_write_text(paths.html, render_html(title, sections))
    atomic_write_text(paths.markdown, render_markdown(title, sections, _FIGURE_DIR))
    return paths
