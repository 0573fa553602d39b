"""Comparison sections without Ray: the explicit retraining step stores, the report only reads."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _studies import CountingDataset, build_study, make_config
from test_report import PLAIN_FIGURES, check_files, tables_of

import hpsearch.training
from hpsearch.datasets import load_dataset
from hpsearch.report import write_report
from hpsearch.results import evaluate_settings, load_settings_evaluation

MOONS = 'name = "moons"\nn_samples = 300'
ACTIVATIONS = """
[space]
activation = { grid = ["tanh", "relu"] }
hidden_size = 8
update_rule = "adam"
learning_rate = 0.01
num_epochs = 3
batch_size = 32
"""
AUGMENT = """
[space]
augment = { grid = ["none", "flip"] }
hidden_size = 16
update_rule = "adam"
learning_rate = 0.01
num_epochs = 3
batch_size = 50
"""
# Figures a two-trial study without a test evaluation draws before its comparison section.
STUDY_FIGURES = [n for n in PLAIN_FIGURES
                 if n not in ("first_layer", "confusion", "decision_boundary")]


@pytest.fixture(scope="module")
def moons():
    return load_dataset("moons", n_samples=300, seed=0)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=200, seed=0)


def _study(tmp_path, name, space, dataset, fingerprint, sampler="grid"):
    config = make_config(name, space, dataset=dataset, sampler=sampler, n_trials=2)
    return build_study(tmp_path / "db", config, ["complete", "complete"],
                       fingerprint=fingerprint), config


def _no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was trained while drawing a report")

    monkeypatch.setattr(hpsearch.training, "fit", refuse)


def test_boundaries_are_computed_by_the_step_and_only_read_by_the_report(tmp_path, moons,
                                                                        monkeypatch):
    study, config = _study(tmp_path, "moons_cmp", ACTIVATIONS, MOONS, moons.fingerprint)
    run_dir = tmp_path / "run"
    counting = CountingDataset(moons)
    stored = evaluate_settings(study, config, counting, run_dir)
    assert counting.test_reads == {"X_test": 0, "y_test": 0}  # augment not varied
    assert stored.trials == [0, 1] and stored.train_test is None
    assert stored.labels == ["activation=tanh", "activation=relu"]
    assert stored.boundaries["zz"].shape == (2, 150, 150)
    loaded = load_settings_evaluation(run_dir)
    assert loaded.to_json() == stored.to_json()
    for key, array in stored.boundaries.items():
        np.testing.assert_array_equal(loaded.boundaries[key], array)

    _no_training(monkeypatch)
    paths = write_report(study, config, run_dir, dataset=CountingDataset(moons, refuse=True))
    html_text, _ = check_files(paths, [*STUDY_FIGURES, "compare_1", "compare_3", "compare_4"])
    assert "Decision boundary per setting" in html_text and "are not stored" not in html_text


def test_without_the_stored_step_the_report_says_which_command_computes_it(tmp_path, moons,
                                                                          monkeypatch):
    study, config = _study(tmp_path, "moons_cmp", ACTIVATIONS, MOONS, moons.fingerprint)
    _no_training(monkeypatch)
    paths = write_report(study, config, tmp_path / "run",
                         dataset=CountingDataset(moons, refuse=True))
    html_text, md_text = check_files(paths, [*STUDY_FIGURES, "compare_1", "compare_3"])
    for text in (html_text, md_text):
        assert "decision boundaries are not stored" in text and "hpsearch best" in text


def test_augment_settings_read_the_test_split_once_and_the_report_shows_the_table(
        tmp_path, digits, monkeypatch):
    study, config = _study(tmp_path, "aug_cmp", AUGMENT, 'name = "digits"\nn_train = 200',
                           digits.fingerprint)
    run_dir = tmp_path / "run"
    counting = CountingDataset(digits)
    stored = evaluate_settings(study, config, counting, run_dir)
    assert counting.test_reads == {"X_test": 1, "y_test": 1}  # every setting in one read
    assert stored.boundaries is None
    assert not (run_dir / "settings" / "boundaries.npz").exists()
    rows = stored.train_test
    assert [r["setting"] for r in rows] == ["augment=none", "augment=flip"]
    for row in rows:
        assert 0.0 <= row["test_acc"] <= 1.0 and row["test_loss"] > 0
        assert row["gap"] == pytest.approx(row["train_acc"] - row["test_acc"])

    _no_training(monkeypatch)
    paths = write_report(study, config, run_dir)
    html_text, _ = check_files(paths, [*STUDY_FIGURES, "compare_1", "compare_3"])
    table = tables_of(html_text)["compare-4"]
    assert table[0][:4] == ["setting", "trial", "seed", "train_loss"]
    assert [(r[0], float(r[6])) for r in table[1:]] == [
        (r["setting"], pytest.approx(r["test_acc"], abs=5e-4)) for r in rows]


def test_stored_settings_of_other_trials_are_not_shown(tmp_path, moons):
    study, config = _study(tmp_path, "moons_cmp", ACTIVATIONS, MOONS, moons.fingerprint)
    run_dir = tmp_path / "run"
    evaluate_settings(study, config, moons, run_dir)
    path = run_dir / "settings" / "settings.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "trials": [7, 8]}))  # e.g. before the study resumed
    paths = write_report(study, config, run_dir, dataset=moons)
    html_text, _ = check_files(paths, [*STUDY_FIGURES, "compare_1", "compare_3"])
    assert "(trials [7, 8]) are not this study" in html_text


def test_other_studies_store_nothing(tmp_path, moons, digits):
    study, config = _study(tmp_path, "moons_tpe", ACTIVATIONS.replace(
        'activation = { grid = ["tanh", "relu"] }', "learning_rate = { low = 1e-3, high = 1e-1 }"
    ).replace("learning_rate = 0.01\n", ""), MOONS, moons.fingerprint, sampler="tpe")
    assert evaluate_settings(study, config, moons, tmp_path / "a") is None
    # A comparison on data that is not 2-D, with augment fixed: nothing to retrain for.
    grid, grid_config = _study(tmp_path / "g", "grid_cmp", ACTIVATIONS,
                               'name = "digits"\nn_train = 200', digits.fingerprint)
    assert evaluate_settings(grid, grid_config, digits, tmp_path / "b") is None
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_passwords_in_the_stored_study_file_and_path_are_redacted(tmp_path):
    config = make_config("secrets", ACTIVATIONS, dataset=MOONS, sampler="grid", n_trials=2)
    study = build_study(tmp_path / "db", config, ["complete"])
    study.set_user_attr("config_toml", config.text + (
        '\n# replica = "postgresql://carol:p@ss@db2.example/hp"'
        '\n# cache = "redis://:pw0rd@cache.example:6379/0"\n'))
    study.set_user_attr("config_path", "postgresql://bob:hunter2@db.example/studies?name=x")
    paths = write_report(study, config, tmp_path / "run")
    for text in (paths.html.read_text(), paths.markdown.read_text()):
        for secret in ("s3cret", "p@ss", "ss@db2", "pw0rd", "hunter2"):
            assert secret not in text, secret
        plain = text.replace("&#47;", "/").replace("&#58;", ":").replace("\\", "")
        assert "bob:***@db.example" in plain and "alice:***@db.example" in plain
        assert "redis://:***@cache.example" in plain
