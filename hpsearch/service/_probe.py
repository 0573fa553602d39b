"""The cluster's own Python and its versions, asked of the cluster through a short probe job.

A job's entrypoint is a shell command run by Ray's job supervisor, with the environment of the
``ray start`` that started the head and nothing more: where Ray was started as
``/path/venv/bin/ray start`` (a venv not activated, pipx, a service unit), neither ``hpsearch``
nor ``python`` is on that PATH, and a bare ``hpsearch run`` dies at once with "not found".

What the supervisor does have is its interpreter: it is a Ray worker, run by the Python that runs
Ray there. The probe job finds that interpreter from the shell (``FIND_PYTHON``) and runs
``hpsearch._versions.PROBE_CODE`` with it; ``submit`` then compares the versions it printed with
its own and gives the study's job that interpreter by its absolute path (``python -m hpsearch``).
"""

from __future__ import annotations

import contextlib
import secrets
import shlex
import time
from typing import Any, Protocol

from hpsearch._versions import PROBE_CODE, parse_probe

__all__ = ["FIND_PYTHON", "PROBE_TIMEOUT_S", "ProbeError", "probe_cluster"]

#: Seconds the probe job may take from submission to its printed versions.
PROBE_TIMEOUT_S = 90.0

#: POSIX shell that sets ``$py`` to the Python running the job supervisor (the shell's parent).
#: Linux's /proc names the binary (``/proc/PID/exe``) but resolves a venv's symlink to the base
#: interpreter, which would not see the venv's packages; the site-packages folder the supervisor
#: loaded Ray's ``_raylet.so`` from (``/proc/PID/maps``) names the environment itself, whose
#: ``bin/python3`` is the one to run. Then the bare binary (a user-site install), then PATH.
FIND_PYTHON = (
    "so=$(grep -o -m 1 '/[^ ]*-packages/ray/_raylet[^/ ]*[.]so' /proc/$PPID/maps 2>/dev/null); "
    "py=; "
    'if [ -n "$so" ]; then p=${so%/*-packages/ray/*}; p=${p%/lib*}; '
    'for c in "$p/bin/python3" "$p/bin/python"; do '
    'if [ -x "$c" ]; then py=$c; break; fi; done; fi; '
    '[ -n "$py" ] || py=$(readlink /proc/$PPID/exe 2>/dev/null); '
    '[ -n "$py" ] || py=$(command -v python3); '
)


class ProbeError(RuntimeError):
    """The probe job did not say which Python and versions the cluster runs."""


class _JobClient(Protocol):
    def call(self, method: str, *args: Any, **kwargs: Any) -> Any: ...


def probe_cluster(client: _JobClient, *, timeout_s: float = PROBE_TIMEOUT_S
                  ) -> dict[str, str | None]:
    """The interpreter (``executable``) that runs Ray on the head, its Python and versions.

    Args:
        client: a job-server client with ``call(method, ...)`` (``hpsearch.service.connect``).
        timeout_s: how long the probe job may take.

    Raises:
        ProbeError: the probe job failed, printed nothing usable, or did not end in time.
    """
    job_id = f"hpsearch-probe-{secrets.token_hex(4)}"
    entrypoint = FIND_PYTHON + 'exec "$py" -c ' + shlex.quote(PROBE_CODE)
    client.call("submit_job", entrypoint=entrypoint, submission_id=job_id,
                metadata={"hpsearch-probe": "1"})
    status, end = "PENDING", time.monotonic() + timeout_s
    try:
        while time.monotonic() < end:
            status = str(client.call("get_job_status", job_id))
            if status in ("SUCCEEDED", "FAILED", "STOPPED"):
                break
            time.sleep(0.2)
        else:
            client.call("stop_job", job_id)
            raise ProbeError(f"the probe job {job_id}, which asks the cluster for its Python and "
                             f"versions, did not end within {timeout_s:.0f} s ({status}); is the "
                             "head out of CPUs or memory?")
        logs = str(client.call("get_job_logs", job_id))
    finally:
        _forget(client, job_id)
    found = parse_probe(logs)
    if found is None or not found.get("executable"):
        tail = " | ".join(line for line in logs.strip().splitlines()[-3:] if line.strip())
        raise ProbeError(f"the probe job {job_id} ended {status} without naming the cluster's "
                         f"Python: {tail or 'no output'}")
    return found


def _forget(client: _JobClient, job_id: str) -> None:
    """Delete the probe from the job list (best effort: a job that has not ended stays)."""
    with contextlib.suppress(Exception):  # a leftover probe job is harmless; its answer counts
        client.call("delete_job", job_id)
