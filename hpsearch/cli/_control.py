"""The commands that act on a study from outside its driver: stop, dashboard."""

from __future__ import annotations

import argparse
import contextlib
import sys

from hpsearch._net import is_loopback
from hpsearch.cli._argtypes import int_in
from hpsearch.cli._common import Command, UsageError, open_study, study_argument

__all__ = ["COMMANDS"]

_port = int_in(1, 65535, "a port")
_non_negative_int = int_in(0)


def _stop(args: argparse.Namespace) -> int:
    from hpsearch.storage import driver_of, request_stop, stop_trial

    if args.address is not None:
        if args.trial is not None:
            raise UsageError("--trial goes through the study's storage: leave out --address")
        from hpsearch.service import stop_job

        print(stop_job(args.address, str(args.study)))
        return 0
    stored = open_study(args).stored
    if args.trial is not None:
        stop_trial(stored.study, args.trial)
        print(f"trial {args.trial} of study {stored.config.name} failed from outside; its "
              "driver stops it within about a second and records 'stopped by user'")
        return 0
    driver = driver_of(stored.study)
    request_stop(stored.study)
    print(f"stop requested for study {stored.config.name}"
          + (f" ({driver}): it stops after its current step; running trials are re-run when "
             "it is resumed" if driver else ": no driver is running it now"))
    return 0


def _stop_arguments(p: argparse.ArgumentParser) -> None:
    study_argument(p)
    p.add_argument("--trial", type=_non_negative_int,
                   help="stop this running trial only (recorded 'stopped by user')")
    p.add_argument("--address",
                   help="stop the study's Ray job at this job server (http://HEAD:8265); "
                        "STUDY may then be a job id, a study name or a study file")


def _dashboard(args: argparse.Namespace) -> int:
    from hpsearch.storage import open_backend, redact

    try:
        import optuna_dashboard
    except ImportError:
        raise UsageError('the dashboard is an optional extra: pip install '
                         '"hpsearch[dashboard]"') from None
    stored = open_study(args).stored
    backend = open_backend(stored.url, read_only=True)
    url = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}/"
    print(f"optuna-dashboard for study {stored.config.name} ({redact(stored.url)}) at {url}"
          f"dashboard/studies  (Ctrl-C to stop)", flush=True)
    if not is_loopback(args.host):
        print(f"warning: listening on {args.host}: anyone who reaches it can fail trials; "
              "prefer 127.0.0.1 and an SSH tunnel", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        optuna_dashboard.run_server(backend, host=args.host, port=args.port)
    return 0


def _dashboard_arguments(p: argparse.ArgumentParser) -> None:
    study_argument(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_port, default=8080, help="port (default 8080)")


COMMANDS = {
    "stop": Command("stop a study's driver, or one running trial", _stop_arguments, _stop),
    "dashboard": Command("optuna-dashboard on the study's storage", _dashboard_arguments,
                         _dashboard),
}
