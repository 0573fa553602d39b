"""What one trial does: build a netcore model from resolved parameters, train it, report progress.

Plain functions on plain data. No Ray and no Optuna here: dispatch.py runs ``train_trial`` inside a
Ray task and connects ``report`` to the study's owner; evaluate.py and ``hpsearch rerun`` call the
same functions in-process, so a re-run trains exactly what the search trained.

A trial asked to stop from outside (``preempt``) stops at its next epoch boundary with a
``TrialCheckpoint``; resumed from it anywhere, it ends with the numbers of an uninterrupted run.
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
from hpsearch.training._checkpoint import TrialCheckpoint

__all__ = ["SCORE_CHUNK", "TrialResult", "build_model", "count_params", "fit", "predict_proba",
           "split_seed", "train_trial"]

#: Rows scored per forward pass outside training (bounds activation memory on CIFAR-sized data).
SCORE_CHUNK = 2000
# Inference cost: a forward pass over at most this many validation rows, timed this many times
# (the median: one timing on a busy node is noise).
_INFERENCE_ROWS, _INFERENCE_REPEATS = 2000, 3

# report(epoch, val_acc) -> True when the trial should stop (pruned).
ReportFn = Callable[[int, float], bool]


@dataclass
class TrialResult:
    """The outcome of one trial, as plain data.

    Attributes:
        state: "complete", "pruned", "failed" or "preempted" (stopped from outside at an epoch
            boundary; ``checkpoint`` resumes it).
        value: best validation accuracy seen (None when the trial failed before an epoch ended;
            with folds, the mean over the folds finished so far).
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
        checkpoint: a preempted trial's state at the boundary where it stopped.
        costs: what a complete, pruned or preempted trial cost: "n_params" (learnable
            parameters), "train_cpu_s" (CPU seconds training, all folds and resumed parts),
            "epochs" (``epochs_run``) and, when measured, "inference_ms" (wall milliseconds per
            1000 validation examples of a test-mode forward pass of the final model).
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
    checkpoint: TrialCheckpoint | None = None
    costs: dict[str, float] = field(default_factory=dict)


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



def count_params(params: Mapping[str, Any], input_shape: tuple[int, ...],
                 num_classes: int) -> int:
    """Learnable parameters of the model that ``params`` describe, known without training.

    Batch-norm running statistics are not counted: they are kept beside ``model.params``.

    Args:
        params: resolved parameters.
        input_shape: per-sample shape the model sees.
        num_classes: number of classes.
    """
    return _n_params(build_model(params, tuple(input_shape), num_classes, seed=0))


def _n_params(model: Any) -> int:
    return sum(int(np.size(w)) for w in model.params.values())


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
    model, solver = _make_solver(params, data, input_shape, num_classes, seed,
                                 image_shape=image_shape, epoch_callback=epoch_callback,
                                 verbose=verbose, keep=keep)
    solver.train()
    return model, solver


def _make_solver(params: Mapping[str, Any], data: Mapping[str, np.ndarray],
                 input_shape: tuple[int, ...], num_classes: int, seed: int, *,
                 image_shape: tuple[int, int, int] | None = None,
                 epoch_callback: Callable[..., bool | None] | None = None,
                 verbose: bool = False, keep: str = "best") -> tuple[Any, Any]:
    """The model and Solver that ``fit`` trains, not yet trained (same arguments)."""
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
    return model, solver


@dataclass
class _Run:
    """One call of ``train_trial``: its callbacks and limits, and the trial's clocks so far."""

    report: ReportFn | None = None
    deadline: float | None = None
    epoch_report: ReportFn | None = None
    keep_oof: bool = False
    preempt: Callable[[], bool] | None = None
    resume: TrialCheckpoint | None = None
    measure_inference: bool = False
    start: float = field(init=False)  # perf_counter() less the earlier parts' wall seconds
    cpu_s: float = field(init=False)  # CPU seconds training, the earlier parts' included

    def __post_init__(self) -> None:
        earlier = self.resume
        self.start = time.perf_counter() - (earlier.duration_s if earlier else 0.0)
        self.cpu_s = earlier.train_cpu_s if earlier else 0.0

    def wall(self) -> float:
        """Wall seconds the trial has spent, the earlier parts' included."""
        return time.perf_counter() - self.start


