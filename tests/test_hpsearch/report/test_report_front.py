"""Accuracy against cost in reports: the Pareto front, the chosen trial, best beside chosen."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial
from test_report import ALL_FIGURES, check_files, tables_of

from hpsearch import _attrs as A
from hpsearch.report import write_report
from hpsearch.report._front import cost_front
from hpsearch.results import accuracy, trials_frame
from hpsearch.results._evaluation import (
    ClassScores,
    EvaluatedTrial,
    Evaluation,
    Retrained,
    Score,
    SearchEstimate,
)
from hpsearch.results._selection import choose
from hpsearch.study import parse_study_config

N_VAL = 300
HIDDEN = [16, 32, 64, 128, 256, 512]
STUDY_FILE = """[study]
name = "{name}"
seed = 0
n_trials = 20
{objectives}
[dataset]
name = "digits"
n_train = 200

[sampler]
name = "tpe"

[pruner]
name = "median"

[space]
learning_rate = {{ low = 1e-3, high = 1e-1, log = true }}
hidden_size = {{ choices = {hidden} }}
update_rule = "adam"
num_epochs = 4

[selection]
rule = "one_se"
{cost}
"""
# (hidden_size, validation accuracy): accuracy grows with the net and levels off; trials 4 and
# 5 tie exactly (both on the front), trial 6 is dominated by trial 1 (same size, less accurate).
POINTS = [(16, 0.862), (32, 0.903), (64, 0.931), (128, 0.947), (256, 0.950), (256, 0.950),
          (32, 0.880), (512, 0.953), (128, 0.921), (64, 0.905), (512, 0.940), (16, 0.850)]


def mo_config(name: str = "mo"):
    return parse_study_config(STUDY_FILE.format(
        name=name, hidden=HIDDEN, cost="",
        objectives='objectives = { val_accuracy = "maximize", n_params = "minimize" }'))


def n_params(hidden: int) -> int:
    return 64 * hidden + hidden + hidden * 10 + 10


def _trial(number: int, hidden: int, value: float, rng: np.random.Generator, *,
           multi: bool, state: TrialState = TrialState.COMPLETE) -> optuna.trial.FrozenTrial:
    """A trial as the engine stores it: values, costs, seed, history, timing."""
    curve = [value * f for f in (0.6, 0.85, 0.95, 1.0)]
    if state != TrialState.COMPLETE:
        curve = curve[:2]
    costs = {"n_params": n_params(hidden), "train_cpu_s": 0.02 * hidden + rng.uniform(0, 1),
             "epochs": len(curve)}
    done = state == TrialState.COMPLETE
    values = ([value, float(costs["n_params"])] if multi else [value]) if done else None
    return create_trial(
        state=state, values=values,
        params={"learning_rate": float(rng.uniform(1e-3, 1e-1)), "hidden_size": hidden},
        distributions={"learning_rate": FloatDistribution(1e-3, 1e-1, log=True),
                       "hidden_size": CategoricalDistribution(HIDDEN)},
        intermediate_values=dict(enumerate(curve, start=1)),
        user_attrs={A.TRIAL_SEED: 1000 + number, A.TRIAL_COSTS: costs,
                    A.TRIAL_EPOCHS_RUN: len(curve), A.TRIAL_NODE: "node0",
                    A.TRIAL_STARTED_AT: 1.7e9 + number, A.TRIAL_DURATION: 0.8,
                    A.TRIAL_HISTORY: {"loss": [2 - v for v in curve], "val_acc": curve,
                                      "train_acc": [min(1.0, v + 0.03) for v in curve]}})


def cost_study(path: Path, config, points=POINTS, fingerprint: str = "f00dfeed"
               ) -> optuna.Study:
    """``config``'s study in SQLite under ``path``: one trial per point, then a pruned one."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(storage=f"sqlite:///{path / 'study.db'}",
                                study_name=config.name, directions=config.directions)
    for key, value in {A.STUDY_CONFIG_TEXT: config.text, A.STUDY_METRIC: config.metric,
                       A.STUDY_DATASET: config.dataset, A.STUDY_FINGERPRINT: fingerprint,
                       A.STUDY_SAMPLER: config.sampler, A.STUDY_PRUNER: config.pruner}.items():
        study.set_user_attr(key, value)
    rng = np.random.default_rng(0)
    multi = config.multi_objective
    trials = [_trial(i, h, v, rng, multi=multi) for i, (h, v) in enumerate(points)]
    trials.append(_trial(len(points), 64, 0.7, rng, multi=multi, state=TrialState.PRUNED))
    study.add_trials(trials)
    return study


