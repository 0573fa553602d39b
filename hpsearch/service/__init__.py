"""Studies on a shared Ray cluster: jobs on Ray's Jobs API, the probe of the cluster's Python.

What belongs here: submitting, listing, following and stopping studies that run as Ray jobs, and
the arbiter that decides how many trials each may run at once.

- ``connect`` / ``token_in_clear`` (``_client.py``): the job server's client, with Ray's token,
  a time limit and one-line errors (``ServiceError``, ``_errors.py``).
- ``check_durable_storage`` (``_durability.py``): which storages a submitted study may use.
- ``submit_study`` (``_submit.py``): the driver as a job, refused while another runs the study;
  what the job runs (``STORAGE_FILE``, ``STOP_WAIT_S``) is built in ``_entrypoint.py``.
- ``list_jobs`` / ``job_logs`` / ``tail_logs`` / ``stop_job`` (``_jobs.py``): the submitted
  studies, their progress lines and logs, a graceful stop.
- ``probe_cluster`` (``_probe.py``): the head's interpreter and versions, asked by a probe job.
- ``FairShare`` / ``Ask`` / ``Grant`` / ``ArbiterRow`` (``_arbiter.py``, no Ray): trial slots by
  weight and priority, with preemption across priorities and leases (``LEASE_S``).
- ``get_arbiter`` / ``ArbiterClient`` / ``arbiter_table`` (``_arbiter_actor.py``): that policy as
  one detached actor per cluster (``ARBITER_NAME`` in ``ARBITER_NAMESPACE``), and a driver's
  client that goes on with its last grant when the arbiter is gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import face

if TYPE_CHECKING:
    from ._arbiter import LEASE_S, ArbiterRow, Ask, FairShare, Grant
    from ._arbiter_actor import (
        ARBITER_NAME,
        ARBITER_NAMESPACE,
        ArbiterClient,
        arbiter_table,
        get_arbiter,
    )
    from ._client import connect, token_in_clear
    from ._durability import check_durable_storage
    from ._entrypoint import STOP_WAIT_S, STORAGE_FILE
    from ._errors import ServiceError
    from ._jobs import (
        LIVE,
        JobRow,
        find_job,
        job_logs,
        last_progress,
        list_jobs,
        stop_job,
        tail_logs,
    )
    from ._probe import FIND_PYTHON, PROBE_TIMEOUT_S, ProbeError, probe_cluster
    from ._submit import SubmittedJob, submit_study

_NAMES = {
    "LEASE_S": "._arbiter",
    "ArbiterRow": "._arbiter",
    "Ask": "._arbiter",
    "FairShare": "._arbiter",
    "Grant": "._arbiter",
    "ARBITER_NAME": "._arbiter_actor",
    "ARBITER_NAMESPACE": "._arbiter_actor",
    "ArbiterClient": "._arbiter_actor",
    "arbiter_table": "._arbiter_actor",
    "get_arbiter": "._arbiter_actor",
    "connect": "._client",
    "token_in_clear": "._client",
    "check_durable_storage": "._durability",
    "STOP_WAIT_S": "._entrypoint",
    "STORAGE_FILE": "._entrypoint",
    "ServiceError": "._errors",
    "JobRow": "._jobs",
    "LIVE": "._jobs",
    "find_job": "._jobs",
    "job_logs": "._jobs",
    "last_progress": "._jobs",
    "list_jobs": "._jobs",
    "stop_job": "._jobs",
    "tail_logs": "._jobs",
    "FIND_PYTHON": "._probe",
    "PROBE_TIMEOUT_S": "._probe",
    "ProbeError": "._probe",
    "probe_cluster": "._probe",
    "SubmittedJob": "._submit",
    "submit_study": "._submit",
}
__all__ = [
    "ARBITER_NAME",
    "ARBITER_NAMESPACE",
    "FIND_PYTHON",
    "LEASE_S",
    "LIVE",
    "PROBE_TIMEOUT_S",
    "STOP_WAIT_S",
    "STORAGE_FILE",
    "ArbiterClient",
    "ArbiterRow",
    "Ask",
    "FairShare",
    "Grant",
    "JobRow",
    "ProbeError",
    "ServiceError",
    "SubmittedJob",
    "arbiter_table",
    "check_durable_storage",
    "connect",
    "find_job",
    "get_arbiter",
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
