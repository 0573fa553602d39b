"""The report's figures: each plot function draws summary data onto an Axes it is given.

Only matplotlib's object-oriented API (``Figure`` + Agg): no pyplot, no global state, so reports
can be written from any thread or process.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from hpsearch.report._summary import StudySummary, state_order

__all__ = [
    "FIGURES",
    "FigureSpec",
    "draw_boundary",
    "new_figure",
    "plot_accuracy_curves",
    "plot_confusion",
    "plot_decision_boundary",
    "plot_front",
    "plot_history",
    "plot_importances",
    "plot_learning_curves",
    "plot_loss_curve",
    "plot_occupancy",
    "plot_parallel",
    "plot_param",
    "plot_states",
    "plot_timeline",
    "plot_weight_tiles",
    "png_bytes",
    "render_png",
]

STATE_COLORS = {"complete": "#1f77b4", "pruned": "#d62728", "failed": "#7f7f7f",
                "running": "#2ca02c", "waiting": "#bcbd22"}
_END_MARKERS = {"complete": "", "running": ">", "failed": "o", "pruned": "x"}
_DPI = 100


# --- plot functions: summary data -> one Axes ---------------------------------------------------


def plot_history(summary: StudySummary, ax: Axes) -> Axes:
    """Each trial's value by trial number, with the best so far."""
    t = summary.trials
    complete = t[t["state"] == "complete"]
    pruned = t[(t["state"] == "pruned") & t["value"].notna()]
    ax.plot(pruned["number"], pruned["value"], "x", color=STATE_COLORS["pruned"], alpha=0.5,
            label="pruned (last value)")
    ax.plot(complete["number"], complete["value"], "o", color=STATE_COLORS["complete"],
            alpha=0.7, ms=4, label="complete")
    best = t[t["best_so_far"].notna()]
    ax.step(best["number"], best["best_so_far"], where="post", color="black", lw=1.5,
            label="best so far")
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    ax.set(xlabel="trial", ylabel=summary.metric, title="Optimization history")
    return ax


def plot_states(summary: StudySummary, ax: Axes) -> Axes:
    """How many trials ended in each state."""
    counts = summary.facts["by_state"]
    states = [s for s in state_order() if counts[s] or s in ("complete", "pruned", "failed")]
    values = [counts[s] for s in states]
    bars = ax.barh(states, values, color=[STATE_COLORS[s] for s in states])
    ax.bar_label(bars, padding=3)
    ax.invert_yaxis()
    ax.set_xlim(0, max([*values, 1]) * 1.15)
    ax.set(xlabel="trials", title="Trials by state")
    return ax


def _numeric(values: list, log: bool) -> tuple[np.ndarray, list[str] | None]:
    """Positions for parameter values: numbers as they are, anything else as category indices."""
    if all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.float64), None
    labels = sorted({str(v) for v in values})
    return np.asarray([labels.index(str(v)) for v in values], dtype=np.float64), labels


def plot_param(summary: StudySummary, name: str, ax: Axes) -> Axes:
    """One parameter against the metric (log x axis for log-scale parameters)."""
    t = summary.trials
    shown = t[t["state"].isin(["complete", "pruned"]) & t["value"].notna() & t[name].notna()]
    x, labels = _numeric(shown[name].tolist(), name in summary.log_params)
    is_complete = (shown["state"] == "complete").to_numpy()
    jitter = 0.0 if labels is None else 0.08
    offsets = np.random.default_rng(0).uniform(-jitter, jitter, len(x))
    ax.scatter(x[~is_complete] + offsets[~is_complete], shown["value"][~is_complete],
               marker="x", color=STATE_COLORS["pruned"], alpha=0.4, s=18, label="pruned")
    ax.scatter(x[is_complete] + offsets[is_complete], shown["value"][is_complete],
               color=STATE_COLORS["complete"], alpha=0.7, s=18, label="complete")
    if labels is not None:
        ax.set_xticks(range(len(labels)), labels)
    elif name in summary.log_params and len(x) and (x > 0).all():
        ax.set_xscale("log")
    ax.grid(alpha=0.3)
    ax.set(xlabel=name, ylabel=summary.metric)
    return ax


