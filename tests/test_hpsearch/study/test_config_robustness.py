"""Study files that cannot work are refused before anything starts, naming file, key and value.

Issue 15: NaN and infinite numbers, absurd sizes, options out of range, models the data cannot
feed, hostile files (deep nesting, FIFOs, huge files) and trials that cannot fit in memory.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from hpsearch.study import (
    MAX_STUDY_FILE_BYTES,
    ConfigError,
    check_memory,
    check_space_against_data,
    load_study_config,
    parse_study_config,
)

HEAD = '[study]\nname = "tiny"\nn_trials = 4\n'
SPACE = "[space]\nlearning_rate = { low = 1e-3, high = 1e-1, log = true }\n"
MINIMAL = HEAD + SPACE


def _refused(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_study_config(text, source="studies/bad.toml")
    message = str(info.value)
    assert message.startswith("studies/bad.toml: "), message
    return message


@pytest.mark.parametrize(("text", "message"), [
    (MINIMAL + "[run]\ncpus_per_trial = nan\n",
     "[run] cpus_per_trial: expected a finite number in (0, 1,024], got nan"),
    (MINIMAL + "[run]\ncpus_per_trial = inf\n", "[run] cpus_per_trial: expected a finite number"),
    (MINIMAL + "[run]\ntrial_timeout_s = nan\n",
     "[run] trial_timeout_s: expected a finite number > 0, got nan"),
    (MINIMAL + "[run]\nmax_retries = 1000000\n",
     "[run] max_retries: expected an integer in [0, 100], got 1000000"),
    (HEAD + "timeout_s = nan\n" + SPACE,
     "[study] timeout_s: expected a finite number > 0, got nan"),
    (HEAD + "timeout_s = inf\n" + SPACE,
     "[study] timeout_s: expected a finite number > 0, got inf"),
    (MINIMAL.replace("n_trials = 4", "n_trials = 1000000000000"),
     "[study] n_trials: expected an integer in [1, 1,000,000], got 1000000000000"),
    (MINIMAL.replace('name = "tiny"', 'name = "tiny\\n"'), "[study] name: expected letters"),
])
def test_study_and_run_numbers(text, message):
    assert message in _refused(text)


@pytest.mark.parametrize(("table", "message"), [
    ("[sampler]\nname = 'tpe'\nn_startup_trials = -1\n",
     "[sampler] n_startup_trials: expected an integer in [0, 1,000,000], got -1"),
    ("[sampler]\nname = 'tpe'\nn_ei_candidates = nan\n",
     "[sampler] n_ei_candidates: expected an integer in [1, 100,000], got nan"),
    ("[sampler]\nname = 'tpe'\nprior_weight = inf\n",
     "[sampler] prior_weight: expected a finite number > 0, got inf"),
    ("[sampler]\nname = 'tpe'\nmultivariate = 1\n",
     "[sampler] multivariate: expected true or false, got 1"),
    ("[sampler]\nname = 'tpe'\ngamma = 0.2\n", "[sampler] gamma: TPESampler takes a Python object"),
    ("[sampler]\nname = 'qmc'\nqmc_type = 'lattice'\n",
     "[sampler] qmc_type: expected one of ['sobol', 'halton'], got 'lattice'"),
    ("[pruner]\nname = 'median'\nn_warmup_steps = -3\n",
     "[pruner] n_warmup_steps: expected an integer in [0, 1,000,000,000], got -3"),
    ("[pruner]\nname = 'percentile'\npercentile = nan\n",
     "[pruner] percentile: expected a finite number in [0, 100], got nan"),
    ("[pruner]\nname = 'hyperband'\nreduction_factor = 1\n",
     "[pruner] reduction_factor: expected an integer in [2, 1,000], got 1"),
    ("[pruner]\nname = 'hyperband'\nmax_resource = 'lots'\n",
     "[pruner] max_resource: expected an integer in [1, 1,000,000,000] or 'auto', got 'lots'"),
])
def test_sampler_and_pruner_options_in_range(table, message):
    assert message in _refused(MINIMAL + table)


def test_sampler_and_pruner_options_accepted_when_sane():
    config = parse_study_config(MINIMAL + "[sampler]\nname = 'tpe'\nn_startup_trials = 0\n"
                                "multivariate = true\n[pruner]\nname = 'hyperband'\n"
                                "max_resource = 'auto'\nreduction_factor = 3\n")
    assert config.sampler_options == {"n_startup_trials": 0, "multivariate": True}


@pytest.mark.parametrize(("space", "message"), [
    ("reg = { low = 0.0, high = 1.0, step = nan }",
     "[space] reg.step: expected a finite number > 0, got nan"),
    ("reg = { low = 0.0, high = nan }", "[space] reg: expected a finite number >= 0, got nan"),
    ("hidden_size = 1000000000",
     "[space] hidden_size: expected an integer in [1, 65,536], got 1000000000"),
    ("hidden_size = { low = 10, high = 1000000000 }",
     "[space] hidden_size: expected an integer in [1, 65,536], got 1000000000"),
    ("hidden_sizes = [10, 1000000000]", "[space] hidden_sizes: expected a list of 1 to 100 "
                                        "items, each an integer in [1, 65,536], got [10, 1"),
    ("num_layers = { low = 1, high = 100000 }",
     "[space] num_layers: expected an integer in [1, 100], got 100000"),
    ("batch_size = 1e12", "[space] batch_size: expected an integer in [1, 100,000], got 1"),
    ("num_epochs = inf", "[space] num_epochs: expected an integer in [1, 100,000], got inf"),
    ("model = 'cnn'\nfilter_size = 4",
     "[space] filter_size: expected an odd integer in [1, 31], got 4"),
    ("model = 'cnn'\nfilter_size = { choices = [3, 4] }",
     "[space] filter_size: expected an odd integer in [1, 31], got 4"),
    ("model = 'cnn'\nfilter_size = { low = 3, high = 7 }",
     "[space] filter_size: only odd values work, so a range needs an even step"),
    ("num_epochs = { low = 1, high = 5 }\nnum_iterations = { low = 10, high = 50 }",
     "[space] num_iterations: overrides num_epochs, so only one of them may be searched"),
])
def test_space_values(space, message):
    text = HEAD + "[dataset]\nflatten = false\n" + SPACE + space + "\n"
    assert message in _refused(text)


@pytest.mark.parametrize(("dataset", "space", "message"), [
    ("name = 'moons'\nnoise = inf", "",
     "[dataset] noise: expected a finite number in [0, 100], got inf"),
    ("name = 'moons'\nn_samples = 1000000000", "",
     "[dataset] n_samples: expected an integer in [1, 1,000,000], got 1000000000"),
    ("name = 'npz'\npath = 'x.npz'\nnum_classes = 1000000000", "",
     "[dataset] num_classes: expected an integer in [1, 100,000], got 1000000000"),
    ("name = 'spiral'\nn_samples = 90\nn_train = 80\nn_val = 20", "",
     "[dataset] n_train: dataset 'spiral': n_train = 80, n_val = 20 add up to more than"),
    ("name = 'moons'", "model = 'cnn'", "[space] model: 'cnn' needs image data, but dataset "
                                         "'moons' holds feature vectors"),
    ("name = 'csv'\npath = 'x.csv'", "model = { choices = ['fc', 'cnn'] }",
     "[space] model: 'cnn' needs image data"),
    ("name = 'digits'", "model = 'cnn'", "[space] model: 'cnn' needs images kept as (C, H, W); "
                                         "add flatten = false to [dataset]"),
    ("name = 'circles'", "augment = { choices = ['none', 'flip'] }",
     "[space] augment: 'flip' mirrors images, but dataset 'circles' holds feature vectors"),
])
def test_dataset_options_and_kind_name_the_key(dataset, space, message):
    text = HEAD + f"[dataset]\n{dataset}\n" + SPACE + space + "\n"
    assert message in _refused(text)


def test_cnn_with_images_kept_is_accepted():
    config = parse_study_config(HEAD + "[dataset]\nflatten = false\n" + SPACE
                                + "model = 'cnn'\nfilter_size = { low = 3, high = 7, step = 2 }\n")
    assert config.space["model"].value == "cnn"


# --- hostile files ------------------------------------------------------------------------------


def test_toml_nested_fifty_thousand_levels_is_reported():
    message = _refused("a = " + "[" * 50_000 + "]" * 50_000)
    assert "nested too deeply" in message


def test_study_path_that_is_a_fifo_is_refused_without_reading(tmp_path):
    fifo = tmp_path / "study.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"study.toml: not a regular file; expected a TOML"):
        load_study_config(fifo)


def test_study_path_that_is_a_directory_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="not a regular file"):
        load_study_config(tmp_path)


def test_huge_study_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text(MINIMAL + "#" * MAX_STUDY_FILE_BYTES)
    with pytest.raises(ConfigError, match=r"big.toml: 1,048,\d+ bytes; a study file is expected"):
        load_study_config(path)


# --- checks that need the data ------------------------------------------------------------------


def _data(name="npz", input_shape=(20,), image_shape=None, num_classes=3):
    return SimpleNamespace(name=name, input_shape=input_shape, image_shape=image_shape,
                           num_classes=num_classes)


def _config(space: str, dataset: str = "name = 'npz'\npath = 'x.npz'\nflatten = false"):
    return parse_study_config(HEAD + f"[dataset]\n{dataset}\n" + SPACE + space + "\n",
                              source="studies/s.toml")


def test_cnn_and_flip_on_tabular_npz_refused_after_loading():
    with pytest.raises(ConfigError, match=r"studies/s.toml: \[space\] model: 'cnn' needs images "
                                          r"kept as \(C, H, W\), but dataset 'npz' gives "
                                          r"per-sample shape \(20,\)"):
        check_space_against_data(_config("model = 'cnn'"), _data())
    with pytest.raises(ConfigError, match=r"\[space\] augment: 'flip' mirrors images, but dataset "
                                          r"'npz' has no image shape"):
        check_space_against_data(_config("augment = 'flip'"), _data())


def test_cnn_stages_must_fit_the_image():
    data = _data(input_shape=(1, 8, 8), image_shape=(1, 8, 8))
    config = _config("model = 'cnn'\nnum_conv_stages = { low = 1, high = 4 }")
    with pytest.raises(ConfigError, match=r"\[space\] num_conv_stages: up to 4 stages each halve "
                                          r"the image, but 8x8 images allow at most 3"):
        check_space_against_data(config, data, available_bytes=2**40)
    ok = _config("model = 'cnn'\nnum_conv_stages = { low = 1, high = 3 }")
    assert check_space_against_data(ok, data, available_bytes=2**40) > 0


def test_memory_refusal_names_the_values_and_the_estimate():
    config = _config("hidden_size = { low = 16, high = 65536 }\nnum_layers = { low = 1, high = 4 }"
                     "\nupdate_rule = { choices = ['sgd', 'adam'] }")
    with pytest.raises(ConfigError) as info:
        check_memory(config, (3072,), 10, available_bytes=2**30)
    message = str(info.value)
    assert message.startswith("studies/s.toml: [space]: the largest trial this space allows "
                              "(hidden layers [65536, 65536, 65536, 65536], model = 'fc', "
                              "batch_size = 100, update_rule = 'adam'")
    # 3 * 65536^2 + 3072 * 65536 weights (~13e9 float32) with grads, snapshot, Adam's moments
    assert "; inputs (3072,), 10 classes) needs about 245 GiB (parameters, activations" in message
    assert "but a trial has 1 GiB" in message


def test_memory_check_passes_a_small_space_and_returns_its_estimate():
    config = _config("hidden_size = { low = 16, high = 128 }")
    estimate = check_memory(config, (64,), 10, available_bytes=2**30)
    assert 100_000 < estimate < 10 * 2**20
    assert check_space_against_data(config, _data(input_shape=(64,), num_classes=10),
                                     available_bytes=2**30) == estimate
