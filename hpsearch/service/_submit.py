"""Submitting a study: ``hpsearch run STUDY --address auto`` as a job of Ray's Jobs API.

``hpsearch submit`` sends the driver to the job server in the head's dashboard process, so it
runs on the cluster and the machine that submitted it may go away. Before anything is sent, the
study file is checked, the storage must outlive the job (``_durability.py``), and no live job or
driver may already run the study: one live job per study, looked for in the cluster's job list
(same study and storage) and, where the storage can be reached from here, in the study's lease.
What the job runs is built in ``_entrypoint.py``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from hpsearch.service._client import JobServerClient, connect
from hpsearch.service._durability import check_durable_storage, live_driver
from hpsearch.service._entrypoint import (
    cluster_python,
    job_entrypoint,
    job_runtime_env,
    job_working_dir,
)
from hpsearch.service._errors import ServiceError
from hpsearch.service._jobs import LIVE, MARK, hpsearch_jobs
from hpsearch.storage import redact

__all__ = ["SubmittedJob", "submit_study"]


@dataclass(frozen=True)
class SubmittedJob:
    """What ``submit_study`` sent: the job's id, the study, where it is stored, how far it goes."""

    job_id: str
    study: str
    storage: str  # redacted
    target: int
    entrypoint: str
    address: str
    status: str = "PENDING"
    python: str = ""  # the head's interpreter that runs the driver


def submit_study(study_file: Path | str, address: str | None, *, storage: str | None = None,
                 n_trials: int | None = None, max_in_flight: int | None = None,
                 results_dir: str | None = None, wait_start_s: float = 10.0,
                 sharing: dict[str, float] | None = None) -> SubmittedJob:
    """Submit ``hpsearch run STUDY_FILE`` as a Ray job to the job server at ``address``.

    Args:
        study_file: the study file (checked here; only it and the storage URL are shipped).
        address: the job server, ``http://HEAD:8265``.
        storage: the storage URL (default: the study file's ``[run] storage``); must outlive the
            job (``check_durable_storage``).
        n_trials: finished trials to reach (default: the study file's).
        max_in_flight: most trials of this study running at once (default: the cluster's CPUs).
        results_dir: an absolute folder on the head for the run's files (log, tables, best model,
            report); without it the job skips the evaluation and the report (run ``hpsearch best``
            / ``report`` with ``--storage`` wherever you want them).
        wait_start_s: how long to wait for the job to leave PENDING (0: do not wait).
        sharing: the driver's sharing flags ("--weight", "--priority", "--max-cpus" -> value),
            over the study file's ``[run]`` keys.

    Raises:
        hpsearch.study.ConfigError: the study file is invalid (nothing was contacted).
        ServiceError: the storage would vanish with the job, the job server is unreachable or
            refuses the token, a live job or driver already runs this study, or the cluster
            lacks hpsearch or runs other versions of hpsearch, Optuna or Ray
            (``hpsearch._versions``).
    """
    from hpsearch.study import load_study_config

    config = load_study_config(Path(study_file))
    url = check_durable_storage(storage or config.run.storage)
    if results_dir is not None and not results_dir.startswith("/"):
        raise ServiceError(f"--results-dir {results_dir}: expected an absolute folder on the head "
                           "(a relative one would be inside the job's temporary directory)")
    target = n_trials if n_trials is not None else config.n_trials
    client = connect(address)
    shown = redact(url)
    _refuse_a_second_driver(client, config.name, url)
    python = cluster_python(client)
    job_id = f"hpsearch-{config.name}-{secrets.token_hex(4)}"
    entrypoint = job_entrypoint(python, Path(study_file).name, n_trials, max_in_flight,
                                results_dir, sharing)
    with job_working_dir(Path(study_file), url) as folder:
        metadata = {MARK: "1", "study": config.name, "storage": shown, "target": str(target)}
        client.call("submit_job", entrypoint=entrypoint, submission_id=job_id,
                    runtime_env=job_runtime_env(folder), metadata=metadata)
    status = _wait_for_start(client, job_id, config.name, wait_start_s)
    return SubmittedJob(job_id, config.name, shown, target, entrypoint, client.address, status,
                        python)


def _refuse_a_second_driver(client: JobServerClient, name: str, url: str) -> None:
    """Raise when a live job of study ``name`` in ``url`` is listed, or a live driver holds it."""
    shown = redact(url)
    for job in hpsearch_jobs(client):
        if (job.metadata.get("study") == name and job.metadata.get("storage") == shown
                and str(job.status) in LIVE):
            raise ServiceError(f"study {name} already runs as job {job.submission_id} "
                               f"({job.status}) on {client.address}; follow it with `hpsearch "
                               f"logs {job.submission_id} --address {client.address}`, or stop "
                               "it first with `hpsearch stop ... --address`")
    if (holder := live_driver(name, url)) is not None:
        raise ServiceError(f"study {name} in {shown} is being run by another driver "
                           f"({holder}); stop it first (`hpsearch stop {name} --storage URL`)")


def _wait_for_start(client: JobServerClient, job_id: str, name: str, wait_s: float) -> str:
    """The job's status once it has left PENDING, or after ``wait_s``; a job that failed raises."""
    status = "PENDING"
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        status = str(client.call("get_job_status", job_id))
        if status != "PENDING":
            break
        time.sleep(0.25)
    if status == "FAILED":
        tail = client.call("get_job_logs", job_id).strip().splitlines()[-3:]
        raise ServiceError(f"job {job_id} of study {name} failed at once: "
                           + redact(" | ".join(tail) or "no output; see `hpsearch logs`"))
    return status