def _short(x: float, _pos: object = None) -> str:
    """A tick label: 20k, 1.5M, 0.5."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:g}{suffix}"
    return f"{x:g}"


def _log_x(ax: Axes) -> None:
    """A log x axis labelled at 1, 2 and 5 times the powers of ten, in short numbers."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(_short))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _mark(ax: Axes, xy: tuple[float, float], text: str, style: dict[str, Any],
          below: bool, left: bool) -> None:
    """One trial marked and labelled above or below it, to its right or its left."""
    ax.plot(*xy, ls="none", zorder=5, label=text, **style)
    ax.annotate(text, xy, xytext=(-9 if left else 9, -14 if below else 9),
                textcoords="offset points", ha="right" if left else "left", fontsize="small",
                zorder=6, bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none",
                                "alpha": 0.8})


_MOST_ACCURATE = {"marker": "D", "ms": 8, "mfc": "white", "mec": "black", "mew": 1.5}
_CHOSEN = {"marker": "*", "ms": 15, "color": "#ff7f0e", "mec": "black", "mew": 0.8}


def _marks(ax: Axes, front: Any, cost: str) -> None:
    """The chosen trial (a star, labelled below) and the most accurate (a diamond) if another.

    Labels near the right edge go to the left of their point.
    """
    t = front.trials.set_index("number")
    x = np.log10(t[cost]) if front.log_scale(cost) else t[cost]
    span = float(x.max() - x.min()) or 1.0
    best, chosen = front.choice.most_accurate, front.choice.trial
    marks = [(chosen, "chosen, most accurate", _CHOSEN, False)] if best == chosen else [
        (best, "most accurate", _MOST_ACCURATE, False), (chosen, "chosen", _CHOSEN, True)]
    for number, word, style, below in marks:
        if number in t.index:
            left = (float(x[number]) - float(x.min())) / span > 0.6
            _mark(ax, (t.at[number, cost], t.at[number, "value"]), f"{word} (trial {number})",
                  style, below, left)


def plot_front(summary: StudySummary, cost: str, ax: Axes) -> Axes:
    """Validation accuracy against one cost: every complete trial, the front, the choice.

    The line joins the trials no other beats on accuracy and this cost; filled dots are the
    Pareto front over all the study's costs. Under the one-standard-error rule the dashed line
    is the accuracy a candidate needed (the most accurate's estimate less one standard error).
    """
    front = summary.front
    t = front.trials
    ax.plot(t[cost], t["value"], "o", color="#7f7f7f", alpha=0.3, ms=4, label="complete trial")
    line = t[t[f"front_{cost}"]].sort_values(cost)
    ax.step(line[cost], line["value"], where="post" if front.costs[cost] == "minimize" else "pre",
            color=STATE_COLORS["complete"], lw=1.3, alpha=0.8)
    pareto = t[t["pareto"]]
    ax.plot(pareto[cost], pareto["value"], "o", color=STATE_COLORS["complete"], ms=5,
            label=f"Pareto front ({len(pareto)})")
    if (threshold := front.choice.threshold) is not None:
        ax.axhline(threshold, color="#d62728", ls="--", lw=1,
                   label=f"most accurate - 1 SE ({threshold:.4f})")
    ax.margins(y=0.12)  # room above the most accurate for its label
    _marks(ax, front, cost)
    if front.log_scale(cost):
        _log_x(ax)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=3, fontsize="x-small")
    ax.set(xlabel=front.label(cost), ylabel="validation accuracy",
           title=f"Accuracy against {front.label(cost)}")
    return ax


