"""Comparison studies: a few settings side by side, the way the users' notebooks showed them.

A study whose searched parameters are all explicit values (grid or choices) with at most
``MAX_SETTINGS`` combinations is a *comparison*: each trial is one setting, and what matters is how
the settings differ, not which is best. ``comparison_section`` returns titled figures and tables
for such a study, computed from the stored trials (their per-epoch ``history``):

- curves: loss, and train/validation accuracy, per setting, side by side (update rules);
- the train/validation gap per setting, as a table and per epoch (dropout);
- with ``augment`` among the varied parameters: each setting retrained from its recorded seed and
  scored once on the train and the test split (loss and accuracy), labelled as such;
- on 2-D data: each setting's decision boundary, retrained from its recorded seed.

Figures use matplotlib's object-oriented API on the Agg canvas; nothing here touches pyplot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hpsearch import _attrs as A
from hpsearch.space import Choice, Fixed, Grid, resolve_params

__all__ = ["MAX_SETTINGS", "Setting", "comparison_section", "is_comparison", "settings"]

#: Most combinations a study may have and still be shown as a side-by-side comparison.
MAX_SETTINGS = 8

_MESH = 150  # decision-boundary mesh points per axis
_SCORE_CHUNK = 2000  # rows scored per forward pass (bounds activation memory on CIFAR-sized data)

Item = tuple[str, Any]  # (title, matplotlib Figure or pandas DataFrame)


@dataclass(frozen=True)
class Setting:
    """One completed trial of a comparison study.

    Attributes:
        label: the varied parameters, e.g. ``"update_rule=adam, learning_rate=0.001"``.
        number: the trial number.
        value: its validation accuracy (the best epoch's).
        seed: the trial's recorded seed.
        params: its resolved parameters.
        history: per-epoch ``loss``, ``train_acc`` and ``val_acc``.
    """

    label: str
    number: int
    value: float
    seed: int
    params: dict[str, Any]
    history: dict[str, list[float]]


def _varied(space: Mapping[str, Any]) -> list[str]:
    return [name for name, spec in space.items() if not isinstance(spec, Fixed)]


def is_comparison(space: Mapping[str, Any]) -> bool:
    """Whether every searched parameter is an explicit list and there are few combinations."""
    varied = _varied(space)
    if not varied or not all(isinstance(space[n], Choice | Grid) for n in varied):
        return False
    sizes = [len(space[n].choices if isinstance(space[n], Choice) else space[n].values)
             for n in varied]
    return math.prod(sizes) <= MAX_SETTINGS


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def settings(study: Any, config: Any) -> list[Setting]:
    """The study's complete trials as settings, one per distinct parameter combination.

    A combination run more than once (a resumed study) is represented by its latest trial.
    """
    from optuna.trial import TrialState

    varied = _varied(config.space)
    latest: dict[tuple, Setting] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        history = t.user_attrs.get(A.TRIAL_HISTORY) or {}
        if not history.get("val_acc"):
            continue
        params = resolve_params(t.params, config.space)
        key = tuple(params[n] for n in varied)
        label = ", ".join(f"{n}={_fmt(params[n])}" for n in varied)
        latest[key] = Setting(label, t.number, float(t.value), int(t.user_attrs[A.TRIAL_SEED]),
                              params, {k: list(v) for k, v in history.items()})
    return sorted(latest.values(), key=lambda s: s.number)


# --- data: tables ---------------------------------------------------------------------------------


def gap_table(items: list[Setting]) -> pd.DataFrame:
    """Per setting: train and validation accuracy at its best validation epoch, and the gap."""
    rows = []
    for s in items:
        val = np.asarray(s.history["val_acc"])
        train = np.asarray(s.history["train_acc"])
        best = int(np.argmax(val))
        rows.append({"setting": s.label, "trial": s.number, "best_epoch": best + 1,
                     "train_acc": float(train[best]), "val_acc": float(val[best]),
                     "gap": float(train[best] - val[best]),
                     "final_train_acc": float(train[-1]), "final_val_acc": float(val[-1]),
                     "final_gap": float(train[-1] - val[-1])})
    return pd.DataFrame(rows)


def _retrain(s: Setting, dataset: Any) -> Any:
    """The setting's model, retrained from its recorded seed exactly as the search trained it."""
    from hpsearch.worker import fit

    model, _ = fit(s.params, dataset.as_solver_data(), tuple(dataset.input_shape),
                   dataset.num_classes, s.seed, image_shape=dataset.image_shape)
    return model


def _loss_and_accuracy(model: Any, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean softmax data loss (no L2 term) and accuracy, in test mode (no dropout)."""
    from netcore.losses import softmax_loss

    total_loss, correct = 0.0, 0
    for start in range(0, len(X), _SCORE_CHUNK):
        xb, yb = X[start:start + _SCORE_CHUNK], y[start:start + _SCORE_CHUNK]
        scores = np.asarray(model.loss(xb), dtype=np.float64)
        loss, _ = softmax_loss(scores, yb)
        total_loss += float(loss) * len(xb)
        correct += int((scores.argmax(axis=1) == yb).sum())
    return total_loss / len(X), correct / len(X)


def train_test_table(items: list[Setting], dataset: Any,
                     models: Mapping[int, Any] | None = None) -> pd.DataFrame:
    """Per setting: retrain from the recorded seed, score train and test once each.

    Train loss and accuracy are measured on the un-augmented training split; the test split is
    read here once per setting and never by the search.
    """
    rows = []
    for s in items:
        model = (models or {}).get(s.number) or _retrain(s, dataset)
        train_loss, train_acc = _loss_and_accuracy(model, dataset.X_train, dataset.y_train)
        test_loss, test_acc = _loss_and_accuracy(model, dataset.X_test, dataset.y_test)
        rows.append({"setting": s.label, "trial": s.number, "seed": s.seed,
                     "train_loss": train_loss, "train_acc": train_acc,
                     "test_loss": test_loss, "test_acc": test_acc,
                     "gap": train_acc - test_acc})
    return pd.DataFrame(rows)


def boundary_mesh(model: Any, dataset: Any) -> dict[str, np.ndarray]:
    """Predicted class over a mesh covering the training and validation points (never test)."""
    X = np.concatenate([dataset.X_train, dataset.X_val])
    y = np.concatenate([dataset.y_train, dataset.y_val])
    lo, hi = X.min(axis=0), X.max(axis=0)
    margin = 0.1 * (hi - lo) + 1e-6
    xx, yy = np.meshgrid(np.linspace(lo[0] - margin[0], hi[0] + margin[0], _MESH),
                         np.linspace(lo[1] - margin[1], hi[1] + margin[1], _MESH))
    mesh = np.column_stack([xx.ravel(), yy.ravel()]).astype(dataset.X_train.dtype)
    zz = np.asarray(model.predict(mesh)).reshape(xx.shape)
    return {"xx": xx, "yy": yy, "zz": zz, "X": X, "y": y}


# --- drawing --------------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def curves_figure(items: list[Setting]) -> Any:
    """Loss (left) and train (dashed) / validation (solid) accuracy (right) per epoch."""
    fig = _figure(11, 4.2)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, s in enumerate(items):
        color = f"C{i % 10}"
        epochs = np.arange(1, len(s.history["val_acc"]) + 1)
        ax_loss.plot(epochs, s.history["loss"], color=color, label=s.label)
        ax_acc.plot(epochs, s.history["val_acc"], color=color, label=s.label)
        ax_acc.plot(epochs, s.history["train_acc"], color=color, ls="--", alpha=0.7)
    ax_loss.set(xlabel="epoch", ylabel="training loss (epoch mean)", title="Loss")
    if all(min(s.history["loss"]) > 0 for s in items):
        ax_loss.set_yscale("log")
    ax_acc.set(xlabel="epoch", ylabel="accuracy",
               title="Accuracy: validation (solid), train (dashed)")
    ax_loss.legend(fontsize=7)
    fig.tight_layout()
    return fig


def gap_figure(items: list[Setting]) -> Any:
    """Train minus validation accuracy per epoch, one line per setting."""
    fig = _figure(7, 4)
    ax = fig.add_subplot()
    for i, s in enumerate(items):
        gap = np.asarray(s.history["train_acc"]) - np.asarray(s.history["val_acc"])
        ax.plot(np.arange(1, len(gap) + 1), gap, color=f"C{i % 10}", label=s.label)
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xlabel="epoch", ylabel="train - validation accuracy",
           title="Generalization gap per setting")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def boundaries_figure(items: list[Setting], meshes: list[dict[str, np.ndarray]],
                      num_classes: int) -> Any:
    """One panel per setting: its predicted class over the plane, with the data."""
    from matplotlib.colors import ListedColormap

    n = len(items)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = _figure(3.6 * cols, 3.3 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    colors = [f"C{i % 10}" for i in range(num_classes)]
    for ax, s, b in zip(axes, items, meshes, strict=False):
        ax.contourf(b["xx"], b["yy"], b["zz"], levels=np.arange(num_classes + 1) - 0.5,
                    cmap=ListedColormap(colors), alpha=0.25)
        ax.scatter(b["X"][:, 0], b["X"][:, 1], c=[colors[c] for c in b["y"]], s=5,
                   edgecolors="none")
        ax.set_title(f"{s.label}\nval acc {s.value:.3f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


# --- the section ----------------------------------------------------------------------------------


def comparison_section(study: Any, config: Any, dataset: Any = None) -> list[Item]:
    """Titled figures and tables comparing a comparison study's settings side by side.

    Args:
        study: the ``optuna.Study`` as the engine stored it.
        config: its ``StudyConfig``.
        dataset: the loaded dataset; needed to retrain settings (the train/test table when
            ``augment`` is varied, decision boundaries on 2-D data). Without it those are left out.

    Returns:
        ``(title, Figure | DataFrame)`` pairs in display order; empty when the study is not a
        comparison (see ``is_comparison``) or has no complete trial with a history.
    """
    if not is_comparison(config.space):
        return []
    items = settings(study, config)
    if not items:
        return []
    out: list[Item] = [
        ("Learning curves per setting", curves_figure(items)),
        ("Train/validation gap per setting (at each setting's best validation epoch, and at "
         "the last epoch)", gap_table(items)),
        ("Train - validation accuracy per epoch", gap_figure(items)),
    ]
    if dataset is None:
        return out
    models: dict[int, Any] = {}
    if tuple(dataset.input_shape) == (2,):
        for s in items:
            models[s.number] = _retrain(s, dataset)
        meshes = [boundary_mesh(models[s.number], dataset) for s in items]
        out.append(("Decision boundary per setting (retrained from each trial's seed)",
                    boundaries_figure(items, meshes, dataset.num_classes)))
    if "augment" in _varied(config.space):
        out.append(("Train and test loss and accuracy per setting (each retrained from its "
                    "recorded seed; the test split scored once per setting)",
                    train_test_table(items, dataset, models)))
    return out
