"""Comparison sections from real studies: tiny grids run by run_study on the session's local Ray.

The retrained parts (decision boundaries, the train/test table) come from the explicit step
``evaluate_settings``; the section only reads what it stored.
"""

from __future__ import annotations

import optuna
import pandas as pd
import pytest
from matplotlib.figure import Figure

from hpsearch.report import comparison_section
from hpsearch.results import (
    comparison_settings,
    evaluate_settings,
    is_comparison,
    load_settings_evaluation,
)
from hpsearch.search import run_study
from hpsearch.study import parse_space, parse_study_config


def _config(name: str, dataset: str, space: str, sampler: str = "grid", n_trials: str = ""):
    return parse_study_config(
        f'[study]\nname = "{name}"\nseed = 0\n{n_trials}\n[dataset]\n{dataset}\n'
        f'[sampler]\nname = "{sampler}"\n[pruner]\nname = "none"\n[space]\n{space}')


def _run(config, tmp_path):
    dataset = config.load_data()
    run_study(config, runs_dir=tmp_path, progress=False, dataset=dataset)
    study = optuna.load_study(study_name=config.name,
                              storage=f"sqlite:///{tmp_path / config.name / 'study.db'}")
    return study, dataset


def _section(study, config, dataset, tmp_path):
    """The explicit step (as at run end or `hpsearch best`), then the section from its store."""
    run_dir = tmp_path / config.name
    evaluate_settings(study, config, dataset, run_dir)
    return comparison_section(study, config, load_settings_evaluation(run_dir))


@pytest.mark.parametrize(("space", "expected"), [
    ({"update_rule": {"grid": ["sgd", "adam"]}, "learning_rate": {"grid": [1e-2, 1e-3]}}, True),
    ({"dropout": {"choices": [0.0, 0.25, 0.5]}, "num_epochs": 3}, True),
    ({"learning_rate": {"grid": [1e-1, 1e-2, 1e-3]}, "num_epochs": {"grid": [10, 20, 30]}},
     False),  # 9 combinations: a grid search, not a side-by-side comparison
    ({"learning_rate": {"low": 1e-3, "high": 1e-1}, "activation": {"choices": ["relu"]}}, False),
    ({"num_epochs": 3}, False),
])
def test_is_comparison_counts_explicit_combinations(space, expected):
    assert is_comparison(parse_space(space)) is expected


def test_moons_activations_give_curves_gap_and_one_boundary_per_trial(ray_local, tmp_path):
    config = _config("moons_cmp", 'name = "moons"\nn_samples = 300',
                     'activation = { grid = ["tanh", "relu"] }\nhidden_size = 8\n'
                     'update_rule = "adam"\nlearning_rate = 0.01\nnum_epochs = 4\n'
                     'batch_size = 32')
    study, dataset = _run(config, tmp_path)

    items = _section(study, config, dataset, tmp_path)

    titles = [title for title, _ in items]
    assert len(items) == 4 and any("Decision boundary" in t for t in titles)
    assert not any("test" in t.lower() for t in titles)  # augment not varied: test never read
    boundary = dict(items)[next(t for t in titles if "Decision boundary" in t)]
    assert isinstance(boundary, Figure)
    assert sum(ax.get_visible() and ax.axison for ax in boundary.axes) == 2
    assert {ax.get_title().split("\n")[0] for ax in boundary.axes} == {
        "activation=tanh", "activation=relu"}
    gap = next(obj for obj in dict(items).values() if isinstance(obj, pd.DataFrame))
    trials = {t.number: t for t in study.trials}
    for row in gap.itertuples():
        history = trials[row.trial].user_attrs["history"]
        assert row.val_acc == pytest.approx(max(history["val_acc"]))
        assert row.val_acc == pytest.approx(trials[row.trial].value)
        assert row.gap == pytest.approx(row.train_acc - row.val_acc)
    curves = items[0][1]
    assert isinstance(curves, Figure) and len(curves.axes) == 2
    assert len(curves.axes[0].get_lines()) == 2  # one loss line per setting
    assert len(curves.axes[1].get_lines()) == 4  # validation and train accuracy per setting


def test_augment_study_scores_train_and_test_from_retrained_settings(ray_local, tmp_path):
    config = _config("aug_cmp", 'name = "digits"\nn_train = 200',
                     'augment = { grid = ["none", "flip"] }\nhidden_size = 16\n'
                     'update_rule = "adam"\nlearning_rate = 0.01\nnum_epochs = 3\n'
                     'batch_size = 50')
    study, dataset = _run(config, tmp_path)

    items = dict(_section(study, config, dataset, tmp_path))

    table = next(obj for title, obj in items.items() if "test split scored once" in title)
    assert list(table["setting"]) == ["augment=none", "augment=flip"]
    gap = next(obj for title, obj in items.items() if title.startswith("Train/validation gap"))
    # Retrained from the recorded seed, the model is the one the search trained: its training
    # accuracy is the trial's at its best validation epoch.
    for row, trial_row in zip(table.itertuples(), gap.itertuples(), strict=True):
        assert row.train_acc == pytest.approx(trial_row.train_acc)
        assert 0.0 <= row.test_acc <= 1.0 and row.test_loss > 0
    assert not any("Decision boundary" in t for t in items)


def test_non_comparison_and_empty_studies_give_nothing(tmp_path):
    searched = _config("tpe_cmp", 'name = "digits"',
                       'learning_rate = { low = 1e-3, high = 1e-1, log = true }',
                       sampler="tpe", n_trials="n_trials = 3")
    study = optuna.create_study(study_name="x", storage=f"sqlite:///{tmp_path / 'x.db'}",
                                direction="maximize")
    assert comparison_section(study, searched, None) == []

    grid = _config("grid_cmp", 'name = "digits"', 'dropout = { grid = [0.0, 0.5] }')
    assert comparison_settings(study, grid) == []
    assert comparison_section(study, grid, None) == []
