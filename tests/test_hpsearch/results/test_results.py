"""Tables from stored studies: rows, states, parameters, curves, facts, grid table, exports."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
from _studies import DIGITS_SPACE, GRID_SPACE, build_study, make_config

from hpsearch import _attrs as A
from hpsearch.results import (
    best_trial,
    count_states,
    export_tables,
    grid_table,
    intermediate_frame,
    param_columns,
    rank_key,
    ranked_trials,
    summary_facts,
    trials_frame,
)
from hpsearch.storage import enqueued_params
from hpsearch.study import resolve_params

MIXED = ["complete", "pruned", "complete", "failed", "pruned", "interrupted", "complete",
         "running", "waiting"]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    config = make_config("mixed", DIGITS_SPACE)
    study = build_study(tmp_path_factory.mktemp("mixed"), config, MIXED, budget_epochs=6)
    return study, config


def test_one_row_per_trial_matching_storage(mixed):
    study, config = mixed
    frame = trials_frame(study, config)
    stored = study.get_trials()
    assert frame["number"].tolist() == [t.number for t in stored]
    assert frame["state"].tolist() == ["complete", "pruned", "complete", "failed", "pruned",
                                       "failed", "complete", "running", "waiting"]
    for t, (_, row) in zip(stored, frame.iterrows(), strict=True):
        if t.value is None:
            assert pd.isna(row["value"])
        else:
            assert row["value"] == t.value
        assert row["failure_reason"] is pd.NA or row["failure_reason"] == t.user_attrs.get(
            A.TRIAL_FAILURE)
        if t.state.name in ("COMPLETE", "PRUNED", "FAIL", "RUNNING"):
            for name, value in resolve_params(t.params, config.space).items():
                if value is None:
                    assert pd.isna(row[name])
                else:
                    assert row[name] == value, name
            assert row["seed"] == t.user_attrs[A.TRIAL_SEED]
    pruned = frame[frame["state"] == "pruned"]
    assert (pruned["pruned_at_epoch"] == pruned["epochs_run"]).all()
    assert frame.loc[5, "failure_reason"] == A.REASON_INTERRUPTED


def test_params_are_typed_and_fixed_ones_filled_in(mixed):
    study, config = mixed
    frame = trials_frame(study, config)
    assert set(param_columns(frame)) >= {"learning_rate", "hidden_size", "reg", "update_rule",
                                         "num_epochs", "dropout"}
    assert frame["learning_rate"].dtype == "float64"
    assert str(frame["hidden_size"].dtype) == "Int64"
    assert (frame["update_rule"].dropna() == "adam").all()
    searched_only = trials_frame(study)
    assert set(param_columns(searched_only)) == {"learning_rate", "hidden_size", "reg"}


def test_intermediate_frame_is_every_report(mixed):
    study, _ = mixed
    long = intermediate_frame(study)
    expected = [(t.number, step, v) for t in study.get_trials()
                for step, v in sorted(t.intermediate_values.items())]
    assert list(zip(long["trial"], long["epoch"], long["value"], strict=True)) == expected
    assert long["epoch"].min() == 1


def test_summary_facts_agree_with_storage(mixed):
    study, config = mixed
    trials = study.get_trials()
    facts = summary_facts(study, config)
    states = [t.state.name for t in trials]
    assert facts["by_state"] == {"complete": states.count("COMPLETE"),
                                 "pruned": states.count("PRUNED"),
                                 "failed": states.count("FAIL"),
                                 "running": states.count("RUNNING"),
                                 "waiting": states.count("WAITING")}
    assert facts["n_interrupted"] == 1
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert facts["best_value"] == max(t.value for t in complete)
    assert facts["cpu_s"] == pytest.approx(sum(t.user_attrs.get(A.TRIAL_DURATION, 0.0)
                                               for t in trials))
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED", "FAIL")]
    wall = (max(t.datetime_complete for t in finished)
            - min(t.datetime_start for t in trials if t.datetime_start)).total_seconds()
    assert facts["wall_s"] == pytest.approx(wall)
    assert facts["trials_per_minute"] == pytest.approx(len(finished) / (wall / 60))
    # Each trial's own budget is its num_epochs (4), below the study's budget_epochs (6).
    pruned_run = [t.user_attrs[A.TRIAL_EPOCHS_RUN] for t in trials if t.state.name == "PRUNED"]
    saved = sum(4 - e for e in pruned_run)
    assert facts["epochs_saved"] == saved
    assert facts["pruning_saved_share"] == pytest.approx(
        saved / (4 * (len(complete) + len(pruned_run))))


def test_empty_study(tmp_path):
    config = make_config("empty", DIGITS_SPACE)
    study = build_study(tmp_path, config, [])
    frame = trials_frame(study, config)
    assert frame.empty and {"number", "state", "value", "seed"} <= set(frame.columns)
    assert intermediate_frame(study).empty
    facts = summary_facts(study, config)
    assert facts["n_trials"] == 0 and facts["best_value"] is None and facts["wall_s"] is None
    assert facts["pruning_saved_share"] is None
    paths = export_tables(study, tmp_path / "out", config)
    assert all(p.exists() for p in paths.values())


def test_grid_table_sorted_and_only_for_grids(tmp_path):
    config = make_config("grid", GRID_SPACE, sampler="grid", n_trials=6)
    # As the engine stores a grid mid-run: the whole grid enqueued, some run, one still waiting.
    study = build_study(tmp_path, config, ["complete"] * 3 + ["interrupted", "failed"])
    study.enqueue_trial(study.get_trials()[3].params)  # the interrupted point, enqueued again
    table = grid_table(study, config)
    assert list(table.columns) == ["learning_rate", "reg", "value", "state", "number"]
    assert table["state"].tolist() == ["complete"] * 3 + ["failed", "waiting", "waiting"]
    values = table["value"].dropna().tolist()
    assert values == sorted(values, reverse=True) and len(values) == 3
    by_number = {t.number: t for t in study.get_trials()}
    for _, row in table.iterrows():
        trial = by_number[int(row["number"])]
        params = trial.params or enqueued_params(trial)
        assert (row["learning_rate"], row["reg"]) == (params["learning_rate"], params["reg"])
        if trial.value is not None:
            assert row["value"] == trial.value
    # Every grid point once (the interrupted trial is represented by its re-run).
    assert len({(r.learning_rate, r.reg) for r in table.itertuples()}) == 6
    tpe = make_config("tpe", DIGITS_SPACE)
    assert grid_table(study, tpe) is None


def test_export_round_trips(mixed, tmp_path):
    study, config = mixed
    paths = export_tables(study, tmp_path / "runs" / "mixed", config)
    frame = trials_frame(study, config)
    csv = pd.read_csv(paths["trials_csv"])
    parquet = pd.read_parquet(paths["trials_parquet"])
    for loaded in (csv, parquet):
        assert loaded["number"].tolist() == frame["number"].tolist()
        np.testing.assert_allclose(loaded["value"].to_numpy(dtype=float),
                                   frame["value"].to_numpy(dtype=float))
        assert loaded["state"].tolist() == frame["state"].tolist()
    np.testing.assert_allclose(parquet["learning_rate"].to_numpy(dtype=float),
                               frame["learning_rate"].to_numpy(dtype=float))
    inter = pd.read_csv(paths["intermediate_csv"])
    assert len(inter) == sum(len(t.intermediate_values) for t in study.get_trials())


def test_mixed_type_parameter_exports_as_text(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")  # in-memory storage works too
    for scale in ("he", 0.01):
        study.enqueue_trial({"weight_scale": scale})
        trial = study.ask()
        trial.suggest_categorical("weight_scale", ["he", 0.01])
        study.tell(trial, 0.5)
    frame = trials_frame(study)
    assert frame["weight_scale"].tolist() == ["he", 0.01]
    paths = export_tables(study, tmp_path)
    assert pd.read_parquet(paths["trials_parquet"])["weight_scale"].tolist() == ["he", "0.01"]


def test_best_trial_is_the_highest_complete_value_earliest_on_ties(tmp_path):
    config = make_config("best", DIGITS_SPACE)
    study = build_study(tmp_path, config, ["failed", "pruned"])
    assert best_trial(study) is None  # nothing complete: no best, whatever pruned ones reported
    for value in (0.5, 0.9, 0.9, 0.7):
        trial = study.ask()
        trial.suggest_float("learning_rate", 1e-3, 1e-1, log=True)
        study.tell(trial, value)
    best = best_trial(study)
    assert best.value == 0.9 and best.number == 3  # trials 3 and 4 tie: the earlier one
    assert summary_facts(study)["best_trial"] == best.number


def test_best_trial_imports_neither_pandas_nor_matplotlib():
    # The search driver imports best_trial from the face: pandas and matplotlib stay out of it.
    import subprocess
    import sys

    code = ("import sys; from hpsearch.results import best_trial; "
            "print('pandas' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False False"


def test_one_ranking_everywhere(tmp_path):
    # best_trial, the ranked list (ensembles, ties) and summary_facts agree, ties to the earlier.
    study = optuna.create_study(direction="maximize",
                                storage=f"sqlite:///{tmp_path / 'rank.db'}")
    for value in (0.7, 0.9, 0.8, 0.9):
        trial = study.ask()
        trial.suggest_float("learning_rate", 1e-3, 1e-1, log=True)
        study.tell(trial, value)
    failed = study.ask()
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    ranked = ranked_trials(study)
    assert [t.number for t in ranked] == [1, 3, 2, 0]
    assert sorted(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)),
                  key=rank_key) == ranked
    assert best_trial(study).number == ranked[0].number == summary_facts(study)["best_trial"]
    assert count_states(study.trials) == {"complete": 4, "pruned": 0, "failed": 1,
                                          "running": 0, "waiting": 0}


def test_export_is_atomic(mixed, tmp_path, monkeypatch):
    study, config = mixed
    paths = export_tables(study, tmp_path, config)
    before = {k: p.read_bytes() for k, p in paths.items()}

    def half_then_fail(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        export_tables(study, tmp_path, config)
    assert {k: p.read_bytes() for k, p in paths.items()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())
