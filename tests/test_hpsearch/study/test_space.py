import optuna
import pytest

from hpsearch.study._space import (
    PARAMETERS,
    Choice,
    Fixed,
    FloatRange,
    Grid,
    IntRange,
    SpaceError,
    grid_combinations,
    grid_search_space,
    hidden_dims,
    parse_space,
    resolve_params,
    suggest_params,
)


def test_parse_each_kind_of_spec():
    space = parse_space({
        "learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
        "hidden_size": {"low": 32, "high": 256, "step": 32},
        "update_rule": {"choices": ["sgd", "adam"]},
        "reg": {"grid": [1e-5, 1e-6]},
        "num_epochs": 5,
    })
    assert space["learning_rate"] == FloatRange(1e-4, 1e-1, log=True)
    assert space["hidden_size"] == IntRange(32, 256, step=32)
    assert space["update_rule"] == Choice(("sgd", "adam"))
    assert space["reg"] == Grid((1e-5, 1e-6))
    assert space["num_epochs"] == Fixed(5)


def test_suggest_params_roundtrip():
    space = parse_space({"learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
                         "hidden_size": {"low": 32, "high": 256}, "num_epochs": 7})
    trial = optuna.trial.FixedTrial({"learning_rate": 1e-3, "hidden_size": 64})
    assert suggest_params(trial, space) == {"learning_rate": 1e-3, "hidden_size": 64,
                                            "num_epochs": 7}


def test_per_layer_sizes_follow_the_suggested_depth():
    space = parse_space({"num_layers": {"low": 1, "high": 3},
                         "hidden_size": {"low": 8, "high": 64}, "per_layer_sizes": True})
    trial = optuna.trial.FixedTrial({"num_layers": 3, "hidden_size_1": 8, "hidden_size_2": 16,
                                     "hidden_size_3": 32})
    params = resolve_params(suggest_params(trial, space), space)
    assert hidden_dims(params) == (8, 16, 32)


def test_resolve_params_layers_sampled_over_fixed_over_defaults():
    space = parse_space({"reg": 0.5, "learning_rate": {"low": 0.1, "high": 1.0}})
    params = resolve_params({"learning_rate": 0.3}, space)
    assert params["reg"] == 0.5
    assert params["learning_rate"] == 0.3
    assert params["update_rule"] == PARAMETERS["update_rule"].default
    assert hidden_dims(params) == (PARAMETERS["hidden_size"].default,)


@pytest.mark.parametrize(("raw", "message"), [
    ({"learning_rte": 0.1}, "unknown parameters ['learning_rte']"),
    ({"learning_rate": {"low": 1.0, "high": 0.1}}, "empty range, low 1.0 > high 0.1"),
    ({"reg": {"low": 0.0, "high": 1.0, "log": True}}, "a log range needs low > 0"),
    ({"learning_rate": -1.0}, "learning_rate: expected a finite number > 0, got -1.0"),
    ({"hidden_size": 1.5}, "hidden_size: expected an integer in [1, 65,536], got 1.5"),
    ({"update_rule": "sgdd"}, "update_rule: expected one of ['sgd', 'sgd_momentum', 'nesterov', "
                              "'rmsprop', 'adam'], got 'sgdd'"),
    ({"dropout": 1.0}, "dropout: expected a finite number in [0, 1), got 1.0"),
    ({"update_rule": {"low": 1, "high": 2}}, "takes a value or choices, not a range"),
    ({"weight_scale": {"low": "he", "high": 2.0}},
     "weight_scale: expected a finite number > 0, got 'he'"),
    ({"reg": {"choices": []}}, "reg.choices: expected a non-empty list, got []"),
    ({"reg": {"low": 0.1}}, "needs both 'low' and 'high'"),
    ({"reg": {"low": 0.1, "high": 1, "scale": "log"}}, "unknown keys ['scale']"),
    ({"num_epochs": True}, "num_epochs: expected an integer in [1, 100,000], got True"),
    ({"reg": {"grid": [0.1, 0.1]}}, "values repeat"),
])
def test_bad_specs_name_the_key_and_the_expectation(raw, message):
    with pytest.raises(SpaceError) as info:
        parse_space(raw, where="s.toml: [space] ")
    assert message in str(info.value)
    assert str(info.value).startswith("s.toml: [space] ")


def test_grid_space_and_combinations():
    space = parse_space({"learning_rate": {"grid": [1e-3, 1e-4]}, "reg": {"grid": [1.0, 0.01]},
                         "hidden_size": {"choices": [100, 150]}, "num_epochs": 3})
    grid = grid_search_space(space)
    assert grid == {"learning_rate": [1e-3, 1e-4], "reg": [1.0, 0.01], "hidden_size": [100, 150]}
    combos = grid_combinations(grid)
    assert len(combos) == 8
    assert len({tuple(sorted(c.items())) for c in combos}) == 8


def test_grid_refuses_ranges():
    space = parse_space({"learning_rate": {"low": 1e-3, "high": 1e-1}})
    with pytest.raises(SpaceError, match="grid sampler needs explicit values"):
        grid_search_space(space)


def test_explicit_unequal_layer_sizes_fixed_or_as_choices():
    fixed = parse_space({"hidden_sizes": [10, 6, 4, 3, 3]})
    assert hidden_dims(resolve_params({}, fixed)) == (10, 6, 4, 3, 3)
    grid = parse_space({"hidden_sizes": {"grid": [[3, 3, 3], [10, 6, 4, 3, 3]]}})
    trial = optuna.trial.FixedTrial({"hidden_sizes": "3-3-3"})
    assert hidden_dims(resolve_params(suggest_params(trial, grid), grid)) == (3, 3, 3)
    assert grid_search_space(grid) == {"hidden_sizes": ["3-3-3", "10-6-4-3-3"]}


@pytest.mark.parametrize(("raw", "message"), [
    ({"hidden_sizes": []}, "expected a list of 1 to 100 items, each an integer in [1, 65,536]"),
    ({"hidden_sizes": [3, 0]}, "expected a list of 1 to 100 items, each an integer in [1, "),
    ({"hidden_sizes": [3, 2.5]}, "expected a list of 1 to 100 items, each an integer in [1, "),
    ({"hidden_sizes": "3-x"}, "hidden_sizes: expected a list of 1 to 100 items, each an "),
    ({"hidden_sizes": [3, 3], "num_layers": 2}, "cannot be combined with ['num_layers']"),
])
def test_bad_hidden_sizes(raw, message):
    with pytest.raises(SpaceError) as info:
        parse_space(raw)
    assert message in str(info.value)
