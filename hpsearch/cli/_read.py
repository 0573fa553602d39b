"""The commands that only read a stored study: status (and its live view), trials."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hpsearch.cli._argtypes import float_in
from hpsearch.cli._common import Command, open_study, study_argument

__all__ = ["COMMANDS"]

_positive_float = float_in(0.05, 3600, "seconds")


def _status(args: argparse.Namespace) -> int:
    from hpsearch.cli._watch import status_lines, watch

    stored = open_study(args).stored
    if not args.watch:
        print("\n".join(status_lines(stored.config, stored.study)))
        return 0

    def read() -> tuple[Any, Any]:
        fresh = open_study(args).stored
        return fresh.config, fresh.study

    watch(read, lambda text: print(text, end="", flush=True), every_s=args.every,
          clear=sys.stdout.isatty())
    return 0


def _status_arguments(p: argparse.ArgumentParser) -> None:
    study_argument(p)
    p.add_argument("--watch", action="store_true",
                   help="a live view, refreshed in place (Ctrl-C to leave)")
    p.add_argument("--every", type=_positive_float, default=1.0,
                   help="seconds between refreshes (default 1)")


def _trials(args: argparse.Namespace) -> int:
    import pandas as pd

    frame = open_study(args).trials
    if args.csv:
        frame.to_csv(sys.stdout, index=False)
        return 0
    # On a terminal, columns with one value throughout say nothing: --csv has them all.
    keep = [c for c in frame.columns if c in ("number", "state", "value")
            or frame[c].astype(str).nunique() > 1]
    with pd.option_context("display.max_rows", None, "display.width", 250,
                           "display.max_columns", None):
        print(frame[keep].to_string(index=False))
    if hidden := [c for c in frame.columns if c not in keep]:
        print(f"(same in every trial, not shown: {', '.join(hidden)}; --csv shows all)")
    return 0


def _trials_arguments(p: argparse.ArgumentParser) -> None:
    study_argument(p)
    p.add_argument("--csv", action="store_true", help="CSV on stdout")


COMMANDS = {
    "status": Command("trials by state and the best so far", _status_arguments, _status),
    "trials": Command("one row per trial", _trials_arguments, _trials),
}
