from pathlib import Path

import pytest

from hpsearch.study import ConfigError, load_study_config, parse_study_config

ROOT = Path(__file__).resolve().parents[3]

MINIMAL = """
[study]
name = "tiny"
n_trials = 4
[space]
learning_rate = { low = 1e-3, high = 1e-1, log = true }
"""


def test_every_shipped_study_file_is_valid():
    files = sorted((ROOT / "studies").glob("*.toml"))
    assert files, "no study files under studies/"
    for path in files:
        config = load_study_config(path)
        assert config.name
        assert config.n_trials >= 1
        assert config.text.startswith("#"), f"{path.name} must start with a comment"


def test_defaults_of_a_minimal_file():
    config = parse_study_config(MINIMAL)
    assert (config.dataset, config.sampler, config.pruner) == ("digits", "tpe", "median")
    assert config.run.max_in_flight is None and config.run.cpus_per_trial == 1.0
    assert type(config.make_sampler()).__name__ == "TPESampler"
    assert type(config.make_pruner()).__name__ == "MedianPruner"


def test_a_reproducible_study_takes_its_lag():
    config = parse_study_config(MINIMAL.replace(
        "n_trials = 4", "n_trials = 4\nreproducible = true\nreproducible_lag = 3"))
    assert config.reproducible and config.reproducible_lag == 3
    assert parse_study_config(MINIMAL).reproducible_lag is None


def test_grid_defaults_n_trials_to_the_grid_size():
    config = parse_study_config("""
[study]
name = "g"
[space]
learning_rate = { grid = [1e-3, 1e-5, 2e-5] }
reg = { grid = [1e-5, 1e-6] }
hidden_size = { grid = [32, 64, 128] }
[sampler]
name = "grid"
""")
    assert config.n_trials == 18


@pytest.mark.parametrize(("text", "message"), [
    (MINIMAL + "[bogus]\n", "unknown keys ['bogus']"),
    (MINIMAL.replace('n_trials = 4', 'n_trials = 0'),
     "[study] n_trials: expected an integer in [1, 1,000,000], got 0"),
    (MINIMAL.replace('n_trials = 4', 'n_trials = "4"'),
     "[study] n_trials: expected an integer in [1, 1,000,000], got '4'"),
    (MINIMAL.replace('name = "tiny"', 'name = "../x"'), "[study] name: expected letters"),
    (MINIMAL + "[sampler]\nname = 'annealing'\n",
     "[sampler] name: expected one of ['tpe', 'random', 'grid', 'cmaes', 'qmc', 'nsga2', "
     "'nsga3', 'gp'], got 'annealing'"),
    (MINIMAL + "[pruner]\nname = 'mean'\n", "[pruner] name: expected one of ['median', "),
    (MINIMAL + "[pruner]\nname = 'median'\nwarmup = 3\n", "[pruner]: unknown options ['warmup']"),
    (MINIMAL + "[pruner]\nname = 'percentile'\npercentile = 150.0\n",
     "[pruner] percentile: expected a finite number in [0, 100], got 150.0"),
    (MINIMAL + "[dataset]\nname = 'imagenet'\n", "[dataset] name: expected one of ['cifar10', "),
    (MINIMAL + "[dataset]\nname = 'digits'\ncolour = true\n", "unknown options ['colour']"),
    (MINIMAL + "[run]\nmax_in_flight = -1\n", "[run] max_in_flight: expected an integer in [1,"),
    (MINIMAL + "[run]\nworkers = 3\n", "[run]: unknown keys ['workers']"),
    (MINIMAL.replace("log = true", "log = 1"),
     "[space] learning_rate.log: expected true or false, got 1"),
    ("[study]\nname = 'x'\nn_trials = 2\n[space]\nreg = 0.1\n", "[space]: nothing to search"),
    ("[study\n", "not valid TOML"),
    (MINIMAL.replace('n_trials = 4', 'n_trials = 4\nreproducible_lag = 3'),
     "[study] reproducible_lag: only means something with reproducible = true"),
    (MINIMAL.replace('n_trials = 4', 'n_trials = 4\nreproducible = true\nreproducible_lag = 0'),
     "[study] reproducible_lag: expected an integer in [1, 1,000,000], got 0"),
    ("[study]\nname = 'g'\n[space]\nreg = { low = 0.0, high = 1.0 }\n[sampler]\nname = 'grid'\n",
     "[space] reg: the grid sampler needs explicit values"),
])
def test_bad_files_name_the_file_and_key(text, message):
    with pytest.raises(ConfigError) as info:
        parse_study_config(text, source="studies/bad.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("studies/bad.toml")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="no such study file"):
        load_study_config(tmp_path / "nope.toml")
