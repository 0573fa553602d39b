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
        Engine,
        RunSummary,
    )
    from ._plan import (
        LIVE_EVERY_S,
        Pruning,
        RunPlan,
        counts_toward_budget,
        make_plan,
        trial_seed,
    )
    from ._progress import (
        LINE_PREFIX,
        Progress,
    )
    from ._scheduling import (
        FreeWindow,
        Generations,
        Lagged,
        Scheduling,
    )

_NAMES = {
    "StudyError": "._driver",
    "run_study": "._driver",
    "Engine": "._engine",
    "RunSummary": "._engine",
    "LIVE_EVERY_S": "._plan",
    "Pruning": "._plan",
    "RunPlan": "._plan",
    "counts_toward_budget": "._plan",
    "make_plan": "._plan",
    "trial_seed": "._plan",
    "LINE_PREFIX": "._progress",
    "Progress": "._progress",
    "FreeWindow": "._scheduling",
    "Generations": "._scheduling",
    "Lagged": "._scheduling",
    "Scheduling": "._scheduling",
}
__all__ = [
    "LINE_PREFIX",
    "LIVE_EVERY_S",
    "Engine",
    "FreeWindow",
    "Generations",
    "Lagged",
    "Progress",
    "Pruning",
    "RunPlan",
    "RunSummary",
    "Scheduling",
    "StudyError",
    "counts_toward_budget",
    "make_plan",
    "run_study",
    "trial_seed",
]
__getattr__, __dir__ = face(__name__, _NAMES)