def train_trial(params: Mapping[str, Any], dataset: Any, seed: int,
                report: ReportFn | None = None, deadline: float | None = None,
                epoch_report: ReportFn | None = None, keep_oof: bool = False, *,
                preempt: Callable[[], bool] | None = None,
                resume: TrialCheckpoint | None = None,
                measure_inference: bool = False) -> TrialResult:
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
        preempt: asked at every epoch boundary, after that epoch's report (and deadline check);
            True stops the trial there as "preempted", with ``TrialResult.checkpoint``.
        resume: a preempted trial's checkpoint, to continue (same params, data, seed and
            ``keep_oof``): no report is repeated, and the result equals an uninterrupted run's,
            bit for bit; durations and costs sum the parts.
        measure_inference: add ``costs["inference_ms"]`` (three timed forward passes).

    Returns:
        The result; a diverged trial fails with "diverged at iteration k", an exception with its
        type and message.

    Raises:
        ValueError: ``resume`` does not fit this trial (another seed, folds or ``keep_oof``).
    """
    folds = getattr(dataset, "folds", None) is not None
    if resume is not None:
        _check_resume(resume, seed, folds, keep_oof)
    started_at = resume.started_at if resume is not None else time.time()
    run = _Run(report, deadline, epoch_report, keep_oof, preempt, resume, measure_inference)
    result = (_train_folds if folds else _train_trial)(params, dataset, seed, run)
    result.started_at = started_at
    if result.checkpoint is not None:
        result.checkpoint.started_at = started_at
    return result


def _check_resume(resume: TrialCheckpoint, seed: int, folds: bool, keep_oof: bool) -> None:
    if resume.seed != seed:
        raise ValueError(f"resume: the checkpoint is of a trial with seed {resume.seed}, "
                         f"not {seed}")
    if folds != (resume.fold is not None):
        had = "with" if resume.fold is not None else "without"
        raise ValueError(f"resume: the checkpoint is of a trial {had} folds; this dataset has "
                         f"{'folds' if folds else 'none'}")
    if folds and keep_oof and resume.oof_probs is None:
        raise ValueError("resume: keep_oof = True, but the checkpoint has no out-of-fold "
                         "probabilities (the preempted part ran without keep_oof)")


def _fit_part(params: Mapping[str, Any], data: Mapping[str, np.ndarray], dataset: Any,
              seed: int, run: _Run, on_epoch: Callable[..., bool], keep: str,
              state: dict[str, Any] | None) -> tuple[Any, Any, dict[str, Any] | None]:
    """``fit``, continued from a Solver ``state`` when given, stopped where ``run.preempt`` asks.

    Returns:
        (model, solver, the Solver's state at the boundary where it was preempted, or None).
    """
    taken: dict[str, Any] = {}

    def callback(epoch: int, train_acc: float, val_acc: float, loss: float) -> bool:
        if on_epoch(epoch, train_acc, val_acc, loss):
            return True
        if run.preempt is not None and run.preempt():
            # Taken here, before the Solver's end of training swaps in the best epoch.
            taken["state"] = solver.state()
            return True
        return False

    cpu = time.process_time()
    try:
        model, solver = _make_solver(params, data, tuple(dataset.input_shape),
                                     dataset.num_classes, seed, image_shape=dataset.image_shape,
                                     epoch_callback=callback, keep=keep)
        if state is not None:
            solver.load_state(state)
        solver.train()
    finally:
        run.cpu_s += time.process_time() - cpu
    return model, solver, taken.get("state")


def _costs(model: Any, epochs: int, run: _Run, X_val: np.ndarray,
           measure: bool) -> dict[str, float]:
    costs: dict[str, float] = {"n_params": _n_params(model), "train_cpu_s": run.cpu_s,
                               "epochs": epochs}
    if measure:
        costs["inference_ms"] = _inference_ms(model, X_val)
    return costs


def _inference_ms(model: Any, X: np.ndarray) -> float:
    """Median wall milliseconds per 1000 rows of a test-mode forward pass over ``X``."""
    X = X[:_INFERENCE_ROWS]
    times = []
    for _ in range(_INFERENCE_REPEATS):
        t0 = time.perf_counter()
        for i in range(0, len(X), SCORE_CHUNK):
            model.loss(X[i:i + SCORE_CHUNK])
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e6 / max(len(X), 1)


def _history_copy(history: dict[str, list[float]]) -> dict[str, list[float]]:
    return {k: list(v) for k, v in history.items()}


def _preempted(seed: int, state: dict[str, Any], value: float | None, epochs: int,
               history: dict[str, list[float]], run: _Run, costs: dict[str, float],
               **folds: Any) -> TrialResult:
    """A preempted trial's result; ``folds``: the checkpoint's cross-validation fields."""
    duration = run.wall()
    checkpoint = TrialCheckpoint(seed, state, int(state["epochs_run"]), _history_copy(history),
                                 duration_s=duration, train_cpu_s=run.cpu_s, **folds)
    return TrialResult("preempted", value, epochs, history, duration, checkpoint=checkpoint,
                       costs=costs, fold_values=folds.get("fold_values"),
                       first_fold_curve=folds.get("first_fold_curve"))


def _train_trial(params: Mapping[str, Any], dataset: Any, seed: int, run: _Run) -> TrialResult:
    import netcore

    resume = run.resume
    history = (_history_copy(resume.history) if resume is not None
               else {"loss": [], "train_acc": [], "val_acc": []})
    outcome: dict[str, Any] = {}

    def on_epoch(epoch: int, train_acc: float, val_acc: float, loss: float) -> bool:
        history["loss"].append(float(loss))
        history["train_acc"].append(float(train_acc))
        history["val_acc"].append(float(val_acc))
        if run.report is not None and run.report(epoch, float(val_acc)):
            outcome["pruned_at"] = epoch
            return True
        if run.deadline is not None and time.monotonic() > run.deadline:
            outcome["timed_out"] = epoch
            return True
        return False

    data = dataset.as_solver_data()
    try:
        model, solver, state = _fit_part(params, data, dataset, seed, run, on_epoch, "best",
                                         resume.solver if resume is not None else None)
    except netcore.TrainingDiverged as exc:
        return _failed(str(exc), history, run.start)
    except Exception as exc:  # a trial's own error must not stop the study
        return _failed(f"{type(exc).__name__}: {exc}", history, run.start)
    duration = run.wall()
    epochs = int(solver.epochs_run)
    if "timed_out" in outcome:
        return _failed(f"timed out after {duration:.1f} s (epoch {outcome['timed_out']})",
                       history, run.start)
    costs = _costs(model, epochs, run, data["X_val"], run.measure_inference and state is None)
    value = float(solver.best_val_acc)
    if state is not None:
        return _preempted(seed, state, value, epochs, history, run, costs)
    if "pruned_at" in outcome:
        return TrialResult("pruned", history["val_acc"][-1], epochs, history, duration,
                           pruned_at_epoch=outcome["pruned_at"], costs=costs)
    return TrialResult("complete", value, epochs, history, duration, costs=costs)


def _failed(reason: str, history: dict[str, list[float]], start: float) -> TrialResult:
    value = max(history["val_acc"]) if history["val_acc"] else None
    return TrialResult("failed", value, len(history["val_acc"]), history,
                       time.perf_counter() - start, failure_reason=reason)


@dataclass
class _Folds:
    """A cross-validated trial's progress: what the finished folds gave, where it is."""

    history: dict[str, list[float]]
    fold_values: list[float]
    first_curve: list[float] | None
    oof: np.ndarray | None
    epochs: int = 0  # epochs of the finished folds
    fold: int = 0  # the fold in training

    @classmethod
    def begin(cls, dataset: Any, run: _Run) -> _Folds:
        """Fresh progress, or a copy of the checkpoint's (which stays as it was)."""
        ckpt = run.resume
        if ckpt is None:
            oof = (np.zeros((len(dataset.folds), dataset.num_classes), dtype=np.float16)
                   if run.keep_oof else None)
            return cls({"loss": [], "train_acc": [], "val_acc": []}, [],
                       [] if run.epoch_report is not None else None, oof)
        curve = ckpt.first_fold_curve
        return cls(_history_copy(ckpt.history), list(ckpt.fold_values or []),
                   list(curve) if curve is not None else
                   ([] if run.epoch_report is not None else None),
                   np.array(ckpt.oof_probs) if run.keep_oof else None,
                   ckpt.epochs_done, int(ckpt.fold))

    def checkpoint_fields(self) -> dict[str, Any]:
        """The checkpoint's fold fields: copies, as the trial's result keeps the originals."""
        return {"fold": self.fold, "fold_values": list(self.fold_values),
                "first_fold_curve": None if self.first_curve is None else list(self.first_curve),
                "epochs_done": self.epochs,
                "oof_probs": None if self.oof is None else self.oof.copy()}


def _train_folds(params: Mapping[str, Any], dataset: Any, seed: int, run: _Run) -> TrialResult:
    """Cross-validation: each fold trained with the trial seed, reported as one step.

    A fold's value is its validation accuracy after the last epoch (the model a refit on all
    non-test data ends with has no held-out data to pick an epoch by); the trial's value is the
    mean over folds. A report answered True stops the trial before its next fold, as pruned;
    an ``epoch_report`` answered True stops it inside its first fold, as pruned; ``preempt``
    stops it at any epoch boundary of any fold, as preempted.
    """
    import netcore

    prog = _Folds.begin(dataset, run)
    outcome: dict[str, Any] = {}

    def on_epoch(epoch: int, train_acc: float, val_acc: float, loss: float) -> bool:
        if run.deadline is not None and time.monotonic() > run.deadline:
            outcome["timed_out"] = epoch
            return True
        if prog.fold == 0 and run.epoch_report is not None:
            prog.first_curve.append(float(val_acc))
            if run.epoch_report(epoch, float(val_acc)):
                outcome["pruned_at"] = epoch
                return True
        return False

    for fold in range(prog.fold, dataset.n_folds):
        prog.fold = fold
        data = dataset.fold_data(fold)
        resume = run.resume if run.resume is not None and run.resume.fold == fold else None
        try:
            model, solver, state = _fit_part(params, data, dataset, seed, run, on_epoch, "last",
                                             resume.solver if resume is not None else None)
        except netcore.TrainingDiverged as exc:
            reason = f"fold {fold + 1}: {exc}"
        except Exception as exc:  # a trial's own error must not stop the study
            reason = f"fold {fold + 1}: {type(exc).__name__}: {exc}"
        else:
            reason = None
        if reason is not None:
            result = _failed(reason, prog.history, run.start)
            result.fold_values = prog.fold_values
            return result
        ended = _end_fold(prog, model, solver, state, data, dataset, seed, run, outcome)
        if ended is not None:
            return ended
    return TrialResult("complete", float(np.mean(prog.fold_values)), prog.epochs, prog.history,
                       run.wall(), fold_values=prog.fold_values,
                       first_fold_curve=prog.first_curve, oof_probs=prog.oof,
                       costs=_costs(model, prog.epochs, run, data["X_val"],
                                    run.measure_inference))


def _end_fold(prog: _Folds, model: Any, solver: Any, state: dict[str, Any] | None,
              data: Mapping[str, np.ndarray], dataset: Any, seed: int, run: _Run,
              outcome: dict[str, Any]) -> TrialResult | None:
    """Record a trained fold; the trial's result when it ends here, else None (go on)."""
    fold = prog.fold
    epochs = prog.epochs + int(solver.epochs_run)
    if "timed_out" in outcome:
        duration = run.wall()
        result = _failed(f"timed out after {duration:.1f} s (fold {fold + 1}, epoch "
                         f"{outcome['timed_out']})", prog.history, run.start)
        result.fold_values, result.epochs_run = prog.fold_values, epochs
        result.first_fold_curve = prog.first_curve
        return result
    if state is not None:
        value = float(np.mean(prog.fold_values)) if prog.fold_values else None
        return _preempted(seed, state, value, epochs, prog.history, run,
                          _costs(model, epochs, run, data["X_val"], False),
                          **prog.checkpoint_fields())
    if "pruned_at" in outcome:  # stopped inside the first fold: no fold value to report
        return TrialResult("pruned", float(solver.val_acc_history[-1]), epochs, prog.history,
                           run.wall(), pruned_at_epoch=1, fold_values=prog.fold_values,
                           first_fold_curve=prog.first_curve,
                           costs=_costs(model, epochs, run, data["X_val"],
                                        run.measure_inference))
    value = float(solver.val_acc_history[-1])
    prog.fold_values.append(value)
    if prog.oof is not None:
        prog.oof[dataset.folds == fold] = predict_proba(model, data["X_val"])
    prog.history["loss"].append(float(solver.epoch_loss_history[-1]))
    prog.history["train_acc"].append(float(solver.train_acc_history[-1]))
    prog.history["val_acc"].append(value)
    prog.epochs = epochs
    if run.report is not None and run.report(fold + 1, value) and fold + 1 < dataset.n_folds:
        return TrialResult("pruned", float(np.mean(prog.fold_values)), epochs, prog.history,
                           run.wall(), pruned_at_epoch=fold + 1, fold_values=prog.fold_values,
                           first_fold_curve=prog.first_curve,
                           costs=_costs(model, epochs, run, data["X_val"],
                                        run.measure_inference))
    return None
