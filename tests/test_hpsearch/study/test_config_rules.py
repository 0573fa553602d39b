"""The vocabulary of allowed values (hpsearch.study._rules) and the one wording of refusals."""

from __future__ import annotations

import argparse
import math
import re

import pytest

from hpsearch.cli._argtypes import float_in, int_in
from hpsearch.datasets import DatasetError, check_dataset_options
from hpsearch.study import (
    PRUNERS,
    PRUNERS_DECIDING_BY_TRIAL_NUMBER,
    SAMPLER_KINDS,
    SAMPLERS,
    AnyOf,
    Boolean,
    ConfigError,
    Interval,
    ListOf,
    Options,
    Text,
    parse_study_config,
    refusal,
)

# --- each constraint: what it accepts, what it refuses, what it says ----------------------------


@pytest.mark.parametrize(("constraint", "accepted", "refused", "words"), [
    (Interval(int, 1, 100), [1, 50, 100], [0, 101, 5.0, True, "5", None], "an integer in [1, 100]"),
    (Interval(int, 0, None), [0, 10**30], [-1, 1.5, False], "an integer >= 0"),
    (Interval(int, None, None), [-5, 0, 5], [1.0, True], "an integer"),
    (Interval(int, 1, 31, odd=True), [1, 3, 31], [2, 33, -1], "an odd integer in [1, 31]"),
    (Interval(int, 1, 10**9), [10**9], [10**9 + 1], "an integer in [1, 1,000,000,000]"),
    (Interval(float, 0, 1), [0, 0.5, 1, 1.0], [-0.1, 1.01, math.nan, True, "0.5"],
     "a finite number in [0, 1]"),
    (Interval(float, 0, 1, closed="left"), [0.0, 0.99], [1.0], "a finite number in [0, 1)"),
    (Interval(float, 0, 1024, closed="right"), [1e-9, 1024], [0.0, 1025],
     "a finite number in (0, 1,024]"),
    (Interval(float, 0, None, closed="neither"), [1e-300, 1e300], [0, math.inf, -math.inf],
     "a finite number > 0"),
    (Interval(float, None, 0.5), [-1e9, 0.5], [0.6, math.nan], "a finite number <= 0.5"),
    (Options(str, ("sgd", "adam")), ["sgd", "adam"], ["SGD", "", 1, None],
     "one of ['sgd', 'adam']"),
    (Options(str, ("auto",)), ["auto"], ["Auto"], "'auto'"),
    (Options(int, (0,)), [0], [False, 0.0, 1], "0"),
    (Boolean(), [True, False], [1, 0, "true", None], "true or false"),
    (Text(), ["", "x"], [1, None, b"x"], "a string"),
    (Text(non_empty=True), ["x"], [""], "a non-empty string"),
    (Text(r"[a-z]+", "lowercase letters"), ["abc"], ["abc\n", "ab1", ""], "lowercase letters"),
    (ListOf(Interval(int, 1, 9), 1, 3), [[1], (1, 2, 3)], [[], [1, 2, 3, 4], [0], "1-2", [1.0]],
     "a list of 1 to 3 items, each an integer in [1, 9]"),
    (ListOf(Boolean()), [[], [True]], [[1]], "a list of any number of items, each true or false"),
    (AnyOf(Interval(int, 1, 10), Options(str, ("auto",))), [1, 10, "auto"], [0, "max", 5.0],
     "an integer in [1, 10] or 'auto'"),
])
def test_each_constraint_accepts_refuses_and_describes(constraint, accepted, refused, words):
    assert all(constraint.is_satisfied_by(v) for v in accepted), accepted
    assert not any(constraint.is_satisfied_by(v) for v in refused), refused
    assert str(constraint) == words
    assert words in repr(constraint)


def test_refusal_is_one_line_with_place_expectation_and_value():
    assert refusal("f.toml: [run] max_retries", Interval(int, 0, 100), 1000) == (
        "f.toml: [run] max_retries: expected an integer in [0, 100], got 1000")
    assert refusal("x", "a table", "s") == "x: expected a table, got 's'"


@pytest.mark.parametrize(("make", "error"), [
    (lambda: Interval(str, 0, 1), TypeError),
    (lambda: Interval(int, 2, 1), ValueError),
    (lambda: Interval(int, 0, 1, closed="open"), ValueError),
    (lambda: Interval(float, 1, 3, odd=True), ValueError),
    (lambda: Options(str, ()), ValueError),
    (lambda: AnyOf(Boolean()), ValueError),
])
def test_a_table_that_cannot_mean_anything_fails_when_declared(make, error):
    with pytest.raises(error):
        make()


# --- one wording everywhere ---------------------------------------------------------------------

HEAD = '[study]\nname = "tiny"\nn_trials = 4\n'
SPACE = "[space]\nlearning_rate = { low = 1e-3, high = 1e-1, log = true }\n"
ONE_LINE = re.compile(r"^studies/bad\.toml: \[(\w+)\] ([\w.]+): expected (.+), got (.+)$")


