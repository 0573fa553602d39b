"""Preempted trials: stopped at an epoch boundary, carried as bytes, resumed in new objects (or
another process), they end bit for bit where an uninterrupted trial ends."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

from hpsearch.datasets import load_dataset, with_folds
from hpsearch.study import resolve_params
from hpsearch.training import TrialCheckpoint, TrialResult, train_trial

SEED = 11
FC_ADAM = {"update_rule": "adam", "learning_rate": 0.01, "dropout": 0.2,
           "normalization": "batchnorm", "hidden_size": 24, "num_epochs": 4, "batch_size": 40}
MOMENTUM = {"update_rule": "sgd_momentum", "learning_rate": 0.05, "lr_decay": 0.7,
            "hidden_size": 24, "num_epochs": 4, "batch_size": 40}
CNN = {"model": "cnn", "update_rule": "adam", "learning_rate": 0.01, "num_conv_stages": 1,
       "num_filters": 4, "hidden_size": 12, "normalization": "batchnorm", "num_epochs": 2,
       "batch_size": 40}
FOLDS = {"update_rule": "adam", "learning_rate": 0.01, "dropout": 0.1, "hidden_size": 16,
         "num_epochs": 3, "batch_size": 50}


def _params(overrides: dict) -> dict:
    return resolve_params(overrides, {})


def _digits(**options):
    # Loaded anew for each part: the resumed trial shares no object with the preempted one.
    return load_dataset("digits", seed=0, n_train=200, n_val=60, n_test=60, **options)


def _folded():
    return with_folds(_digits(), 3, seed=0)


def _run(params, dataset, *, preempt_at=None, prune_from=None, **kwargs):
    """One part of a trial: its result and the reports it made.

    ``preempt_at``: the boundary (counted from 1 in this part) where it is preempted.
    ``prune_from``: the report step from which the pruner answers True.
    """
    calls = {"report": [], "epoch_report": []}

    def report(step, value):
        calls["report"].append((step, value))
        return prune_from is not None and step >= prune_from

    def epoch_report(epoch, value):
        calls["epoch_report"].append((epoch, value))
        return False

    boundary = itertools.count(1)
    preempt = None if preempt_at is None else (lambda: next(boundary) == preempt_at)
    result = train_trial(params, dataset, SEED, report=report, epoch_report=epoch_report,
                         preempt=preempt, **kwargs)
    return result, calls


def _assert_same(a: TrialResult, b: TrialResult) -> None:
    for name in ("state", "value", "epochs_run", "history", "fold_values", "first_fold_curve",
                 "pruned_at_epoch", "failure_reason"):
        assert getattr(a, name) == getattr(b, name), name
    assert (a.oof_probs is None) == (b.oof_probs is None)
    if a.oof_probs is not None:
        assert a.oof_probs.tobytes() == b.oof_probs.tobytes()
    for cost in ("n_params", "epochs"):
        assert a.costs[cost] == b.costs[cost], cost


def _assert_same_state(a: dict, b: dict) -> None:
    """Two Solver states at one boundary: every parameter, rule state and counter equal."""
    assert a.keys() == b.keys()
    assert a["rng"] == b["rng"]
    for key in ("params", "best_params"):
        assert a[key].keys() == b[key].keys()
        for k in a[key]:
            assert np.array_equal(a[key][k], b[key][k]), (key, k)
    for p in a["optim"]:
        for k, v in a["optim"][p].items():
            assert np.array_equal(v, b["optim"][p][k]), (p, k)
    for sa, sb in zip(a["bn"], b["bn"], strict=True):
        for k in sa:
            assert np.array_equal(sa[k], sb[k]), k
    for key in ("epochs_run", "iterations_run", "since_best", "best_val_acc"):
        assert a[key] == b[key], key


def _resume(params, dataset, first, **kwargs):
    """The preempted part's checkpoint, through bytes, resumed."""
    assert first.state == "preempted" and isinstance(first.checkpoint, TrialCheckpoint)
    checkpoint = TrialCheckpoint.from_bytes(first.checkpoint.to_bytes())
    return _run(params, dataset, resume=checkpoint, **kwargs)


@pytest.mark.parametrize(("params", "options"), [(FC_ADAM, {}), (MOMENTUM, {}),
                                                 (CNN, {"flatten": False})],
                         ids=["fc_dropout_batchnorm_adam", "sgd_momentum_lr_decay", "cnn"])
def test_a_trial_preempted_at_any_epoch_ends_as_one_that_ran_straight_through(params, options):
    params = _params(params)
    straight, straight_calls = _run(params, _digits(**options))
    assert straight.state == "complete"
    n = straight.epochs_run
    # The final parameters, optimizer and generator state: both preempted at the last boundary.
    end, _ = _run(params, _digits(**options), preempt_at=n)
    for k in range(1, n + 1):  # the first and the last boundary included
        first, first_calls = _run(params, _digits(**options), preempt_at=k)
        assert first.epochs_run == first.checkpoint.epoch == k
        assert first.history["val_acc"] == straight.history["val_acc"][:k]
        resumed, calls = _resume(params, _digits(**options), first)
        _assert_same(resumed, straight)
        # Each epoch reported once, in order, over the two parts.
        assert first_calls["report"] + calls["report"] == straight_calls["report"]
        assert resumed.duration_s >= first.duration_s
        assert resumed.costs["train_cpu_s"] >= first.costs["train_cpu_s"]
        assert resumed.started_at == first.started_at
        again, _ = _resume(params, _digits(**options), first, preempt_at=n - k or None)
        if k < n:  # preempted twice: at the end its state is the uninterrupted run's
            _assert_same_state(again.checkpoint.solver, end.checkpoint.solver)


