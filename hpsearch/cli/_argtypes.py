"""Command-line argument types: a bad value is one argparse error naming what was expected.

The allowed values are the study file's vocabulary (``hpsearch.study.Interval``), so a flag and a
study file key refuse the same value in the same words.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from hpsearch.study import Constraint, Interval

__all__ = ["float_in", "int_in", "of_rule"]

_DEFAULT_INT_WHAT = "a whole number"
_DEFAULT_FLOAT_WHAT = "a number"


def _parser(convert: Callable[[str], Any], allowed: Constraint, what: str,
            default_what: str) -> Callable[[str], Any]:
    # "a port, an integer in [1, 65,535]"; the default word adds nothing to the constraint's own
    expected = str(allowed) if what == default_what else f"{what}, {allowed}"

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not allowed.is_satisfied_by(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value!r}")
        return value

    return parse


def of_rule(rule: Interval) -> Callable[[str], Any]:
    """An argparse type accepting what a study file's key allows (its ``Interval``)."""
    convert, what = (int, _DEFAULT_INT_WHAT) if rule.type is int else (float, _DEFAULT_FLOAT_WHAT)
    return _parser(convert, rule, what, what)


def int_in(low: int, high: int | None = None,
           what: str = _DEFAULT_INT_WHAT) -> Callable[[str], int]:
    """An argparse type accepting whole numbers in ``[low, high]`` (no upper bound: None)."""
    return _parser(int, Interval(int, low, high), what, _DEFAULT_INT_WHAT)


def float_in(low: float, high: float, what: str = _DEFAULT_FLOAT_WHAT) -> Callable[[str], float]:
    """An argparse type accepting finite numbers in ``[low, high]``."""
    return _parser(float, Interval(float, low, high), what, _DEFAULT_FLOAT_WHAT)
