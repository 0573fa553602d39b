"""The service commands (submit, jobs, logs) on Ray's Jobs API: registered into the CLI's parser."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["register"]


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the service's subcommands to ``sub`` (the CLI's subparsers)."""
