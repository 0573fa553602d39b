"""Real Optuna studies in SQLite, written by ask/tell with the attributes the engine stores.

No Ray and no training: each trial's learning curve is drawn from a seeded generator, so tests of
tables and reports are fast and their expected numbers come from the storage itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from hpsearch import _attrs as A
from hpsearch.study import StudyConfig, parse_study_config
from hpsearch.study._space import (
    grid_combinations,
    grid_search_space,
    resolve_params,
    space_to_json,
    suggest_params,
)

INJECT = '<script>alert("x")</script><img src="http://evil.example/x.png">'

DIGITS_SPACE = """
[space]
learning_rate = { low = 1e-3, high = 1e-1, log = true }
hidden_size = { choices = [16, 32] }
reg = { low = 0.0, high = 0.01 }
update_rule = "adam"
num_epochs = 4
batch_size = 50
"""

MOONS_SPACE = """
[space]
learning_rate = { low = 5e-3, high = 5e-2, log = true }
hidden_size = { choices = [16, 32] }
update_rule = "adam"
num_epochs = 4
batch_size = 32
"""

GRID_SPACE = """
[space]
learning_rate = { grid = [0.001, 0.01, 0.1] }
reg = { grid = [0.0, 0.001] }
update_rule = "adam"
num_epochs = 3
"""


class CountingDataset:
    """A Dataset stand-in that counts every read of the test arrays, or refuses them."""

    def __init__(self, dataset: Any, refuse: bool = False):
        self._dataset, self._refuse = dataset, refuse
        self.test_reads = {"X_test": 0, "y_test": 0}

    def __getattr__(self, name: str) -> Any:
        if name in self.test_reads:
            if self._refuse:
                raise AssertionError(f"{name} read where the test split must not be read")
            self.test_reads[name] += 1
        return getattr(self._dataset, name)

    def as_solver_data(self) -> dict[str, np.ndarray]:
        return self._dataset.as_solver_data()


def make_config(name: str, space: str, *, dataset: str = 'name = "digits"\nn_train = 200',
                sampler: str = "tpe", pruner: str = "median", description: str = "",
                seed: int = 0, n_trials: int = 10) -> StudyConfig:
    """A validated study config from a few TOML pieces."""
    text = (f'# study file for tests (see https://example.org/docs)\n[study]\nname = "{name}"\n'
            f"seed = {seed}\nn_trials = {n_trials}\ndescription = {json.dumps(description)}\n"
            f"\n[dataset]\n{dataset}\n\n[sampler]\nname = \"{sampler}\"\n\n"
            f"[pruner]\nname = \"{pruner}\"\n\n"
            f"[run]\nstorage = \"postgresql://alice:s3cret@db.example:5432/hp\"\n{space}")
    return parse_study_config(text)


def _curve(rng: np.random.Generator, n_epochs: int) -> list[float]:
    start, top = rng.uniform(0.1, 0.4), rng.uniform(0.5, 0.95)
    rate = rng.uniform(0.3, 1.5)
    return [float(top - (top - start) * np.exp(-rate * e)) for e in range(n_epochs)]


def build_study(path: Path, config: StudyConfig, states: Sequence[str], *,
                fingerprint: str = "f00dfeed", budget_epochs: int | None = None,
                seed: int = 0, params: Sequence[dict[str, Any] | None] | None = None,
                storage: Any = None, study_name: str | None = None) -> optuna.Study:
    """Create ``config``'s study under ``path`` and store one trial per entry of ``states``.

    Args:
        path: folder for ``study.db``.
        config: the study config (space, sampler and names).
        states: "complete", "pruned", "failed", "interrupted", "running" or "waiting", per trial.
        fingerprint: dataset fingerprint stored on the study and its trials.
        budget_epochs: the study's full per-trial budget (default: the config's num_epochs).
        seed: seeds the learning curves.
        params: optional sampled parameters per trial (None entries: let the sampler choose).
        storage: an Optuna storage to use instead of ``path/study.db``.
        study_name: the stored name (default: the config's).
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(storage=storage or f"sqlite:///{path / 'study.db'}",
                                study_name=study_name or config.name, direction="maximize",
                                sampler=config.make_sampler())
    n_epochs = int(resolve_params({}, config.space)["num_epochs"])
    attrs = {
        A.STUDY_CONFIG_TEXT: config.text, A.STUDY_CONFIG_PATH: "studies/test.toml",
        A.STUDY_METRIC: config.metric, A.STUDY_DATASET: config.dataset,
        A.STUDY_FINGERPRINT: fingerprint,
        A.STUDY_BUDGET_EPOCHS: budget_epochs or n_epochs,
        A.STUDY_SPACE: space_to_json(config.space), A.STUDY_SAMPLER: config.sampler,
        A.STUDY_PRUNER: config.pruner,
        A.STUDY_VERSIONS: {"hpsearch": "0.1.0", "optuna": optuna.__version__},
    }
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    if config.sampler == "grid":  # as the engine does: the whole grid enqueued at creation
        for combo in grid_combinations(grid_search_space(config.space)):
            study.enqueue_trial(combo)
    rng = np.random.default_rng(seed)
    for i, state in enumerate(states):
        fixed = params[i] if params is not None else None
        if state == "waiting":
            study.enqueue_trial(fixed or {})
            continue
        if fixed is not None:
            study.enqueue_trial(fixed)
        trial = study.ask()
        suggest_params(trial, config.space)
        trial.set_user_attr(A.TRIAL_SEED, 1000 + trial.number)
        if state == "running":
            trial.report(0.3, 1)
            continue
        curve = _curve(rng, n_epochs)
        run = {"complete": n_epochs, "pruned": int(rng.integers(1, n_epochs)),
               "failed": 1, "interrupted": 0}[state]
        curve = curve[:run]
        for epoch, value in enumerate(curve, start=1):
            trial.report(value, epoch)
        history = {"loss": [float(2.0 - v) for v in curve], "train_acc": [min(1.0, v + 0.05)
                                                                          for v in curve],
                   "val_acc": curve}
        if state != "interrupted":
            for key, value in {A.TRIAL_NODE: f"node{i % 2}", A.TRIAL_NODE_IP: "10.0.0.1",
                               A.TRIAL_DURATION: 0.5 + 0.1 * i,
                               A.TRIAL_STARTED_AT: 1.7e9 + 0.4 * i, A.TRIAL_EPOCHS_RUN: run,
                               A.TRIAL_FINGERPRINT: fingerprint,
                               A.TRIAL_HISTORY: history}.items():
                trial.set_user_attr(key, value)
        if state == "complete":
            study.tell(trial, max(curve))
        elif state == "pruned":
            trial.set_user_attr(A.TRIAL_PRUNED_AT, run)
            study.tell(trial, state=TrialState.PRUNED)
        else:
            reason = A.REASON_INTERRUPTED if state == "interrupted" else "diverged at iteration 3"
            trial.set_user_attr(A.TRIAL_FAILURE, reason)
            study.tell(trial, state=TrialState.FAIL)
    return study

