"""Re-run one stored trial from its record (parameters, seed, data) and compare its numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpsearch import _attrs as A
from hpsearch.study import StoredStudy

__all__ = ["Rerun", "RerunError", "rerun_trial"]

_CURVES = ("loss", "train_acc", "val_acc")


class RerunError(ValueError):
    """The trial cannot be re-run: missing, never started, or its data changed."""


@dataclass
class Rerun:
    """A trial re-run beside its record.

    Attributes:
        number: the trial's number.
        state: the stored trial's state ("complete", "pruned", ...).
        seed: the seed it ran (and re-ran) with.
        params: its full parameters.
        result: the re-run's ``hpsearch.training._trial.TrialResult``.
        stored: the stored per-epoch history ({} when none was stored).
    """

    number: int
    state: str
    seed: int
    params: dict[str, Any]
    result: Any
    stored: dict[str, list[float]]

    @property
    def reproduced(self) -> bool:
        """The stored and re-run histories are identical, value for value."""
        return bool(self.stored) and all(
            self.stored.get(k) == self.result.history.get(k) for k in _CURVES)

    def differences(self) -> dict[str, tuple[Any, Any]]:
        """Curves that differ: name -> (stored, re-run)."""
        return {k: (self.stored.get(k), self.result.history.get(k)) for k in _CURVES
                if self.stored.get(k) != self.result.history.get(k)}


def rerun_trial(stored: StoredStudy, number: int, dataset: Any) -> Rerun:
    """Train trial ``number`` again exactly as the search did (one BLAS thread, its seed).

    A pruned trial stops where it was pruned.

    Raises:
        RerunError: no such trial, no recorded seed, or the data now loads differently.
    """
    from threadpoolctl import threadpool_limits

    from hpsearch.study import resolve_params
    from hpsearch.training import train_trial

    name = stored.config.name
    matches = [t for t in stored.study.get_trials(deepcopy=False) if t.number == number]
    if not matches:
        raise RerunError(f"study {name!r} has no trial {number}")
    trial = matches[0]
    seed = trial.user_attrs.get(A.TRIAL_SEED)
    if seed is None:
        raise RerunError(f"trial {number} has no recorded seed (it never started)")
    fingerprint = trial.user_attrs.get(A.TRIAL_FINGERPRINT)
    if fingerprint and fingerprint != dataset.fingerprint:
        raise RerunError(f"trial {number} trained on data {fingerprint}, but the data now loads "
                         f"as {dataset.fingerprint}: it cannot be reproduced")
    stop_at = trial.user_attrs.get(A.TRIAL_PRUNED_AT)
    params = resolve_params(trial.params, stored.config.space)
    with threadpool_limits(1):  # the search ran with one BLAS thread per trial
        result = train_trial(params, dataset, seed,
                             report=(lambda epoch, _v: epoch >= stop_at) if stop_at else None)
    return Rerun(number, trial.state.name.lower(), int(seed), params, result,
                 dict(trial.user_attrs.get(A.TRIAL_HISTORY, {})))