@pytest.mark.parametrize(("text", "section", "key", "value"), [
    (HEAD.replace("n_trials = 4", "n_trials = -2") + SPACE, "study", "n_trials", "-2"),
    (HEAD + "seed = 1.5\n" + SPACE, "study", "seed", "1.5"),
    (HEAD + SPACE + "[run]\nstorage = 3\n", "run", "storage", "3"),
    (HEAD + SPACE + "[run]\nmax_retries = 101\n", "run", "max_retries", "101"),
    (HEAD + SPACE + "[selection]\nensemble = 51\n", "selection", "ensemble", "51"),
    (HEAD + SPACE + "[sampler]\nname = 'tpe'\nn_startup_trials = true\n", "sampler",
     "n_startup_trials", "True"),
    (HEAD + SPACE + "[sampler]\nname = 7\n", "sampler", "name", "7"),
    (HEAD + SPACE + "[pruner]\nname = 'median'\ninterval_steps = 0\n", "pruner",
     "interval_steps", "0"),
    (HEAD + SPACE + "[dataset]\nname = 'moons'\nnoise = -1.0\n", "dataset", "noise", "-1.0"),
    (HEAD + SPACE + "[dataset]\nstratify = 'yes'\n", "dataset", "stratify", "'yes'"),
    (HEAD + SPACE + "[dataset]\npath = 1\n", "dataset", "path", "1"),
    (HEAD + SPACE + "momentum = 1.0\n", "space", "momentum", "1.0"),
    (HEAD + SPACE + "hidden_size = { low = 0, high = 8 }\n", "space", "hidden_size", "0"),
    (HEAD + SPACE + "reg = { low = 0.0, high = 1.0, step = -1 }\n", "space", "reg.step", "-1"),
])
def test_every_table_refuses_a_value_in_the_same_one_line_form(text, section, key, value):
    with pytest.raises(ConfigError) as info:
        parse_study_config(text, source="studies/bad.toml")
    message = str(info.value)
    found = ONE_LINE.match(message)
    assert found, message
    assert found.group(1, 2, 4) == (section, key, value)
    assert "\n" not in message


def test_parse_errors_and_run_time_errors_name_a_key_alike():
    config = parse_study_config(HEAD + SPACE, source="studies/ok.toml")
    assert config.where("run.storage") == "studies/ok.toml: [run] storage"
    assert config.where("space.reg.step") == "studies/ok.toml: [space] reg.step"
    assert config.where("space") == "studies/ok.toml: [space]"
    with pytest.raises(ConfigError) as info:
        parse_study_config(HEAD + SPACE + "[run]\nstorage = 3\n", source="studies/ok.toml")
    assert str(info.value).startswith(config.where("run.storage") + ": ")


def test_a_flag_and_a_study_key_refuse_a_value_in_the_same_words():
    with pytest.raises(argparse.ArgumentTypeError) as flag:
        int_in(0, 100)("101")
    with pytest.raises(ConfigError) as key:
        parse_study_config(HEAD + SPACE + "[run]\nmax_retries = 101\n", source="s.toml")
    assert str(key.value).endswith(": " + str(flag.value))
    assert str(flag.value) == "expected an integer in [0, 100], got 101"


@pytest.mark.parametrize(("parse", "text", "message"), [
    (int_in(1), "0", "expected an integer >= 1, got 0"),
    (int_in(1), "two", "expected an integer >= 1, got 'two'"),
    (int_in(1, 65535, "a port"), "65536", "expected a port, an integer in [1, 65,535], got 65536"),
    (float_in(0.05, 3600, "seconds"), "nan", "expected seconds, a finite number in [0.05, 3,600], "
                                             "got nan"),
    (float_in(0.05, 3600), "1e9", "expected a finite number in [0.05, 3,600], got 1000000000.0"),
    (float_in(0.05, 3600), "soon", "expected a finite number in [0.05, 3,600], got 'soon'"),
])
def test_argument_types_refuse_with_the_vocabulary(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse(text)
    assert str(info.value) == message


def test_argument_types_accept_values_in_range():
    assert int_in(0)("0") == 0 and int_in(1, 65535, "a port")("65535") == 65535
    assert float_in(0.05, 3600)("0.05") == 0.05


def test_dataset_options_take_the_caller_s_place_for_a_message():
    with pytest.raises(DatasetError) as info:
        check_dataset_options("moons", {"noise": -1.0}, where=lambda key: f"F: [dataset] {key}")
    assert str(info.value) == "F: [dataset] noise: expected a finite number in [0, 100], got -1.0"
    assert info.value.key == "noise"
    with pytest.raises(DatasetError, match=r"^dataset 'moons': option 'noise': expected"):
        check_dataset_options("moons", {"noise": -1.0})


# --- the sampler and pruner tables --------------------------------------------------------------


def test_grid_entry_says_what_it_builds():
    # The driver enqueues the grid; the sampler behind "grid" is a seeded RandomSampler.
    assert SAMPLERS["grid"] == "RandomSampler" and not SAMPLER_KINDS["grid"].takes_options
    config = parse_study_config('[study]\nname = "g"\n[space]\nreg = { grid = [0.1, 0.2] }\n'
                                '[sampler]\nname = "grid"\n')
    assert type(config.make_sampler()).__name__ == "RandomSampler"
    with pytest.raises(ConfigError, match=r"\[sampler\]: sampler 'grid' takes no options"):
        parse_study_config('[study]\nname = "g"\n[space]\nreg = { grid = [0.1, 0.2] }\n'
                           '[sampler]\nname = "grid"\nn_startup_trials = 3\n')


def test_pruner_traits_give_the_old_mappings():
    assert PRUNERS["none"] is None and PRUNERS["hyperband"] == "HyperbandPruner"
    assert set(PRUNERS_DECIDING_BY_TRIAL_NUMBER) == {"hyperband"}
