"""Pruning decisions from Optuna's own pruner, taken on an in-memory copy of the study.

A pruner looks at every finished trial's learning curve on every report. Against SQLite that
is a read of all trials plus a write on every epoch of every trial (docs/benchmarks.md, "Costs the
code cites"). The copy, held by the pruning channel's actor, answers the same question from memory
in a fraction of that; the stored study still gets every intermediate value, written by the driver
when the trial's result is told.

Optuna's median and percentile pruners still read every finished trial on each report: O(n) per
report, O(n^2) over a study, which fell behind the reports at a few thousand trials (Ray warned of
"more than 5000 tasks pending" to the channel). For those two, ``PercentileRule`` takes the same
decisions from per-step sorted values, O(log n) per report; a test holds it to Optuna's decisions
on random curves. Every other pruner runs as Optuna's own, on the in-memory copy.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["PercentileRule", "PruneMirror"]


class PercentileRule:
    """Optuna's ``PercentilePruner`` (``MedianPruner``: percentile 50), maximizing, kept sorted.

    Each step's values of complete trials stay in an ascending list, so a decision costs a
    lookup, not a pass over every finished trial.

    Args:
        percentile: the percentile of complete trials' values at a step that a trial's best value
            so far must reach (50: the median).
        n_startup_trials, n_warmup_steps, interval_steps, n_min_trials: as Optuna's.
        complete: the intermediate values of trials already complete.
    """

    def __init__(self, percentile: float, n_startup_trials: int = 5, n_warmup_steps: int = 0,
                 interval_steps: int = 1, n_min_trials: int = 1,
                 complete: Iterable[Mapping[int, float]] = ()) -> None:
        self._q = 100.0 - float(percentile)  # maximizing: the upper percentile
        self._startup, self._warmup = n_startup_trials, n_warmup_steps
        self._interval, self._min_trials = interval_steps, n_min_trials
        self._sorted: dict[int, list[float]] = {}  # step -> non-NaN values, ascending
        self._count: dict[int, int] = {}  # step -> complete trials with a value there (NaN too)
        self._n_complete = 0
        # In the order trials were learned (``learned``: every finished trial counts), for
        # decisions on the first ``limit`` of them only (reproducible studies).
        self._learned = 0
        self._complete_at: list[int] = []  # learn index of each complete trial
        self._by_step: dict[int, tuple[list[int], list[float]]] = {}  # step -> (index, value)
        for values in complete:
            self.add_complete(values)

    @property
    def learned(self) -> int:
        """Finished trials learned so far (complete or not)."""
        return self._learned

    def add_complete(self, values: Mapping[int, float]) -> None:
        """A trial completed with these intermediate values."""
        self._n_complete += 1
        self._complete_at.append(self._learned)
        for step, value in values.items():
            self._count[step] = self._count.get(step, 0) + 1
            at, vals = self._by_step.setdefault(step, ([], []))
            at.append(self._learned)
            vals.append(value)
            if not math.isnan(value):
                bisect.insort(self._sorted.setdefault(step, []), value)
        self._learned += 1

    def add_other(self) -> None:
        """A trial ended pruned or failed: it counts toward ``learned``, with no values."""
        self._learned += 1

    def should_prune(self, values: Mapping[int, float], limit: int | None = None) -> bool:
        """Optuna's decision for a running trial with these intermediate values.

        Args:
            values: the trial's intermediate values so far.
            limit: decide as if only the first ``limit`` learned trials had finished (a
                reproducible study's deterministic set); None: all of them.
        """
        prefix = limit is not None and limit < self._learned
        n_complete = bisect.bisect_left(self._complete_at, limit) if prefix else self._n_complete
        if n_complete == 0 or n_complete < self._startup or not values:
            return False
        step = max(values)
        if step < self._warmup:
            return False
        # Optuna's _is_first_in_interval_step: decide once per interval of steps.
        nearest = (step - self._warmup) // self._interval * self._interval + self._warmup
        if max((s for s in values if s != step), default=-1) >= nearest:
            return False
        finite = [v for v in values.values() if not math.isnan(v)]
        if not finite:
            return True
        count, ordered = self._at_step(step, limit if prefix else None)
        if count < self._min_trials:
            return False
        if not ordered:
            return False  # every value there is NaN: numpy's nanpercentile gives NaN
        return max(finite) < _percentile(ordered, self._q)

    def _at_step(self, step: int, limit: int | None) -> tuple[int, list[float]]:
        """Complete trials with a value at ``step`` (NaN too), and their non-NaN values sorted.

        With ``limit``, among the first ``limit`` learned only: O(n) at a step instead of O(1).
        """
        if limit is None:
            return self._count.get(step, 0), self._sorted.get(step, [])
        at, vals = self._by_step.get(step, ([], []))
        upto = bisect.bisect_left(at, limit)
        return upto, sorted(v for v in vals[:upto] if not math.isnan(v))


def _percentile(ordered: list[float], q: float) -> float:
    """``numpy.percentile(ordered, q)`` (method "linear") of an ascending list, bit for bit."""
    n = len(ordered)
    virtual = (n - 1) * (q / 100.0)
    lo = math.floor(virtual)
    if virtual >= n - 1:
        lo = hi = n - 1
    elif virtual < 0:
        lo = hi = 0
    else:
        hi = lo + 1
    gamma = virtual - lo
    a, b = ordered[lo], ordered[hi]
    diff = b - a
    # numpy's _lerp: from the nearer end, so that gamma 1 gives b exactly
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


class PruneMirror:
    """An in-memory study that mirrors finished trials' learning curves and the running ones.

    Args:
        study: the stored study (read once, at start).
        pruner: a fresh pruner of the same kind and options as the study's.
        finished: the finished trials to start from (default: the study's complete and pruned).
        rule: with a median or percentile pruner, its options for ``PercentileRule``
            (``StudyConfig.percentile_rule``), which then decides instead of ``pruner``.
    """

    def __init__(self, study: Any, pruner: Any, finished: list[Any] | None = None,
                 rule: Mapping[str, Any] | None = None) -> None:
        import optuna
        from optuna.trial import TrialState

        if finished is None:
            finished = study.get_trials(deepcopy=False,
                                        states=(TrialState.COMPLETE, TrialState.PRUNED))
        finished = [_accuracy_only(t) for t in finished]
        self._live: dict[int, Any] = {}
        self._finished: set[int] = set()
        self._rule = None if rule is None else PercentileRule(
            **rule, complete=[t.intermediate_values for t in finished
                              if t.state == TrialState.COMPLETE])
        if self._rule is not None:
            return
        # No storage given: Optuna keeps the study in memory.
        self._study = optuna.create_study(
            study_name=study.study_name, direction="maximize", pruner=pruner,
            sampler=optuna.samplers.RandomSampler(seed=0))
        self._study.add_trials(finished)
        # Decisions on a prefix (``limit``: reproducible studies) are taken in a view: a study
        # of the first ``limit`` learned trials, built per running trial and limit. By trial:
        # (limit, view study, the trial in it, the trial's values so far).
        self._pruner = pruner
        self._learned_trials: list[Any] = list(finished)
        self._views: dict[int, tuple[int, Any, Any, dict[int, float]]] = {}

    @classmethod
    def of_first_folds(cls, study: Any, pruner: Any,
                       rule: Mapping[str, Any] | None = None) -> PruneMirror:
        """A mirror of the stored trials' first-fold learning curves (first-fold pruning).

        A trial that finished its first fold counts as complete there, with that fold's last
        value; one stopped inside it as pruned.
        """
        import optuna
        from optuna.trial import TrialState

        from hpsearch._attrs import TRIAL_FIRST_FOLD_CURVE, TRIAL_FOLD_VALUES

        curves = []
        for t in study.get_trials(deepcopy=False,
                                  states=(TrialState.COMPLETE, TrialState.PRUNED)):
            curve = t.user_attrs.get(TRIAL_FIRST_FOLD_CURVE)
            if not curve:
                continue
            done = bool(t.user_attrs.get(TRIAL_FOLD_VALUES))
            curves.append(optuna.trial.create_trial(
                state=TrialState.COMPLETE if done else TrialState.PRUNED,
                value=float(curve[-1]) if done else None,
                intermediate_values={e: float(v) for e, v in enumerate(curve, start=1)}))
        return cls(study, pruner, finished=curves, rule=rule)

    def start(self, number: int) -> None:
        """A trial of the stored study started (its first report says so)."""
        if number not in self._live:
            self._live[number] = {} if self._rule is not None else self._study.ask()

    @property
    def learned(self) -> int:
        """Finished trials learned so far: what ``limit`` counts."""
        return len(self._learned_trials) if self._rule is None else self._rule.learned

    def report(self, number: int, epoch: int, value: float, limit: int | None = None) -> bool:
        """Record one epoch's value; True when the pruner says stop.

        ``limit``: decide as if only the first ``limit`` learned trials had finished.
        """
        if number in self._finished:  # a late message; the trial's curve is complete already
            return False
        if limit is not None and self._rule is None:
            return self._prune_in_view(number, epoch, value, limit)
        if number not in self._live:
            self.start(number)
        trial = self._live[number]
        if self._rule is not None:
            trial.setdefault(epoch, float(value))  # a step reported twice keeps the first
            return self._rule.should_prune(trial, limit)
        trial.report(value, epoch)
        return bool(trial.should_prune())

    def _prune_in_view(self, number: int, epoch: int, value: float, limit: int) -> bool:
        """Optuna's pruner on a study of the first ``limit`` learned trials and this one only.

        No other running trial is in it (successive halving would count them: timing). Built
        when the trial's first report comes, O(limit), and again if a later report's ``limit``
        differs (a lagged study with folds sees more from a trial's second fold on), with the
        trial's earlier values: a reproducible study with a pruner other than
        median/percentile pays that for decisions no timing can change.
        """
        import optuna

        view = self._views.get(number)
        if view is None or view[0] != limit:
            study = optuna.create_study(direction="maximize", pruner=self._pruner,
                                        sampler=optuna.samplers.RandomSampler(seed=0))
            study.add_trials(self._learned_trials[:limit])
            trial, steps = study.ask(), {} if view is None else view[3]
            for step, earlier in steps.items():
                trial.report(earlier, step)
            self._views[number] = view = (limit, study, trial, steps)
        _, _, trial, steps = view
        steps.setdefault(epoch, value)
        trial.report(value, epoch)
        return bool(trial.should_prune())

    def finish(self, number: int, state: str, value: float | None,
               curve: list[float] | None = None) -> None:
        """A trial ended as "complete", "pruned" or "failed".

        ``curve``: its values by step as the trial itself recorded them, learned instead of
        the reports heard so far (some of which may still be on their way).
        """
        import optuna
        from optuna.trial import TrialState

        if number in self._finished:  # told twice (a first fold, then its trial): once counts
            return
        self._finished.add(number)
        trial = self._live.pop(number, None)
        steps = None if curve is None else {s: float(v) for s, v in enumerate(curve, start=1)}
        if self._rule is not None:
            values = trial if steps is None else steps
            if state == "complete" and values is not None:
                self._rule.add_complete(values)
            else:  # it counts toward ``learned`` all the same
                self._rule.add_other()
            return
        study = self._study
        if number in self._views:  # its record as the view made it (a pruner's rung marks)
            _, study, trial, _ = self._views.pop(number)
        if steps is not None:
            frozen = optuna.trial.create_trial(
                state=TrialState[{"complete": "COMPLETE", "pruned": "PRUNED"}.get(state, "FAIL")],
                value=value if state == "complete" else None, intermediate_values=steps)
            self._study.add_trial(frozen)
            self._learned_trials.append(frozen)
            return
        if trial is None:  # failed before its first report: it counts, with nothing to learn
            self._learned_trials.append(optuna.trial.create_trial(state=TrialState.FAIL))
            return
        if state == "complete":
            frozen = study.tell(trial, value)
        else:
            frozen = study.tell(trial, state=TrialState.PRUNED if state == "pruned"
                                else TrialState.FAIL)
        self._learned_trials.append(frozen)


def _accuracy_only(trial: Any) -> Any:
    """``trial`` as a single-objective trial of its accuracy (the first of several values).

    Pruners decide on accuracy alone; the mirror's studies are single-objective, and Optuna's
    pruners take no other. A multi-objective study stores no intermediate values
    (``hpsearch.storage.report_step``): its curve comes from the trial's history (one value
    per reported step: per epoch, or per fold with cross-validation).
    """
    from hpsearch._attrs import TRIAL_HISTORY

    curve = trial.user_attrs.get(TRIAL_HISTORY, {}).get("val_acc") or []
    values = trial.values
    if not ((values is not None and len(values) > 1) or (curve and not trial.intermediate_values)):
        return trial
    import optuna

    steps = trial.intermediate_values or {s: float(v) for s, v in enumerate(curve, start=1)}
    return optuna.trial.create_trial(state=trial.state,
                                     value=None if values is None else values[0],
                                     params=trial.params, distributions=trial.distributions,
                                     intermediate_values=steps,
                                     user_attrs=trial.user_attrs,
                                     system_attrs=trial.system_attrs)
