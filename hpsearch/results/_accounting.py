"""What a study cost in CPU-seconds, stored with the study: its trials, and its evaluation.

Every run adds its trials' CPU-seconds (training time times the CPUs each trial reserves, folds
and resumed parts included) and every evaluation its own (refit, further seeds, ensemble and
test, measured as this process's CPU time); ``hpsearch jobs`` and the report show the totals.
Kept as one study attribute (a small dict), written by the study's driver or by the process
that evaluates it, after its run.
"""

from __future__ import annotations

from typing import Any

from hpsearch import _attrs as A

__all__ = ["PARTS", "charge", "cpu_seconds"]

#: What the CPU-seconds are for: the search's trials, and the refit + test evaluation.
PARTS = ("trials", "evaluation")


def cpu_seconds(study: Any) -> dict[str, float]:
    """The study's CPU-seconds by part (every part of ``PARTS``; 0 where none were spent)."""
    stored = study.user_attrs.get(A.STUDY_CPU_SECONDS) or {}
    return {part: float(stored.get(part, 0.0)) for part in PARTS}


def charge(study: Any, part: str, seconds: float) -> dict[str, float]:
    """Add ``seconds`` to the study's ``part`` ("trials" or "evaluation"); the new totals."""
    if part not in PARTS:
        raise ValueError(f"part {part!r}; expected one of {list(PARTS)}")
    totals = cpu_seconds(study)
    totals[part] = round(totals[part] + max(0.0, float(seconds)), 3)
    study.set_user_attr(A.STUDY_CPU_SECONDS, totals)
    return totals
