"""Where a preempted trial stopped: plain data that resumes it on any node, bit for bit.

A trial asked to stop (``train_trial(..., preempt=...)``) stops at its next epoch boundary and
returns a ``TrialCheckpoint``: the Solver's state there (``netcore.Solver.state``: parameters,
running statistics, the update rule's state, the generator's state, counters, histories) and
what the trial itself had gathered (its history, the finished folds). ``to_bytes`` makes it one
``.npz`` blob (no pickle) for the Ray object store or a file in the runs directory;
``train_trial(..., resume=checkpoint)`` continues it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TrialCheckpoint"]

_FORMAT = 1
_KIND = "hpsearch.TrialCheckpoint"


@dataclass
class TrialCheckpoint:
    """A preempted trial at an epoch boundary, as plain data.

    Attributes:
        seed: the trial seed; resuming with another seed is refused.
        solver: ``netcore.Solver.state()`` of the model in training, taken at the boundary.
        epoch: epochs that model had trained (of the fold in training, with folds).
        history: the trial's ``TrialResult.history`` so far.
        fold: with folds, the fold in training (from 0); None on a single split.
        fold_values: with folds, the finished folds' values.
        first_fold_curve: with first-fold pruning, the first fold's curve so far.
        epochs_done: with folds, the epochs of the finished folds.
        oof_probs: with folds and ``keep_oof``, the finished folds' out-of-fold probabilities
            (rows of the other folds still zero).
        duration_s: wall seconds the parts before spent training.
        train_cpu_s: CPU seconds the parts before spent training.
        started_at: when the first part began (``time.time()``).
    """

    seed: int
    solver: dict[str, Any]
    epoch: int
    history: dict[str, list[float]]
    fold: int | None = None
    fold_values: list[float] | None = None
    first_fold_curve: list[float] | None = None
    epochs_done: int = 0
    oof_probs: np.ndarray | None = None
    duration_s: float = 0.0
    train_cpu_s: float = 0.0
    started_at: float = 0.0

    def to_bytes(self) -> bytes:
        """The checkpoint as ``.npz`` bytes (``netcore.state_to_bytes``), for ``from_bytes``."""
        import netcore

        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return netcore.state_to_bytes({"kind": _KIND, "format": _FORMAT, **fields})

    @classmethod
    def from_bytes(cls, data: bytes) -> TrialCheckpoint:
        """The checkpoint that :meth:`to_bytes` wrote.

        Raises:
            ValueError: ``data`` is not a trial checkpoint of this format.
        """
        import netcore

        state = netcore.state_from_bytes(data)
        if state.pop("kind", None) != _KIND or state.pop("format", None) != _FORMAT:
            raise ValueError(f"not a trial checkpoint of format {_FORMAT}")
        return cls(**state)
