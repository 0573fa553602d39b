"""What one trial does: build a netcore model from resolved parameters, train it, report progress.

Plain functions on plain data. No Ray and no Optuna here: dispatch.py runs ``train_trial`` inside a
Ray task and connects ``report`` to the study's owner; evaluate.py and ``hpsearch rerun`` call the
same functions in-process, so a re-run trains exactly what the search trained.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpsearch.study._space import hidden_dims

__all__ = ["SCORE_CHUNK", "TrialResult", "build_model", "fit", "predict_proba", "split_seed",
           "train_trial"]

#: Rows scored per forward pass outside training (bounds activation memory on CIFAR-sized data).
SCORE_CHUNK = 2000

# report(epoch, val_acc) -> True when the trial should stop (pruned).
ReportFn = Callable[[int, float], bool]


@dataclass
class TrialResult:
    """The outcome of one trial, as plain data.

    Attributes:
        state: "complete", "pruned" or "failed".
        value: best validation accuracy seen (None when the trial failed before an epoch ended).
        epochs_run: epochs trained (a partial last epoch counts).
        history: per-epoch "loss", "train_acc" and "val_acc".
        duration_s: wall seconds spent training.
        started_at: when training began, in seconds since the Unix epoch (``time.time()``).
        failure_reason: why a failed trial failed.
        pruned_at_epoch: the epoch after which a pruned trial stopped.
        prune_decided_at: the epoch whose report the pruner answered with "stop".
        node: Ray node id that ran it (empty outside Ray).
        node_ip: that node's IP address.
        stopped_by_user: the stop came from a user (``hpsearch stop --trial``, the dashboard's
            "Fail trial"), not from the pruner.
        fold_values: with cross-validation, each fold's validation accuracy (final epoch), in
            fold order, as far as the trial got; ``value`` is their mean, ``history`` holds one
            entry per fold (its final epoch), the folds are the reported steps (1, 2, ...) and
            ``epochs_run`` sums the folds' epochs. None on a single validation split.
        first_fold_curve: with cross-validation and ``epoch_report``, the first fold's
            validation accuracy per epoch (what first-fold pruning compares trials by).
        oof_probs: with cross-validation and ``keep_oof``, a trial that completed every fold:
            each training + validation row's class probabilities from the fold model that held
            it out (``(N_train + N_val, num_classes)`` float16, rows in ``X_pool`` order).
            Averaged over several trials they estimate an ensemble of those configurations.
    """

    state: str
    value: float | None
    epochs_run: int
    history: dict[str, list[float]] = field(default_factory=dict)
    duration_s: float = 0.0
    started_at: float = 0.0
    failure_reason: str | None = None
    pruned_at_epoch: int | None = None
    prune_decided_at: int | None = None
    node: str = ""
    node_ip: str = ""
    stopped_by_user: bool = False
    fold_values: list[float] | None = None
    first_fold_curve: list[float] | None = None
    oof_probs: np.ndarray | None = None


def predict_proba(model: Any, X: np.ndarray) -> np.ndarray:
    """``(N, num_classes)`` softmax probabilities of ``model`` on ``X``, in test mode."""
    scores = np.concatenate([np.asarray(model.loss(X[i:i + SCORE_CHUNK]), dtype=np.float64)
                             for i in range(0, len(X), SCORE_CHUNK)])
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def split_seed(seed: int) -> tuple[int, int]:
    """Two independent seeds (model init, solver) from one trial seed."""
    init_seed, solver_seed = np.random.SeedSequence(seed).generate_state(2)
    return int(init_seed), int(solver_seed)


def build_model(params: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int,
                seed: int, dtype: Any = np.float32) -> Any:
    """A fresh netcore model for resolved parameters.

    Args:
        params: resolved parameters (see ``hpsearch.study._space.resolve_params``).
        input_shape: per-sample shape the model sees, e.g. (64,) or (1, 8, 8).
        num_classes: number of classes.
        seed: weight-initialization seed.
        dtype: parameter dtype.

    Raises:
        ValueError: a CNN asked for on data that is not image-shaped.
    """
    import netcore

    normalization = None if params["normalization"] == "none" else params["normalization"]
    if params["model"] == "cnn":
        if len(input_shape) != 3:
            raise ValueError(f"model 'cnn' needs image data kept as (C, H, W) (dataset option "
                             f"flatten = false), got per-sample shape {input_shape}")
        from netcore.cnn import ConvNet

        stages = int(params["num_conv_stages"])
        return ConvNet(
            input_dim=tuple(input_shape),
            num_filters=tuple(int(params["num_filters"]) * 2**i for i in range(stages)),
            filter_size=int(params["filter_size"]),
            hidden_dims=hidden_dims(params),
            num_classes=num_classes,
            normalization=normalization,
            reg=float(params["reg"]),
            weight_scale=params["weight_scale"],
            dtype=dtype,
            seed=seed,
        )
    return netcore.FullyConnectedNet(
        hidden_dims=list(hidden_dims(params)),
        input_dim=math.prod(input_shape),
        num_classes=num_classes,
        activation=params["activation"],
        dropout=float(params["dropout"]),
        normalization=normalization,
        reg=float(params["reg"]),
        weight_scale=params["weight_scale"],
        dtype=dtype,
        seed=seed,
    )


def _optim_config(params: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {"learning_rate": float(params["learning_rate"])}
    if params["update_rule"] in ("sgd_momentum", "nesterov"):
        config["momentum"] = float(params["momentum"])
    return config


def fit(params: Mapping[str, Any], data: Mapping[str, np.ndarray], input_shape: tuple[int, ...],
        num_classes: int, seed: int, *, image_shape: tuple[int, int, int] | None = None,
        epoch_callback: Callable[..., bool | None] | None = None,
        verbose: bool = False, keep: str = "best") -> tuple[Any, Any]:
    """Build a model for ``params`` and train it with netcore's Solver.

    Args:
        params: resolved parameters.
        data: X_train, y_train, X_val, y_val (never written to).
        input_shape: per-sample shape the model sees.
        num_classes: number of classes.
        seed: the trial seed; model init and minibatch order derive from it.
        image_shape: (C, H, W) of image data, needed for ``augment = "flip"``.
        epoch_callback: the Solver's ``epoch_callback(epoch, train_acc, val_acc, loss)``.
        verbose: let the Solver print progress.
        keep: "best": the model ends with the parameters of its best epoch by validation
            accuracy; "last": with those of its last epoch, as when there is no held-out data
            to choose an epoch by (a refit on all non-test data, and the cross-validation folds
            that estimate it). The Solver's ``restore_best`` does either.

    Returns:
        (model, solver) after training.

    Raises:
        netcore.TrainingDiverged: the loss became non-finite.
    """
    import netcore

    init_seed, solver_seed = split_seed(seed)
    model = build_model(params, input_shape, num_classes, init_seed, dtype=np.float32)
    transform = None
    if params["augment"] == "flip":
        if image_shape is None:
            raise ValueError("augment = 'flip' needs image data; this dataset has no image shape")
        transform = functools.partial(netcore.random_flip, image_shape=tuple(image_shape))
    if keep not in ("best", "last"):
        raise ValueError(f"keep = {keep!r}; expected 'best' or 'last'")
    budget: dict[str, int] = {"num_epochs": int(params["num_epochs"])}
    if params.get("num_iterations") is not None:
        budget["num_iterations"] = int(params["num_iterations"])
    solver = netcore.Solver(
        model, dict(data),
        update_rule=params["update_rule"],
        optim_config=_optim_config(params),
        lr_decay=float(params["lr_decay"]),
        batch_size=int(params["batch_size"]),
        seed=solver_seed,
        verbose=verbose,
        patience=params.get("patience"),
        transform=transform,
        epoch_callback=epoch_callback,
        restore_best=keep == "best",
        **budget,
    )
    solver.train()
    return model, solver


def train_trial(params: Mapping[str, Any], dataset: Any, seed: int,
                report: ReportFn | None = None, deadline: float | None = None,
                epoch_report: ReportFn | None = None, keep_oof: bool = False) -> TrialResult:
    """Train one trial and describe how it ended. Never raises for a trial's own failure.

    Args:
        params: resolved parameters.
        dataset: an ``hpsearch.datasets.Dataset``.
        seed: the trial seed.
        report: called after every epoch with (epoch, validation accuracy), or, on a dataset
            with folds (``hpsearch.datasets.with_folds``), after every fold with (fold number
            from 1, that fold's validation accuracy); True stops the trial as pruned.
        deadline: ``time.monotonic()`` value after which the trial stops and fails as timed out.
        epoch_report: on a dataset with folds, called after every epoch of the first fold with
            (epoch, validation accuracy); True stops the trial there, as pruned (first-fold
            pruning). Ignored on a single split, where ``report`` sees every epoch.
        keep_oof: on a dataset with folds, return a complete trial's out-of-fold probabilities
            (``TrialResult.oof_probs``; one forward pass over each fold's held-out rows).

    Returns:
        The result; a diverged trial fails with "diverged at iteration k", an exception with its
        type and message.
    """
    started_at = time.time()
    if getattr(dataset, "folds", None) is not None:
        result = _train_folds(params, dataset, seed, report, deadline, epoch_report, keep_oof)
    else:
        result = _train_trial(params, dataset, seed, report, deadline)
    result.started_at = started_at
    return result


def _train_trial(params: Mapping[str, Any], dataset: Any, seed: int, report: ReportFn | None,
                 deadline: float | None) -> TrialResult:
    import netcore

    history: dict[str, list[float]] = {"loss": [], "train_acc": [], "val_acc": []}
    outcome: dict[str, Any] = {}

    def on_epoch(epoch: int, train_acc: float, val_acc: float, loss: float) -> bool:
        history["loss"].append(float(loss))
        history["train_acc"].append(float(train_acc))
        history["val_acc"].append(float(val_acc))
        if report is not None and report(epoch, float(val_acc)):
            outcome["pruned_at"] = epoch
            return True
        if deadline is not None and time.monotonic() > deadline:
            outcome["timed_out"] = epoch
            return True
        return False

    start = time.perf_counter()
    try:
        _, solver = fit(params, dataset.as_solver_data(), tuple(dataset.input_shape),
                        dataset.num_classes, seed, image_shape=dataset.image_shape,
                        epoch_callback=on_epoch)
    except netcore.TrainingDiverged as exc:
        return _failed(str(exc), history, start)
    except Exception as exc:  # a trial's own error must not stop the study
        return _failed(f"{type(exc).__name__}: {exc}", history, start)
    duration = time.perf_counter() - start
    epochs = int(solver.epochs_run)
    if "timed_out" in outcome:
        return _failed(f"timed out after {duration:.1f} s (epoch {outcome['timed_out']})",
                       history, start)
    value = float(solver.best_val_acc)
    if "pruned_at" in outcome:
        return TrialResult("pruned", history["val_acc"][-1], epochs, history, duration,
                           pruned_at_epoch=outcome["pruned_at"])
    return TrialResult("complete", value, epochs, history, duration)


def _failed(reason: str, history: dict[str, list[float]], start: float) -> TrialResult:
    value = max(history["val_acc"]) if history["val_acc"] else None
    return TrialResult("failed", value, len(history["val_acc"]), history,
                       time.perf_counter() - start, failure_reason=reason)


def _train_folds(params: Mapping[str, Any], dataset: Any, seed: int, report: ReportFn | None,
                 deadline: float | None, epoch_report: ReportFn | None = None,
                 keep_oof: bool = False) -> TrialResult:
    """Cross-validation: each fold trained with the trial seed, reported as one step.

    A fold's value is its validation accuracy after the last epoch (the model a refit on all
    non-test data ends with has no held-out data to pick an epoch by); the trial's value is the
    mean over folds. A report answered True stops the trial before its next fold, as pruned;
    an ``epoch_report`` answered True stops it inside its first fold, as pruned.
    """
    import netcore

    history: dict[str, list[float]] = {"loss": [], "train_acc": [], "val_acc": []}
    fold_values: list[float] = []
    oof = (np.zeros((len(dataset.folds), dataset.num_classes), dtype=np.float16)
           if keep_oof else None)
    first_curve: list[float] | None = [] if epoch_report is not None else None
    epochs = 0
    outcome: dict[str, Any] = {}
    fold = 0

    def on_epoch(epoch: int, train_acc: float, val_acc: float, loss: float) -> bool:
        if deadline is not None and time.monotonic() > deadline:
            outcome["timed_out"] = epoch
            return True
        if fold == 0 and epoch_report is not None:
            first_curve.append(float(val_acc))
            if epoch_report(epoch, float(val_acc)):
                outcome["pruned_at"] = epoch
                return True
        return False

    start = time.perf_counter()
    for fold in range(dataset.n_folds):
        data = dataset.fold_data(fold)
        try:
            model, solver = fit(params, data, tuple(dataset.input_shape),
                            dataset.num_classes, seed, image_shape=dataset.image_shape,
                            epoch_callback=on_epoch, keep="last")
        except netcore.TrainingDiverged as exc:
            reason = f"fold {fold + 1}: {exc}"
        except Exception as exc:  # a trial's own error must not stop the study
            reason = f"fold {fold + 1}: {type(exc).__name__}: {exc}"
        else:
            reason = None
        if reason is not None:
            result = _failed(reason, history, start)
            result.fold_values = fold_values
            return result
        epochs += int(solver.epochs_run)
        if "timed_out" in outcome:
            duration = time.perf_counter() - start
            result = _failed(f"timed out after {duration:.1f} s (fold {fold + 1}, epoch "
                             f"{outcome['timed_out']})", history, start)
            result.fold_values, result.epochs_run = fold_values, epochs
            result.first_fold_curve = first_curve
            return result
        if "pruned_at" in outcome:  # stopped inside the first fold: no fold value to report
            return TrialResult("pruned", float(solver.val_acc_history[-1]), epochs, history,
                               time.perf_counter() - start, pruned_at_epoch=1,
                               fold_values=fold_values, first_fold_curve=first_curve)
        value = float(solver.val_acc_history[-1])
        fold_values.append(value)
        if oof is not None:
            oof[dataset.folds == fold] = predict_proba(model, data["X_val"])
        history["loss"].append(float(solver.epoch_loss_history[-1]))
        history["train_acc"].append(float(solver.train_acc_history[-1]))
        history["val_acc"].append(value)
        if report is not None and report(fold + 1, value) and fold + 1 < dataset.n_folds:
            return TrialResult("pruned", float(np.mean(fold_values)), epochs, history,
                               time.perf_counter() - start, pruned_at_epoch=fold + 1,
                               fold_values=fold_values, first_fold_curve=first_curve)
    return TrialResult("complete", float(np.mean(fold_values)), epochs, history,
                       time.perf_counter() - start, fold_values=fold_values,
                       first_fold_curve=first_curve, oof_probs=oof)
