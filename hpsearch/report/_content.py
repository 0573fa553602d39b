"""What the report says, as plain text tables: formatted once, escaped later by each renderer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hpsearch.report._summary import StudySummary
from hpsearch.study import COSTS

if TYPE_CHECKING:
    from hpsearch.results import Ensemble, Evaluation

__all__ = ["Table", "choice_sentence", "choice_table", "cost_text", "evaluation_tables",
           "facts_table", "frame_table", "front_table", "meta_table", "selection_table",
           "versions_table"]


@dataclass(frozen=True)
class Table:
    """Rows of text cells under a header; ``name`` becomes the HTML class (for tests and CSS)."""

    name: str
    header: list[str]
    rows: list[list[str]]


_VALUE_COLUMNS = {"value", "best_so_far"}


def fmt(value: Any, column: str = "") -> str:
    """One cell as text: accuracies to 4 decimals, other floats to 4 significant digits."""
    if value is None or (not isinstance(value, str | list | dict) and pd.isna(value)):
        return "-"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{value:.4f}" if column in _VALUE_COLUMNS else f"{value:.4g}"
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


_RULES = {"best": "best: the most accurate configuration",
          "one_se": "one_se: the cheapest within one standard error of the most accurate"}
# "trial 12 has 4.1x <fewer parameters> than the most accurate"
_FEWER = {"n_params": "fewer parameters", "epochs": "fewer epochs",
          "train_cpu_s": "less training CPU time", "inference_ms": "less inference time"}
_COUNTS = frozenset({"n_params", "epochs"})


def cost_text(cost: str, value: float | None) -> str:
    """A cost as a cell: counts as integers, times to 4 significant digits."""
    if value is None or pd.isna(value):
        return "-"
    return str(round(value)) if cost in _COUNTS else f"{value:.4g}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min" if value < 7200 else f"{value / 3600:.2f} h"


def _cpu_spent(spent: dict[str, float] | None) -> str:
    if not spent or not any(spent.values()):
        return "-"
    return f"{spent['trials']:.0f} s in trials, {spent['evaluation']:.0f} s in evaluation"


def meta_table(s: StudySummary) -> Table:
    """Study name, dataset, sampler, pruner, file and time of the report."""
    rows = [["study", s.name], ["dataset", f"{s.dataset} (fingerprint {s.fingerprint})"],
            ["metric", s.metric], ["sampler", s.sampler], ["pruner", s.pruner],
            ["study file", s.config_path or "-"], ["report made", s.generated]]
    if s.front is not None:
        costs = ", ".join(f"{c} ({d})" for c, d in s.front.costs.items())
        rule = s.front.choice.rule
        rows[3:3] = [["costs", costs], ["selection rule", _RULES.get(rule, rule)]]
    return Table("meta", ["", ""], rows)


def facts_table(s: StudySummary) -> Table:
    """Trials by state, times, throughput, best value and the compute pruning saved."""
    f = s.facts
    by_state = ", ".join(f"{n} {state}" for state, n in f["by_state"].items() if n) or "none"
    share = f["pruning_saved_share"]
    saved = ("-" if share is None else
             f"{f['epochs_saved']} epochs ({share:.1%} of the full budget of "
             f"{f['budget_epochs']} epochs per trial)")
    rows = [
        ["trials", f"{f['n_trials']} ({by_state})"],
        ["interrupted and re-run", str(f["n_interrupted"])],
        ["best validation accuracy", "-" if f["best_value"] is None else
         f"{f['best_value']:.4f} (trial {f['best_trial']})"],
        ["wall time (first start to last finish)", _seconds(f["wall_s"])],
        ["CPU time (sum of trial durations)", _seconds(f["cpu_s"])],
        ["CPU-seconds spent (trials x their CPUs; refit and test)",
         _cpu_spent(f.get("cpu_seconds"))],
        ["trials per minute", "-" if f["trials_per_minute"] is None else
         f"{f['trials_per_minute']:.2f}"],
        ["epochs run", str(f["epochs_run"])],
        ["saved by pruning", saved],
    ]
    return Table("facts", ["fact", "value"], rows)


def evaluation_tables(s: StudySummary) -> list[Table]:
    """Test metrics of the best configuration, what the search promised, per-class accuracy."""
    ev = s.evaluation
    if ev is None:
        return []
    tables = [Table("evaluation", ["metric", "value"], _evaluation_rows(ev))]
    if (selection := selection_table(s)) is not None:
        tables.append(selection)
    return [*tables, _per_class_table(ev)]


def _evaluation_rows(ev: Evaluation) -> list[list[str]]:
    test, trial, retrained = ev.test, ev.trial, ev.retrained
    rows = [
        ["test accuracy", f"{test.accuracy:.4f}"],
        ["95% bootstrap interval", f"{test.low:.4f} to {test.high:.4f} "
                                   f"({test.n_bootstrap} resamples)"],
        ["test examples", str(test.n)],
        ["trial", str(trial.number)],
        ["validation accuracy in the search", f"{trial.val_accuracy:.4f}"],
        # Trained on the validation examples too, the model's accuracy there is a training score.
        ["validation accuracy retrained",
         "not held out (the retrained model learned from it)"
         if retrained.train_on_val or retrained.refit else f"{retrained.val_accuracy:.4f}"],
        ["seed", str(trial.seed)],
        ["trained on", "train + validation" if retrained.train_on_val else "train"],
    ]
    if ev.seeds is not None:
        rows.append([f"test accuracy over {len(ev.seeds.runs) + 1} seeds",
                     f"{ev.seeds.mean:.4f} ± {ev.seeds.std:.4f} (mean ± std)"])
    if retrained.refit:
        rows[-1][1] = "train + validation (refit; last epoch's model)"
    return rows


def _per_class_table(ev: Evaluation) -> Table:
    classes = ev.classes
    names = classes.names if len(classes.names) == len(classes.accuracy) else [
        str(i) for i in range(len(classes.accuracy))]
    support = np.asarray(classes.confusion_matrix).sum(axis=1)
    rows = [[str(name), fmt(acc, "value"), str(int(n))]
            for name, acc, n in zip(names, classes.accuracy, support, strict=True)]
    return Table("per-class", ["class", "accuracy", "test examples"], rows)


def selection_table(s: StudySummary) -> Table | None:
    """What the search promised beside what the test gave.

    The estimate with its interval, the per-fold values, the trials tied with the choice, the
    gap, and the ensemble; None without an evaluation that records an estimate.
    """
    ev = s.evaluation
    if ev is None or ev.estimate is None:
        return None
    est = ev.estimate
    interval = ("-" if est.low is None else
                f"{est.low:.4f} to {est.high:.4f} ({est.basis})")
    rows = [["estimate (the chosen trial's value)", f"{est.value:.4f}"],
            ["95% interval of the estimate", interval]]
    if est.fold_values:
        rows.append(["per-fold validation accuracy",
                     " ".join(f"{v:.4f}" for v in est.fold_values)
                     + f" (spread {min(est.fold_values):.4f} to {max(est.fold_values):.4f})"])
    if est.n_tied is not None:
        others = int((s.trials["state"] == "complete").sum()) - 1 if len(s.trials) else 0
        rows.append(["trials statistically tied with it",
                     f"{est.n_tied} of the {max(others, est.n_tied)} other complete trials (not "
                     "significantly worse at 5%" + (": the choice among them is a coin toss)"
                                                    if est.n_tied else ")")])
    rows.append(["test accuracy of the chosen configuration", f"{ev.test.accuracy:.4f}"])
    rows.append(["gap (test - estimate)", f"{ev.gap:+.4f}"])
    if ev.ensemble is not None:
        rows += _ensemble_rows(ev.ensemble, est.value)
    return Table("selection", ["", "value"], rows)


def _ensemble_rows(ens: Ensemble, estimate: float) -> list[list[str]]:
    rows = [[f"ensemble of the top {len(ens.trials)} (averaged probabilities; "
             f"trials {', '.join(str(n) for n in ens.trials)})",
             f"{ens.test.accuracy:.4f} ({ens.test.low:.4f} to {ens.test.high:.4f})"]]
    if ens.estimate is None:
        return [*rows, ["ensemble gap (test - the chosen trial's estimate)",
                        f"{ens.test.accuracy - estimate:+.4f}"]]
    return [*rows,
            ["ensemble estimate (its members' averaged out-of-fold probabilities)",
             f"{ens.estimate.accuracy:.4f} ({ens.estimate.low:.4f} to "
             f"{ens.estimate.high:.4f}, bootstrap over the non-test rows)"],
            ["ensemble gap (test - its estimate)", f"{ens.gap:+.4f}"]]


def frame_table(frame: pd.DataFrame, name: str, index: bool = False) -> Table:
    """A DataFrame as a text table (``index=True`` keeps the index as the first column)."""
    if index:
        frame = frame.reset_index()
    header = [str(c) for c in frame.columns]
    rows = [[fmt(v, str(c)) for c, v in zip(frame.columns, row, strict=True)]
            for row in frame.itertuples(index=False, name=None)]
    return Table(name, header, rows)


def versions_table(s: StudySummary) -> Table:
    """Package versions the study ran with and the report was made with."""
    names = list(dict.fromkeys([*s.versions["as run"], *s.versions["report"]]))
    rows = [[n, s.versions["as run"].get(n, "-"), s.versions["report"].get(n, "-")]
            for n in names]
    return Table("versions", ["package", "study ran with", "report made with"], rows)


# --- accuracy against cost ------------------------------------------------------------------------


def _marks(number: int, chosen: int, most_accurate: int) -> str:
    words = [w for w, n in (("chosen", chosen), ("most accurate", most_accurate)) if n == number]
    return ", ".join(words)


def front_table(s: StudySummary) -> Table | None:
    """The Pareto-optimal trials, most accurate first: accuracy, costs, parameters, marks."""
    if s.front is None:
        return None
    f = s.front
    header = ["trial", "validation accuracy", *(f.label(c) for c in f.costs), *s.searched, ""]
    rows = [[str(int(r["number"])), f"{r['value']:.4f}",
             *(cost_text(c, r[c]) for c in f.costs), *(fmt(r[p]) for p in s.searched),
             _marks(int(r["number"]), f.choice.trial, f.choice.most_accurate)]
            for _, r in f.front.iterrows()]
    return Table("front", header, rows)


def _tested_choice(s: StudySummary) -> Any:
    """The evaluation's choice when it was made by a cost, else None."""
    ev = s.evaluation
    choice = getattr(ev, "choice", None)
    return choice if choice is not None and choice.cost is not None else None