@pytest.mark.parametrize("boundary", [1, 3, 4, 5, 9],
                         ids=["fold1_first", "fold1_last", "fold2_first", "fold2_mid",
                              "fold3_last"])
def test_a_cross_validated_trial_resumes_inside_any_fold(boundary):
    params = _params(FOLDS)
    straight, straight_calls = _run(params, _folded(), keep_oof=True)
    assert straight.state == "complete" and len(straight.fold_values) == 3
    first, first_calls = _run(params, _folded(), keep_oof=True, preempt_at=boundary)
    ckpt = first.checkpoint
    assert (ckpt.fold, ckpt.epoch) == ((boundary - 1) // 3, (boundary - 1) % 3 + 1)
    assert first.fold_values == straight.fold_values[:ckpt.fold]
    assert first.epochs_run == boundary
    resumed, calls = _resume(params, _folded(), first, keep_oof=True)
    _assert_same(resumed, straight)
    for kind in ("report", "epoch_report"):  # no fold or first-fold epoch reported twice
        assert first_calls[kind] + calls[kind] == straight_calls[kind], kind


def test_a_resumed_trial_is_pruned_where_the_uninterrupted_one_is():
    params = _params(MOMENTUM)
    straight, _ = _run(params, _digits(), prune_from=3)
    assert straight.state == "pruned" and straight.pruned_at_epoch == 3
    first, _ = _run(params, _digits(), prune_from=3, preempt_at=1)
    resumed, calls = _resume(params, _digits(), first, prune_from=3)
    _assert_same(resumed, straight)
    assert [step for step, _ in calls["report"]] == [2, 3]


def test_pruning_wins_over_preemption_at_one_boundary():
    asked = []
    result = train_trial(_params(MOMENTUM), _digits(), SEED, report=lambda e, v: e == 2,
                         preempt=lambda: asked.append(1) or True)
    assert result.state == "preempted" and result.epochs_run == 1  # asked after epoch 1
    result = train_trial(_params(MOMENTUM), _digits(), SEED, report=lambda e, v: True,
                         preempt=lambda: asked.append(2) or True)
    assert result.state == "pruned" and result.checkpoint is None and asked == [1]


def test_a_trial_resumed_in_another_process_ends_the_same(tmp_path):
    params = _params(FC_ADAM)
    straight, _ = _run(params, _digits())
    first, _ = _run(params, _digits(), preempt_at=2)
    blob = tmp_path / "trial.ckpt"
    blob.write_bytes(first.checkpoint.to_bytes())
    code = (
        "import json, sys\n"
        "from hpsearch.datasets import load_dataset\n"
        "from hpsearch.study import resolve_params\n"
        "from hpsearch.training import TrialCheckpoint, train_trial\n"
        "ckpt = TrialCheckpoint.from_bytes(open(sys.argv[1], 'rb').read())\n"
        "data = load_dataset('digits', seed=0, n_train=200, n_val=60, n_test=60)\n"
        "r = train_trial(resolve_params(json.loads(sys.argv[2]), {}), data, ckpt.seed,\n"
        "                resume=ckpt)\n"
        "print(json.dumps([r.state, r.value, r.epochs_run, r.history]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(blob), json.dumps(FC_ADAM)],
                         capture_output=True, text=True, check=True)
    state, value, epochs, history = json.loads(out.stdout)
    assert (state, value, epochs, history) == (straight.state, straight.value,
                                               straight.epochs_run, straight.history)


def test_the_checkpoint_round_trips_through_bytes():
    first, _ = _run(_params(FOLDS), _folded(), keep_oof=True, preempt_at=5)
    ckpt = first.checkpoint
    back = TrialCheckpoint.from_bytes(ckpt.to_bytes())
    assert (back.seed, back.fold, back.epoch, back.epochs_done) == (SEED, 1, 2, 3)
    assert back.history == ckpt.history and back.fold_values == ckpt.fold_values
    assert back.first_fold_curve == ckpt.first_fold_curve
    assert back.oof_probs.dtype == np.float16
    assert back.oof_probs.tobytes() == ckpt.oof_probs.tobytes()
    assert (back.duration_s, back.train_cpu_s, back.started_at) == (
        ckpt.duration_s, ckpt.train_cpu_s, ckpt.started_at)
    _assert_same_state(back.solver, ckpt.solver)
    with pytest.raises(ValueError, match="not a"):
        TrialCheckpoint.from_bytes(b"garbage")
    import netcore

    with pytest.raises(ValueError, match="not a trial checkpoint"):
        TrialCheckpoint.from_bytes(netcore.state_to_bytes({"kind": "other"}))


def test_a_checkpoint_that_does_not_fit_the_trial_is_refused():
    single, _ = _run(_params(MOMENTUM), _digits(), preempt_at=1)
    folded, _ = _run(_params(FOLDS), _folded(), preempt_at=1)
    with pytest.raises(ValueError, match="seed"):
        train_trial(_params(MOMENTUM), _digits(), SEED + 1, resume=single.checkpoint)
    with pytest.raises(ValueError, match="without folds"):
        train_trial(_params(FOLDS), _folded(), SEED, resume=single.checkpoint)
    with pytest.raises(ValueError, match="with folds"):
        train_trial(_params(MOMENTUM), _digits(), SEED, resume=folded.checkpoint)
    with pytest.raises(ValueError, match="keep_oof"):
        train_trial(_params(FOLDS), _folded(), SEED, keep_oof=True, resume=folded.checkpoint)
    # Another architecture: the trial's own failure, not the caller's.
    other = train_trial(_params(dict(MOMENTUM, hidden_size=8)), _digits(), SEED,
                        resume=single.checkpoint)
    assert other.state == "failed" and "parameters" in other.failure_reason
