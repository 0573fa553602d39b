"""[study] objectives, [selection] rule and cost, and what several objectives ask of the rest."""

from __future__ import annotations

import pytest

from hpsearch.study import ConfigError, parse_study_config
from hpsearch.study._objectives import Objective

BASE = """[study]
name = "s"
n_trials = 5
{study}
[space]
learning_rate = {{ low = 1e-3, high = 1e-1, log = true }}
hidden_size = {{ low = 16, high = 64, step = 16 }}
num_epochs = 3
{rest}
"""


def parse(study: str = "", rest: str = ""):
    return parse_study_config(BASE.format(study=study, rest=rest), "s.toml")


def test_one_objective_by_default():
    config = parse()
    assert config.objectives == (Objective("val_accuracy", "maximize"),)
    assert not config.multi_objective and config.directions == ["maximize"]
    assert config.selection.rule == "best" and config.selection.cost is None


def test_objectives_keep_accuracy_first_and_the_costs_in_file_order():
    config = parse('objectives = { inference_ms = "minimize", val_accuracy = "maximize", '
                   'n_params = "minimize" }')
    assert [o.name for o in config.objectives] == ["val_accuracy", "inference_ms", "n_params"]
    assert config.directions == ["maximize", "minimize", "minimize"]
    assert config.cost_objectives == ["inference_ms", "n_params"]
    assert config.multi_objective


def test_one_se_takes_the_first_cost_objective_or_a_named_cost():
    config = parse('objectives = { val_accuracy = "maximize", n_params = "minimize" }',
                   '[selection]\nrule = "one_se"\n')
    assert (config.selection.rule, config.selection.cost) == ("one_se", "n_params")
    named = parse(rest='[selection]\nrule = "one_se"\ncost = "train_cpu_s"\n')
    assert (named.selection.cost, named.multi_objective) == ("train_cpu_s", False)


@pytest.mark.parametrize(("study", "rest", "match"), [
    ('objectives = ["val_accuracy", "n_params"]', "",
     r"s\.toml: \[study\] objectives: expected a direction for each objective, as in "
     r"objectives = \{ val_accuracy"),
    ('objectives = { val_accuracy = "maximize", size = "minimize" }', "",
     r"\[study\] objectives: unknown objective 'size'; expected one of \['val_accuracy', "
     r"'n_params'"),
    ('objectives = { val_accuracy = "maximize", n_params = "smaller" }', "",
     r"\[study\] objectives: n_params: expected a direction, 'maximize' or 'minimize', got "
     r"'smaller'"),
    ('objectives = { val_accuracy = "maximize", n_params = {} }', "",
     r"n_params: expected a direction.*got \{\}"),
    ('objectives = { n_params = "minimize" }', "", r"val_accuracy is missing"),
    ('objectives = { val_accuracy = "minimize" }', "", r"val_accuracy: expected 'maximize'"),
    ("objectives = {}", "", r"\[study\] objectives: expected a table of objective -> direction"),
    ("objectives = 3", "", r"\[study\] objectives: expected a table"),
    ('objectives = { val_accuracy = "maximize", n_params = "minimize" }',
     '[sampler]\nname = "cmaes"\n',
     r"\[sampler\] name: 'cmaes' searches one objective; \[study\] objectives names 2: "
     r"expected one of \['gp', 'grid', 'nsga2', 'nsga3', 'qmc', 'random', 'tpe'\]"),
    ('objectives = { val_accuracy = "maximize", n_params = "minimize" }',
     '[pruner]\nname = "hyperband"\n', r"\[pruner\] name: 'hyperband' decides on the stored"),
    ("", '[pruner]\nname = "median"\nobjective = "n_params"\n',
     r"\[pruner\] objective: pruners act on val_accuracy.*got 'n_params'"),
    ("", '[selection]\nrule = "one_se"\n', r"\[selection\] rule: \"one_se\" picks the cheapest"),
    ("", '[selection]\ncost = "n_params"\n', r"\[selection\] cost: only means something with "
     r"rule = \"one_se\""),
    ("", '[selection]\nrule = "cheapest"\n', r"\[selection\] rule: expected one of \['best', "
     r"'one_se'\], got 'cheapest'"),
    ("", '[selection]\nrule = "one_se"\ncost = "flops"\n', r"\[selection\] cost: expected one of"),
    # the grid's nets all have the same size: n_params cannot rank them
    ('objectives = { val_accuracy = "maximize", n_params = "minimize" }',
     '[sampler]\nname = "grid"\n',
     r"\[study\] objectives: n_params is the same for every trial of this space.*search one of"),
])
def test_bad_objectives_are_one_line(study, rest, match):
    if "grid" in rest:  # a grid over the learning rate alone
        text = BASE.format(study=study, rest=rest).replace(
            "learning_rate = { low = 1e-3, high = 1e-1, log = true }\nhidden_size = { low = 16, "
            "high = 64, step = 16 }", "learning_rate = { grid = [0.01, 0.1] }")
        call = lambda: parse_study_config(text, "s.toml")  # noqa: E731
    else:
        call = lambda: parse(study, rest)  # noqa: E731
    with pytest.raises(ConfigError, match=match) as caught:
        call()
    assert "\n" not in str(caught.value)


def test_a_cost_is_refused_only_when_nothing_searched_changes_it():
    # epochs does not depend on the width; n_params does
    with pytest.raises(ConfigError, match=r"epochs is the same for every trial"):
        parse('objectives = { val_accuracy = "maximize", epochs = "minimize" }')
    assert parse('objectives = { val_accuracy = "maximize", n_params = "minimize" }')


def test_nsga_samplers_take_their_options():
    config = parse('objectives = { val_accuracy = "maximize", n_params = "minimize" }',
                   '[sampler]\nname = "nsga2"\npopulation_size = 8\ncrossover_prob = 0.8\n')
    sampler = config.make_sampler()
    assert type(sampler).__name__ == "NSGAIISampler"
    with pytest.raises(ConfigError, match=r"\[sampler\] population_size: expected an integer in "
                       r"\[2, 100,000\], got 1"):
        parse(rest='[sampler]\nname = "nsga3"\npopulation_size = 1\n')
