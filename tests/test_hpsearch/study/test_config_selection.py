"""[selection] (folds, refit, ensemble), [study] reproducible and the Wilcoxon pruner."""

from __future__ import annotations

import pytest

from hpsearch.study import PRUNERS, ConfigError, SelectionSettings, parse_study_config

BASE = """[study]
name = "s"
seed = 2
n_trials = 5
{study}
[space]
learning_rate = {{ low = 1e-3, high = 1e-1, log = true }}
num_epochs = 3
{rest}
"""


def parse(study: str = "", rest: str = ""):
    return parse_study_config(BASE.format(study=study, rest=rest), "s.toml")


def test_defaults_select_on_one_split():
    config = parse()
    assert config.selection == SelectionSettings(folds=0, refit=False, ensemble=1)
    assert not config.selection.cross_validated and not config.reproducible
    assert "folds" not in config.dataset_options


def test_folds_turn_refit_on_and_reach_the_dataset():
    config = parse(rest="[selection]\nfolds = 5\nensemble = 3\n")
    assert config.selection == SelectionSettings(folds=5, refit=True, ensemble=3)
    assert config.dataset_options["folds"] == 5
    assert parse(rest="[selection]\nfolds = 5\nrefit = false\n").selection.refit is False
    assert parse(rest="[selection]\nrefit = true\n").selection.refit is True


@pytest.mark.parametrize(("body", "match"), [
    ("folds = 1", r"\[selection\] folds: expected 0 or an integer in \[2, 20\], got 1$"),
    ("folds = 21", r"\[selection\] folds: expected 0 or an integer in \[2, 20\], got 21$"),
    ("folds = true", r"\[selection\] folds: .*, got True$"),
    ("ensemble = 0", r"\[selection\] ensemble: expected an integer in \[1, 50\], got 0$"),
    ("refit = 1", r"\[selection\] refit: expected true or false, got 1$"),
    ("k = 5", r"\[selection\]: unknown keys \['k'\]"),
    ("first_fold_pruning = true", r"\[selection\] first_fold_pruning: needs cross-validation"),
    ("folds = 3\nfirst_fold_pruning = 1",
     r"\[selection\] first_fold_pruning: expected true or false, got 1$"),
])
def test_bad_selection_is_refused_with_key(body, match):
    with pytest.raises(ConfigError, match=match):
        parse(rest=f"[selection]\n{body}\n")


def test_dataset_folds_points_to_selection():
    with pytest.raises(ConfigError, match=r"\[dataset\] folds: .*\[selection\] folds"):
        parse(rest='[dataset]\nname = "digits"\nfolds = 5\n')


def test_reproducible_is_parsed_and_checked():
    assert parse(study="reproducible = true").reproducible is True
    with pytest.raises(ConfigError,
                       match=r"\[study\] reproducible: expected true or false, got 'yes'"):
        parse(study='reproducible = "yes"')


def test_wilcoxon_pruner_needs_folds_and_takes_its_options():
    assert PRUNERS["wilcoxon"] == "WilcoxonPruner"
    with pytest.raises(ConfigError, match=r"\[pruner\] name: 'wilcoxon' .* folds = 5"):
        parse(rest='[pruner]\nname = "wilcoxon"\n')
    config = parse(rest='[pruner]\nname = "wilcoxon"\np_threshold = 0.3\nn_startup_steps = 2\n'
                        "[selection]\nfolds = 3\n")
    assert type(config.make_pruner()).__name__ == "WilcoxonPruner"
    with pytest.raises(ConfigError,
                       match=r"\[pruner\] p_threshold: expected a finite number in \[0, 1\], "
                             r"got 1.5"):
        parse(rest='[pruner]\nname = "wilcoxon"\np_threshold = 1.5\n[selection]\nfolds = 3\n')
