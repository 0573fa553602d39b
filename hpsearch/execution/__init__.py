"""Ray: start or join a cluster, the trial task, the pruning channel actor, pruning decisions.

What belongs here: everything that runs on or talks to Ray on behalf of the driver. The trial
itself (``hpsearch.training``) stays free of Ray and Optuna.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import face

if TYPE_CHECKING:
    from ._channel import (
        PruningChannel,
        open_channel,
        release_channel,
    )
    from ._launcher import (
        RayLauncher,
        cluster_slots,
    )
    from ._messages import (
        GO,
        PRUNE,
        STOP,
        Events,
        Launcher,
        Report,
        Sees,
        Started,
        TaskFailure,
        TaskOptions,
    )
    from ._pruning import (
        PercentileRule,
        PruneMirror,
    )
    from ._ray import (
        RayStartError,
        check_address,
        check_cluster_versions,
        cluster_versions,
        init_ray,
        join_cluster,
        joins_cluster,
    )
    from ._task import (
        launch_trial,
        warm_up_workers,
    )

_NAMES = {
    "PruningChannel": "._channel",
    "open_channel": "._channel",
    "release_channel": "._channel",
    "RayLauncher": "._launcher",
    "cluster_slots": "._launcher",
    "Events": "._messages",
    "GO": "._messages",
    "Launcher": "._messages",
    "PRUNE": "._messages",
    "Report": "._messages",
    "Sees": "._messages",
    "STOP": "._messages",
    "Started": "._messages",
    "TaskFailure": "._messages",
    "PercentileRule": "._pruning",
    "PruneMirror": "._pruning",
    "RayStartError": "._ray",
    "check_address": "._ray",
    "check_cluster_versions": "._ray",
    "cluster_versions": "._ray",
    "init_ray": "._ray",
    "join_cluster": "._ray",
    "joins_cluster": "._ray",
    "TaskOptions": "._messages",
    "launch_trial": "._task",
    "warm_up_workers": "._task",
}
__all__ = [
    "GO",
    "PRUNE",
    "STOP",
    "Events",
    "Launcher",
    "PercentileRule",
    "PruneMirror",
    "PruningChannel",
    "RayLauncher",
    "RayStartError",
    "Report",
    "Sees",
    "Started",
    "TaskFailure",
    "TaskOptions",
    "check_address",
    "check_cluster_versions",
    "cluster_slots",
    "cluster_versions",
    "init_ray",
    "join_cluster",
    "joins_cluster",
    "launch_trial",
    "open_channel",
    "release_channel",
    "warm_up_workers",
]
__getattr__, __dir__ = face(__name__, _NAMES)
