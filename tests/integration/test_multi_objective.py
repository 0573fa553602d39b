"""A multi-objective study end to end on a real local Ray: accuracy against parameter count.

The stored study is an ordinary multi-objective Optuna study (stock ``optuna.load_study`` reads
its directions, metric names and Pareto front), the median pruner stops trials on accuracy
across workers, deciding exactly as in the same study of accuracy alone (both reproducible, so
timing cannot change a decision), and the one-standard-error choice is refit and tested beside
the most accurate.
"""

from __future__ import annotations

import optuna
import pytest

from hpsearch.results import accuracy, after_search, best_trial, cpu_seconds, trials_frame
from hpsearch.results._selection import pareto_front
from hpsearch.search import run_study
from hpsearch.study import find_study, parse_study_config

OBJECTIVES = 'objectives = { val_accuracy = "maximize", n_params = "minimize" }\n'
STUDY = """# multi-objective test study
[study]
name = "mo"
seed = 4
n_trials = 14
reproducible = true
objectives = { val_accuracy = "maximize", n_params = "minimize" }

[dataset]
name = "digits"
n_train = 300

[space]
learning_rate = { low = 1e-4, high = 1.0, log = true }
hidden_size = { choices = [8, 32, 128] }
num_epochs = 6
batch_size = 50

[sampler]
name = "tpe"
n_startup_trials = 4

[pruner]
name = "median"
n_startup_trials = 2
n_warmup_steps = 0

[selection]
rule = "one_se"
"""


@pytest.mark.usefixtures("ray_local")
def test_pruning_decides_on_accuracy_as_in_a_study_of_accuracy_alone(tmp_path):
    pruned = []
    for name, objectives in (("mo", OBJECTIVES), ("one", "")):
        text = (STUDY.replace(OBJECTIVES, objectives).replace('name = "mo"', f'name = "{name}"')
                .replace('name = "tpe"\nn_startup_trials = 4', 'name = "random"')
                .replace('"one_se"', '"one_se"\ncost = "n_params"'))
        config = parse_study_config(text, tmp_path / f"{name}.toml")
        assert config.multi_objective == bool(objectives)
        run_study(config, runs_dir=tmp_path, progress=False)
        pruned.append({t.number for t in find_study(name, tmp_path).study.trials
                       if t.state.name == "PRUNED"})
    # the median pruner decided on accuracy across workers, exactly as without the cost
    assert pruned[0] and pruned[0] == pruned[1]


@pytest.mark.usefixtures("ray_local")
def test_multi_objective_study_end_to_end(tmp_path):
    config = parse_study_config(STUDY, tmp_path / "mo.toml")
    summary = run_study(config, runs_dir=tmp_path, progress=False)
    assert summary.n_complete + summary.n_pruned + summary.n_failed == 14
    assert summary.n_failed == 0  # TPE asked on pruned trials of a multi-objective study
    url = f"sqlite:///{tmp_path / 'mo' / 'study.db'}"
    stock = optuna.load_study(study_name="mo", storage=url)
    assert stock.directions == [optuna.study.StudyDirection.MAXIMIZE,
                                optuna.study.StudyDirection.MINIMIZE]
    assert stock.metric_names == ["val_accuracy", "n_params"]
    complete = stock.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    for trial in complete:
        acc, n_params = trial.values
        assert trial.user_attrs["costs"]["n_params"] == n_params
        assert acc == pytest.approx(max(trial.user_attrs["history"]["val_acc"]))
        width = trial.params["hidden_size"]
        assert n_params == 64 * width + width + width * 10 + 10  # one hidden layer on 8x8
    for trial in stock.get_trials(deepcopy=False):
        # Optuna's samplers take no intermediate values in a multi-objective study (TPE would
        # rank pruned trials by study.direction, which raises): the curve is the history
        assert not trial.intermediate_values
    for trial in stock.get_trials(states=(optuna.trial.TrialState.PRUNED,)):
        assert trial.values is None and trial.user_attrs["history"]["val_acc"]
    keys = [({t.number: t.values[i] for t in complete}, d)
            for i, d in enumerate(["maximize", "minimize"])]
    front = {t.number for t in pareto_front(complete, keys)}
    assert front == {t.number for t in stock.best_trials}

    stored = find_study("mo", tmp_path)
    frame = trials_frame(stored.study, config)
    assert frame.loc[frame["state"] == "complete", "n_params"].notna().all()
    assert cpu_seconds(stored.study)["trials"] == pytest.approx(
        sum(t.user_attrs["duration_s"] for t in stored.study.trials), abs=2e-3)
    done = after_search(stored, config.load_data(), write_report=True)
    assert cpu_seconds(find_study("mo", tmp_path).study)["evaluation"] > 0
    choice = done.evaluation.choice
    best = best_trial(stored.study)
    assert choice.rule == "one_se" and choice.most_accurate == best.number
    chosen = next(t for t in complete if t.number == choice.trial)
    assert accuracy(chosen) >= choice.threshold - 1e-12
    assert choice.chosen_cost == chosen.values[1] <= best.values[1]
    assert done.evaluation.trial.number == choice.trial
    if choice.trial != choice.most_accurate:
        assert choice.most_accurate_test is not None
