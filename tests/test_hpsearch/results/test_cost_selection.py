"""The one-standard-error choice and the Pareto front, on stored trials (no training)."""

from __future__ import annotations

import math
import random

import optuna
import pytest

from hpsearch.results import accuracy, best_trial
from hpsearch.results._selection import SelectionError, choose, pareto_front, trial_cost
from hpsearch.study import parse_study_config

STUDY = """[study]
name = "s"
n_trials = 5
{objectives}
[space]
hidden_size = {{ low = 16, high = 256, step = 16 }}
num_epochs = 3
[selection]
{selection}
"""


def config(selection: str = 'rule = "one_se"\ncost = "n_params"', objectives: str = ""):
    return parse_study_config(STUDY.format(selection=selection, objectives=objectives), "s.toml")


def add(study, value, n_params, folds=None, values=None, seed=1):
    attrs = {"costs": {"n_params": n_params, "train_cpu_s": n_params / 1000}, "seed": seed}
    if folds is not None:
        attrs["fold_values"] = folds
    study.add_trial(optuna.trial.create_trial(
        values=values or [value], user_attrs=attrs, params={"hidden_size": 16},
        distributions={"hidden_size": optuna.distributions.IntDistribution(16, 256, step=16)}))


def test_accuracy_reads_the_first_of_several_values():
    study = optuna.create_study(directions=["maximize", "minimize"])
    add(study, None, 100, values=[0.9, 100])
    (trial,) = study.trials
    with pytest.raises(RuntimeError):
        _ = trial.value  # what Optuna does, and why hpsearch reads accuracy()
    assert accuracy(trial) == 0.9 and best_trial(study).number == 0


def test_one_se_on_folds_takes_the_cheapest_within_one_standard_error():
    study = optuna.create_study(direction="maximize")
    folds = [0.96, 0.98, 0.97, 0.99, 0.95]  # mean 0.97, sd 0.0158, se 0.00707
    add(study, 0.97, 5000, folds)           # 0: most accurate
    add(study, 0.9631, 800, [0.96] * 5)     # 1: within (0.97 - 0.00707 = 0.96293)
    add(study, 0.9629, 100, [0.96] * 5)     # 2: cheapest, just below the threshold
    add(study, 0.965, 800, [0.965] * 5)     # 3: ties 1 on cost, more accurate: chosen
    choice = choose(study, config())
    se = math.sqrt(sum((v - 0.97) ** 2 for v in folds) / 4) / math.sqrt(5)
    assert choice.standard_error == pytest.approx(se)
    assert choice.threshold == pytest.approx(0.97 - se)
    assert (choice.trial, choice.most_accurate, choice.n_within) == (3, 0, 3)
    assert (choice.chosen_cost, choice.most_accurate_cost) == (800, 5000)
    assert choice.saving == pytest.approx(800 / 5000)
    assert "5 fold accuracies" in choice.basis


def test_one_se_on_one_split_uses_the_binomial_standard_error():
    study = optuna.create_study(direction="maximize")
    add(study, 0.95, 5000)
    add(study, 0.94, 300)   # se = sqrt(.95 * .05 / 300) = 0.01258: within
    add(study, 0.93, 100)   # outside
    choice = choose(study, config(), n_val=300)
    assert choice.standard_error == pytest.approx(math.sqrt(0.95 * 0.05 / 300))
    assert choice.trial == 1
    with pytest.raises(SelectionError, match="validation split's size"):
        choose(study, config())


def test_best_rule_is_the_argmax_and_missing_costs_are_named():
    study = optuna.create_study(direction="maximize")
    add(study, 0.95, 5000)
    add(study, 0.949, 10)
    assert choose(study, config("")).trial == 0
    study.add_trial(optuna.trial.create_trial(value=0.9495, user_attrs={"seed": 3}))
    with pytest.raises(SelectionError, match=r"trials \[2\] have no measured train_cpu_s"):
        choose(study, config('rule = "one_se"\ncost = "train_cpu_s"'), n_val=300)
    # n_params of an old trial is counted from its configuration
    old = study.trials[2]
    assert trial_cost(old, "n_params", config(), counter=lambda params: 42.0) == 42.0


def test_pareto_front_is_optunas_on_a_multi_objective_study():
    rng = random.Random(0)
    for directions in (["maximize", "minimize"], ["maximize", "minimize", "minimize"]):
        study = optuna.create_study(directions=directions)
        for _ in range(200):
            acc = round(rng.uniform(0.8, 1.0), 2)  # rounded: ties and duplicates happen
            costs = [float(rng.choice([10, 20, 40, 80])) for _ in directions[1:]]
            study.add_trial(optuna.trial.create_trial(values=[acc, *costs]))
        trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
        keys = [({t.number: t.values[i] for t in trials}, d) for i, d in enumerate(directions)]
        front = pareto_front(trials, keys)
        assert {t.number for t in front} == {t.number for t in study.best_trials}
        assert 0 < len(front) < len(trials)
