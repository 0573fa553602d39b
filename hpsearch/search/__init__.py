"""The search: the driver that opens, checks and recovers a study, and the ask -> tell loop.

What belongs here: ``run_study`` (open everything that can be refused first, then run), the
engine's loop and the parts it drives (window, live view, timeouts, outside stops), progress.
Ray is reached only through ``hpsearch.execution``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import face

if TYPE_CHECKING:
    from ._driver import (
        StudyError,
        run_study,
    )
    from ._engine import (
        LIVE_EVERY_S,
        Engine,
        RunSummary,
        cluster_slots,
        counts_toward_budget,
        trial_seed,
    )
    from ._progress import (
        LINE_PREFIX,
        Progress,
    )

_NAMES = {
    "StudyError": "._driver",
    "run_study": "._driver",
    "Engine": "._engine",
    "LIVE_EVERY_S": "._engine",
    "RunSummary": "._engine",
    "cluster_slots": "._engine",
    "counts_toward_budget": "._engine",
    "trial_seed": "._engine",
    "LINE_PREFIX": "._progress",
    "Progress": "._progress",
}
__all__ = [
    "LINE_PREFIX",
    "LIVE_EVERY_S",
    "Engine",
    "Progress",
    "RunSummary",
    "StudyError",
    "cluster_slots",
    "counts_toward_budget",
    "run_study",
    "trial_seed",
]
__getattr__, __dir__ = face(__name__, _NAMES)