def plot_parallel(summary: StudySummary, ax: Axes) -> Axes:
    """Parallel coordinates: one line per complete trial across the searched parameters."""
    done = summary.complete
    names = [n for n in summary.searched if done[n].notna().all()]
    axes_names = [*names, summary.metric]
    columns, ticks = [], []
    for name in axes_names:
        raw = done["value"].tolist() if name == summary.metric else done[name].tolist()
        x, labels = _numeric(raw, name in summary.log_params)
        if labels is None and name in summary.log_params and (x > 0).all():
            x = np.log10(x)
        low, high = (0.0, len(labels) - 1.0) if labels is not None else (x.min(), x.max())
        span = high - low if high > low else 1.0
        columns.append((x - low) / span)
        if labels is not None:
            ticks.append((labels[0], labels[-1]))
        else:
            lo, hi = (low, high) if name not in summary.log_params else (10**low, 10**high)
            ticks.append((f"{lo:.3g}", f"{hi:.3g}"))
    y = np.column_stack(columns)  # (n_trials, n_axes) in [0, 1]
    xs = np.arange(len(axes_names))
    segments = [np.column_stack([xs, row]) for row in y]
    norm = Normalize(done["value"].min(), done["value"].max())
    lines = LineCollection(segments, cmap="viridis", norm=norm, alpha=0.7, lw=1.2)
    lines.set_array(done["value"].to_numpy())
    ax.add_collection(lines)
    for i, (lo, hi) in enumerate(ticks):
        ax.axvline(i, color="black", lw=0.8)
        ax.text(i, -0.06, lo, ha="center", va="top", fontsize="x-small")
        ax.text(i, 1.06, hi, ha="center", va="bottom", fontsize="x-small")
    ax.set_xticks(xs, axes_names, rotation=20, ha="right")
    ax.set_yticks([])
    ax.set_xlim(-0.3, len(axes_names) - 0.7)
    ax.set_ylim(-0.18, 1.18)
    ax.figure.colorbar(lines, ax=ax, label=summary.metric)
    ax.set(title="Parallel coordinates (complete trials)")
    return ax


def plot_importances(summary: StudySummary, ax: Axes) -> Axes:
    """Optuna's parameter importances (fANOVA by default), most important on top."""
    items = sorted(summary.importances.items(), key=lambda kv: kv[1])
    bars = ax.barh([k for k, _ in items], [v for _, v in items], color="#9467bd")
    ax.bar_label(bars, fmt="%.2f", padding=3)
    ax.set_xlim(0, max(v for _, v in items) * 1.2 or 1.0)
    ax.set(xlabel="importance", title="Parameter importances")
    return ax


