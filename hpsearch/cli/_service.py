"""The service commands (submit, jobs, logs) on Ray's Jobs API: registered into the CLI's parser.

The work is done by ``hpsearch.service``; this module parses, calls it and prints. Errors a user
can act on (``hpsearch.service.ServiceError``) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import functools
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpsearch.cli._argtypes import int_in
from hpsearch.cli._common import SHARING_FLAGS, sharing_arguments

__all__ = ["register"]

_ADDRESS_HELP = ("the cluster's job server, http://HEAD:8265 (default: $RAY_API_SERVER_ADDRESS); "
                 "from another machine through `ssh -L 8265:127.0.0.1:8265 HEAD`")


def _one_line_errors(func: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        from hpsearch.service import ServiceError, token_in_clear
        from hpsearch.storage import redact

        if host := token_in_clear(getattr(args, "address", None)):
            print(f"warning: Ray's token goes to {host} over plain HTTP, readable on the way; "
                  f"prefer an SSH tunnel (ssh -L 8265:127.0.0.1:8265 {host}) and "
                  "--address http://127.0.0.1:8265", file=sys.stderr)
        try:
            return func(args)
        except ServiceError as exc:
            print(f"error: {redact(str(exc))}", file=sys.stderr)
            return 2

    return wrapper


@_one_line_errors
def _cmd_submit(args: argparse.Namespace) -> int:
    from hpsearch.service import submit_study

    job = submit_study(args.study, args.address, storage=args.storage, n_trials=args.n_trials,
                       max_in_flight=args.max_in_flight, results_dir=args.results_dir,
                       wait_start_s=0.0 if args.no_wait else 10.0,
                       sharing={flag: getattr(args, dest) for dest, flag in SHARING_FLAGS.items()
                                if getattr(args, dest) is not None})
    a = shlex.quote(job.address)
    print(f"submitted study {job.study} as job {job.job_id} ({job.status.lower()}) to "
          f"{job.address}")
    print(f"storage: {job.storage}; target {job.target} finished trials; driver: {job.python} "
          "on the head")
    print("follow it (this machine may disconnect; the study goes on):")
    print(f"  hpsearch jobs --address {a}")
    print(f"  hpsearch logs {job.job_id} --address {a} --follow")
    print(f"  hpsearch status {job.study} --storage {shlex.quote(job.storage)}"
          + ("   (with the password in place of ***)" if "***" in job.storage else ""))
    print(f"  hpsearch stop {job.job_id} --address {a}   (resubmit the same file to resume)")
    return 0


def _short_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@_one_line_errors
def _cmd_jobs(args: argparse.Namespace) -> int:
    from hpsearch.service import list_jobs

    rows = list_jobs(args.address)
    if not rows:
        print("no studies submitted to this cluster")
        return 0
    now = time.time()
    table = [("JOB", "STATUS", "STUDY", "TRIALS", "BEST", "STARTED", "ELAPSED", "WEIGHT",
              "PRIORITY", "SHARE", "CPU-S", "QUEUE")]
    for row in rows:
        done = "?" if row.done is None else str(row.done)
        target = "?" if row.target is None else str(row.target)
        s = row.sharing
        table.append((row.job_id, row.status, row.study, f"{done}/{target}",
                      "-" if row.best is None else f"{row.best:.4f}",
                      "-" if row.started is None else
                      time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.started)),
                      _short_time(row.elapsed_s(now)),
                      *_sharing_cells(s, live=row.status == "RUNNING")))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _sharing_cells(s: dict[str, Any], live: bool) -> tuple[str, ...]:
    """WEIGHT, PRIORITY, SHARE, CPU-S, QUEUE of one job ("-" where its driver did not say)."""
    if not s:
        return ("-",) * 5
    share = f"{100 * s['share']:.0f}%" if live and s.get("share") is not None else "-"
    queue = str(s["queue"]) if live and s.get("queue") is not None else "-"
    return (f"{s.get('weight', 1):g}", str(s.get("priority", 0)), share,
            f"{s.get('cpu_s', 0):.0f}", queue)


@_one_line_errors
def _cmd_logs(args: argparse.Namespace) -> int:
    from hpsearch.service import job_logs, tail_logs

    if args.follow:
        try:
            for chunk in tail_logs(args.address, args.job):
                print(chunk, end="", flush=True)
        except KeyboardInterrupt:  # leaving the log; the job goes on
            print(file=sys.stderr)
        return 0
    _, text = job_logs(args.address, args.job)
    print(text, end="" if text.endswith("\n") or not text else "\n")
    return 0


_positive_int = int_in(1)


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the service's subcommands to ``sub`` (the CLI's subparsers)."""
    del common  # the service commands take a job server, not a runs directory
    submit = sub.add_parser("submit", help="run a study as a Ray job on a cluster")
    submit.add_argument("study", type=Path, help="study file (TOML)")
    submit.add_argument("--address", help=_ADDRESS_HELP)
    submit.add_argument("--storage",
                        help="storage URL that outlives the job: postgresql://... or "
                             "sqlite:////ABSOLUTE/PATH on the head (default: the study file's)")
    submit.add_argument("--n-trials", type=_positive_int, help="finished trials to reach")
    submit.add_argument("--max-in-flight", type=_positive_int,
                        help="most trials of this study running at once (default: the "
                             "cluster's CPUs, shared with other studies by Ray's scheduler)")
    sharing_arguments(submit)
    submit.add_argument("--results-dir",
                        help="absolute folder on the head for the run's files (log, tables, best "
                             "model, report); without it the job skips evaluation and report")
    submit.add_argument("--no-wait", action="store_true",
                        help="return once submitted, without waiting for the job to start")
    submit.set_defaults(func=_cmd_submit)

    jobs = sub.add_parser("jobs", help="the studies submitted to a cluster, with their progress")
    jobs.add_argument("--address", help=_ADDRESS_HELP)
    jobs.set_defaults(func=_cmd_jobs)

    logs = sub.add_parser("logs", help="a submitted study's log")
    logs.add_argument("job", help="job id, or study name (its latest job)")
    logs.add_argument("--address", help=_ADDRESS_HELP)
    logs.add_argument("--follow", "-f", action="store_true",
                      help="keep printing as the job writes, until it ends (Ctrl-C leaves)")
    logs.set_defaults(func=_cmd_logs)
