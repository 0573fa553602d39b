"""The Solver: minibatch training of a model with an update rule, in the CS231n style.

All randomness of a run (minibatch order, dropout masks through ``model.rng``, accuracy
subsamples, augmentation) comes from one ``np.random.default_rng(seed)`` owned by the Solver,
so the same seed gives the same histories bit for bit (with one BLAS thread).

:meth:`Solver.state` captures a run at an epoch boundary as plain data (parameters, running
statistics, the update rule's state, the generator's state, counters and histories) and
:meth:`Solver.load_state` puts it back, so that a run stopped there and resumed in another
process ends with the same numbers, bit for bit, as one that never stopped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from netcore.errors import TrainingDiverged
from netcore.losses import check_labels
from netcore.optim import ELEMENTWISE_RULES, UpdateRule, get_update_rule

__all__ = ["EpochCallback", "Solver", "Transform"]

#: ``transform(X_batch, rng) -> new X_batch`` (must not modify its input).
Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]
#: ``epoch_callback(epoch, train_acc, val_acc, loss) -> stop?``; epoch is 1-based.
EpochCallback = Callable[[int, float, float, float], "bool | None"]

_DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")
# Parameters up to this many values in all are updated as one flat array. The flat path costs
# one extra copy of the gradients per step and saves the rule's per-parameter NumPy call
# overhead (about 1 us a call): a clear win for small nets (digits 64-128-10: 9.6k values,
# 35 us less per Adam step) and a small loss for large ones (CIFAR 3072-100-10: 308k values,
# about 100 us more per step), where per-parameter updates are kept.
_FLAT_MAX_SIZE = 1 << 17
_UNDECIDED = object()  # the Solver has not yet chosen between flat and per-parameter updates


def _check_finite(X: np.ndarray, name: str) -> None:
    # One pairwise sum (no temporary) detects NaN/inf; only then scan for the culprit.
    if X.dtype.kind == "f" and X.size and not np.isfinite(X.sum(dtype=np.float64)):
        bad = np.argwhere(~np.isfinite(X))
        if len(bad):
            idx = tuple(bad[0].tolist())
            raise ValueError(f"{name} holds a non-finite value {X[idx]} at {idx}; expected finite")


class Solver:
    """Trains a classification model on ``data`` with minibatch gradient descent.

    The model needs ``params`` (dict of arrays) and ``loss(X, y=None)`` (scores without ``y``,
    ``(loss, grads)`` with it); if it has ``rng`` the Solver sets it to its own generator, and
    ``bn_params`` running statistics are kept with the best parameters.

    When training ends the model holds the parameters of its best epoch by validation accuracy
    (CS231n's Solver swaps in ``best_params`` the same way), or, with ``restore_best=False``,
    those of its last epoch: the choice when the validation data must not pick the model (a
    refit on all non-test data, the folds of a cross-validation that estimates such a refit).

    Attributes (after :meth:`train`):
        loss_history: Training loss of every iteration.
        epoch_loss_history: Mean training loss of every epoch.
        train_acc_history, val_acc_history: Accuracies measured after every epoch.
        best_val_acc: Best validation accuracy, reached with ``best_params`` (restored into the
            model unless ``restore_best=False``).
        epochs_run, iterations_run: How far training went.
        stopped_early: True when patience or the epoch callback ended training.
    """

    def __init__(
        self,
        model: Any,
        data: dict[str, np.ndarray],
        *,
        update_rule: str | UpdateRule = "sgd",
        optim_config: dict | None = None,
        lr_decay: float = 1.0,
        batch_size: int = 100,
        num_epochs: int = 10,
        num_iterations: int | None = None,
        seed: int | None = None,
        verbose: bool = True,
        print_every: int = 100,
        num_train_samples: int | None = 1000,
        num_val_samples: int | None = None,
        patience: int | None = None,
        transform: Transform | None = None,
        epoch_callback: EpochCallback | None = None,
        restore_best: bool = True,
    ) -> None:
        """Check the arguments and the data; nothing is trained until :meth:`train`.

        Args:
            model: The model to train (see the class docstring).
            data: ``{"X_train", "y_train", "X_val", "y_val"}`` arrays.
            update_rule: A name in ``netcore.optim.UPDATE_RULES`` or a callable rule.
            optim_config: Hyperparameters for the rule (each parameter gets its own copy).
            lr_decay: Factor applied to the learning rate after every epoch.
            batch_size: Minibatch size; an epoch is ``max(N // batch_size, 1)`` iterations.
            num_epochs: Number of epochs (ignored when ``num_iterations`` is given).
            num_iterations: Total iterations; the last epoch may be partial.
            seed: Seed of the Solver's generator.
            verbose: Print progress.
            print_every: Print the loss every this many iterations.
            num_train_samples: Training rows subsampled to measure train accuracy (None: all).
            num_val_samples: Validation rows subsampled (None: all).
            patience: Stop after this many epochs without a better validation accuracy.
            transform: Minibatch augmentation ``transform(X_batch, rng) -> new array``.
            epoch_callback: Called after every epoch; returning True stops training.
            restore_best: End with the best epoch's parameters (and batch-norm running
                statistics) in the model; False keeps the last epoch's.

        Raises:
            ValueError: Missing data keys, mismatched lengths, bad labels or non-finite data,
                unknown update rule, bad sizes.
        """
        if missing := [k for k in _DATA_KEYS if k not in data]:
            raise ValueError(f"data is missing {missing}; expected keys {list(_DATA_KEYS)}")
        num_classes = getattr(model, "num_classes", None)
        arrays = {}
        for split in ("train", "val"):
            X, y = np.asarray(data[f"X_{split}"]), np.asarray(data[f"y_{split}"])
            if X.ndim < 2 or len(X) == 0:
                raise ValueError(
                    f"data['X_{split}'] has shape {X.shape}; expected (N, ...) with N >= 1"
                )
            if y.ndim != 1 or len(y) != len(X):
                raise ValueError(
                    f"data['y_{split}'] has shape {y.shape}; expected ({len(X)},) to match "
                    f"data['X_{split}'] of shape {X.shape}"
                )
            if num_classes is not None:
                y = check_labels(y, len(X), num_classes, name=f"data['y_{split}']")
            _check_finite(X, f"data['X_{split}']")
            arrays[split] = (X, y.astype(np.intp, copy=False))
        self.X_train, self.y_train = arrays["train"]
        self.X_val, self.y_val = arrays["val"]

        for name, value in (("batch_size", batch_size), ("num_epochs", num_epochs)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} = {value!r}; expected a positive integer")
        if num_iterations is not None and (
            isinstance(num_iterations, bool)
            or not isinstance(num_iterations, int)
            or num_iterations < 1
        ):
            raise ValueError(f"num_iterations = {num_iterations!r}; expected a positive int")
        if patience is not None and (not isinstance(patience, int) or patience < 1):
            raise ValueError(f"patience = {patience!r}; expected a positive integer or None")
        if not lr_decay > 0:
            raise ValueError(f"lr_decay = {lr_decay!r}; expected a positive factor")

        self.model = model
        self.update_rule = get_update_rule(update_rule)
        self.optim_config = dict(optim_config or {})
        self.lr_decay = lr_decay
        self.batch_size = batch_size
        self.num_epochs = num_epochs
        self.num_iterations = num_iterations
        self.seed = seed
        self.verbose = verbose
        self.print_every = print_every
        self.num_train_samples = num_train_samples
        self.num_val_samples = num_val_samples
        self.patience = patience
        self.transform = transform
        self.epoch_callback = epoch_callback
        self.restore_best = bool(restore_best)
        self.rng = np.random.default_rng(seed)
        if hasattr(model, "rng"):
            model.rng = self.rng
        self._reset()

    def _reset(self) -> None:
        self.loss_history: list[float] = []
        self.epoch_loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.best_val_acc = -1.0
        self.best_params: dict[str, np.ndarray] = {}
        self._best_bn: list[dict] = []
        self.epochs_run = 0
        self.iterations_run = 0
        self.stopped_early = False
        self.optim_configs = {p: dict(self.optim_config) for p in self.model.params}
        self._flat: tuple | object | None = _UNDECIDED
        self._since_best = 0  # epochs since the best validation accuracy (for patience)
        self._resumed = False  # load_state ran: the next train() continues instead of resetting

    def check_accuracy(
        self,
        X: np.ndarray,
        y: np.ndarray,
        num_samples: int | None = None,
        batch_size: int = 1000,
    ) -> float:
        """Accuracy of the model on ``(X, y)``, predicted in batches.

        Args:
            X: Inputs (N, ...).
            y: Labels (N,).
            num_samples: Score a random subset of this many rows (drawn from the Solver's
                generator) instead of all rows.
            batch_size: Rows per forward pass.
        """
        n = len(X)
        if num_samples is not None and num_samples < n:
            idx = np.sort(self.rng.choice(n, num_samples, replace=False))
            X, y = X[idx], y[idx]
            n = num_samples
        correct = 0
        loss = self.model.loss
        for start in range(0, n, batch_size):
            scores = loss(X[start : start + batch_size])
            correct += int(np.count_nonzero(scores.argmax(axis=1) == y[start : start + batch_size]))
        return correct / n

    def _flatten(self, grads: dict) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
        """Move the parameters into one flat buffer, or return None where that is not exact.

        The model's ``params[k]`` become views into the buffer (models read ``self.params`` on
        every call, so they keep working), and an elementwise rule then updates all parameters
        in one call per step instead of one per parameter: the same arithmetic on every
        element, so the same numbers bit for bit, with a fraction of the NumPy call overhead.
        """
        params = self.model.params
        dtypes = {w.dtype for w in params.values()}
        size = sum(w.size for w in params.values())
        if (
            self.update_rule not in ELEMENTWISE_RULES
            or size > _FLAT_MAX_SIZE
            or len(dtypes) != 1
            or grads.keys() != params.keys()
            or any(
                grads[k].dtype != w.dtype or grads[k].shape != w.shape for k, w in params.items()
            )
            or any(isinstance(v, np.ndarray) for v in self.optim_config.values())
        ):
            return None
        names = list(params)
        flat = np.empty(size, dtype=dtypes.pop())
        start = 0
        for k in names:
            view = flat[start : start + params[k].size].reshape(params[k].shape)
            view[...] = params[k]
            params[k] = view
            start += view.size
        shared = _merge_configs([self.optim_configs[k] for k in names])
        self.optim_configs = dict.fromkeys(names, shared)  # one config (state) for all
        return flat, np.empty_like(flat), names

    def _snapshot(self) -> None:
        self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        self._best_bn = _bn_stats(self.model)

    def _restore(self) -> None:
        self.model.params.update(self.best_params)
        for p, best in zip(
            getattr(self.model, "bn_params", None) or [], self._best_bn, strict=False
        ):
            p.update(best)

    def _step(self, X: np.ndarray, y: np.ndarray) -> float:
        """One training step on a minibatch: loss and gradients, then the update rule.

        Returns the loss; a non-finite loss leaves the parameters untouched.
        """
        loss, grads = self.model.loss(X, y)
        if not math.isfinite(loss):
            return loss
        flat = self._flat
        if flat is _UNDECIDED:  # decided at the first step, once the gradients are known
            flat = self._flat = self._flatten(grads)
        if flat is None:
            params, configs, rule = self.model.params, self.optim_configs, self.update_rule
            for p, w in params.items():
                params[p], configs[p] = rule(w, grads[p], configs[p])
            return loss
        w, dw, names = flat
        # One copy of the gradients into the flat buffer (dtypes and shapes were checked).
        np.concatenate([grads[k].ravel() for k in names], out=dw)
        next_w, _ = self.update_rule(w, dw, self.optim_configs[names[0]])
        if next_w is not w:
            w[...] = next_w
        return loss

    def train(self) -> Solver:
        """Run the optimization; returns ``self`` so that ``Solver(...).train()`` chains.

        Starts afresh, or, right after :meth:`load_state`, continues from the restored epoch
        boundary for the epochs that remain.

        Raises:
            TrainingDiverged: When a minibatch loss is NaN or infinite (the parameters are
                left as they were before that step).
        """
        if not self._resumed:
            self._reset()
        self._resumed = False
        n, bs = len(self.X_train), self.batch_size
        bs_eff = min(bs, n)
        per_epoch = max(n // bs, 1)
        total = self.num_iterations or self.num_epochs * per_epoch
        n_epochs = math.ceil(total / per_epoch)
        # Minibatch buffers reused across iterations (one gather per array per step).
        xb = np.empty((bs_eff, *self.X_train.shape[1:]), dtype=self.X_train.dtype)
        yb = np.empty(bs_eff, dtype=np.intp)
        # A run resumed at a boundary where patience ran out stops there, as the uninterrupted
        # run did (its patience check follows the epoch callback that stopped the other).
        stop = self.patience is not None and self._since_best >= self.patience
        for epoch in range(self.epochs_run + 1, n_epochs + 1):
            if stop:
                break
            steps = min(per_epoch, total - self.iterations_run)
            losses = self._train_epoch(epoch, steps, total, xb, yb)
            stop = self._end_epoch(epoch, n_epochs, losses)
        self.stopped_early = stop
        if self.restore_best:
            self._restore()
        else:
            # The last epoch's values stay, in arrays of the model's own rather than views into
            # the flat update buffer, as after a restore of the best epoch.
            params = self.model.params
            params.update({k: w.copy() for k, w in params.items()})
        return self

    def _train_epoch(
        self, epoch: int, steps: int, total: int, xb: np.ndarray, yb: np.ndarray
    ) -> list[float]:
        """``steps`` minibatch steps in a fresh order; returns their losses."""
        rng = self.rng
        X_train, y_train = self.X_train, self.y_train
        bs = len(xb)
        order = rng.permutation(len(X_train))
        it = self.iterations_run
        epoch_losses = []
        for k in range(steps):
            idx = order[k * bs : (k + 1) * bs]
            np.take(X_train, idx, axis=0, out=xb)
            np.take(y_train, idx, out=yb)
            batch = xb if self.transform is None else self.transform(xb, rng)
            loss = self._step(batch, yb)
            it += 1
            if not math.isfinite(loss):
                self.iterations_run = it - 1
                self.epochs_run = epoch - 1
                raise TrainingDiverged(it, loss)
            self.loss_history.append(loss)
            epoch_losses.append(loss)
            if self.verbose and it % self.print_every == 0:
                print(f"(Iteration {it} / {total}) loss: {loss:.6f}")
        self.iterations_run = it
        self.epochs_run = epoch
        return epoch_losses

    def _end_epoch(self, epoch: int, n_epochs: int, epoch_losses: list[float]) -> bool:
        """Decay the learning rate, measure, keep the best; returns True to stop training."""
        for c in {id(c): c for c in self.optim_configs.values()}.values():  # each once
            if "learning_rate" in c:
                c["learning_rate"] *= self.lr_decay
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        epoch_loss = float(np.mean(epoch_losses))
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self.epoch_loss_history.append(epoch_loss)
        if self.verbose:
            print(
                f"(Epoch {epoch} / {n_epochs}) loss: {epoch_loss:.6f} "
                f"train acc: {train_acc:.4f}; val acc: {val_acc:.4f}"
            )
        if val_acc > self.best_val_acc:
            self.best_val_acc = val_acc
            self._snapshot()
            self._since_best = 0
        else:
            self._since_best += 1
        if self.epoch_callback is not None and self.epoch_callback(
            epoch, train_acc, val_acc, epoch_loss
        ):
            return True
        return self.patience is not None and self._since_best >= self.patience

    def state(self) -> dict[str, Any]:
        """The run's complete training state at an epoch boundary, as plain data.

        Take it inside ``epoch_callback`` (the model then holds the epoch's own parameters,
        not yet the best ones that the end of :meth:`train` restores) or before training.
        Every array is a copy; generator states are ``bit_generator.state`` dicts.
        ``netcore.serialize.state_to_bytes`` turns it into bytes.

        Returns:
            ``{"format", "num_train", "params", "bn", "optim", "rng", "epochs_run",
            "iterations_run", "since_best", "loss_history", "epoch_loss_history",
            "train_acc_history", "val_acc_history", "best_val_acc", "best_params",
            "best_bn"}``; ``optim`` holds each parameter's rule state (learning rate after
            decay, momentum velocity, Adam's m, v and t), whichever path updated it.
        """
        return {
            "format": _STATE_FORMAT,
            "num_train": len(self.X_train),
            "params": {k: np.array(w) for k, w in self.model.params.items()},
            "bn": _bn_stats(self.model),
            "optim": self._optim_state(),
            "rng": self.rng.bit_generator.state,
            "epochs_run": self.epochs_run,
            "iterations_run": self.iterations_run,
            "since_best": self._since_best,
            **{k: np.array(getattr(self, k), dtype=np.float64) for k in _HISTORIES},
            "best_val_acc": self.best_val_acc,
            "best_params": {k: np.array(w) for k, w in self.best_params.items()},
            "best_bn": [{k: np.array(v) for k, v in p.items()} for p in self._best_bn],
        }

    def _optim_state(self) -> dict[str, dict[str, Any]]:
        # Always per parameter: the flat path's one shared config is cut back into pieces, so
        # a state does not depend on which path ran (it is chosen again after a restore).
        if isinstance(self._flat, tuple):
            names = self._flat[2]
            return _split_config(self.optim_configs[names[0]], self.model.params, names)
        return {
            p: {k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in c.items()}
            for p, c in self.optim_configs.items()
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state` into this Solver and its model; :meth:`train` continues.

        The Solver must be built as the one that made the state (same model architecture,
        data and settings); ``state`` is copied, never kept, so it can be loaded again.

        Raises:
            ValueError: A state of another format, data size or architecture.
        """
        _check_state(state, self.model, len(self.X_train))
        self._reset()
        params = self.model.params
        params.update({k: np.array(w, dtype=params[k].dtype) for k, w in state["params"].items()})
        for p, stats in zip(getattr(self.model, "bn_params", None) or [], state["bn"], strict=True):
            for key in _BN_STATS:
                p.pop(key, None)
            p.update({k: np.array(v) for k, v in stats.items()})
        self.optim_configs = {
            p: {k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in c.items()}
            for p, c in state["optim"].items()
        }
        self.rng.bit_generator.state = state["rng"]
        self.epochs_run = int(state["epochs_run"])
        self.iterations_run = int(state["iterations_run"])
        self._since_best = int(state["since_best"])
        for k in _HISTORIES:
            setattr(self, k, np.asarray(state[k], dtype=np.float64).tolist())
        self.best_val_acc = float(state["best_val_acc"])
        self.best_params = {k: np.array(w) for k, w in state["best_params"].items()}
        self._best_bn = [{k: np.array(v) for k, v in p.items()} for p in state["best_bn"]]
        self._resumed = True


