"""The studies submitted to a cluster: listed with their progress, their logs, stopped.

* **Progress from the log.** The driver prints ``hpsearch-progress {json}`` lines
  (``hpsearch run --progress-lines``); ``list_jobs`` reads the last one of each job.
* **Graceful, bounded stop.** ``stop_job`` asks Ray to stop the job: the driver gets SIGTERM,
  which it handles as Ctrl-C (finished trials kept, running ones recorded "interrupted" and re-run
  on resume), and is SIGKILLed after ``STOP_WAIT_S``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.search import LINE_PREFIX
from hpsearch.service._client import JobServerClient, connect
from hpsearch.service._entrypoint import STOP_WAIT_S
from hpsearch.service._errors import ServiceError

__all__ = ["LIVE", "MARK", "JobRow", "find_job", "hpsearch_jobs", "job_logs", "last_progress",
           "list_jobs", "stop_job", "tail_logs"]

#: Metadata key that marks a job submitted by hpsearch (value "1").
MARK = "hpsearch"
#: Job states in which a study's driver is (or is about to be) running.
LIVE = frozenset({"PENDING", "RUNNING"})


@dataclass(frozen=True)
class JobRow:
    """One submitted study as ``hpsearch jobs`` shows it."""

    job_id: str
    status: str
    study: str
    storage: str
    target: int | None
    started: float | None  # seconds since the Unix epoch
    ended: float | None
    progress: dict[str, Any] | None  # the job's last progress line

    @property
    def done(self) -> int | None:
        """Finished trials at the last progress line (None before the first)."""
        return None if self.progress is None else self.progress.get("done")

    @property
    def sharing(self) -> dict[str, Any]:
        """The driver's last word on its share of the cluster; {} before its first.

        Keys: weight, priority, share, slots, queue (position), cpu_s (see
        ``hpsearch.search._progress``).
        """
        return {} if self.progress is None else dict(self.progress.get("sharing") or {})

    @property
    def best(self) -> float | None:
        """The best value at the last progress line (None until a trial completes)."""
        return None if self.progress is None else self.progress.get("best")

    def elapsed_s(self, now: float | None = None) -> float | None:
        """Seconds from the job's start to its end, or to ``now`` while it runs."""
        if self.started is None:
            return None
        return (self.ended or now or time.time()) - self.started


def last_progress(logs: str) -> dict[str, Any] | None:
    """The last ``hpsearch-progress {json}`` line of a job's log, parsed; None if there is none."""
    for line in reversed(logs.splitlines()):
        head, _, rest = line.strip().partition(" ")
        if head == LINE_PREFIX:
            try:
                facts = json.loads(rest)
            except json.JSONDecodeError:
                continue  # a line cut off mid-write
            if isinstance(facts, dict):
                return facts
    return None


def hpsearch_jobs(client: JobServerClient) -> list[Any]:
    """The jobs hpsearch submitted (marked ``MARK``; probe jobs are not), oldest first."""
    jobs = [j for j in client.call("list_jobs")
            if (j.metadata or {}).get(MARK) == "1" and j.submission_id]
    return sorted(jobs, key=lambda j: j.start_time or 0)


def _row(client: JobServerClient, job: Any) -> JobRow:
    target = job.metadata.get("target", "")
    try:
        logs = client.call("get_job_logs", job.submission_id)
    except ServiceError:
        logs = ""
    return JobRow(job.submission_id, str(job.status), job.metadata.get("study", "?"),
                  job.metadata.get("storage", ""), int(target) if target.isdigit() else None,
                  job.start_time / 1000 if job.start_time else None,
                  job.end_time / 1000 if job.end_time else None, last_progress(logs))


def list_jobs(address: str | None) -> list[JobRow]:
    """The studies submitted to the cluster at ``address``, oldest first, with their progress."""
    client = connect(address)
    return [_row(client, job) for job in hpsearch_jobs(client)]


def find_job(client: JobServerClient, job_or_name: str) -> Any:
    """The job ``job_or_name`` names: a job id, a study name or study file (its latest job)."""
    if job_or_name.endswith(".toml") or Path(job_or_name).is_file():
        from hpsearch.study import load_study_config

        job_or_name = load_study_config(Path(job_or_name)).name
    jobs = hpsearch_jobs(client)
    for job in jobs:
        if job.submission_id == job_or_name:
            return job
    of_study = [j for j in jobs if j.metadata.get("study") == job_or_name]
    if of_study:
        return of_study[-1]
    raise ServiceError(f"no job or study {job_or_name!r} on {client.address}; `hpsearch jobs "
                       f"--address {client.address}` lists the submitted studies")


def job_logs(address: str | None, job_or_name: str) -> tuple[str, str]:
    """(job id, the job's whole log so far) of a job id or a study name (its latest job)."""
    client = connect(address)
    job = find_job(client, job_or_name)
    return job.submission_id, client.call("get_job_logs", job.submission_id)


def tail_logs(address: str | None, job_or_name: str) -> Iterator[str]:
    """The job's log from its start, then as it is written, until the job ends."""
    import asyncio

    client = connect(address)
    job = find_job(client, job_or_name)
    stream = client.ray.tail_job_logs(job.submission_id)
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                with client.explained():
                    chunk = loop.run_until_complete(stream.__anext__())
            except StopAsyncIteration:
                return
            yield chunk
    finally:
        loop.run_until_complete(stream.aclose())
        loop.close()


def stop_job(address: str | None, job_or_name: str, *, wait_s: float = STOP_WAIT_S + 15.0) -> str:
    """Stop a submitted study's job (a job id, or a study name: its latest job); a sentence.

    The driver gets SIGTERM, which it handles as Ctrl-C: finished trials are kept, running ones
    are recorded "interrupted" and re-run when the study is submitted again. Ray's supervisor
    SIGKILLs it after ``STOP_WAIT_S`` seconds; this waits up to ``wait_s`` for the job to end.

    Raises:
        ServiceError: no such job, or it is not running.
    """
    client = connect(address)
    job = find_job(client, job_or_name)
    job_id, study = job.submission_id, job.metadata.get("study", "?")
    if str(job.status) not in LIVE:
        raise ServiceError(f"job {job_id} (study {study}) is not running: it is "
                           f"{str(job.status).lower()}")
    t0 = time.monotonic()
    client.call("stop_job", job_id)
    status = str(job.status)
    while time.monotonic() - t0 < wait_s:
        status = str(client.call("get_job_status", job_id))
        if status not in LIVE:
            break
        time.sleep(0.5)
    if status in LIVE:
        return (f"stop requested for job {job_id} (study {study}); it has not ended after "
                f"{wait_s:.0f} s: `hpsearch jobs --address {client.address}` shows when it does")
    return (f"job {job_id} (study {study}) {status.lower()} after {time.monotonic() - t0:.1f} s: "
            "finished trials are kept; trials it was running are re-run when the study is "
            "submitted again")