def plot_learning_curves(summary: StudySummary, ax: Axes) -> Axes:
    """Validation accuracy per epoch of every trial; pruned ones dashed red, ending in a cross."""
    handles = []
    for state, style in (("complete", "-"), ("running", "-"), ("failed", ":"), ("pruned", "--")):
        part = summary.intermediate[summary.intermediate["state"] == state]
        if part.empty:
            continue
        # One array per trial, split where the trial number changes (a groupby per trial costs
        # a millisecond each: seconds for a study of thousands).
        part = part.sort_values(["trial", "epoch"], kind="stable")
        numbers = part["trial"].to_numpy()
        segments = np.split(part[["epoch", "value"]].to_numpy(dtype=float),
                            np.flatnonzero(np.diff(numbers)) + 1)
        alpha = 0.35 if state == "complete" else 0.6
        ax.add_collection(LineCollection(segments, colors=STATE_COLORS[state], linestyles=style,
                                         lw=1.1, alpha=alpha))
        # Where each curve ends: pruned ones at a cross; a one-epoch curve is otherwise invisible.
        marker = _END_MARKERS[state]
        ends = np.array([seg[-1] for seg in segments if marker != "" or len(seg) == 1])
        if len(ends):
            ax.plot(ends[:, 0], ends[:, 1], marker or ".", ls="none", color=STATE_COLORS[state],
                    ms=6)
        handles.append(Line2D([], [], color=STATE_COLORS[state], ls=style, marker=marker or None,
                              label=f"{state} ({len(segments)})"))
    ax.autoscale_view()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(handles=handles, loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    ax.set(xlabel="epoch", ylabel=summary.metric, title="Learning curves")
    return ax


def _timeline_bars(summary: StudySummary) -> tuple[list[tuple], list[str]]:
    """(row, start, length, state) per timed trial, and a label per row.

    Rows are worker slots: on each node a trial takes the first slot free when it started, so
    trials that overlapped sit on different rows and a gap in a row is a slot left idle.
    """
    timed = summary.trials.dropna(subset=["started_at", "duration_s"])
    timed = timed.sort_values("started_at")
    t0 = float(timed["started_at"].min())
    slots: dict[str, list[float]] = {}  # node -> end time of each of its slots
    placed = []
    for node, started, length, state in zip(timed["node"].fillna("?"), timed["started_at"],
                                            timed["duration_s"], timed["state"], strict=True):
        start = float(started) - t0
        ends = slots.setdefault(str(node), [])
        slot = next((i for i, end in enumerate(ends) if end <= start), len(ends))
        ends[slot:slot + 1] = [start + float(length)]  # reuse the free slot, or open one
        placed.append((str(node), slot, start, float(length), str(state)))
    rows = {key: i for i, key in enumerate((n, k) for n, ends in slots.items()
                                           for k in range(len(ends)))}
    labels = [f"{n[:8]} #{k + 1}" for n, k in rows]
    return [(rows[(n, k)], start, length, state) for n, k, start, length, state in placed], labels


def plot_timeline(summary: StudySummary, ax: Axes) -> Axes:
    """Each trial as a bar from its start to its end, one row per worker slot on each node."""
    bars, labels = _timeline_bars(summary)
    # Thin white edges separate neighbouring bars; with thousands of trials they would be all
    # that shows.
    edge = {"edgecolor": "white", "lw": 0.5} if len(bars) <= 300 else {"lw": 0}
    for state in state_order():
        mine = [(row, start, length) for row, start, length, s in bars if s == state]
        for row in sorted({r for r, _, _ in mine}):
            ax.broken_barh([(x, w) for r, x, w in mine if r == row], (row - 0.4, 0.8),
                           facecolors=STATE_COLORS[state], **edge)
        if mine:
            ax.add_patch(Rectangle((0, 0), 0, 0, color=STATE_COLORS[state],
                                   label=f"{state} ({len(mine)})"))
    ax.set_yticks(range(len(labels)), labels, fontsize="small")
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    ax.set(xlabel="seconds since the first trial started", ylabel="node, slot",
           title="Trials over time")
    return ax


def plot_occupancy(summary: StudySummary, ax: Axes, bins: int = 150) -> Axes:
    """Trials running at once over this study's run, stacked by study: what each study got.

    Averaged over short intervals (``bins`` across the run), so that trials shorter than a pixel
    still add up to what they used. The other studies are those in the same storage whose
    trials ran at the same time (studies submitted to one cluster usually share a database).
    """
    occ = summary.occupancy
    mine = occ[occ["study"] == summary.name]
    t0, t1 = float(mine["start"].min()), float(mine["end"].max())
    edges = np.linspace(t0, max(t1, t0 + 1e-3), bins + 1)
    names = [summary.name, *sorted(set(occ["study"]) - {summary.name})]
    base = np.zeros(bins)
    for i, name in enumerate(names):
        part = occ[occ["study"] == name]
        start, end = part["start"].to_numpy(float), part["end"].to_numpy(float)
        # Trial-seconds run before each edge; their differences over the bins' widths are the
        # mean number of trials running in each bin.
        done = np.array([np.clip(e - start, 0.0, end - start).sum() for e in edges])
        running = np.diff(done) / np.diff(edges)
        label = f"{name} (this study)" if i == 0 else name
        ax.stairs(base + running, edges - t0, baseline=base, fill=True, lw=0,
                  color=f"C{i % 10}", alpha=0.85 if i == 0 else 0.6, label=label)
        base = base + running
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(1.0, float(base.max())) * 1.15)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    ax.set(xlabel="seconds since the first trial started", ylabel="trials running (mean)")
    return ax


