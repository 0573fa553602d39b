"""Comparison studies: a few settings side by side, the way the users' notebooks showed them.

A study whose searched parameters are all explicit values (grid or choices) with at most
``MAX_SETTINGS`` combinations is a *comparison* (``hpsearch.results.is_comparison``): each trial
is one setting, and what matters is how the settings differ, not which is best. The section shows,
from the stored trials (their per-epoch ``history``):

- curves: loss, and train/validation accuracy, per setting, side by side (update rules);
- the train/validation gap per setting, as a table and per epoch (dropout);

and, from what ``hpsearch.results.evaluate_settings`` stored (each setting retrained from its
recorded seed; drawing never retrains a model or reads the test split):

- on 2-D data: each setting's decision boundary;
- with ``augment`` among the varied parameters: train and test loss and accuracy per setting.

The data come from ``StudySummary.comparison``; figures are drawn like every other report figure
(``_figures.new_figure``, matplotlib's object-oriented API on the Agg canvas).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hpsearch.report._figures import draw_boundary, new_figure
from hpsearch.report._summary import Comparison, comparison_data
from hpsearch.results import Setting

__all__ = ["comparison_items", "comparison_section"]

Item = tuple[str, Any]  # (title, matplotlib Figure or pandas DataFrame)


def curves_figure(settings: list[Setting]) -> Figure:
    """Loss (left) and train (dashed) / validation (solid) accuracy (right) per epoch."""
    fig = new_figure((11, 4.2))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, s in enumerate(settings):
        color = f"C{i % 10}"
        epochs = np.arange(1, len(s.history["val_acc"]) + 1)
        ax_loss.plot(epochs, s.history["loss"], color=color, label=s.label)
        ax_acc.plot(epochs, s.history["val_acc"], color=color, label=s.label)
        ax_acc.plot(epochs, s.history["train_acc"], color=color, ls="--", alpha=0.7)
    ax_loss.set(xlabel="epoch", ylabel="training loss (epoch mean)", title="Loss")
    if all(min(s.history["loss"]) > 0 for s in settings):
        ax_loss.set_yscale("log")
    ax_acc.set(xlabel="epoch", ylabel="accuracy",
               title="Accuracy: validation (solid), train (dashed)")
    ax_loss.legend(fontsize=7)
    return fig


def gap_figure(settings: list[Setting]) -> Figure:
    """Train minus validation accuracy per epoch, one line per setting."""
    fig = new_figure((7, 4))
    ax = fig.add_subplot()
    for i, s in enumerate(settings):
        gap = np.asarray(s.history["train_acc"]) - np.asarray(s.history["val_acc"])
        ax.plot(np.arange(1, len(gap) + 1), gap, color=f"C{i % 10}", label=s.label)
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xlabel="epoch", ylabel="train - validation accuracy",
           title="Generalization gap per setting")
    ax.legend(fontsize=7)
    return fig


def boundaries_figure(settings: list[Setting], boundaries: dict[str, np.ndarray]) -> Figure:
    """One panel per setting: its predicted class over the plane, with the data."""
    n = len(settings)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = new_figure((3.6 * cols, 3.3 * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for i, (ax, s) in enumerate(zip(axes, settings, strict=False)):
        draw_boundary(ax, boundaries, i, point_size=5)
        ax.set_title(f"{s.label}\nval acc {s.value:.3f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.set_axis_off()
    return fig


def comparison_items(c: Comparison) -> list[Item]:
    """Titled figures and tables, in display order, for one comparison's data."""
    out: list[Item] = [
        ("Learning curves per setting", curves_figure(c.settings)),
        ("Train/validation gap per setting (at each setting's best validation epoch, and at "
         "the last epoch)", c.gap),
        ("Train - validation accuracy per epoch", gap_figure(c.settings)),
    ]
    if c.boundaries is not None:
        out.append(("Decision boundary per setting (retrained from each trial's seed)",
                    boundaries_figure(c.settings, c.boundaries)))
    if c.train_test is not None:
        out.append(("Train and test loss and accuracy per setting (each retrained from its "
                    "recorded seed; the test split scored once per setting)", c.train_test))
    return out


def comparison_section(study: Any, config: Any, stored: Any = None) -> list[Item]:
    """Titled figures and tables comparing a comparison study's settings side by side.

    Args:
        study: the ``optuna.Study`` as the engine stored it.
        config: its ``StudyConfig``.
        stored: what ``evaluate_settings`` stored (``load_settings_evaluation``), or None: the
            decision boundaries and the train/test table are then left out.

    Returns:
        ``(title, Figure | DataFrame)`` pairs in display order; empty when the study is not a
        comparison or has no complete trial with a history.
    """
    c = comparison_data(study, config, stored)
    return [] if c is None else comparison_items(c)

