"""What a study's job runs: which interpreter, which shell command, which files, which environment.

* **Nothing large, no secret in sight.** The job's ``working_dir`` is a fresh folder holding only
  the study file and the storage URL in a file of its own (mode 0600, ``STORAGE_FILE``), read by
  the driver through ``hpsearch run --storage-file``. The entrypoint and the environment
  variables, which ``ray job list`` shows to anyone with the token, never hold the password.
* **The cluster's own Python.** The entrypoint runs ``python -m hpsearch`` with the interpreter
  the probe job found on the head (``_probe.py``), once its versions agree with ours.
* **Graceful, bounded stop.** Ray's job supervisor sends SIGTERM to the entrypoint's processes,
  which the driver handles as Ctrl-C, and SIGKILLs them after ``RAY_JOB_STOP_WAIT_TIME_S`` (set
  per job to ``STOP_WAIT_S``).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hpsearch.service._client import JobServerClient
from hpsearch.service._errors import ServiceError

__all__ = ["STOP_WAIT_S", "STORAGE_FILE", "cluster_python", "job_entrypoint", "job_runtime_env",
           "job_working_dir"]

#: The file in a job's working dir that holds the storage URL (read by ``--storage-file``).
STORAGE_FILE = ".hpsearch-storage"
#: Seconds the driver gets to stop cleanly after SIGTERM before Ray's supervisor SIGKILLs it.
STOP_WAIT_S = 30


def job_entrypoint(python: str, study_file: str, n_trials: int | None,
                   max_in_flight: int | None, results_dir: str | None,
                   sharing: dict[str, float] | None = None) -> str:
    """The job's shell command: the driver, run from a private copy of the working dir.

    ``python`` is the cluster's own interpreter by its absolute path (``_probe.py``): the job's
    shell has the PATH of the ``ray start`` that started the head, which need not hold
    ``hpsearch``. Ray's runtime-env agent may delete and unpack a job's working dir again while
    the job runs (seen with Ray 2.60 when the job's first trial workers start on the head), so
    the driver reads its files from a copy in a fresh 0700 folder, removed when it exits.
    """
    args = [python, "-m", "hpsearch", "run", study_file, "--address", "auto", "--no-progress",
            "--progress-lines", "--storage-file", STORAGE_FILE]
    if n_trials is not None:
        args += ["--n-trials", str(n_trials)]
    if max_in_flight is not None:
        args += ["--max-in-flight", str(max_in_flight)]
    for flag, value in (sharing or {}).items():  # "--weight": 3.0, ...
        args += [flag, repr(value)]
    if results_dir is None:
        args += ["--no-evaluate", "--no-report"]
    else:
        args += ["--runs-dir", results_dir]
    # TERM reaches the driver straight from Ray's supervisor; the shell waits for it, then
    # leaves through its EXIT trap, which removes the copy.
    return (f'd=$(mktemp -d) && cp -- {shlex.quote(study_file)} {STORAGE_FILE} "$d"/ && '
            f"cd \"$d\" && trap 'rm -rf \"$d\"' EXIT && trap 'exit 143' TERM INT && "
            + shlex.join(args))


def cluster_python(client: JobServerClient) -> str:
    """The head's interpreter for the job, once its hpsearch, Optuna and Ray agree with ours.

    Raises:
        ServiceError: the probe failed, or the cluster lacks hpsearch or runs other versions.
    """
    from hpsearch._versions import VersionMismatch, check_versions, local_versions
    from hpsearch.service._probe import ProbeError, probe_cluster

    try:
        remote = probe_cluster(client)
        check_versions(local_versions(), remote, f"the cluster at {client.address}")
    except (ProbeError, VersionMismatch) as exc:
        raise ServiceError(str(exc)) from None
    return str(remote["executable"])


@contextlib.contextmanager
def job_working_dir(study_file: Path, url: str) -> Iterator[Path]:
    """A fresh folder with the study file and the storage URL (mode 0600), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="hpsearch-job-"))
    try:
        shutil.copyfile(study_file, folder / study_file.name)
        fd = os.open(folder / STORAGE_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(url + "\n")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def job_runtime_env(folder: Path) -> dict[str, Any]:
    """The job's runtime environment: ``folder`` as its working dir, the stop wait, no buffering."""
    return {"working_dir": str(folder),
            "env_vars": {"RAY_JOB_STOP_WAIT_TIME_S": str(STOP_WAIT_S), "PYTHONUNBUFFERED": "1"}}