def _draw_timeline(summary: StudySummary, fig: Figure) -> None:
    rows = len(_timeline_bars(summary)[1])
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[0.6 + 0.35 * rows, 1.6])
    plot_timeline(summary, top)
    top.set_xlabel("")
    plot_occupancy(summary, bottom)


def plot_loss_curve(summary: StudySummary, ax: Axes) -> Axes:
    """The best model's mean training loss per epoch."""
    loss = summary.best_history["loss"]
    ax.plot(np.arange(1, len(loss) + 1), loss, "o-", ms=3, color="#ff7f0e")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.set(xlabel="epoch", ylabel="training loss", title="Best model: loss")
    return ax


def plot_accuracy_curves(summary: StudySummary, ax: Axes) -> Axes:
    """The best model's training and validation accuracy per epoch."""
    h = summary.best_history
    for key, label in (("train_acc", "train"), ("val_acc", "validation")):
        values = h.get(key) or []
        ax.plot(np.arange(1, len(values) + 1), values, "o-", ms=3, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    ax.set(xlabel="epoch", ylabel="accuracy", title="Best model: accuracy")
    return ax


def plot_weight_tiles(summary: StudySummary, ax: Axes) -> Axes:
    """First-layer weights of the best model, one tile per unit (each scaled to its own range)."""
    tiles = summary.weight_tiles
    ax.imshow(tiles, cmap="gray" if tiles.ndim == 2 else None, interpolation="nearest")
    ax.set_axis_off()
    ax.set(title="First-layer weights")
    return ax


def plot_confusion(summary: StudySummary, ax: Axes) -> Axes:
    """Confusion matrix of the best model on the test split (rows: true class)."""
    ev = summary.evaluation
    counts = np.asarray(ev.classes.confusion_matrix)
    n = len(counts)
    image = ax.imshow(counts, cmap="Blues")
    if n <= 20:
        threshold = counts.max() / 2 if counts.size else 0
        for (i, j), c in np.ndenumerate(counts):
            ax.text(j, i, str(c), ha="center", va="center", fontsize="x-small" if n > 10 else
                    "small", color="white" if c > threshold else "black")
    names = ev.classes.names
    labels = [str(c) for c in names] if len(names) == n else list(range(n))
    ax.set_xticks(range(n), labels, rotation=45 if n > 5 else 0, ha="right" if n > 5 else
                  "center", fontsize="small")
    ax.set_yticks(range(n), labels, fontsize="small")
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    ax.set(xlabel="predicted", ylabel="true",
                  title=f"Test confusion matrix (accuracy {ev.test.accuracy:.3f})")
    return ax


def draw_boundary(ax: Axes, boundary: dict[str, np.ndarray], index: int = 0,
                  point_size: float = 8) -> Axes:
    """Model ``index``'s predicted class over the plane, with the training and validation data.

    ``boundary`` is ``hpsearch.results.boundary_mesh``'s: ``zz`` is (n_models, M, M).
    """
    k = int(boundary["num_classes"])
    colors = [f"C{i % 10}" for i in range(k)]
    ax.contourf(boundary["xx"], boundary["yy"], boundary["zz"][index],
                levels=np.arange(k + 1) - 0.5, cmap=ListedColormap(colors), alpha=0.25)
    X = boundary["X"]
    ax.scatter(X[:, 0], X[:, 1], c=[colors[i] for i in boundary["y"]], s=point_size,
               edgecolors="none")
    return ax


def plot_decision_boundary(summary: StudySummary, ax: Axes) -> Axes:
    """The best model's predicted class over the plane, with the training and validation data."""
    draw_boundary(ax, summary.boundary)
    ax.set(xlabel="x1", ylabel="x2", title="Decision boundary of the best model")
    return ax


# --- figures: which plot functions make up each image, and when each can be drawn -------------


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the report.

    Attributes:
        name: file stem (``figures/<name>.png``).
        title: heading shown above it.
        caption: one sentence under it.
        draw: fills a ``Figure`` from the summary (creating its axes).
        missing: None when the figure can be drawn, else the reason it cannot.
        size: figure size in inches (may depend on the summary).
    """

    name: str
    title: str
    caption: str
    draw: Callable[[StudySummary, Figure], None]
    missing: Callable[[StudySummary], str | None]
    size: Callable[[StudySummary], tuple[float, float]] = lambda s: (7.0, 4.0)


def _one(plot: Callable[[StudySummary, Axes], Axes]) -> Callable[[StudySummary, Figure], None]:
    return lambda summary, fig: plot(summary, fig.add_subplot())


def _draw_params(summary: StudySummary, fig: Figure) -> None:
    n = len(summary.searched)
    cols = min(3, n)
    axes = fig.subplots(math.ceil(n / cols), cols, squeeze=False).ravel()
    for name, ax in zip(summary.searched, axes, strict=False):
        plot_param(summary, name, ax)
    for ax in axes[n:]:
        ax.set_visible(False)


def _draw_front(summary: StudySummary, fig: Figure) -> None:
    costs = list(summary.front.costs)
    cols = min(2, len(costs))
    axes = fig.subplots(math.ceil(len(costs) / cols), cols, squeeze=False).ravel()
    for cost, ax in zip(costs, axes, strict=False):
        plot_front(summary, cost, ax)
    for ax in axes[len(costs):]:
        ax.set_visible(False)


def _front_size(summary: StudySummary) -> tuple[float, float]:
    n = len(summary.front.costs)
    return (7.5, 4.6) if n == 1 else (12.0, 4.4 * math.ceil(n / 2))


def _need_front(s: StudySummary) -> str | None:
    if s.front is not None:
        return None
    if not s.facts["by_state"]["complete"]:
        return "no complete trial yet"
    return ("the study neither optimizes a cost ([study] objectives) nor selects by one "
            "([selection] cost), or no complete trial has its costs measured")


def _draw_best(summary: StudySummary, fig: Figure) -> None:
    left, right = fig.subplots(1, 2)
    plot_loss_curve(summary, left)
    plot_accuracy_curves(summary, right)


def _params_size(summary: StudySummary) -> tuple[float, float]:
    n = max(1, len(summary.searched))
    return 3.6 * min(3, n), 3.0 * math.ceil(n / 3)


def _need_trials(s: StudySummary) -> str | None:
    return None if s.facts["n_trials"] else "no trials"


def _need_values(s: StudySummary) -> str | None:
    has = s.trials["state"].isin(["complete", "pruned"]) & s.trials["value"].notna()
    return None if has.any() else "no complete or pruned trial has a value yet"


def _need_params(s: StudySummary) -> str | None:
    return _need_values(s) or (None if s.searched else "no searched parameters")


def _need_parallel(s: StudySummary) -> str | None:
    if len(s.complete) < 2:
        return "parallel coordinates need at least 2 complete trials"
    return None if s.searched else "no searched parameters"


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("history", "Optimization history",
               "Validation accuracy of each trial by trial number; the line is the best so far.",
               _one(plot_history), _need_values),
    FigureSpec("front", "Accuracy against cost",
               "Validation accuracy against each cost (one panel per cost; log axes for sizes and "
               "times spanning more than 10x): grey dots are the complete trials, the line joins "
               "those no other beats on accuracy and that cost, blue dots are the Pareto front "
               "over all costs. The star is the configuration chosen for the test, the diamond "
               "the most accurate; under the one-standard-error rule the dashed line is the "
               "accuracy a candidate needed.", _draw_front, _need_front, _front_size),
    FigureSpec("states", "Trials by state", "How the trials ended.", _one(plot_states),
               _need_trials, lambda s: (6.0, 2.6)),
    FigureSpec("params", "Parameters against the metric",
               "Each searched parameter against validation accuracy (log axes for log-scale "
               "parameters); crosses are pruned trials at their last value.",
               _draw_params, _need_params, _params_size),
    FigureSpec("parallel", "Parallel coordinates",
               "Each line is a complete trial through its parameter values, coloured by "
               "validation accuracy.", _one(plot_parallel), _need_parallel,
               lambda s: (max(6.0, 1.6 * (len(s.searched) + 1)), 4.2)),
    FigureSpec("importances", "Parameter importances",
               "How much of the variation in validation accuracy each parameter explains "
               "(Optuna's importance evaluator).", _one(plot_importances),
               lambda s: None if s.importances else (s.importance_note or "not available"),
               lambda s: (6.0, 1.2 + 0.45 * len(s.importances or {}))),
    FigureSpec("learning_curves", "Learning curves",
               "Validation accuracy per epoch of every trial; pruned trials are dashed and end "
               "in a cross where they were stopped.", _one(plot_learning_curves),
               lambda s: None if len(s.intermediate) else "no trial has reported an epoch"),
    FigureSpec("timeline", "Trials over time",
               "Where and when each trial trained: one row per worker slot on each node (node "
               "id, slot); gaps in a row are time that slot stood idle. Below, the trials "
               "running at once, stacked with those of other studies in the same storage that "
               "ran at the same time: the share of the cluster each study got.", _draw_timeline,
               lambda s: None if s.trials["started_at"].notna().any() else "the trials carry "
               "no start times (stored since hpsearch records started_at)",
               lambda s: (9.0, 3.2 + 0.35 * len(_timeline_bars(s)[1]))),
    FigureSpec("best_model", "Best model",
               "Training loss and training / validation accuracy per epoch of the best model.",
               _draw_best, lambda s: None if s.best_history else "no complete trial with a "
               "recorded history", lambda s: (9.0, 3.4)),
    FigureSpec("first_layer", "First-layer weights",
               "The best model's first-layer weights, one tile per unit.",
               _one(plot_weight_tiles),
               lambda s: None if s.weight_tiles is not None else "needs image data and the "
               "stored best model", lambda s: (5.0, 5.0)),
    FigureSpec("confusion", "Confusion matrix (test)",
               "Counts of true (rows) against predicted (columns) classes on the test split.",
               _one(plot_confusion),
               lambda s: None if s.evaluation is not None else "needs the test evaluation",
               lambda s: (5.6 + 0.1 * len(s.evaluation.classes.confusion_matrix),
                          4.8 + 0.1 * len(s.evaluation.classes.confusion_matrix))),
    FigureSpec("decision_boundary", "Decision boundary",
               "The best model's predicted class over the plane, with the training and "
               "validation points.", _one(plot_decision_boundary),
               lambda s: None if s.boundary is not None else "needs 2-D data, the data and the "
               "stored best model", lambda s: (5.5, 4.6)),
)


def new_figure(size: tuple[float, float]) -> Figure:
    """An empty report figure (Agg canvas, constrained layout); ``size`` in inches."""
    return Figure(figsize=size, dpi=_DPI, layout="constrained")


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes (no software tag, so the bytes depend only on the drawing)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def render_png(spec: FigureSpec, summary: StudySummary) -> bytes:
    """Draw one figure and return its PNG bytes."""
    fig = new_figure(spec.size(summary))
    spec.draw(summary, fig)
    return png_bytes(fig)
