"""Studies on a shared Ray cluster: jobs on Ray's Jobs API, the probe of the cluster's Python.

What belongs here: submitting, listing, following and stopping studies that run as Ray jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import face

if TYPE_CHECKING:
    from ._jobs import (
        LIVE,
        STOP_WAIT_S,
        STORAGE_FILE,
        JobRow,
        ServiceError,
        SubmittedJob,
        check_durable_storage,
        connect,
        find_job,
        job_logs,
        last_progress,
        list_jobs,
        stop_job,
        submit_study,
        tail_logs,
        token_in_clear,
    )
    from ._probe import (
        FIND_PYTHON,
        PROBE_TIMEOUT_S,
        ProbeError,
        probe_cluster,
    )

_NAMES = {
    "JobRow": "._jobs",
    "LIVE": "._jobs",
    "STOP_WAIT_S": "._jobs",
    "STORAGE_FILE": "._jobs",
    "ServiceError": "._jobs",
    "SubmittedJob": "._jobs",
    "check_durable_storage": "._jobs",
    "connect": "._jobs",
    "find_job": "._jobs",
    "job_logs": "._jobs",
    "last_progress": "._jobs",
    "list_jobs": "._jobs",
    "stop_job": "._jobs",
    "submit_study": "._jobs",
    "tail_logs": "._jobs",
    "token_in_clear": "._jobs",
    "FIND_PYTHON": "._probe",
    "PROBE_TIMEOUT_S": "._probe",
    "ProbeError": "._probe",
    "probe_cluster": "._probe",
}
__all__ = [
    "FIND_PYTHON",
    "LIVE",
    "PROBE_TIMEOUT_S",
    "STOP_WAIT_S",
    "STORAGE_FILE",
    "JobRow",
    "ProbeError",
    "ServiceError",
    "SubmittedJob",
    "check_durable_storage",
    "connect",
    "find_job",
    "job_logs",
    "last_progress",
    "list_jobs",
    "probe_cluster",
    "stop_job",
    "submit_study",
    "tail_logs",
    "token_in_clear",
]
__getattr__, __dir__ = face(__name__, _NAMES)