def evaluation_of(study: optuna.Study, config) -> Evaluation:
    """An evaluation as ``evaluate_best`` stores one under "one_se" (test scores made up)."""
    choice = choose(study, config, n_val=N_VAL)
    by_number = {t.number: t for t in study.trials}
    chosen = by_number[choice.trial]
    p = accuracy(chosen)
    if choice.most_accurate != choice.trial:
        choice.most_accurate_test = Score(0.921, 0.89, 0.95, N_VAL, 100)
    history = chosen.user_attrs[A.TRIAL_HISTORY]
    return Evaluation(
        study=study.study_name,
        trial=EvaluatedTrial(chosen.number, 1000 + chosen.number, dict(chosen.params), p,
                             "f00dfeed"),
        retrained=Retrained(False, False, p, history, [64]),
        test=Score(0.915, 0.884, 0.944, N_VAL, 100),
        classes=ClassScores(["0", "1"], [0.9, 0.93], [[135, 15], [10, 140]]),
        estimate=SearchEstimate(p, p - 0.03, p + 0.03, "binomial, one validation split", [], 3),
        choice=choice)


def non_dominated(points: list[tuple[int, float]]) -> set[int]:
    """Brute force: indices of (cost, accuracy) points no other beats on both."""
    return {i for i, (c, a) in enumerate(points)
            if not any(c2 <= c and a2 >= a and (c2, a2) != (c, a) for c2, a2 in points)}


def test_multi_objective_report_shows_the_front_and_the_choice(tmp_path):
    config = mo_config()
    assert config.selection.rule == "one_se" and config.selection.cost == "n_params"
    study = cost_study(tmp_path / "db", config)
    evaluation = evaluation_of(study, config)
    choice = evaluation.choice
    assert choice.trial != choice.most_accurate  # the data make the rule pick a smaller net
    paths = write_report(study, config, tmp_path / "run", evaluation=evaluation)
    expected = [n for n in ALL_FIGURES if n not in ("first_layer", "decision_boundary")]
    html_text, md_text = check_files(paths, expected)
    assert 'id="fig-front"' in html_text and "Accuracy against cost" in html_text

    tables = tables_of(html_text)
    header, *rows = tables["front"]
    assert header[:3] == ["trial", "validation accuracy", "parameters"]
    wanted = non_dominated([(n_params(h), v) for h, v in POINTS])
    assert {int(r[0]) for r in rows} == wanted == {t.number for t in study.best_trials}
    assert [float(r[1]) for r in rows] == sorted((float(r[1]) for r in rows), reverse=True)
    marks = {int(r[0]): r[-1] for r in rows}
    assert marks[choice.trial] == "chosen" and marks[choice.most_accurate] == "most accurate"
    assert all(m == "" for n, m in marks.items() if n not in (choice.trial, choice.most_accurate))
    by_number = {int(r[0]): r for r in rows}
    assert by_number[choice.trial][2] == str(n_params(POINTS[choice.trial][0]))

    best_vs_chosen = {r[0]: r[1:] for r in tables["choice"]}
    assert best_vs_chosen[""] == ["most accurate", "chosen"]
    assert best_vs_chosen["trial"] == [str(choice.most_accurate), str(choice.trial)]
    assert best_vs_chosen["test accuracy"] == ["0.9210", "0.9150"]
    assert best_vs_chosen["parameters"] == [str(round(choice.most_accurate_cost)),
                                            str(round(choice.chosen_cost))]
    ratio = choice.most_accurate_cost / choice.chosen_cost
    lower = accuracy(study.trials[choice.most_accurate]) - accuracy(study.trials[choice.trial])
    assert (f"Trial {choice.trial} has {ratio:.1f}x fewer parameters than the most accurate "
            f"(trial {choice.most_accurate}) at {lower:.4f} lower estimated accuracy, within "
            f"one standard error ({choice.standard_error:.4f}") in html_text
    assert "Chosen configuration on the test split" in html_text
    meta = dict(tables["meta"][1:])
    assert meta["costs"] == "n_params (minimize)" and meta["selection rule"].startswith("one_se")
    # Markdown: the same tables, the figure linked.
    assert "| trial | validation accuracy | parameters |" in md_text
    assert "](figures/front.png)" in md_text
    assert f"x fewer parameters than the most accurate (trial {choice.most_accurate})" in md_text


def test_report_of_a_real_one_se_evaluation_puts_best_beside_chosen(tmp_path):
    """``evaluate_best`` retrains both on digits; the report shows both test scores as stored."""
    from hpsearch.datasets import load_dataset
    from hpsearch.results import evaluate_best

    digits = load_dataset("digits", n_train=200, seed=0)
    config = mo_config("real")
    study = cost_study(tmp_path / "db", config, fingerprint=digits.fingerprint)
    run_dir = tmp_path / "run"
    evaluation = evaluate_best(study, config, digits, run_dir, n_bootstrap=50)
    choice = evaluation.choice
    assert choice.trial != choice.most_accurate and choice.most_accurate_test is not None
    paths = write_report(study, config, run_dir, dataset=digits, evaluation=evaluation)
    check_files(paths, [n for n in ALL_FIGURES if n != "decision_boundary"])
    tables = tables_of(paths.html.read_text())
    side = {r[0]: r[1:] for r in tables["choice"]}
    assert side["trial"] == [str(choice.most_accurate), str(choice.trial)]
    assert side["test accuracy"] == [f"{choice.most_accurate_test.accuracy:.4f}",
                                     f"{evaluation.test.accuracy:.4f}"]
    assert side["estimate (validation accuracy)"][1] == f"{evaluation.estimate.value:.4f}"
    marks = {int(r[0]): r[-1] for r in tables["front"][1:]}
    assert marks[choice.trial] == "chosen"


