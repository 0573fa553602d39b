"""Studies as a service: a study's driver submitted as a Ray job, listed, followed and stopped.

``hpsearch submit`` turns ``hpsearch run STUDY --address auto`` into a job of Ray's Jobs API (the
job server in the head's dashboard process), so the driver runs on the cluster and the machine
that submitted it may go away. What this module adds to Ray's ``JobSubmissionClient``:

* **Nothing large, no secret in sight.** The job's ``working_dir`` is a fresh folder holding only
  the study file and the storage URL in a file of its own (mode 0600), read by the driver through
  ``hpsearch run --storage-file``. The entrypoint, the metadata and the environment variables,
  which ``ray job list`` shows to anyone with the token, hold the study's name and its storage URL
  with the password redacted, never the password.
* **A storage that outlives the job.** A job's working directory is temporary: ``submit`` refuses
  a study whose storage would live there (no storage given, or a relative SQLite path).
* **One live job per study.** Before submitting, ``submit`` looks for a live job of the same study
  and storage in the cluster's job list and, where the storage can be reached from here, for a
  live driver holding the study's lease; it refuses both. (The lease refuses a second driver
  anyway; this check makes the refusal come before anything runs.)
* **Progress from the log.** The driver prints ``hpsearch-progress {json}`` lines
  (``hpsearch run --progress-lines``); ``list_jobs`` reads the last one of each job.
* **Graceful, bounded stop.** Ray's job supervisor sends SIGTERM to the entrypoint's processes,
  which the driver handles as Ctrl-C (finished trials kept, running ones recorded "interrupted"
  and re-run on resume), and SIGKILLs them after ``RAY_JOB_STOP_WAIT_TIME_S`` (set per job to
  ``STOP_WAIT_S``).
* **Token authentication.** Each request carries ``Authorization: Bearer <token>``, the token
  found as Ray finds it (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``), also
  when ``RAY_AUTH_MODE`` is not set on this machine; a missing or wrong token is one line.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shlex
import shutil
import socket
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.search import LINE_PREFIX
from hpsearch.storage import StorageError, redact, sqlite_path

__all__ = [
    "LIVE",
    "STOP_WAIT_S",
    "STORAGE_FILE",
    "JobRow",
    "ServiceError",
    "SubmittedJob",
    "check_durable_storage",
    "connect",
    "find_job",
    "job_logs",
    "last_progress",
    "list_jobs",
    "stop_job",
    "submit_study",
    "tail_logs",
    "token_in_clear",
]

#: Metadata key that marks a job submitted by hpsearch (value "1").
MARK = "hpsearch"
#: The file in a job's working dir that holds the storage URL (read by ``--storage-file``).
STORAGE_FILE = ".hpsearch-storage"
#: Seconds the driver gets to stop cleanly after SIGTERM before Ray's supervisor SIGKILLs it.
STOP_WAIT_S = 30
#: Seconds one request to the job server may take (submitting, a whole log, a stop).
REQUEST_TIMEOUT_S = 60.0
#: Job states in which a study's driver is (or is about to be) running.
LIVE = frozenset({"PENDING", "RUNNING"})
#: Seconds one TCP connect to the job server, or to a storage server, may take.
CONNECT_TIMEOUT_S = 3.0

_DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "mysql": 3306, "mariadb": 3306}


class ServiceError(RuntimeError):
    """A job server or submission a user can act on: unreachable, refused token, unknown job."""


# ---------------------------------------------------------------------------------------------
# the job server


def _normalize(address: str | None) -> str:
    """``http(s)://HOST:PORT`` from what a user typed (a bare ``HOST:PORT`` means http)."""
    if not address:
        address = os.environ.get("RAY_API_SERVER_ADDRESS") or ""
    if not address:
        raise ServiceError("no job server given: pass --address http://HEAD:8265 (the head's "
                           "dashboard port; reach it through `ssh -L 8265:127.0.0.1:8265 HEAD`) "
                           "or set RAY_API_SERVER_ADDRESS")
    if "://" not in address:
        address = f"http://{address}"
    parsed = urllib.parse.urlsplit(address)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ServiceError(f"--address {address!r}: expected the job server's URL, "
                           "http://HOST:PORT (port 8265 by default), not Ray's GCS address")
    return address.rstrip("/")