def choice_table(s: StudySummary) -> Table | None:
    """The most accurate and the chosen configuration side by side: estimate, test, cost.

    None unless the evaluation chose by a cost (``[selection] rule = "one_se"``).
    """
    if (c := _tested_choice(s)) is None:
        return None
    ev = s.evaluation
    folds = ev.estimate is not None and ev.estimate.fold_values
    keys = ["trial", f"estimate ({'mean over folds' if folds else 'validation accuracy'})",
            "test accuracy", COSTS[c.cost].label]
    chosen = [str(c.trial), "-" if ev.estimate is None else f"{ev.estimate.value:.4f}",
              f"{ev.test.accuracy:.4f}", cost_text(c.cost, c.chosen_cost)]
    if c.trial == c.most_accurate:
        return Table("choice", ["", "chosen (also the most accurate)"],
                     [list(pair) for pair in zip(keys, chosen, strict=True)])
    test = c.most_accurate_test
    most = [str(c.most_accurate), fmt(_estimate_of(s, c.most_accurate), "value"),
            "-" if test is None else f"{test.accuracy:.4f}",
            cost_text(c.cost, c.most_accurate_cost)]
    return Table("choice", ["", "most accurate", "chosen"],
                 [list(row) for row in zip(keys, most, chosen, strict=True)])


