"""PARAMETERS as the one source of truth; epoch budgets; memory estimates (issues 12 and 15)."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import netcore
from hpsearch.study._space import (
    PARAMETERS,
    Choice,
    Fixed,
    Grid,
    IntRange,
    budget_epochs,
    discrete_values,
    largest_configurations,
    parse_space,
    resolve_params,
    space_values,
)
from hpsearch.training import RULE_STATE, estimate_trial_bytes

ROOT = Path(__file__).resolve().parents[3]


# --- one source of truth ------------------------------------------------------------------------


def test_choices_match_netcores_registries():
    from netcore.models import INIT_SCHEMES, NORMALIZATIONS

    assert set(PARAMETERS["update_rule"].choices) == set(netcore.UPDATE_RULES)
    assert set(PARAMETERS["activation"].choices) == set(netcore.ACTIVATIONS)
    assert set(PARAMETERS["normalization"].choices) == {
        "none" if n is None else n for n in NORMALIZATIONS}
    assert set(PARAMETERS["weight_scale"].choices) == set(INIT_SCHEMES)
    assert set(RULE_STATE) == set(netcore.UPDATE_RULES)


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("Searchable parameters:")
    return text[start:text.index("\n\n", start)]


def test_readme_lists_every_searchable_parameter_and_no_other():
    section = _readme_section()
    named = {m.group(1) for m in re.finditer(r"`([a-z_]+)(?: = [^`]*)?`", section)}
    assert named == set(PARAMETERS), (sorted(set(PARAMETERS) - named),
                                      sorted(named - set(PARAMETERS)))


def test_readme_choice_lists_match_the_declarations():
    section = " ".join(_readme_section().split())
    for name, decl in PARAMETERS.items():
        if not decl.choices or name == "model":
            continue
        found = re.search(rf"`{name}` \(([^)]*)\)", section)
        assert found, f"README does not list the choices of {name}"
        listed = re.findall(r"[a-z_]+", found.group(1).replace("a number", ""))
        assert set(listed) - {"or"} == set(decl.choices), name


# --- discrete values ----------------------------------------------------------------------------


def test_discrete_values_reads_choices_and_grids_alike():
    assert discrete_values(Choice((1, 2))) == discrete_values(Grid((1, 2))) == (1, 2)
    assert discrete_values(Fixed(3)) is None and discrete_values(IntRange(1, 3)) is None
    assert space_values(Fixed(3)) == (3,) and space_values(IntRange(1, 3)) is None


# --- epoch budget -------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "n_train", "expected"), [
    ({}, 1000, PARAMETERS["num_epochs"].default),
    ({"num_epochs": {"low": 2, "high": 30}}, 1000, 30),
    ({"num_epochs": {"choices": [5, 40, 10]}}, 1000, 40),
    ({"num_epochs": {"grid": [5, 7]}}, 1000, 7),
    # iterations: an epoch is max(n_train // batch, 1) iterations; the default batch is 100
    ({"num_iterations": 1000}, 1000, 100),
    ({"num_iterations": {"low": 100, "high": 1000}, "batch_size": 50}, 1000, 50),
    ({"num_iterations": 1000, "batch_size": {"choices": [10, 250]}}, 1000, 250),
    ({"num_iterations": 1001, "batch_size": 250}, 1000, 251),
    ({"num_iterations": 30, "batch_size": 500}, 100, 30),
])
def test_budget_epochs(raw, n_train, expected):
    assert budget_epochs(parse_space(raw), n_train) == expected


def test_budget_uses_the_declared_default_batch():
    n_train = 10 * PARAMETERS["batch_size"].default
    assert budget_epochs(parse_space({"num_iterations": 100}), n_train) == 10


# --- memory -------------------------------------------------------------------------------------


def _measured(params: dict, shape: tuple[int, ...], n_classes: int, n: int) -> int:
    from hpsearch.training import fit

    rng = np.random.default_rng(0)
    data = {"X_train": rng.standard_normal((n, *shape)).astype(np.float32),
            "y_train": rng.integers(0, n_classes, n),
            "X_val": rng.standard_normal((200, *shape)).astype(np.float32),
            "y_val": rng.integers(0, n_classes, 200)}
    tracemalloc.start()
    try:
        fit(params, data, shape, n_classes, 0)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("raw", "shape"), [
    ({"hidden_size": 1024, "num_layers": 2, "batch_size": 200, "update_rule": "adam"}, (784,)),
    ({"hidden_size": 64, "num_layers": 3, "batch_size": 500, "normalization": "batchnorm",
      "dropout": 0.5}, (64,)),
    ({"model": "cnn", "num_filters": 8, "num_conv_stages": 2, "hidden_size": 32,
      "batch_size": 50}, (3, 16, 16)),
])
def test_estimate_within_a_small_factor_of_a_measured_trial(raw, shape):
    params = resolve_params({**raw, "num_epochs": 1}, {})
    measured = _measured(params, shape, 10, n=400)
    estimate = estimate_trial_bytes(params, shape, 10)
    assert 0.7 < estimate / measured < 4, (estimate, measured)


def test_largest_configurations_take_every_size_at_its_largest():
    space = parse_space({"hidden_size": {"low": 8, "high": 512}, "batch_size": {"grid": [32, 64]},
                         "update_rule": {"choices": ["sgd", "adam", "rmsprop"]},
                         "model": {"choices": ["fc", "cnn"]}, "normalization": {
                             "choices": ["none", "batchnorm"]},
                         "num_conv_stages": {"low": 1, "high": 3}})
    configs = largest_configurations(space)
    assert {(c["model"], c["num_conv_stages"]) for c in configs} == {
        (m, s) for m in ("fc", "cnn") for s in (1, 2, 3)}
    assert all(c["hidden_size"] == 512 and c["batch_size"] == 64 and c["update_rule"] == "adam"
               and c["normalization"] == "batchnorm" for c in configs)


def test_estimate_grows_with_width_and_batch():
    small = resolve_params({"hidden_size": 100}, {})
    wide = resolve_params({"hidden_size": 10_000}, {})
    big_batch = resolve_params({"batch_size": 10_000}, {})
    base = estimate_trial_bytes(small, (784,), 10)
    assert estimate_trial_bytes(wide, (784,), 10) > 20 * base
    assert estimate_trial_bytes(big_batch, (784,), 10) > 10 * base
