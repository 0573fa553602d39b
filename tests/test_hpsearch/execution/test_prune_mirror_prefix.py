"""A mirror's decisions on a prefix (reproducible studies): those of a mirror that knew only it."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from hpsearch.execution._pruning import PruneMirror

optuna.logging.set_verbosity(optuna.logging.ERROR)

PRUNERS = {
    "successive_halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1),
    "wilcoxon": lambda: optuna.pruners.WilcoxonPruner(p_threshold=0.3),
    "threshold": lambda: optuna.pruners.ThresholdPruner(lower=0.4),
}


def _finished(rng: np.random.Generator, n: int) -> list:
    trials = []
    for _ in range(n):
        steps = int(rng.integers(2, 8))
        values = {s: float(v) for s, v in enumerate(rng.random(steps).round(3), start=1)}
        complete = rng.random() < 0.7
        trials.append(create_trial(state=TrialState.COMPLETE if complete else TrialState.PRUNED,
                                   value=max(values.values()) if complete else None,
                                   intermediate_values=values))
    return trials


@pytest.mark.parametrize("name", list(PRUNERS))
@pytest.mark.parametrize("seed", range(3))
def test_a_limited_decision_is_the_decision_on_the_prefix_alone(name, seed):
    rng = np.random.default_rng(seed)
    stored = optuna.create_study(direction="maximize")
    history = _finished(rng, 24)
    everything = PruneMirror(stored, PRUNERS[name](), finished=history)
    assert everything.learned == 24
    decisions = []
    for number, limit in enumerate((3, 10, 20, 3, 24), start=100):  # several running at once
        alone = PruneMirror(stored, PRUNERS[name](), finished=history[:limit])
        low = 0.6 * rng.random(6)  # mostly below the history: worth pruning now and then
        for step, value in enumerate(low.round(3), start=1):
            decided = everything.report(number, step, float(value), limit=limit)
            assert decided == alone.report(number, step, float(value))
            decisions.append(decided)
    # Something to say (successive halving compares rung marks, which a history made with
    # create_trial lacks: only its agreement is checked here):
    if name == "wilcoxon":
        assert any(decisions) and not all(decisions)


def test_finishing_counts_once_and_teaches_the_later_prefixes():
    stored = optuna.create_study(direction="maximize")
    mirror = PruneMirror(stored, optuna.pruners.WilcoxonPruner(p_threshold=0.3), finished=[])
    for step in range(1, 6):
        mirror.report(0, step, 0.9)
    mirror.finish(0, "complete", 0.9)
    mirror.finish(0, "complete", 0.9)  # a first fold, then its trial: counted once
    assert mirror.learned == 1
    # Trial 1 sees trial 0 (limit 1): far below it, pruned; with limit 0 nothing compares.
    answers = [mirror.report(1, step, 0.1, limit=1) for step in range(1, 6)]
    assert any(answers)
    assert not any(mirror.report(2, step, 0.1, limit=0) for step in range(1, 6))
