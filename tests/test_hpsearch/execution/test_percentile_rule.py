"""PercentileRule decides exactly as Optuna's MedianPruner / PercentilePruner, in O(log n)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import optuna
import pytest

from hpsearch.execution._pruning import PercentileRule, PruneMirror, _percentile

optuna.logging.set_verbosity(optuna.logging.ERROR)


@pytest.mark.parametrize("seed", range(6))
def test_percentile_is_numpys_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    for n in (1, 2, 3, 10, 101):
        values = sorted(rng.random(n).round(int(rng.integers(1, 6))).tolist())
        for q in (0.0, 10.0, 25.0, 33.3, 50.0, 75.0, 90.0, 100.0):
            assert _percentile(values, q) == np.percentile(values, q)


def _options(rng):
    return {"percentile": float(rng.choice([25.0, 50.0, 50.0, 80.0])),
            "n_startup_trials": int(rng.integers(0, 6)),
            "n_warmup_steps": int(rng.integers(0, 4)),
            "interval_steps": int(rng.integers(1, 4)),
            "n_min_trials": int(rng.integers(1, 5))}


@pytest.mark.parametrize("seed", range(8))
def test_rule_takes_optunas_decisions_on_random_studies(seed):
    """Random curves (ties, NaNs, uneven lengths), trials finishing in any order: every
    report gets the answer Optuna's pruner gives on an in-memory study of the same history."""
    rng = np.random.default_rng(seed)
    options = _options(rng)
    pruner = optuna.pruners.PercentilePruner(**options)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    rule = PercentileRule(**options)
    running: dict[int, tuple[object, dict[int, float]]] = {}
    decisions = 0
    for _ in range(400):
        if len(running) < 3 or rng.random() < 0.3:  # start a trial
            trial = study.ask()
            running[trial.number] = (trial, {})
        key = list(running)[int(rng.integers(len(running)))]
        trial, values = running[key]
        if rng.random() < 0.15 or len(values) >= 8:  # it ends: complete, pruned or failed
            del running[key]
            state = rng.choice(["complete", "complete", "pruned", "failed"])
            if state == "complete":
                study.tell(trial, float(rng.random()))
                rule.add_complete(values)
            else:
                study.tell(trial, state=(optuna.trial.TrialState.PRUNED if state == "pruned"
                                         else optuna.trial.TrialState.FAIL))
            continue
        # the next step, sometimes with a gap, now and then one already reported (Optuna keeps
        # the first value)
        last = max(values, default=0)
        step = (last + 1 if rng.random() < 0.85 else last + 2 if rng.random() < 0.7
                else max(last, 1))
        value = (math.nan if rng.random() < 0.05
                 else float(rng.choice([0.5, 0.6, 0.7])) if rng.random() < 0.3
                 else float(rng.random()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nanmax of all-NaN; a step reported again
            trial.report(value, step)
            values.setdefault(step, value)
            expected = trial.should_prune()
            got = rule.should_prune(values)
        assert got == expected, (options, dict(values))
        decisions += 1
    assert decisions > 200


def test_mirror_with_a_rule_matches_the_mirror_with_optunas_pruner(tmp_path):
    """The channel's two ways of deciding (Optuna's pruner, the rule) agree from a stored study."""
    study = optuna.create_study(direction="maximize", storage=f"sqlite:///{tmp_path / 's.db'}")
    rng = np.random.default_rng(0)
    for _ in range(12):
        curve = np.cumsum(rng.random(6) * 0.1)
        study.add_trial(optuna.trial.create_trial(
            value=float(curve[-1]), intermediate_values=dict(enumerate(curve.tolist(), 1))))
    options = {"n_startup_trials": 3, "n_warmup_steps": 2, "interval_steps": 1,
               "n_min_trials": 1, "percentile": 50.0}
    slow = PruneMirror(study, optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2))
    fast = PruneMirror(study, None, rule=options)
    for number in range(100, 130):
        curve = np.cumsum(rng.random(6) * 0.1)
        for epoch, value in enumerate(curve.tolist(), 1):
            a, b = slow.report(number, epoch, value), fast.report(number, epoch, value)
            assert a == b
            if a:
                break
        state = "pruned" if a else "complete"
        slow.finish(number, state, float(curve[-1]))
        fast.finish(number, state, float(curve[-1]))


@pytest.mark.parametrize("seed", range(6))
def test_a_limit_decides_as_if_only_the_first_trials_had_finished(seed):
    """Reproducible studies decide on the first ``limit`` learned trials: the same answers as a
    rule that learned only those, however many more it has learned since."""
    rng = np.random.default_rng(seed)
    options = _options(rng)
    curves = []
    for _ in range(30):
        n = int(rng.integers(1, 8))
        values = rng.random(n).round(2)
        values[rng.random(n) < 0.05] = math.nan
        curves.append({step: float(v) for step, v in enumerate(values)})
    outcomes = rng.choice(["complete", "complete", "pruned"], size=len(curves))
    full = PercentileRule(**options)
    for curve, outcome in zip(curves, outcomes, strict=True):
        full.add_complete(curve) if outcome == "complete" else full.add_other()
    for limit in (0, 3, 10, 29):
        alone = PercentileRule(**options)
        for curve, outcome in zip(curves[:limit], outcomes[:limit], strict=True):
            alone.add_complete(curve) if outcome == "complete" else alone.add_other()
        for _ in range(20):
            n = int(rng.integers(1, 8))
            running = {step: float(v) for step, v in enumerate(rng.random(n).round(2))}
            assert full.should_prune(running, limit) == alone.should_prune(running)