_STATE_FORMAT = 1
_BN_STATS = ("running_mean", "running_var")
_HISTORIES = ("loss_history", "epoch_loss_history", "train_acc_history", "val_acc_history")


def _bn_stats(model: Any) -> list[dict[str, np.ndarray]]:
    """Copies of the running statistics of every ``model.bn_params`` entry that has them."""
    return [
        {k: np.array(p[k]) for k in _BN_STATS if p.get(k) is not None}
        for p in getattr(model, "bn_params", None) or []
    ]


def _split_config(shared: dict, params: dict[str, np.ndarray], names: list[str]) -> dict:
    """Per-parameter copies of a flat config: its arrays cut at the parameters' sizes."""
    out, start = {}, 0
    for k in names:
        w = params[k]
        out[k] = {
            key: v[start : start + w.size].reshape(w.shape).copy()
            if isinstance(v, np.ndarray)
            else v
            for key, v in shared.items()
        }
        start += w.size
    return out


def _merge_configs(configs: list[dict]) -> dict:
    """One flat config from per-parameter ones: arrays concatenated in order, scalars shared.

    Fresh configs (no state yet) give a plain copy; restored ones keep their state exactly.
    """
    first = configs[0]
    return {
        key: np.concatenate([c[key].ravel() for c in configs]) if isinstance(v, np.ndarray) else v
        for key, v in first.items()
    }


def _check_state(state: dict[str, Any], model: Any, num_train: int) -> None:
    if state.get("format") != _STATE_FORMAT:
        raise ValueError(
            f"solver state of format {state.get('format')!r}; expected {_STATE_FORMAT}"
        )
    if state["num_train"] != num_train:
        raise ValueError(
            f"solver state trained on {state['num_train']} rows; this Solver has {num_train}"
        )
    params = model.params
    got = {k: np.shape(v) for k, v in state["params"].items()}
    want = {k: w.shape for k, w in params.items()}
    if got != want or state["optim"].keys() != params.keys():
        raise ValueError(f"solver state holds parameters {got}; the model has {want}")
    n_bn = len(getattr(model, "bn_params", None) or [])
    if len(state["bn"]) != n_bn:
        raise ValueError(
            f"solver state has {len(state['bn'])} batchnorm layers; the model has {n_bn}"
        )
