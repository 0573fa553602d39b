"""Allowed values declared once, as data: one vocabulary for every check of user input.

In the manner of scikit-learn's ``utils/_param_validation.py``: a constraint says whether a value
is allowed (``is_satisfied_by``) and, as its ``str``, what is expected, in words that read after
"expected" (``an integer in [1, 100]``). The study file's sections, the search space's parameter
declarations, the sampler and pruner options, the dataset options and the command line's argument
types all declare their values with these classes, so every refusal reads the same::

    studies/x.toml: [run] max_retries: expected an integer in [0, 100], got 1000

``refusal`` writes that line. This module imports nothing beyond the standard library: the CLI
reads it before anything heavy is loaded.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, Literal

__all__ = [
    "AnyOf",
    "Boolean",
    "Constraint",
    "Interval",
    "ListOf",
    "Options",
    "Text",
    "refusal",
]


class Constraint(ABC):
    """A set of allowed values."""

    @abstractmethod
    def is_satisfied_by(self, value: Any) -> bool:
        """Whether ``value`` is allowed."""

    @abstractmethod
    def __str__(self) -> str:
        """What is expected, in words that follow "expected" (``an integer in [1, 100]``)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self}>"


def refusal(where: str, constraint: Constraint | str, value: Any) -> str:
    """The one-line refusal every check gives: ``WHERE: expected WHAT, got VALUE``.

    Args:
        where: the file and key (``studies/x.toml: [run] max_retries``), or an option's name.
        constraint: what was expected (a constraint, or its words).
        value: the value refused, shown with ``repr``.
    """
    return f"{where}: expected {constraint}, got {value!r}"


def _number(value: Any) -> str:
    """A bound as a person reads it: 1,000,000 for ints, 0.5 or 1e-06 for floats."""
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


class Interval(Constraint):
    """Numbers of one type between two bounds (either may be None: unbounded).

    Booleans are never numbers here (TOML's ``true`` is not ``1``), and a float interval admits
    finite numbers only (TOML has ``nan`` and ``inf``).

    Args:
        type: ``int`` (integers only) or ``float`` (any finite number, integers included).
        low: lower bound, or None.
        high: upper bound, or None.
        closed: which bounds are included: "both", "left", "right" or "neither".
        odd: only odd integers (a filter size with "same" padding needs them).
    """

    def __init__(self, type: type, low: float | None, high: float | None, *,
                 closed: Literal["both", "left", "right", "neither"] = "both",
                 odd: bool = False) -> None:
        if type not in (int, float):
            raise TypeError(f"Interval type must be int or float, got {type!r}")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be 'both', 'left', 'right' or 'neither', got {closed!r}")
        if low is not None and high is not None and low > high:
            raise ValueError(f"empty interval: low {low!r} > high {high!r}")
        if odd and type is not int:
            raise ValueError("odd=True needs type=int")
        self.type, self.low, self.high, self.closed, self.odd = type, low, high, closed, odd

    def _of_type(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.type is int:
            return isinstance(value, int)
        return isinstance(value, int | float) and math.isfinite(value)

    def is_satisfied_by(self, value: Any) -> bool:
        if not self._of_type(value):
            return False
        low_in = self.closed in ("both", "left")
        high_in = self.closed in ("both", "right")
        if self.low is not None and (value < self.low or (value == self.low and not low_in)):
            return False
        if self.high is not None and (value > self.high or (value == self.high and not high_in)):
            return False
        return not self.odd or value % 2 == 1

    def __str__(self) -> str:
        kind = ("an odd integer" if self.odd else "an integer") if self.type is int else (
            "a finite number")
        low_in = self.closed in ("both", "left")
        high_in = self.closed in ("both", "right")
        if self.low is None and self.high is None:
            return kind
        if self.high is None:
            return f"{kind} {'>=' if low_in else '>'} {_number(self.low)}"
        if self.low is None:
            return f"{kind} {'<=' if high_in else '<'} {_number(self.high)}"
        return (f"{kind} in {'[' if low_in else '('}{_number(self.low)}, "
                f"{_number(self.high)}{']' if high_in else ')'}")


class Options(Constraint):
    """One of a few values of one type (``Options(str, ("sgd", "adam"))``).

    Args:
        type: the values' type; a value of another type is refused even if it compares equal.
        options: the allowed values, in the order messages list them.
    """

    def __init__(self, type: type, options: Iterable[Any]) -> None:
        self.type = type
        self.options = tuple(options)
        if not self.options:
            raise ValueError("Options needs at least one option")

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, bool) and self.type is not bool:
            return False
        return isinstance(value, self.type) and value in self.options

    def __str__(self) -> str:
        if len(self.options) == 1:
            return repr(self.options[0])
        return f"one of {list(self.options)}"


class Boolean(Constraint):
    """``true`` or ``false`` (and nothing that merely converts to them, such as 1)."""

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, bool)

    def __str__(self) -> str:
        return "true or false"


class Text(Constraint):
    """A string, optionally non-empty or matching a pattern in full.

    Args:
        pattern: a regular expression the whole string must match (``re.fullmatch``: a trailing
            newline does not slip by), or None.
        description: what is expected, in words (default: "a string").
        non_empty: refuse the empty string.
    """

    def __init__(self, pattern: str | None = None, description: str | None = None, *,
                 non_empty: bool = False) -> None:
        self.pattern = re.compile(pattern) if pattern is not None else None
        self.non_empty = non_empty
        self.description = description or ("a non-empty string" if non_empty else "a string")

    def is_satisfied_by(self, value: Any) -> bool:
        if not isinstance(value, str) or (self.non_empty and not value):
            return False
        return self.pattern is None or self.pattern.fullmatch(value) is not None

    def __str__(self) -> str:
        return self.description


class ListOf(Constraint):
    """A list whose items each satisfy one constraint, with a bounded length.

    Args:
        item: the constraint on each item.
        min_len: fewest items.
        max_len: most items (None: no limit).
    """

    def __init__(self, item: Constraint, min_len: int = 0, max_len: int | None = None) -> None:
        self.item, self.min_len, self.max_len = item, min_len, max_len

    def is_satisfied_by(self, value: Any) -> bool:
        if not isinstance(value, list | tuple) or len(value) < self.min_len:
            return False
        if self.max_len is not None and len(value) > self.max_len:
            return False
        return all(self.item.is_satisfied_by(v) for v in value)

    def __str__(self) -> str:
        if self.max_len is None:
            count = f"at least {self.min_len}" if self.min_len else "any number of"
        else:
            count = f"{self.min_len} to {self.max_len}"
        return f"a list of {count} items, each {self.item}"


class AnyOf(Constraint):
    """Values any one of several constraints allows (``an integer >= 1 or 'auto'``)."""

    def __init__(self, *constraints: Constraint) -> None:
        if len(constraints) < 2:
            raise ValueError("AnyOf needs at least two constraints")
        self.constraints = constraints

    def is_satisfied_by(self, value: Any) -> bool:
        return any(c.is_satisfied_by(value) for c in self.constraints)

    def __str__(self) -> str:
        return " or ".join(str(c) for c in self.constraints)

    def find(self, kind: type[Constraint]) -> Constraint | None:
        """The first of the constraints that is a ``kind``, or None."""
        return next((c for c in self.constraints if isinstance(c, kind)), None)