def test_front_is_optunas_best_trials_on_three_objectives():
    """A study in memory: the report's front is Optuna's own ``best_trials``, ties included."""
    config = parse_study_config(STUDY_FILE.format(
        name="three", hidden=HIDDEN, cost="", objectives='objectives = { val_accuracy = '
        '"maximize", n_params = "minimize", train_cpu_s = "minimize" }'))
    study = optuna.create_study(directions=config.directions)
    rng = np.random.default_rng(3)
    distributions = {"hidden_size": CategoricalDistribution(HIDDEN)}
    for _ in range(40):
        hidden = int(rng.choice(HIDDEN))
        acc = round(float(rng.uniform(0.8, 0.95)), 2)  # rounded: ties on accuracy
        cpu = round(float(rng.uniform(1, 4)), 0)
        costs = {"n_params": n_params(hidden), "train_cpu_s": cpu, "epochs": 4}
        study.add_trial(create_trial(values=[acc, n_params(hidden), cpu],
                                     params={"hidden_size": hidden}, distributions=distributions,
                                     user_attrs={A.TRIAL_COSTS: costs}))
    study.add_trial(create_trial(values=list(study.trials[0].values),  # a duplicate point
                                 params=study.trials[0].params,
                                 distributions=study.trials[0].distributions))
    front = cost_front(study, config, trials_frame(study, config), ["hidden_size"])
    assert list(front.costs) == ["n_params", "train_cpu_s"]
    assert set(front.front["number"]) == {t.number for t in study.best_trials}
    assert len(front.trials) == 41 and not front.tested
    # One split of unknown size, no folds: no standard error, so the rule waits for the data.
    assert front.choice.rule == "best" and "not shown" in front.notes[0]
    # each panel's line: the front of accuracy and that cost alone
    two = {t.number for t in study.trials
           if not any(o.values[0] >= t.values[0] and o.values[1] <= t.values[1]
                      and o.values[:2] != t.values[:2] for o in study.trials)}
    assert set(front.trials.loc[front.trials["front_n_params"], "number"]) == two


def test_single_objective_study_selected_by_cost_without_evaluation(tmp_path):
    """[selection] cost alone: minimized on the front; the rule's choice waits for the data."""
    config = parse_study_config(STUDY_FILE.format(name="one", hidden=HIDDEN, objectives="",
                                                  cost='cost = "n_params"'))
    assert not config.multi_objective
    study = cost_study(tmp_path / "db", config)
    paths = write_report(study, config, tmp_path / "run")
    assert "front" in [p.stem for p in paths.figures]
    html_text = paths.html.read_text()
    rows = tables_of(html_text)["front"][1:]
    assert {int(r[0]) for r in rows} == non_dominated([(n_params(h), v) for h, v in POINTS])
    best = max(range(len(POINTS)), key=lambda i: (POINTS[i][1], -i))
    assert {int(r[0]): r[-1] for r in rows}[best] == "chosen, most accurate"
    assert "one-standard-error choice is not shown" in html_text
    assert "choice" not in tables_of(html_text)  # no evaluation: nothing tested side by side


def test_old_single_objective_report_has_no_cost_parts(tmp_path):
    config = parse_study_config(STUDY_FILE.format(name="plain", hidden=HIDDEN, objectives="",
                                                  cost="").replace('rule = "one_se"', ""))
    study = cost_study(tmp_path / "db", config)
    paths = write_report(study, config, tmp_path / "run")
    assert paths.left_out["front"].startswith("the study neither optimizes a cost")
    html_text = paths.html.read_text()
    assert "front" not in tables_of(html_text) and "Accuracy against cost" not in html_text
    assert "Best configuration" not in html_text  # no evaluation here


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (apt-get install "
                    "chromium)")
def test_multi_objective_report_screenshot_is_not_blank(tmp_path):
    """Render the report in headless Chromium: the page has drawn content, not a blank page."""
    from matplotlib.image import imread

    config = mo_config()
    study = cost_study(tmp_path / "db", config)
    paths = write_report(study, config, tmp_path / "run", evaluation=evaluation_of(study, config))
    shot = tmp_path / "shot.png"
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                    f"--screenshot={shot}", "--window-size=1400,2400",
                    paths.html.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    image = imread(shot)[..., :3]
    assert image.shape[:2] == (2400, 1400)
    ink = (image < 0.9).any(axis=2).mean()  # share of pixels that are not near-white
    assert ink > 0.02 and image.std() > 0.05
