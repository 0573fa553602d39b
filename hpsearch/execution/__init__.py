"""Ray: start or join a cluster, the trial task, the pruning channel actor, pruning decisions.

What belongs here: everything that runs on or talks to Ray on behalf of the driver. The trial
itself (``hpsearch.training``) stays free of Ray and Optuna.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import face

if TYPE_CHECKING:
    from ._dispatch import (
        GO,
        PRUNE,
        STOP,
        PruningChannel,
        Report,
        Started,
        launch_trial,
        open_channel,
        release_channel,
        warm_up_workers,
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

_NAMES = {
    "GO": "._dispatch",
    "PRUNE": "._dispatch",
    "PruningChannel": "._dispatch",
    "Report": "._dispatch",
    "STOP": "._dispatch",
    "Started": "._dispatch",
    "launch_trial": "._dispatch",
    "open_channel": "._dispatch",
    "release_channel": "._dispatch",
    "warm_up_workers": "._dispatch",
    "PercentileRule": "._pruning",
    "PruneMirror": "._pruning",
    "RayStartError": "._ray",
    "check_address": "._ray",
    "check_cluster_versions": "._ray",
    "cluster_versions": "._ray",
    "init_ray": "._ray",
    "join_cluster": "._ray",
    "joins_cluster": "._ray",
}
__all__ = [
    "GO",
    "PRUNE",
    "STOP",
    "PercentileRule",
    "PruneMirror",
    "PruningChannel",
    "RayStartError",
    "Report",
    "Started",
    "check_address",
    "check_cluster_versions",
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
