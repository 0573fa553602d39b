"""What the driver and the trials say to each other, and the launcher contract the engine drives.

Ray-free on purpose: the search engine (``hpsearch.search``) is written against ``Launcher`` and
these plain messages, so it runs in tests with a fake launcher and no Ray; ``RayLauncher``
(``hpsearch.execution._launcher``) is the real one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["GO", "PREEMPT", "PRUNE", "STOP", "Events", "Launcher", "Report", "Sees", "Started",
           "TaskFailure", "TaskOptions"]

# A report's answer: train on, stop as pruned, stop because a user asked to, or give the slot
# back to a higher-priority study (checkpoint at the epoch boundary and end as "preempted").
GO, PRUNE, STOP, PREEMPT = 0, 1, 2, 3


@dataclass(frozen=True)
class Report:
    """One epoch's validation accuracy from a running trial."""

    trial: int
    epoch: int
    value: float


@dataclass(frozen=True)
class Sees:
    """What a reproducible study's trial decides on: fixed by its place among the run's asks.

    Attributes:
        seq: its place among this run's asks, from 0 (what ended is learned in this order).
        told: decisions across trials see the first ``told`` trials told in this run.
        ended: with folds, decisions across trials from a trial's second fold on see the
            run's first ``ended`` asks' whole trials, each learned as it ends, in ask order (a
            short lag; its first fold's decision comes too soon after its ask, and sees the
            ``told`` ones).
        first_folds: first-fold decisions see the first folds of the run's first
            ``first_folds`` asks, each learned as it ends, in ask order (a shorter lag still:
            a first fold is a fifth of a trial).
    """

    seq: int
    told: int
    ended: int
    first_folds: int


@dataclass(frozen=True)
class Started:
    """A trial began training on a node."""

    trial: int
    node: str
    node_ip: str
    started_at: float


@dataclass(frozen=True)
class TaskOptions:
    """How every trial task of a run is launched and reports (decided once, by the driver's plan).

    Attributes:
        cpus: CPUs the task reserves; also its BLAS thread count.
        max_retries: re-runs when its worker or node dies (trials are idempotent: seeded).
        timeout_s: the trial stops itself after this long, measured from when it starts.
        wait_answers: the worker waits for each report's answer (reproducible studies with a
            pruner) instead of acting on it when it arrives.
        batch_s: with nothing to prune, send epochs in batches at most this often (live view,
            stop requests) instead of one message per epoch; 0 sends every epoch.
        first_fold: on a dataset with folds, report every epoch of the first fold as well
            (``PruningChannel.report_epoch``: first-fold pruning).
        keep_oof: on a dataset with folds, a complete trial returns its out-of-fold
            probabilities (for the ensemble's estimate).
        answers_behind: act on each report's answer exactly one report later, waiting for it
            then if need be: a reproducible study's trials stop at the same epoch whatever the
            messaging's timing, and the answer has nearly always arrived by then.
        measure_inference: time the final model's forward pass (the ``inference_ms`` cost),
            only when the study optimizes or selects by it.
    """

    cpus: float = 1.0
    max_retries: int = 0
    timeout_s: float | None = None
    wait_answers: bool = False
    batch_s: float = 0.0
    first_fold: bool = False
    keep_oof: bool = False
    answers_behind: bool = False
    measure_inference: bool = False


@dataclass(frozen=True)
class TaskFailure:
    """A trial whose task ended without a result of its own.

    Attributes:
        reason: recorded as the trial's failure reason.
        lost: its worker or node died (Ray's retries ran out): the parameters are not to blame,
            so the trial may run once more.
    """

    reason: str
    lost: bool = False


@dataclass
class Events:
    """What one ``Launcher.wait`` brought.

    Attributes:
        results: (trial number, its ``TrialResult`` or a ``TaskFailure``) for finished trials.
        reports: epoch reports waiting for the driver's decision (pruners that decide on the
            stored study: Hyperband), or None.
        live: new points and starts of running trials for the live view, or None.
    """

    results: list[tuple[int, Any]] = field(default_factory=list)
    reports: list[Report] | None = None
    live: list[Report | Started] | None = None


class Launcher(Protocol):
    """Where the engine's trials run: launch, wait for results and reports, answer, stop."""

    def slots(self) -> int:
        """Trials the cluster can run at once now."""
        ...

    def launch(self, number: int, params: dict[str, Any], seed: int,
               visible: Sees | None = None, resume: Any = None) -> None:
        """Start trial ``number`` with its resolved parameters and seed.

        ``visible``: what its pruning decisions see (a reproducible study's; None: all).
        ``resume``: a preempted trial's checkpoint, to go on from (``TrialCheckpoint``).
        """
        ...

    def wait(self, timeout_s: float, *, live: bool = False, every: bool = False) -> Events:
        """Wait up to ``timeout_s`` for the next event (``every``: all that are ready now).

        ``live`` asks for the running trials' new points too.
        """
        ...

    def decide(self, decisions: list[tuple[int, int, bool]]) -> None:
        """Answer waiting reports: (trial, epoch, prune) each."""
        ...

    def stop_trial(self, number: int) -> None:
        """Ask a running trial to stop at its next report."""
        ...

    def preempt_trial(self, number: int) -> None:
        """Ask a running trial to give its slot back at its next epoch boundary.

        Its result then comes with state "preempted" and a checkpoint to resume from.
        """
        ...

    def cancel(self, number: int) -> None:
        """Stop a running trial's task outright; its result comes as a ``TaskFailure``."""
        ...

    def finished(self, number: int, state: str, value: float | None) -> None:
        """A trial was told: its curve now counts for the pruners' decisions."""
        ...

    def sync(self) -> None:
        """Return once the pruners have learned every ``finished`` so far."""
        ...

    def close(self) -> None:
        """The run is over: give back what was borrowed (the channel)."""
        ...