def token_in_clear(address: str | None) -> str | None:
    """The host, when requests to ``address`` would carry the token unencrypted off this machine.

    Plain HTTP to a host other than loopback: the token (which lets anyone run code on the
    cluster) crosses the network readable. An SSH tunnel avoids that.
    """
    try:
        parsed = urllib.parse.urlsplit(_normalize(address))
    except ServiceError:
        return None
    host = parsed.hostname or ""
    if parsed.scheme == "http" and host not in ("127.0.0.1", "localhost", "::1"):
        return host
    return None


def _token() -> str | None:
    """The cluster's token, found where Ray looks: env, the file it names, ``~/.ray/auth_token``."""
    if token := os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return token
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    try:
        return Path(path).expanduser().read_text().strip() or None
    except OSError:
        if os.environ.get("RAY_AUTH_TOKEN_PATH"):
            raise ServiceError(f"RAY_AUTH_TOKEN_PATH={path}: cannot read the token file") from None
        return None


def _probe(host: str, port: int, what: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise ServiceError(f"cannot reach {what} at {host}:{port} ({exc.strerror or exc}); "
                           "check that the head runs Ray's dashboard (`ray start --head "
                           "--include-dashboard=true --dashboard-host=127.0.0.1`) and, from "
                           "another machine, that an SSH tunnel is open "
                           "(`ssh -L 8265:127.0.0.1:8265 HEAD`)") from None


class _Client:
    """``JobSubmissionClient`` with the token header, a time limit, and one-line errors.

    Ray's client sets no time limit on its requests and has no public way to set one, so each
    call runs in a daemon thread that is given up after ``REQUEST_TIMEOUT_S`` (a server that
    takes the connection and never answers would otherwise hang the command).
    """

    def __init__(self, address: str | None) -> None:
        self.address = _normalize(address)
        parsed = urllib.parse.urlsplit(self.address)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        _probe(parsed.hostname or "", port, "the job server")
        token = _token()
        self._has_token = bool(token)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with self._explained():
            from ray.job_submission import JobSubmissionClient

            for name in ("ray.dashboard.modules.dashboard_sdk",
                         "ray._private.runtime_env.packaging"):
                logging.getLogger(name).setLevel(logging.WARNING)  # "Uploading package ..."

            self.ray = _bounded(lambda: JobSubmissionClient(self.address, headers=headers))

    def _explained(self) -> _explain:
        return _explain(self.address, self._has_token)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self._explained():
            return _bounded(lambda: getattr(self.ray, method)(*args, **kwargs))


def _bounded(call: Callable[[], Any]) -> Any:
    """``call()``, or ``TimeoutError`` once it has taken ``REQUEST_TIMEOUT_S``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(REQUEST_TIMEOUT_S)
    if thread.is_alive():
        raise TimeoutError(f"no answer in {REQUEST_TIMEOUT_S:.0f} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


class _explain:
    """Turn what the job client raises into one ``ServiceError`` line."""

    def __init__(self, address: str, has_token: bool) -> None:
        self.address, self.has_token = address, has_token

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, ServiceError):
            return False
        import requests
        from ray.exceptions import AuthenticationError

        where = f"the job server at {self.address}"
        if isinstance(exc, AuthenticationError):
            if "Authentication required" in str(exc) or not self.has_token:
                raise ServiceError(
                    f"{where} requires Ray's token and none was found here: set RAY_AUTH_TOKEN, "
                    "or RAY_AUTH_TOKEN_PATH, or copy the cluster's token to ~/.ray/auth_token"
                ) from None
            raise ServiceError(f"{where} refused the token (wrong token): use the cluster's token "
                               "(RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)"
                               ) from None
        if isinstance(exc, (TimeoutError, requests.exceptions.Timeout)):
            raise ServiceError(f"{where} took the connection but did not answer "
                               f"({_first_line(exc)}); is it Ray's job server?") from None
        if isinstance(exc, (ConnectionError, requests.exceptions.ConnectionError)):
            raise ServiceError(f"cannot reach {where} ({_first_line(exc)})") from None
        if isinstance(exc, RuntimeError) and "404" in str(exc) and "Version check" in str(exc):
            raise ServiceError(f"{where} is no Ray job server (no /api/version); expected the "
                               "head's dashboard port (8265 by default)") from None
        if isinstance(exc, (RuntimeError, ValueError)):
            raise ServiceError(f"{where}: {_first_line(exc)}") from None
        return False


def _first_line(exc: BaseException) -> str:
    lines = [line for line in redact(str(exc)).splitlines() if line.strip()]
    return lines[0].strip() if lines else type(exc).__name__


def connect(address: str | None) -> _Client:
    """A client of the job server at ``address`` (``http://HEAD:8265``; None: from env).

    Raises:
        ServiceError: nothing listens there, it is no job server, or it refuses the token.
    """
    client = _Client(address)
    client.call("list_jobs")  # the version check does not need the token: this does
    return client


# ---------------------------------------------------------------------------------------------
# submitting


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


def check_durable_storage(url: str | None) -> str:
    """``url`` if a study stored there outlives the job that runs it; else a ``ServiceError``.

    A job runs in a temporary working directory on the head: the default ``runs/`` folder and any
    relative SQLite path would be deleted with it.
    """
    if not url:
        raise ServiceError(
            "a submitted study needs a storage that outlives the job (the default runs/ folder "
            "would be inside the job's temporary working directory): pass --storage "
            "postgresql://USER:PASS@HOST/DB, or --storage sqlite:////ABSOLUTE/PATH/study.db (a "
            "file on the head), or set [run] storage in the study file")
    text = url.strip()
    if text.startswith("sqlite:"):
        path = sqlite_path(text)
        if path is None or text in ("sqlite://", "sqlite:///:memory:") or ":memory:" in text:
            raise ServiceError(f"storage {redact(text)}: an in-memory database ends with the job; "
                               "use sqlite:////ABSOLUTE/PATH/study.db on the head or a server "
                               "database")
        if not str(path).startswith("/"):
            raise ServiceError(
                f"storage {redact(text)}: a relative SQLite path would be inside the job's "
                "temporary working directory and vanish with it; give an absolute path on the "
                f"head, sqlite:////ABSOLUTE/PATH/{path.name or 'study.db'} (four slashes)")
        return text
    scheme = text.split("://", 1)[0] if "://" in text else ""
    if not scheme:
        raise StorageError(f"storage {redact(text)}: not a database URL; expected "
                           "postgresql://USER:PASS@HOST:PORT/DB or sqlite:////ABSOLUTE/PATH")
    return text


def _server_reachable(url: str) -> bool:
    """Whether the database server of ``url`` answers a TCP connect within a few seconds."""
    try:
        parsed = urllib.parse.urlsplit(url)
        host, port = parsed.hostname, parsed.port
    except ValueError:
        return False
    port = port or _DEFAULT_PORTS.get(url.split("://", 1)[0].split("+", 1)[0])
    if not host or not port:
        return False
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


def _live_driver(name: str, url: str) -> str | None:
    """Who runs study ``name`` now, read from its storage's lease, if reachable from here."""
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        return None  # on the head only, or not created yet
    if path is None and not _server_reachable(url):
        return None
    import optuna

    from hpsearch.storage import driver_of, open_for_reading

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return driver_of(open_for_reading(name, url))
    except StorageError:
        return None  # no such study yet, or unreadable from here: the job list still counts


def _entrypoint(python: str, study_file: str, n_trials: int | None, max_in_flight: int | None,
                results_dir: str | None) -> str:
    """The job's shell command: the driver, run from a private copy of the working dir.

    ``python`` is the cluster's own interpreter by its absolute path (``hpsearch.service._probe``): the
    job's shell has the PATH of the ``ray start`` that started the head, which need not hold
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
    if results_dir is None:
        args += ["--no-evaluate", "--no-report"]
    else:
        args += ["--runs-dir", results_dir]
    # TERM reaches the driver straight from Ray's supervisor; the shell waits for it, then
    # leaves through its EXIT trap, which removes the copy.
    return (f'd=$(mktemp -d) && cp -- {shlex.quote(study_file)} {STORAGE_FILE} "$d"/ && '
            f"cd \"$d\" && trap 'rm -rf \"$d\"' EXIT && trap 'exit 143' TERM INT && "
            + shlex.join(args))


def submit_study(study_file: Path | str, address: str | None, *, storage: str | None = None,
                 n_trials: int | None = None, max_in_flight: int | None = None,
                 results_dir: str | None = None, wait_start_s: float = 10.0) -> SubmittedJob:
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

    Raises:
        hpsearch.study._config.ConfigError: the study file is invalid (nothing was contacted).
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
    for job in _hpsearch_jobs(client):
        if (job.metadata.get("study") == config.name and job.metadata.get("storage") == shown
                and str(job.status) in LIVE):
            raise ServiceError(f"study {config.name} already runs as job {job.submission_id} "
                               f"({job.status}) on {client.address}; follow it with `hpsearch "
                               f"logs {job.submission_id} --address {client.address}`, or stop "
                               "it first with `hpsearch stop ... --address`")
    if (holder := _live_driver(config.name, url)) is not None:
        raise ServiceError(f"study {config.name} in {shown} is being run by another driver "
                           f"({holder}); stop it first (`hpsearch stop {config.name} --storage "
                           "URL`)")
    python = _cluster_python(client)
    job_id = f"hpsearch-{config.name}-{secrets.token_hex(4)}"
    entrypoint = _entrypoint(python, Path(study_file).name, n_trials, max_in_flight, results_dir)
    with _working_dir(Path(study_file), url) as folder:
        runtime_env = {"working_dir": str(folder),
                       "env_vars": {"RAY_JOB_STOP_WAIT_TIME_S": str(STOP_WAIT_S),
                                    "PYTHONUNBUFFERED": "1"}}
        metadata = {MARK: "1", "study": config.name, "storage": shown, "target": str(target)}
        client.call("submit_job", entrypoint=entrypoint, submission_id=job_id,
                    runtime_env=runtime_env, metadata=metadata)
    status = "PENDING"
    end = time.monotonic() + wait_start_s
    while time.monotonic() < end:
        status = str(client.call("get_job_status", job_id))
        if status != "PENDING":
            break
        time.sleep(0.25)
    if status == "FAILED":
        tail = client.call("get_job_logs", job_id).strip().splitlines()[-3:]
        raise ServiceError(f"job {job_id} of study {config.name} failed at once: "
                           + redact(" | ".join(tail) or "no output; see `hpsearch logs`"))
    return SubmittedJob(job_id, config.name, shown, target, entrypoint, client.address, status,
                        python)


def _cluster_python(client: _Client) -> str:
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


class _working_dir:
    """A fresh folder with the study file and the storage URL (mode 0600), removed afterwards."""

    def __init__(self, study_file: Path, url: str) -> None:
        self.study_file, self.url = study_file, url

    def __enter__(self) -> Path:
        self.folder = Path(tempfile.mkdtemp(prefix="hpsearch-job-"))
        shutil.copyfile(self.study_file, self.folder / self.study_file.name)
        fd = os.open(self.folder / STORAGE_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self.url + "\n")
        return self.folder

    def __exit__(self, *exc: Any) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# listing, logs, stopping


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


def _hpsearch_jobs(client: _Client) -> list[Any]:
    jobs = [j for j in client.call("list_jobs")
            if (j.metadata or {}).get(MARK) == "1" and j.submission_id]
    return sorted(jobs, key=lambda j: j.start_time or 0)


def _row(client: _Client, job: Any) -> JobRow:
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
    return [_row(client, job) for job in _hpsearch_jobs(client)]


def find_job(client: _Client, job_or_name: str) -> Any:
    """The job ``job_or_name`` names: a job id, a study name or study file (its latest job)."""
    if job_or_name.endswith(".toml") or Path(job_or_name).is_file():
        from hpsearch.study import load_study_config

        job_or_name = load_study_config(Path(job_or_name)).name
    jobs = _hpsearch_jobs(client)
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
                with client._explained():
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