def _estimate_of(s: StudySummary, number: int) -> float | None:
    """A trial's validation accuracy (its mean over folds) as stored, or None."""
    values = s.trials.loc[s.trials["number"] == number, "value"]
    return None if values.empty or pd.isna(values.iloc[0]) else float(values.iloc[0])


def choice_sentence(s: StudySummary) -> str | None:
    """What the choice saves, in words; None unless the evaluation chose by a cost."""
    if (c := _tested_choice(s)) is None:
        return None
    se = f"{c.standard_error:.4f}" if c.standard_error is not None else "?"
    if c.trial == c.most_accurate:
        return (f"The most accurate trial ({c.trial}) is also the one of least "
                f"{COSTS[c.cost].label} among the {c.n_within} within one standard error "
                f"({se}; {c.basis}).")
    best = _estimate_of(s, c.most_accurate)
    lower = "" if best is None or s.evaluation.estimate is None else (
        f" at {best - s.evaluation.estimate.value:.4f} lower estimated accuracy,")
    than = f"the most accurate (trial {c.most_accurate})"
    if c.saving:
        cheaper = f"has {1 / c.saving:.1f}x {_FEWER.get(c.cost, 'less ' + c.cost)} than {than}"
    else:
        cheaper = (f"has {cost_text(c.cost, c.chosen_cost)} {COSTS[c.cost].label} against "
                   f"{cost_text(c.cost, c.most_accurate_cost)} for {than}")
    return (f"Trial {c.trial} {cheaper}{lower} within one standard error ({se}; {c.basis}); "
            f"it is the cheapest of the {c.n_within} trials within it.")
