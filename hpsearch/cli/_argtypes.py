"""Command-line argument types: a bad value is one argparse error naming what was expected."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["float_in", "int_in"]


def int_in(low: int, high: int | None = None, what: str = "a whole number") -> Callable[[str], int]:
    """An argparse type accepting whole numbers in ``[low, high]`` (no upper bound: None)."""
    bounds = f">= {low}" if high is None else f"in [{low}, {high}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} {bounds}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {what} {bounds}, got {value}")
        return value

    return parse


def float_in(low: float, high: float, what: str = "a number") -> Callable[[str], float]:
    """An argparse type accepting finite numbers in ``[low, high]``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not low <= value <= high:  # NaN fails too
            raise argparse.ArgumentTypeError(f"expected {what} in [{low:g}, {high:g}], got {text}")
        return value

    return parse
